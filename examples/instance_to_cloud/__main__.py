"""``python -m examples.instance_to_cloud``: the whole seed demo on this machine,
printing each step. Everything runs on 127.0.0.1 in a temporary directory and
is stopped at the end:

1. start Tessera (``tessera init``, ``tessera serve --network-cidr lab-01=127.0.0.0/8``);
2. as the account root (boto3): enable outbound federation, create ``web-role``
   (trusting ``ec2.amazonaws.com``) and the instance profile ``web``;
3. ``tessera instance create`` → instance id, join token, CA fingerprint;
4. on "the machine": ``tessera agent join`` then ``tessera agent serve``;
5. with nothing but ``AWS_EC2_METADATA_SERVICE_ENDPOINT`` (and where Tessera is):
   ``aws sts get-caller-identity``, ``aws iam
   get-outbound-web-identity-federation-info``, ``aws sts get-web-identity-token
   --audience … --signing-algorithm RS256``;
6. exchange the token at the federated_exchange token endpoint (RFC 7523) for an
   access token, and call ``/api/instance``, which checks the ``ec2_*`` claims.

Exit status 0 when every step worked."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import httpx
import uvicorn
from examples.instance_to_cloud.relying_party import InstanceExchange, instance_app

from tessera.verify import FederatedCredentialRule, Verifier

NETWORK = "lab-01"
PRIVATE_IP = "10.0.3.7"
AUDIENCE = "https://cloud.example.com"
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def step(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def _tessera(*args: str, env: dict[str, str]) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "tessera", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"tessera {args[0]} {args[1]} failed: {out.stderr.strip()}")
    return out.stdout


def _wait(url: str, proc: subprocess.Popen[bytes] | None = None) -> None:
    for _ in range(600):
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"{url}: the process exited")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise SystemExit(f"{url} did not come up")


@contextmanager
def _process(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with open(log, "ab") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=out, env=env)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _aws(env: dict[str, str], *args: str) -> Any:
    aws = Path(sys.executable).parent / "aws"
    cmd = [str(aws) if aws.exists() else "aws", "--output", "json", *args]
    print("    $ aws " + " ".join(args), flush=True)
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60, check=False)
    if out.returncode != 0:
        raise SystemExit(f"aws {' '.join(args)} failed: {out.stderr.strip()}")
    return json.loads(out.stdout)


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    doc: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return doc


def run(work: Path) -> dict[str, Any]:
    """The demo; returns what the protected API answered."""
    base_env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "TESSERA_")) and k.lower() not in ("http_proxy", "https_proxy")
    }
    data = work / "tessera-data"
    port = _port()
    endpoint = f"http://127.0.0.1:{port}"

    step("start Tessera")
    root = json.loads(_tessera("init", "--data-dir", str(data), "--json", env=base_env))
    account = root["account_id"]
    serve = [sys.executable, "-m", "tessera", "serve", "--data-dir", str(data), "--host"]
    serve += ["127.0.0.1", "--port", str(port), "--network-cidr", f"{NETWORK}=127.0.0.0/8"]
    with _process(serve, base_env, work / "tessera.log") as server:
        _wait(endpoint + "/health", server)
        print(f"    {endpoint} (account {account})")

        step("create web-role (trusts ec2.amazonaws.com) and instance profile web")
        iam = boto3.client(
            "iam",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id=root["access_key_id"],
            aws_secret_access_key=root["secret_access_key"],
        )
        iam.enable_outbound_web_identity_federation()
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "ec2.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        role = iam.create_role(RoleName="web-role", AssumeRolePolicyDocument=json.dumps(trust))
        iam.put_role_policy(
            RoleName="web-role",
            PolicyName="tokens",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": [
                                "sts:GetWebIdentityToken",
                                "iam:GetOutboundWebIdentityFederationInfo",
                            ],
                            "Resource": "*",
                        }
                    ],
                }
            ),
        )
        iam.create_instance_profile(InstanceProfileName="web")
        iam.add_role_to_instance_profile(InstanceProfileName="web", RoleName="web-role")

        step("tessera instance create")
        created = json.loads(
            _tessera(
                "instance",
                "create",
                "--data-dir",
                str(data),
                "--account",
                account,
                "--instance-profile",
                "web",
                "--private-ipv4",
                PRIVATE_IP,
                "--network",
                NETWORK,
                "--json",
                env=base_env,
            )
        )
        print(f"    {created['instance_id']}, CA {created['ca_fingerprint']}")

        step("on the machine: tessera agent join, tessera agent serve")
        state = work / "agent-state"
        _tessera(
            "agent",
            "join",
            "--endpoint",
            endpoint,
            "--token",
            created["join_token"],
            "--ca-fingerprint",
            created["ca_fingerprint"],
            "--state-dir",
            str(state),
            "--json",
            env=base_env,
        )
        imds_port = _port()
        agent_cmd = [sys.executable, "-m", "tessera", "agent", "serve", "--state-dir"]
        agent_cmd += [str(state), "--port", str(imds_port)]
        with _process(agent_cmd, base_env, work / "agent.log") as agent:
            _wait(f"http://127.0.0.1:{imds_port}/", agent)
            print(f"    IMDSv2 at http://127.0.0.1:{imds_port}/")

            step("the workload: no keys, only AWS_EC2_METADATA_SERVICE_ENDPOINT")
            home = work / "home"
            (home / ".aws").mkdir(parents=True)
            (home / ".aws" / "config").write_text("[default]\ncli_follow_urlparam = false\n")
            workload = dict(
                base_env,
                HOME=str(home),
                AWS_CONFIG_FILE=str(home / ".aws" / "config"),
                AWS_SHARED_CREDENTIALS_FILE=str(home / ".aws" / "credentials"),
                AWS_EC2_METADATA_SERVICE_ENDPOINT=f"http://127.0.0.1:{imds_port}/",
                AWS_ENDPOINT_URL=endpoint,
                AWS_REGION="us-east-1",
                AWS_DEFAULT_REGION="us-east-1",
                NO_PROXY="127.0.0.1,localhost",
            )
            ident = _aws(workload, "sts", "get-caller-identity")
            print(f"    {ident['Arn']}")
            info = _aws(workload, "iam", "get-outbound-web-identity-federation-info")
            issuer = info["IssuerIdentifier"]
            print(f"    issuer {issuer}")
            token = _aws(
                workload,
                "sts",
                "get-web-identity-token",
                "--audience",
                AUDIENCE,
                "--signing-algorithm",
                "RS256",
            )["WebIdentityToken"]
            ec2 = {
                k: v
                for k, v in _claims(token)["https://sts.amazonaws.com/"].items()
                if k.startswith("ec2_")
            }
            print("    claims: " + json.dumps(ec2, sort_keys=True))

            step("exchange the token at the cloud's token endpoint (RFC 7523), call its API")
            rule = FederatedCredentialRule(
                name="instances",
                issuer=issuer,
                subject=role["Role"]["Arn"],
                audience=AUDIENCE,
                accounts=frozenset({account}),
            )
            exchange = InstanceExchange([rule], [Verifier(issuer=issuer, audience=AUDIENCE)])
            rp_port = _port()
            config = uvicorn.Config(
                instance_app(exchange, network=NETWORK),
                host="127.0.0.1",
                port=rp_port,
                log_level="warning",
            )
            rp = uvicorn.Server(config)
            thread = threading.Thread(target=rp.run, daemon=True)
            thread.start()
            try:
                _wait(f"http://127.0.0.1:{rp_port}/healthz")
                granted = httpx.post(
                    f"http://127.0.0.1:{rp_port}/oauth2/token",
                    data={
                        "grant_type": "client_credentials",
                        "client_assertion_type": CLIENT_ASSERTION_TYPE,
                        "client_assertion": token,
                    },
                    timeout=10,
                )
                if granted.status_code != 200:
                    raise SystemExit(f"token exchange refused: {granted.text}")
                print("    access token issued")
                answer = httpx.get(
                    f"http://127.0.0.1:{rp_port}/api/instance",
                    headers={"Authorization": "Bearer " + granted.json()["access_token"]},
                    timeout=10,
                )
                if answer.status_code != 200:
                    raise SystemExit(f"/api/instance refused: {answer.text}")
                result: dict[str, Any] = answer.json()
                print("    /api/instance: " + json.dumps(result, sort_keys=True))
            finally:
                rp.should_exit = True
                thread.join(10)
    return result


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="instance-to-cloud-") as tmp:
        run(Path(tmp))
    print(
        "\ndone: the instance's credentials appeared by themselves and the cloud API "
        "accepted its identity"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
