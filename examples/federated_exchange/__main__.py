"""Run the example: ``python -m examples.federated_exchange --issuer ISS --subject
SUB --audience AUD [--port 8080]``, or ``--demo`` to also start a local issuer on
127.0.0.1 and print a ready-to-run curl command with a freshly minted token.

User-scoped exchange (OriginIdentity tokens): ``--origin-issuer ISS`` (implies
``--subject-mode OriginIdentity``; ``--subject`` is then the origin subject, e.g.
``alice``), ``--require-scope S`` and ``--allow-scope S`` (repeatable)."""

from __future__ import annotations

import argparse
import shlex
import sys
from datetime import timedelta

import uvicorn
from examples.federated_exchange.app import (
    CLIENT_ASSERTION_TYPE,
    FederatedExchange,
    create_app,
)

from tessera.oidc.jwt import sign_jwt
from tessera.verify import FederatedCredentialRule, Verifier
from tessera.verify.rules import glob_match

DEMO_ORIGIN_ISSUER = "idp.example.com/realms/corp"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m examples.federated_exchange",
        description="OAuth 2.0 token endpoint accepting Tessera/AWS web identity tokens.",
    )
    p.add_argument(
        "--issuer", help="trusted issuer URL (from GetOutboundWebIdentityFederationInfo)"
    )
    p.add_argument("--subject", help="accepted sub: an IAM role/user ARN, '*' and '?' allowed")
    p.add_argument("--audience", default=None, help="the aud this service expects")
    p.add_argument("--account", action="append", default=[], help="restrict to AWS account(s)")
    p.add_argument("--name", default="default", help="federated credential name (= client_id)")
    p.add_argument(
        "--subject-mode",
        choices=["AWSIdentity", "OriginIdentity"],
        default=None,
        help="require this SubjectMode (default: any; OriginIdentity if --origin-issuer)",
    )
    p.add_argument(
        "--origin-issuer",
        default=None,
        help="OriginIdentity: accepted origin_identity.issuer ('*' and '?' allowed)",
    )
    p.add_argument(
        "--require-scope",
        action="append",
        default=[],
        help="scope token the JWT's scope must contain (repeatable; always grantable)",
    )
    p.add_argument(
        "--allow-scope",
        action="append",
        default=[],
        help="further scope token this service may grant (repeatable)",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--ttl", type=int, default=900, help="access token lifetime, seconds")
    p.add_argument("--leeway", type=float, default=60.0)
    p.add_argument("--ca-bundle", help="CA bundle for the issuer's TLS certificate")
    p.add_argument("--insecure-allow-http", action="store_true")
    p.add_argument("--demo", action="store_true", help="start a local issuer too (127.0.0.1)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    demo = None
    if args.origin_issuer is not None:
        if args.subject_mode == "AWSIdentity":
            print("error: --origin-issuer needs --subject-mode OriginIdentity", file=sys.stderr)
            return 2
        args.subject_mode = "OriginIdentity"
    origin = args.subject_mode == "OriginIdentity"
    if args.demo:
        from tessera.verify.testing import LocalIssuer

        demo = LocalIssuer().start()
        args.issuer = args.issuer or demo.issuer
        if origin:
            args.origin_issuer = args.origin_issuer or DEMO_ORIGIN_ISSUER
            args.require_scope = args.require_scope or ["orders:read"]
        default_subject = "alice" if origin else "arn:aws:iam::123456789012:role/ci-*"
        args.subject = args.subject or default_subject
    args.audience = args.audience or f"http://{args.host}:{args.port}"
    if not args.issuer or not args.subject:
        print("error: --issuer and --subject are required (or use --demo)", file=sys.stderr)
        return 2
    if origin and args.origin_issuer is None:
        print("error: --subject-mode OriginIdentity needs --origin-issuer", file=sys.stderr)
        return 2
    rule = FederatedCredentialRule(
        name=args.name,
        issuer=args.issuer,
        subject=args.subject,
        audience=args.audience,
        accounts=frozenset(args.account),
        subject_mode=args.subject_mode,
        origin_issuer=args.origin_issuer,
        required_scopes=frozenset(args.require_scope),
    )
    verifier = Verifier(
        issuer=args.issuer,
        audience=args.audience,
        leeway=args.leeway,
        ca_bundle=args.ca_bundle,
        insecure_allow_http=args.insecure_allow_http,
    )
    exchange = FederatedExchange(
        [rule],
        [verifier],
        access_token_ttl=timedelta(seconds=args.ttl),
        allowed_scopes={args.name: frozenset(args.allow_scope)},
    )
    base = f"http://{args.host}:{args.port}"
    print(f"trusting {args.issuer}: sub={args.subject!r} aud={args.audience!r}")
    if origin:
        print(
            f"  subject mode OriginIdentity, origin issuer {args.origin_issuer!r},"
            f" required scopes {sorted(args.require_scope)},"
            f" allowed scopes {sorted(set(args.require_scope) | set(args.allow_scope))}"
        )
    if demo is not None:
        agent = "arn:aws:iam::123456789012:role/ci-deploy"
        if origin:
            # What GetWebIdentityToken(SubjectMode=OriginIdentity, Scope=...) emits
            # for an agent's TIP session whose origin subject is alice.
            demo_origin = DEMO_ORIGIN_ISSUER
            if not glob_match(args.origin_issuer, demo_origin):
                demo_origin = args.origin_issuer.replace("*", "x").replace("?", "x")
            claims = demo.claims(subject=agent, audience=args.audience, duration=3600)
            claims["sub"] = "alice"
            claims["https://sts.amazonaws.com/"] |= {
                "subject_mode": "OriginIdentity",
                "origin_identity": {
                    "issuer": demo_origin,
                    "federated_provider_arn": (
                        "arn:aws:iam::123456789012:oidc-provider/" + DEMO_ORIGIN_ISSUER
                    ),
                    "subject_type": "user",
                },
            }
            claims["scope"] = " ".join([*args.require_scope, "orders:write"])
            token = sign_jwt(claims, demo.key())
        else:
            token = demo.issue(subject=agent, audience=args.audience, duration=3600)
        data = (
            f"grant_type=client_credentials&client_assertion_type={CLIENT_ASSERTION_TYPE}"
            f"&client_assertion={token}"
        )
        print("demo issuer:", demo.issuer)
        print("try:\n  curl -s " + shlex.quote(base + "/oauth2/token") + " -d " + shlex.quote(data))
        print("  curl -s -H 'Authorization: Bearer <access_token>' " + base + "/api/whoami")
    try:
        uvicorn.run(create_app(exchange), host=args.host, port=args.port, log_level="info")
    finally:
        verifier.close()
        if demo is not None:
            demo.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
