"""A relying party that trades Tessera/AWS web identity tokens for its own access
tokens: an OAuth 2.0 token endpoint with JWT client assertions (RFC 7523 §2.2,
and the §2.1 JWT bearer grant), plus one protected API endpoint.

``POST /oauth2/token`` (``application/x-www-form-urlencoded``)::

    grant_type=client_credentials
    client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer
    client_assertion=<JWT from GetWebIdentityToken>
    [client_id=<federated credential name>]

or ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<JWT>``.
The JWT is verified with ``tessera.verify`` (pinned issuer, audience, signature,
lifetime) and must match a configured ``FederatedCredentialRule`` (issuer,
subject pattern, audience, optional account/tag conditions); its ``jti`` may be
used once. Success: ``{"access_token", "token_type": "Bearer", "expires_in"}``
with ``Cache-Control: no-store``. Failures use RFC 6749 §5.2 errors:
``invalid_request`` (400), ``invalid_client`` (401, client assertion rejected),
``invalid_grant`` (400, bearer-grant assertion rejected),
``unsupported_grant_type`` (400), ``invalid_scope`` (400).

User-scoped exchange: a JWT from ``GetWebIdentityToken`` with
``SubjectMode=OriginIdentity`` names the origin subject (say alice, from her IdP)
rather than the agent's ARN. Such a token is only accepted by a rule with
``subject_mode="OriginIdentity"`` and an ``origin_issuer``; the access token then
stands for alice *at her issuer* (``subject`` + ``issuer`` = origin subject and
origin issuer; the agent's ARN is kept as ``actor``) and carries the granted
scope: the JWT's ``scope`` claim (the requested scope) intersected with the
scopes the credential allows (RFC 6749 §3.3). The token response then includes
``scope``; nothing left to grant is ``invalid_scope``.

``GET /api/whoami`` with ``Authorization: Bearer <access_token>`` returns who
the caller is; otherwise 401 with ``WWW-Authenticate: Bearer error="invalid_token"``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
import threading
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tessera.clock import Clock, SystemClock
from tessera.verify import (
    FederatedCredentialRule,
    MalformedToken,
    UnverifiedToken,
    VerificationError,
    VerifiedClaims,
    Verifier,
    match,
)

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
MAX_FORM_BYTES = 64 * 1024
DEFAULT_ACCESS_TOKEN_TTL = timedelta(minutes=15)
ORIGIN_IDENTITY = "OriginIdentity"


class OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status

    def response(self) -> JSONResponse:
        return JSONResponse(
            {"error": self.error, "error_description": self.description},
            status_code=self.status,
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        )


@dataclass(frozen=True, slots=True)
class Grant:
    """What an access token stands for."""

    subject: str
    credential: str
    account: str | None
    #: the issuer that qualifies ``subject``: the token issuer for AWSIdentity
    #: tokens, the origin identity's issuer for OriginIdentity tokens
    issuer: str
    expires_at: datetime
    #: OriginIdentity only: the mode, the JWT's issuer, the agent acting for the
    #: subject (``principal_id``), the origin subject type and the granted scope
    subject_mode: str | None = None
    assertion_issuer: str | None = None
    actor: str | None = None
    subject_type: str | None = None
    scopes: tuple[str, ...] = ()

    @property
    def scope(self) -> str:
        return " ".join(self.scopes)


class FederatedExchange:
    """Verifiers per trusted issuer, the rules, issued access tokens, used jtis."""

    def __init__(
        self,
        rules: Sequence[FederatedCredentialRule],
        verifiers: Sequence[Verifier],
        *,
        clock: Clock | None = None,
        access_token_ttl: timedelta = DEFAULT_ACCESS_TOKEN_TTL,
        allowed_scopes: Mapping[str, Collection[str]] | None = None,
    ) -> None:
        """``allowed_scopes`` maps a rule's name to the scopes it may grant (in
        addition to its ``required_scopes``, which are always grantable)."""
        self.rules = tuple(rules)
        self.allowed_scopes: dict[str, frozenset[str]] = {}
        for name, scopes in (allowed_scopes or {}).items():
            if isinstance(scopes, str):
                raise TypeError("allowed scopes must be a collection of strings, not a string")
            self.allowed_scopes[name] = frozenset(scopes)
        self.verifiers = {v.issuer: v for v in verifiers}
        missing = {r.issuer for r in self.rules} - set(self.verifiers)
        if missing:
            raise ValueError(f"no verifier for issuer(s) {sorted(missing)}")
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.ttl = access_token_ttl
        self._grants: dict[str, Grant] = {}  # sha256(access token) -> grant
        self._seen_jti: dict[tuple[str, str], datetime] = {}
        self._lock = threading.Lock()

    # -- assertion checking (blocking: may fetch JWKS; run in a thread) --

    def check_assertion(
        self, assertion: str, client_id: str | None
    ) -> tuple[VerifiedClaims, FederatedCredentialRule]:
        """Raise ``VerificationError`` / ``LookupError`` or return claims + rule."""
        token = UnverifiedToken.parse(assertion)
        issuer = token.peek_issuer()  # untrusted: only picks the verifier
        verifier = self.verifiers.get(issuer or "")
        if verifier is None:
            raise LookupError(f"issuer {issuer!r} is not trusted")
        claims = verifier.verify(token)
        candidates = [r for r in self.rules if client_id is None or r.name == client_id]
        if claims.subject_mode == ORIGIN_IDENTITY:
            # A foreign sub is only meaningful with its issuer: only credentials
            # written for origin subjects (mode + origin issuer) may accept one.
            candidates = [
                r
                for r in candidates
                if r.subject_mode == ORIGIN_IDENTITY and r.origin_issuer is not None
            ]
        rule = match(candidates, claims)
        if rule is None:
            raise LookupError("no federated credential matches the assertion")
        self._use_jti(claims)
        return claims, rule

    def _use_jti(self, claims: VerifiedClaims) -> None:
        if claims.jti is None:
            raise MalformedToken("assertion has no jti")
        now = self.clock.now()
        key = (claims.issuer, claims.jti)
        with self._lock:
            for k, exp in list(self._seen_jti.items()):
                if exp + timedelta(minutes=5) < now:
                    del self._seen_jti[k]
            if key in self._seen_jti:
                raise LookupError("assertion has already been used (jti replay)")
            self._seen_jti[key] = claims.expires_at

    # -- access tokens --

    def granted_scopes(
        self, claims: VerifiedClaims, rule: FederatedCredentialRule
    ) -> tuple[str, ...]:
        """Requested (the JWT's ``scope``) ∩ allowed, in request order (RFC 6749 §3.3)."""
        allowed = self.allowed_scopes.get(rule.name, frozenset()) | rule.required_scopes
        return tuple(s for s in claims.scopes if s in allowed)

    def make_grant(self, claims: VerifiedClaims, rule: FederatedCredentialRule) -> Grant:
        """What an access token for ``claims`` stands for; ``OAuthError(invalid_scope)``
        when an OriginIdentity token asks for scopes of which none can be granted."""
        base = Grant(
            subject=claims.subject,
            credential=rule.name or rule.subject,
            account=claims.account,
            issuer=claims.issuer,
            expires_at=self.clock.now() + self.ttl,
        )
        if claims.subject_mode != ORIGIN_IDENTITY:
            return base  # AWSIdentity: sub is an ARN qualified by the token issuer
        if claims.origin_issuer is None:  # check_assertion's rules require one
            raise LookupError("an OriginIdentity token names no origin issuer")
        scopes = self.granted_scopes(claims, rule)
        if claims.scopes and not scopes:
            raise OAuthError("invalid_scope", "none of the requested scopes can be granted")
        return dataclasses.replace(
            base,
            issuer=claims.origin_issuer,
            subject_mode=ORIGIN_IDENTITY,
            assertion_issuer=claims.issuer,
            actor=claims.principal_id,
            subject_type=claims.origin_subject_type,
            scopes=scopes,
        )

    def issue_access_token(self, claims: VerifiedClaims, rule: FederatedCredentialRule) -> str:
        return self.store(self.make_grant(claims, rule))

    def store(self, grant: Grant) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._grants[_digest(token)] = grant
        return token

    def grant_for(self, access_token: str) -> Grant | None:
        with self._lock:
            grant = self._grants.get(_digest(access_token))
            if grant is not None and grant.expires_at <= self.clock.now():
                del self._grants[_digest(access_token)]
                return None
            return grant


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _parse_form(body: bytes) -> dict[str, str]:
    try:
        pairs = parse_qsl(body.decode("ascii"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError as exc:
        raise OAuthError("invalid_request", "request body is not valid form data") from exc
    form: dict[str, str] = {}
    for key, value in pairs:
        if key in form:
            raise OAuthError("invalid_request", f"parameter {key!r} is repeated")
        form[key] = value
    return form


async def token_endpoint(request: Request) -> Response:
    exchange: FederatedExchange = request.app.state.exchange
    try:
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            raise OAuthError("invalid_request", "use application/x-www-form-urlencoded")
        body = await request.body()
        if len(body) > MAX_FORM_BYTES:
            raise OAuthError("invalid_request", "request body too large")
        form = _parse_form(body)
        grant_type = form.get("grant_type")
        if not grant_type:
            raise OAuthError("invalid_request", "grant_type is required")
        if grant_type == "client_credentials":
            if form.get("client_assertion_type") != CLIENT_ASSERTION_TYPE:
                raise OAuthError(
                    "invalid_client", f"client_assertion_type must be {CLIENT_ASSERTION_TYPE}", 401
                )
            assertion, failure, status = form.get("client_assertion"), "invalid_client", 401
        elif grant_type == JWT_BEARER_GRANT:
            assertion, failure, status = form.get("assertion"), "invalid_grant", 400
        else:
            raise OAuthError("unsupported_grant_type", f"grant_type {grant_type!r} not supported")
        if not assertion:
            raise OAuthError(failure, "the JWT assertion is missing", status)
        try:
            claims, rule = await run_in_threadpool(
                exchange.check_assertion, assertion, form.get("client_id")
            )
            grant = exchange.make_grant(claims, rule)
        except VerificationError as exc:
            raise OAuthError(
                failure, f"assertion rejected: {exc.reason}: {exc.message}", status
            ) from None
        except LookupError as exc:
            raise OAuthError(failure, f"assertion rejected: {exc}", status) from None
    except OAuthError as err:
        return err.response()
    answer: dict[str, object] = {
        "access_token": exchange.store(grant),
        "token_type": "Bearer",
        "expires_in": int(exchange.ttl.total_seconds()),
    }
    if grant.scopes:
        answer["scope"] = grant.scope  # always stated, even when equal to the request
    return JSONResponse(answer, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


async def whoami(request: Request) -> Response:
    exchange: FederatedExchange = request.app.state.exchange
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    grant = exchange.grant_for(token.strip()) if scheme.lower() == "bearer" and token else None
    if grant is None:
        return JSONResponse(
            {"error": "invalid_token"},
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    body: dict[str, object] = {
        "subject": grant.subject,
        "credential": grant.credential,
        "account": grant.account,
        "issuer": grant.issuer,
        "expires_at": grant.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if grant.subject_mode == ORIGIN_IDENTITY:
        body |= {
            "subject_mode": grant.subject_mode,
            "subject_type": grant.subject_type,
            "actor": grant.actor,
            "assertion_issuer": grant.assertion_issuer,
            "scope": grant.scope,
        }
    return JSONResponse(body)


async def healthz(request: Request) -> Response:
    return JSONResponse({"ok": True})


def create_app(exchange: FederatedExchange) -> Starlette:
    app = Starlette(
        routes=[
            Route("/oauth2/token", token_endpoint, methods=["POST"]),
            Route("/api/whoami", whoami, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )
    app.state.exchange = exchange
    return app
