"""The "cloud" of the demo: the federated_exchange token endpoint (RFC 7523 client
assertion) plus a protected API, ``GET /api/instance``, that only answers access
tokens obtained with a Tessera token whose ``ec2_*`` claims name an instance of
the expected network, delivered through IMDSv2 (``ec2_role_delivery`` ``2.0``)."""

from __future__ import annotations

import threading
from typing import Any

from examples.federated_exchange.app import FederatedExchange, Grant, _digest, create_app
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tessera.verify import FederatedCredentialRule, VerifiedClaims

AWS_CLAIMS = "https://sts.amazonaws.com/"
EC2_CLAIMS = (
    "ec2_source_instance_arn",
    "ec2_instance_source_vpc",
    "ec2_instance_source_private_ipv4",
    "ec2_role_delivery",
)


class InstanceExchange(FederatedExchange):
    """A FederatedExchange that also keeps the ``ec2_*`` claims behind each access
    token (the protected API decides on them)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pending: dict[int, dict[str, str]] = {}
        self._ec2: dict[str, dict[str, str]] = {}
        self._ec2_lock = threading.Lock()

    def make_grant(self, claims: VerifiedClaims, rule: FederatedCredentialRule) -> Grant:
        grant = super().make_grant(claims, rule)
        aws = claims.raw.get(AWS_CLAIMS)
        found = {k: str(aws[k]) for k in EC2_CLAIMS if isinstance(aws, dict) and k in aws}
        with self._ec2_lock:
            self._pending[id(grant)] = found
        return grant

    def store(self, grant: Grant) -> str:
        token = super().store(grant)
        with self._ec2_lock:
            self._ec2[_digest(token)] = self._pending.pop(id(grant), {})
        return token

    def ec2_claims(self, access_token: str) -> dict[str, str] | None:
        if self.grant_for(access_token) is None:
            return None
        with self._ec2_lock:
            return self._ec2.get(_digest(access_token))


def instance_app(exchange: InstanceExchange, *, network: str) -> Starlette:
    """The token endpoint, ``/api/whoami`` and ``/api/instance``."""

    async def instance(request: Request) -> Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        ec2 = exchange.ec2_claims(token.strip()) if scheme.lower() == "bearer" else None
        if ec2 is None:
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        if ec2.get("ec2_role_delivery") != "2.0" or ec2.get("ec2_instance_source_vpc") != network:
            return JSONResponse(
                {"error": "forbidden", "reason": f"not an IMDSv2 instance of {network}"},
                status_code=403,
            )
        return JSONResponse(
            {
                "message": "hello, instance",
                "instance": ec2["ec2_source_instance_arn"],
                "network": ec2["ec2_instance_source_vpc"],
                "private_ipv4": ec2.get("ec2_instance_source_private_ipv4"),
            }
        )

    app = create_app(exchange)
    app.add_route("/api/instance", instance, methods=["GET"])
    return app
