"""The ECS / EKS-Pod-Identity-style container-credentials endpoint:
``GET /v1/credentials`` for ``AWS_CONTAINER_CREDENTIALS_FULL_URI`` together with
``AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE``.

``Authorization`` must equal the token in the token file (compared in constant
time, no ``Bearer`` prefix, exactly what botocore sends): missing → 401, different
→ 403. The file is re-read on every request (at most 4 KiB), so it can be rotated
in place; a trailing newline in it is ignored here (botocore itself refuses a
token with one, see ``check_token_file``). A token shorter than 16 characters is
refused at start-up. Other paths 404, other methods 405; the answer is
``application/json`` with ``AccessKeyId``, ``SecretAccessKey``, ``Token``,
``Expiration``, ``RoleArn`` and ``AccountId``; 503 while there are no credentials.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Mapping
from pathlib import Path

from tessera.agent.cache import CredentialCache
from tessera.agent.errors import AgentError
from tessera.agent.formats import container_json
from tessera.agent.httpd import Response

__all__ = ["ContainerEndpoint", "check_token_file", "read_token"]

log = logging.getLogger("tessera.agent")

PATH = "/v1/credentials"
MAX_TOKEN_BYTES = 4096
MIN_TOKEN_CHARS = 16


def read_token(path: Path) -> bytes:
    """The token in ``path`` without a trailing line break; raises ``OSError`` or
    ``ValueError`` (too long)."""
    with path.open("rb") as fh:
        data = fh.read(MAX_TOKEN_BYTES + 1)
    if len(data) > MAX_TOKEN_BYTES:
        raise ValueError("token file too large")
    return data.rstrip(b"\r\n")


def check_token_file(path: Path) -> None:
    """Start-up check of the token file; raises :class:`AgentError`."""
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_TOKEN_BYTES + 1)
        token = read_token(path)
    except OSError as exc:
        raise AgentError(f"cannot read --container-token-file {path}: {exc.strerror}") from None
    except ValueError:
        raise AgentError(f"--container-token-file {path} is over {MAX_TOKEN_BYTES} bytes") from None
    if len(token) < MIN_TOKEN_CHARS:
        raise AgentError(
            f"--container-token-file {path} holds fewer than {MIN_TOKEN_CHARS} characters"
        )
    if any(b < 0x21 or b > 0x7E for b in token):
        raise AgentError(f"--container-token-file {path}: the token must be printable ASCII")
    if raw != token:
        log.warning(
            "--container-token-file %s ends with a line break: botocore refuses such a token; "
            "write it without one (printf '%%s' TOKEN > FILE)",
            path,
        )


class ContainerEndpoint:
    """Answers ``GET /v1/credentials`` from ``cache`` for holders of the token."""

    def __init__(self, cache: CredentialCache, token_file: Path) -> None:
        self._cache = cache
        self._token_file = token_file

    def handle(self, method: str, path: str, headers: Mapping[str, list[str]]) -> Response:
        if path.split("?", 1)[0] != PATH:
            return _error(404, "NotFound", "not found")
        if method not in ("GET", "HEAD"):
            return _error(405, "MethodNotAllowed", "method not allowed")
        given = headers.get("authorization", [])
        if not given:
            return _error(401, "Unauthorized", "missing Authorization header")
        try:
            expected = read_token(self._token_file)
        except (OSError, ValueError):
            log.error("cannot read the container token file %s", self._token_file)
            return _error(500, "InternalError", "token file unreadable")
        presented = given[0].encode("utf-8", "surrogateescape")
        # compare_digest runs in time independent of where the inputs differ
        if len(given) != 1 or not expected or not hmac.compare_digest(presented, expected):
            return _error(403, "AccessDenied", "invalid Authorization token")
        served = self._cache.current()
        if served is None:
            return _error(503, "CredentialsUnavailable", "no credentials available yet")
        return Response(200, container_json(served[0]).encode(), content_type="application/json")


def _error(status: int, code: str, message: str) -> Response:
    body = json.dumps({"code": code, "message": message}).encode()
    return Response(status, body, content_type="application/json")
