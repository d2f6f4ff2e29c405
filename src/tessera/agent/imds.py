"""The IMDSv2-compatible endpoint: session tokens and the role-credential paths of
EC2's instance metadata service, as botocore and the AWS CLI use them
(``AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:9911/``).

Rules copied from EC2 (docs/.. ``workload-identity.md`` §1):

* ``PUT /latest/api/token`` needs ``X-aws-ec2-metadata-token-ttl-seconds`` with a
  whole number 1-21600, else 400; a PUT carrying ``X-Forwarded-For`` (or
  ``Forwarded``) is refused with 403, so a proxy-relayed SSRF cannot mint tokens;
* tokens are 256 random bits, held in memory (only their SHA-256, so looking one
  up leaks nothing through timing) with their expiry; at most ``MAX_TOKENS`` live
  at once (botocore takes a new one per refresh), the soonest to expire is evicted;
* every GET/HEAD needs a live token in ``X-aws-ec2-metadata-token``, else 401
  (IMDSv2 only: there is no tokenless IMDSv1 fallback);
* ``…/iam/security-credentials/`` lists the role name (no trailing newline),
  ``…/iam/security-credentials/<role>`` answers EC2's JSON document; the
  ``security-credentials-extended`` paths newer SDKs try first add ``AccountId``;
  anything else is 404; other methods 405; everything is ``text/plain``;
* an instance's agent (``agent.instance``) adds its metadata paths (instance id,
  local IPv4, placement, ``iam/info``, the identity document) and serves the role
  of the credentials it holds;
* without credentials to serve (CreateSession failing and the old ones expired)
  the credentials path answers 503, EC2's "try again".
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from tessera.agent.cache import CredentialCache
from tessera.agent.formats import ec2_json
from tessera.agent.httpd import Response, text
from tessera.clock import Clock

__all__ = ["ImdsEndpoint", "TokenStore", "role_name"]

TOKEN_PATH = "/latest/api/token"
CREDS_PREFIX = "/latest/meta-data/iam/security-credentials"
EXTENDED_PREFIX = "/latest/meta-data/iam/security-credentials-extended"
TTL_HEADER = "x-aws-ec2-metadata-token-ttl-seconds"
TOKEN_HEADER = "x-aws-ec2-metadata-token"
MAX_TTL = 21_600
MAX_TOKENS = 1024
_TTL_RE = re.compile(r"[0-9]{1,5}")


def role_name(role_arn: str) -> str:
    """The role's name: the last element of the ARN's resource (paths dropped)."""
    return role_arn.rsplit("/", 1)[-1]


class TokenStore:
    """Live IMDSv2 session tokens (their SHA-256 digests) and their expiry."""

    def __init__(self, clock: Clock, *, max_tokens: int = MAX_TOKENS) -> None:
        self._clock = clock
        self._max = max_tokens
        self._lock = threading.Lock()
        self._expiry: dict[bytes, datetime] = {}

    def __len__(self) -> int:
        return len(self._expiry)

    @staticmethod
    def _digest(token: str) -> bytes:
        return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()

    def issue(self, ttl_seconds: int) -> str:
        token = secrets.token_urlsafe(32)
        now = self._clock.now()
        with self._lock:
            if len(self._expiry) >= self._max:
                self._purge(now)
            while len(self._expiry) >= self._max:
                soonest = min(self._expiry, key=self._expiry.__getitem__)
                del self._expiry[soonest]
            self._expiry[self._digest(token)] = now + timedelta(seconds=ttl_seconds)
        return token

    def remaining(self, token: str) -> int | None:
        """Seconds the token has left, or ``None`` if it is unknown or expired."""
        if not token or len(token) > 512:
            return None
        now = self._clock.now()
        digest = self._digest(token)
        with self._lock:
            expiry = self._expiry.get(digest)
            if expiry is None:
                return None
            if expiry <= now:
                del self._expiry[digest]
                return None
        return max(1, int((expiry - now).total_seconds()))

    def _purge(self, now: datetime) -> None:
        for digest in [d for d, exp in self._expiry.items() if exp <= now]:
            del self._expiry[digest]


class ImdsEndpoint:
    """Answers IMDSv2 requests from ``cache`` for one role: ``role_arn``, or (None)
    the role of the credentials being served (an instance profile's role can
    change). ``metadata`` answers the other paths an instance has (``None``: 404)."""

    def __init__(
        self,
        cache: CredentialCache,
        role_arn: str | None,
        *,
        clock: Clock,
        metadata: Callable[[str], str | None] | None = None,
    ) -> None:
        self._cache = cache
        self._fixed_role = role_name(role_arn) if role_arn is not None else None
        self._clock = clock
        self._metadata = metadata
        self.tokens = TokenStore(clock)

    def _role(self) -> str | None:
        if self._fixed_role is not None:
            return self._fixed_role
        served = self._cache.current()
        return None if served is None else role_name(served[0].role_arn)

    def handle(self, method: str, path: str, headers: Mapping[str, list[str]]) -> Response:
        path = path.split("?", 1)[0]
        if path in (TOKEN_PATH, TOKEN_PATH + "/"):
            if method != "PUT":
                return text(405, "Method Not Allowed")
            return self._put_token(headers)
        if method not in ("GET", "HEAD"):
            return text(405, "Method Not Allowed")
        values = headers.get(TOKEN_HEADER, [])
        left = self.tokens.remaining(values[0]) if len(values) == 1 else None
        if left is None:
            return text(401, "Unauthorized")
        ttl = ((TTL_HEADER, str(left)),)
        for prefix, extended in ((CREDS_PREFIX, False), (EXTENDED_PREFIX, True)):
            if path == prefix or path.startswith(prefix + "/"):
                role = self._role()
                if role is None:
                    return text(503, "Service Unavailable")
                if path in (prefix, prefix + "/"):
                    return Response(200, role.encode(), headers=ttl)
                if path in (f"{prefix}/{role}", f"{prefix}/{role}/"):
                    return self._credentials(extended, ttl)
                return text(404, "Not Found")
        if self._metadata is not None:
            body = self._metadata(path)
            if body is not None:
                return Response(200, body.encode(), headers=ttl)
        return text(404, "Not Found")

    def _put_token(self, headers: Mapping[str, list[str]]) -> Response:
        if "x-forwarded-for" in headers or "forwarded" in headers:
            return text(403, "Forbidden")
        values = headers.get(TTL_HEADER, [])
        if len(values) != 1 or _TTL_RE.fullmatch(values[0].strip()) is None:
            return text(400, "Missing or Invalid Parameters")
        ttl = int(values[0])
        if not 1 <= ttl <= MAX_TTL:
            return text(400, "Missing or Invalid Parameters")
        token = self.tokens.issue(ttl)
        return Response(200, token.encode(), headers=((TTL_HEADER, str(ttl)),))

    def _credentials(self, extended: bool, ttl: tuple[tuple[str, str], ...]) -> Response:
        served = self._cache.current()
        if served is None:
            return text(503, "Service Unavailable")
        creds, obtained = served
        return Response(200, ec2_json(creds, obtained, extended=extended).encode(), headers=ttl)
