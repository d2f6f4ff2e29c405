"""A small application backend that vends per-user AWS credentials.

The backend authenticates its *own* users (a static user/password table with
salted PBKDF2 hashes, compared in constant time), then calls STS ``AssumeRole`` on
one role with:

* ``RoleSessionName`` = the app user name (it shows in CloudTrail-style logs and in
  ``GetCallerIdentity`` as ``assumed-role/<role>/<user>``), and
* an inline session policy that limits the session to the user's own S3 prefix
  ``arn:aws:s3:::<bucket>/<user>/*`` (session policies only ever narrow the role's
  permissions),

and hands the temporary credentials to the client. The backend's own long-term
keys never leave the server.

Run it (see README.md)::

    TESSERA_ENDPOINT=http://127.0.0.1:8080 BACKEND_ROLE_ARN=arn:aws:iam::…:role/app-users \\
    BACKEND_BUCKET=photos AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=… \\
    uvicorn examples.app_backend.app:app_from_env --factory
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import ClientError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

_ITERATIONS = 200_000


def hash_password(password: str, salt: bytes | None = None) -> str:
    """``pbkdf2_sha256$<iterations>$<salt>$<hash>`` (base64)."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, _ITERATIONS)
    b64 = base64.b64encode
    return f"pbkdf2_sha256${_ITERATIONS}${b64(salt).decode()}${b64(digest).decode()}"


def check_password(stored: str, password: str) -> bool:
    try:
        _alg, iterations, salt, digest = stored.split("$")
    except ValueError:
        return False
    candidate = hashlib.pbkdf2_hmac(
        "sha256", password.encode(), base64.b64decode(salt), int(iterations)
    )
    return hmac.compare_digest(candidate, base64.b64decode(digest))


# A dummy hash so unknown users cost the same time as known ones.
_DUMMY = hash_password(secrets.token_hex(8))


def session_policy(bucket: str, user: str) -> str:
    """Allow object access only under ``<bucket>/<user>/``."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "OwnPrefixOnly",
                    "Effect": "Allow",
                    "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                    "Resource": f"arn:aws:s3:::{bucket}/{user}/*",
                }
            ],
        }
    )


@dataclass(frozen=True)
class BackendConfig:
    endpoint_url: str
    role_arn: str
    bucket: str
    users: Mapping[str, str]  # user name -> password hash
    region: str = "us-east-1"
    duration_seconds: int = 900
    access_key_id: str | None = None
    secret_access_key: str | None = None


def create_app(config: BackendConfig) -> Starlette:
    sts = boto3.client(
        "sts",
        endpoint_url=config.endpoint_url,
        region_name=config.region,
        aws_access_key_id=config.access_key_id,
        aws_secret_access_key=config.secret_access_key,
    )

    async def credentials(request: Request) -> JSONResponse:
        try:
            body: Any = await request.json()
            user, password = str(body["username"]), str(body["password"])
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": "username and password required"}, status_code=400)
        stored = config.users.get(user)
        ok = check_password(stored or _DUMMY, password)
        if stored is None or not ok:
            return JSONResponse({"error": "invalid credentials"}, status_code=401)
        try:
            out = sts.assume_role(
                RoleArn=config.role_arn,
                RoleSessionName=user,
                Policy=session_policy(config.bucket, user),
                DurationSeconds=config.duration_seconds,
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "Error")
            return JSONResponse({"error": f"could not vend credentials ({code})"}, status_code=502)
        creds = out["Credentials"]
        return JSONResponse(
            {
                "AccessKeyId": creds["AccessKeyId"],
                "SecretAccessKey": creds["SecretAccessKey"],
                "SessionToken": creds["SessionToken"],
                "Expiration": creds["Expiration"].isoformat(),
                "AssumedRoleArn": out["AssumedRoleUser"]["Arn"],
                "Prefix": f"s3://{config.bucket}/{user}/",
            },
            headers={"Cache-Control": "no-store"},
        )

    return Starlette(routes=[Route("/credentials", credentials, methods=["POST"])])


def app_from_env() -> Starlette:
    """Configuration from the environment; users from ``BACKEND_USERS`` (JSON object of
    user name → password hash made with :func:`hash_password`)."""
    return create_app(
        BackendConfig(
            endpoint_url=os.environ["TESSERA_ENDPOINT"],
            role_arn=os.environ["BACKEND_ROLE_ARN"],
            bucket=os.environ["BACKEND_BUCKET"],
            users=json.loads(os.environ.get("BACKEND_USERS", "{}")),
            access_key_id=os.environ.get("AWS_ACCESS_KEY_ID"),
            secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY"),
        )
    )
