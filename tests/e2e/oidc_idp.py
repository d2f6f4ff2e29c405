"""A small real OpenID Connect identity provider for tests: its own RSA and EC
keys (RS256/384/512, ES256/384/512), a discovery document and JWKS served over
HTTP (or HTTPS with a given certificate) on 127.0.0.1, and helpers that mint
tokens — well-formed ones and the hostile kinds a verifier must refuse (``alg:
none``, HS256 keyed with the public key, foreign keys …). Never bind it anywhere
but loopback."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import ssl
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

_CURVES = {"ES256": ec.SECP256R1, "ES384": ec.SECP384R1, "ES512": ec.SECP521R1}
_CRV = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _uint(value: int, size: int | None = None) -> str:
    length = size if size is not None else (value.bit_length() + 7) // 8
    return b64url(value.to_bytes(length, "big"))


@dataclass
class IdpKey:
    kid: str
    alg: str  # the algorithm this key signs with by default
    private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

    def jwk(self, with_alg: bool = False) -> dict[str, Any]:
        pub = self.private.public_key()
        out: dict[str, Any]
        if isinstance(pub, rsa.RSAPublicKey):
            nums = pub.public_numbers()
            out = {"kty": "RSA", "n": _uint(nums.n), "e": _uint(nums.e)}
        else:
            nums2 = pub.public_numbers()
            size = (pub.curve.key_size + 7) // 8
            out = {
                "kty": "EC",
                "crv": _CRV[self.alg],
                "x": _uint(nums2.x, size),
                "y": _uint(nums2.y, size),
            }
        out.update({"kid": self.kid, "use": "sig"})
        if with_alg:
            out["alg"] = self.alg
        return out

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def new_key(alg: str, kid: str | None = None) -> IdpKey:
    private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    if alg.startswith("RS"):
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        private = ec.generate_private_key(_CURVES[alg]())
    return IdpKey(kid or f"{alg.lower()}-1", alg, private)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        idp = self.server.idp
        idp.requests[self.path] += 1
        if idp.delay:
            time.sleep(idp.delay)
        status, headers, body = idp.answer(self.path)
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    idp: TestIdp


class TestIdp:
    """``with TestIdp() as idp: token = idp.token(aud="sts.amazonaws.com")``."""

    __test__ = False  # not a pytest class

    def __init__(
        self,
        *,
        path: str = "/idp",
        algs: tuple[str, ...] = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512"),
        ssl_context: ssl.SSLContext | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.keys: dict[str, IdpKey] = {}
        for alg in algs:
            key = new_key(alg)
            self.keys[key.kid] = key
        self.requests: Counter[str] = Counter()
        self.overrides: dict[str, tuple[int, dict[str, str], bytes]] = {}
        self.delay = 0.0
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.idp = self
        scheme = "http"
        if ssl_context is not None:
            self._server.socket = ssl_context.wrap_socket(self._server.socket, server_side=True)
            scheme = "https"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.path = path
        self.issuer = f"{scheme}://{host}:{self._server.server_address[1]}{path}"
        self.jwks_uri = self.issuer + "/jwks"

    # --- serving ------------------------------------------------------------------

    def __enter__(self) -> TestIdp:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def discovery_path(self) -> str:
        return self.path + "/.well-known/openid-configuration"

    @property
    def jwks_path(self) -> str:
        return self.path + "/jwks"

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "jwks_uri": self.jwks_uri,
            "id_token_signing_alg_values_supported": sorted({k.alg for k in self.keys.values()}),
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
        }

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.jwk() for k in self.keys.values()]}

    def answer(self, path: str) -> tuple[int, dict[str, str], bytes]:
        if path in self.overrides:
            return self.overrides[path]
        ctype = {"Content-Type": "application/json"}
        if path == self.discovery_path:
            return 200, ctype, json.dumps(self.discovery()).encode()
        if path == self.jwks_path:
            return 200, ctype, json.dumps(self.jwks()).encode()
        return 404, ctype, b'{"error":"not found"}'

    def serve(self, path: str, body: bytes | Mapping[str, Any], status: int = 200) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.overrides[path] = (status, {"Content-Type": "application/json"}, raw)

    def redirect(self, path: str, location: str, status: int = 302) -> None:
        self.overrides[path] = (status, {"Location": location}, b"")

    # --- keys ---------------------------------------------------------------------

    def key(self, alg: str = "RS256") -> IdpKey:
        for key in self.keys.values():
            if key.alg == alg:
                return key
        raise LookupError(alg)

    def rotate(self, alg: str = "RS256", kid: str | None = None) -> IdpKey:
        """Add a new key for ``alg`` (published from now on) and return it."""
        key = new_key(alg, kid or f"{alg.lower()}-{len(self.keys) + 1}")
        self.keys[key.kid] = key
        return key

    # --- tokens -------------------------------------------------------------------

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        out: dict[str, Any] = {
            "iss": self.issuer,
            "sub": "system:serviceaccount:ci:deployer",
            "aud": "sts.amazonaws.com",
            "iat": now,
            "exp": now + 600,
        }
        for name, value in overrides.items():
            if value is None:
                out.pop(name, None)
            else:
                out[name] = value
        return out

    def token(
        self,
        alg: str = "RS256",
        *,
        key: IdpKey | None = None,
        kid: str | None = "",
        headers: Mapping[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        """A token signed by this IdP (``key`` overrides the signing key; ``kid=None``
        omits the header kid; claim keyword arguments override, ``None`` removes)."""
        signer = key if key is not None else self.key(alg)
        header: dict[str, Any] = {"typ": "JWT"}
        if kid == "":
            header["kid"] = signer.kid
        elif kid is not None:
            header["kid"] = kid
        header.update(headers or {})
        return jwt.encode(self.claims(**claims), signer.private, algorithm=alg, headers=header)

    def unsigned_token(self, **claims: Any) -> str:
        """``alg: none`` with an empty signature."""
        header = {"alg": "none", "typ": "JWT", "kid": self.key().kid}
        return ".".join(
            [
                b64url(json.dumps(header).encode()),
                b64url(json.dumps(self.claims(**claims)).encode()),
                "",
            ]
        )

    def hs256_with_public_key(self, alg_key: str = "RS256", **claims: Any) -> str:
        """HS256 whose HMAC secret is the public key PEM (the classic confusion attack)."""
        key = self.key(alg_key)
        header = {"alg": "HS256", "typ": "JWT", "kid": key.kid}
        signing_input = ".".join(
            [
                b64url(json.dumps(header).encode()),
                b64url(json.dumps(self.claims(**claims)).encode()),
            ]
        )
        mac = hmac.new(key.public_pem(), signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{b64url(mac)}"
