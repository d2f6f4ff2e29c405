"""AssumeRole requests per second against a real Tessera server.

Starts ``tessera init`` + ``tessera serve`` on a loopback port in a temporary data
directory, creates an IAM user and a role that trusts it, then issues AssumeRole
calls (SigV4-signed by botocore, sent over keep-alive HTTP by httpx) from N threads
for a bounded number of requests or seconds, and prints throughput and latency
percentiles. Not part of the test run.

    python bench/assume_role.py --requests 2000 --threads 8 --seconds 30
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.e2e.server import TesseraServer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="total AssumeRole calls")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30.0, help="time bound")
    parser.add_argument("--tags", action="store_true", help="pass 5 session tags + a policy")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        server = TesseraServer(data_dir=Path(tmp) / "data")
        server.init()
        server.start()
        try:
            assert server.root is not None
            iam = server.client("iam")
            acct = server.root.account_id
            iam.create_user(UserName="bench")
            key = iam.create_access_key(UserName="bench")["AccessKey"]
            trust = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:iam::{acct}:user/bench"},
                        "Action": ["sts:AssumeRole", "sts:TagSession"],
                    }
                ],
            }
            role_arn = iam.create_role(
                RoleName="bench", AssumeRolePolicyDocument=json.dumps(trust)
            )["Role"]["Arn"]
            creds = Credentials(key["AccessKeyId"], key["SecretAccessKey"])
            form = [
                ("Action", "AssumeRole"),
                ("Version", "2011-06-15"),
                ("RoleArn", role_arn),
                ("RoleSessionName", "bench-session"),
            ]
            if args.tags:
                for i in range(1, 6):
                    form += [(f"Tags.member.{i}.Key", f"k{i}"), (f"Tags.member.{i}.Value", f"v{i}")]
                statement = {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}
                form.append(
                    ("Policy", json.dumps({"Version": "2012-10-17", "Statement": [statement]}))
                )
            body = urlencode(form)
            probe = AWSRequest(
                method="POST",
                url=server.endpoint + "/",
                data=body,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            SigV4Auth(creds, "sts", "us-east-1").add_auth(probe)
            first = httpx.post(probe.url, headers=dict(probe.headers), content=probe.body)
            if first.status_code != 200:
                print(f"AssumeRole failed ({first.status_code}): {first.text}")
                return
            latencies: list[float] = []
            errors: list[int] = []
            lock = threading.Lock()
            remaining = [args.requests]
            deadline = time.monotonic() + args.seconds

            def worker() -> None:
                with httpx.Client(timeout=30) as http:
                    while time.monotonic() < deadline:
                        with lock:
                            if remaining[0] <= 0:
                                return
                            remaining[0] -= 1
                        req = AWSRequest(
                            method="POST",
                            url=server.endpoint + "/",
                            data=body,
                            headers={"Content-Type": "application/x-www-form-urlencoded"},
                        )
                        SigV4Auth(creds, "sts", "us-east-1").add_auth(req)
                        start = time.perf_counter()
                        resp = http.post(req.url, headers=dict(req.headers), content=req.body)
                        elapsed = time.perf_counter() - start
                        with lock:
                            latencies.append(elapsed)
                            if resp.status_code != 200:
                                errors.append(resp.status_code)

            started = time.perf_counter()
            threads = [threading.Thread(target=worker) for _ in range(args.threads)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.perf_counter() - started
        finally:
            server.stop()

    n = len(latencies)
    if n == 0:
        print("no requests completed")
        return
    ms = sorted(x * 1000 for x in latencies)
    print(f"AssumeRole bench: {n} requests, {args.threads} threads, {wall:.2f} s wall")
    print(f"  throughput : {n / wall:.1f} req/s")
    print(
        f"  latency ms : p50 {statistics.median(ms):.1f}  p90 {ms[int(n * 0.9) - 1]:.1f}  "
        f"p99 {ms[max(0, int(n * 0.99) - 1)]:.1f}  max {ms[-1]:.1f}"
    )
    print(
        f"  errors     : {len(errors)}" + (f" (statuses {sorted(set(errors))})" if errors else "")
    )


if __name__ == "__main__":
    main()
