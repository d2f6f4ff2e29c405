"""``LocalIssuer``: a throw-away OIDC issuer for relying parties' tests and demos.

It generates its own RS256 and ES384 keys with ``tessera.oidc``, serves the
discovery document and JWKS over real HTTP on 127.0.0.1 (a threaded
``http.server`` on an ephemeral port), and mints AWS-shaped tokens with
``tessera.oidc.jwt``. It counts requests per path and can be told to serve
arbitrary bytes at a path (oversize or broken documents). Never bind it anywhere
but loopback; it is not a production issuer.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tessera.oidc import documents
from tessera.oidc.claims import TokenContext, build_claims
from tessera.oidc.jwt import sign_jwt
from tessera.oidc.keys import Algorithm, KeyRing, SigningKey


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        issuer = self.server.issuer
        issuer.requests[self.path] += 1
        body, status = issuer.body_for(self.path)
        self.send_response(status)
        self.send_header("Content-Type", documents.CONTENT_TYPE)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    issuer: LocalIssuer


class LocalIssuer:
    """Use as a context manager: ``with LocalIssuer() as iss: iss.issue(...)``."""

    def __init__(
        self,
        *,
        now: datetime | None = None,
        path: str = "/issuers/local",
        account: str = "123456789012",
        ring: KeyRing | None = None,
    ) -> None:
        self.now = now if now is not None else datetime.now(UTC)
        self.account = account
        self._path = path
        if ring is None:
            ring, _ = KeyRing(()).bootstrap(self.now - timedelta(days=1))
        self.ring = ring
        self.requests: Counter[str] = Counter()
        self.overrides: dict[str, tuple[bytes, int]] = {}
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.issuer = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.issuer = f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    # --- server -------------------------------------------------------------------

    def start(self) -> LocalIssuer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> LocalIssuer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def body_for(self, path: str) -> tuple[bytes, int]:
        if path in self.overrides:
            return self.overrides[path]
        if path == self._path + documents.DISCOVERY_PATH:
            return documents.discovery_document(self.issuer), 200
        if path == self._path + documents.JWKS_PATH:
            return documents.jwks_document(self.ring.published(self.now)), 200
        return b'{"error":"not found"}', 404

    @property
    def discovery_path(self) -> str:
        return self._path + documents.DISCOVERY_PATH

    @property
    def jwks_path(self) -> str:
        return self._path + documents.JWKS_PATH

    # --- tokens -------------------------------------------------------------------

    def key(self, alg: Algorithm = "RS256") -> SigningKey:
        key = self.ring.signing_key(alg, self.now)
        if key is None:
            raise LookupError(f"no {alg} signing key")
        return key

    def claims(
        self,
        *,
        subject: str = "arn:aws:iam::123456789012:role/ci-deploy",
        audience: str | Sequence[str] = "https://rp.example",
        issued_at: datetime | None = None,
        duration: int = 300,
        issuer: str | None = None,
        principal_tags: Mapping[str, str] | None = None,
        request_tags: Mapping[str, str] | None = None,
        org_id: str | None = None,
        ou_path: Sequence[str] = (),
        source_region: str = "us-east-1",
    ) -> dict[str, Any]:
        ctx = TokenContext(
            issuer=issuer if issuer is not None else self.issuer,
            audiences=(audience,) if isinstance(audience, str) else tuple(audience),
            subject=subject,
            account=self.account,
            source_region=source_region,
            principal_id=subject,
            org_id=org_id,
            ou_path=tuple(ou_path),
            principal_tags=dict(principal_tags or {}),
            request_tags=dict(request_tags or {}),
        )
        return build_claims(ctx, issued_at=issued_at or self.now, duration=duration)

    def issue(self, alg: Algorithm = "RS256", key: SigningKey | None = None, **kw: Any) -> str:
        """A signed token; keyword arguments go to ``claims``."""
        return sign_jwt(self.claims(**kw), key if key is not None else self.key(alg))
