"""What the audit trail and metrics cost the request path (#19), in-process: the
pipeline answers the same pre-signed GetCallerIdentity and AssumeRole requests
with the observer (audit event built, spooled and queued; metrics counted) and
without it, alternating short rounds so both see the same machine load. Prints
requests per second and the ratio. Loopback-free and bounded (``--seconds``).

    .venv/bin/python bench/audit_cost.py --seconds 3
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tessera.app.bootstrap import build_runtime, init_store
from tessera.app.pipeline import Pipeline, Request
from tessera.clock import SystemClock
from tessera.config import ServerConfig


def _request(keys: Credentials, body: str) -> Request:
    aws = AWSRequest(
        method="POST",
        url="http://127.0.0.1:7070/",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    SigV4Auth(keys, "sts", "us-east-1").add_auth(aws)
    headers = (*((k, str(v)) for k, v in aws.headers.items()), ("host", "127.0.0.1:7070"))
    return Request("POST", "/", "", headers, body.encode(), "127.0.0.1", False)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp()) / "data"
    root = init_store(data_dir, None, SystemClock())
    runtime = build_runtime(ServerConfig(data_dir=data_dir))
    pipeline = Pipeline(runtime)
    keys = Credentials(root.access_key_id, root.secret_access_key)
    trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}
            ],
        }
    )
    runtime.store  # noqa: B018
    from urllib.parse import urlencode

    iam = urlencode({"Action": "CreateUser", "Version": "2010-05-08", "UserName": "b"})
    aws = AWSRequest(
        method="POST",
        url="http://127.0.0.1:7070/",
        data=iam,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    SigV4Auth(keys, "iam", "us-east-1").add_auth(aws)
    pipeline.handle(
        Request(
            "POST",
            "/",
            "",
            (*((k, str(v)) for k, v in aws.headers.items()), ("host", "127.0.0.1:7070")),
            iam.encode(),
            "127.0.0.1",
            False,
        ),
        threaded=True,
    )
    role = urlencode(
        {
            "Action": "CreateRole",
            "Version": "2010-05-08",
            "RoleName": "r",
            "AssumeRolePolicyDocument": trust,
        }
    )
    aws = AWSRequest(
        method="POST",
        url="http://127.0.0.1:7070/",
        data=role,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    SigV4Auth(keys, "iam", "us-east-1").add_auth(aws)
    out = pipeline.handle(
        Request(
            "POST",
            "/",
            "",
            (*((k, str(v)) for k, v in aws.headers.items()), ("host", "127.0.0.1:7070")),
            role.encode(),
            "127.0.0.1",
            False,
        ),
        threaded=True,
    )
    role_arn = out.body.decode().split("<Arn>")[1].split("<")[0]
    user_key = pipeline  # root may not assume roles: use a user key
    del user_key
    cases = {
        "GetCallerIdentity": _request(keys, "Action=GetCallerIdentity&Version=2011-06-15"),
    }

    # AssumeRole needs a non-root caller: a user with an allow-all policy
    def iam_call(params: dict[str, str]) -> str:
        body = urlencode({"Version": "2010-05-08", **params})
        a = AWSRequest(
            method="POST",
            url="http://127.0.0.1:7070/",
            data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        SigV4Auth(keys, "iam", "us-east-1").add_auth(a)
        r = pipeline.handle(
            Request(
                "POST",
                "/",
                "",
                (*((k, str(v)) for k, v in a.headers.items()), ("host", "127.0.0.1:7070")),
                body.encode(),
                "127.0.0.1",
                False,
            ),
            threaded=True,
        )
        return r.body.decode()

    iam_call(
        {
            "Action": "PutUserPolicy",
            "UserName": "b",
            "PolicyName": "all",
            "PolicyDocument": json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
                }
            ),
        }
    )
    created = iam_call({"Action": "CreateAccessKey", "UserName": "b"})
    user = Credentials(
        created.split("<AccessKeyId>")[1].split("<")[0],
        created.split("<SecretAccessKey>")[1].split("<")[0],
    )
    cases["AssumeRole"] = _request(
        user,
        urlencode(
            {
                "Action": "AssumeRole",
                "Version": "2011-06-15",
                "RoleArn": role_arn,
                "RoleSessionName": "bench",
            }
        ),
    )
    observer = runtime.observer
    for name, request in cases.items():
        totals = {"on": [0, 0.0], "off": [0, 0.0]}
        deadline = time.monotonic() + args.seconds * 2
        while time.monotonic() < deadline:
            for mode in ("on", "off"):
                runtime.observer = observer if mode == "on" else None
                start = time.perf_counter()
                n = 0
                while time.perf_counter() - start < 0.25:
                    response = pipeline.handle(request, threaded=False)
                    assert response.status == 200, response.body[:300]
                    n += 1
                totals[mode][0] += n
                totals[mode][1] += time.perf_counter() - start
        on = totals["on"][0] / totals["on"][1]
        off = totals["off"][0] / totals["off"][1]
        print(
            f"{name}: audit+metrics {on:,.0f}/s, off {off:,.0f}/s, "
            f"cost {(1 - on / off) * 100:.1f} %"
        )
    runtime.observer = observer
    pipeline.close()
    runtime.store.close()


if __name__ == "__main__":
    main()
