"""``tessera token verify``: verify one token against a pinned issuer and audience.

``run(argv)`` parses ``TOKEN --issuer ISS --audience AUD [--audience AUD2]
[--ca-bundle FILE] [--insecure-allow-http] [--leeway SECONDS] [--json]``. TOKEN
may be ``-`` to read it from stdin (keeps it out of the process list and shell
history). Exit 0 and the claims (a summary, or JSON with ``--json``) on success;
exit 1 and ``error: <reason>: <message>`` on stderr when verification fails;
exit 2 for usage errors. The CLI owner wires ``tessera token verify`` to ``run``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import warnings
from typing import TextIO

from tessera.verify.errors import VerificationError
from tessera.verify.verifier import DEFAULT_LEEWAY, Verifier


def build_parser(prog: str = "tessera token verify") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Verify a web identity token (JWT).")
    p.add_argument("token", metavar="TOKEN", help="the compact JWT, or - to read from stdin")
    p.add_argument("--issuer", required=True, help="the expected issuer URL (pinned)")
    p.add_argument(
        "--audience", required=True, action="append", help="an accepted audience (repeatable)"
    )
    p.add_argument("--ca-bundle", help="PEM file of CA certificates for the issuer's TLS")
    p.add_argument(
        "--insecure-allow-http",
        action="store_true",
        help="allow plain http to a non-loopback issuer (testing only)",
    )
    p.add_argument(
        "--leeway",
        type=float,
        default=DEFAULT_LEEWAY,
        help=f"clock-skew leeway in seconds (default {DEFAULT_LEEWAY:g})",
    )
    p.add_argument("--json", action="store_true", help="print the verified claims as JSON")
    return p


def run(
    argv: list[str],
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    stdin = stdin if stdin is not None else sys.stdin
    stdout = stdout if stdout is not None else sys.stdout
    stderr = stderr if stderr is not None else sys.stderr
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(stdout):
            args = build_parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else 2
    token = stdin.read().strip() if args.token == "-" else args.token
    if args.insecure_allow_http:
        print(
            "warning: --insecure-allow-http: the issuer may be fetched over plain http", file=stderr
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # already announced above
            verifier = Verifier(
                issuer=args.issuer,
                audience=args.audience,
                leeway=args.leeway,
                ca_bundle=args.ca_bundle,
                insecure_allow_http=args.insecure_allow_http,
            )
    except ValueError as exc:
        print(f"error: {exc}", file=stderr)
        return 2
    try:
        _check_issuer(token, args.issuer)
        with verifier:
            claims = verifier.verify(token)
    except VerificationError as exc:
        print(f"error: {exc.reason}: {exc.message}", file=stderr)
        return 1
    if args.json:
        json.dump(claims.to_json_dict(), stdout, indent=2, sort_keys=True)
        stdout.write("\n")
    else:
        print("token verified", file=stdout)
        summary = claims.to_json_dict()
        summary.pop("claims")
        for key, value in summary.items():
            if value not in (None, [], {}):
                print(
                    f"  {key}: {json.dumps(value) if not isinstance(value, str) else value}",
                    file=stdout,
                )
    return 0


def _check_issuer(token: str, issuer: str) -> None:
    """A token of another issuer is ``wrong_issuer`` at once (before any key lookup,
    which would only say its kid is unknown here). Only ever rejects: the verifier
    checks ``iss`` again under the signature."""
    from tessera.verify.errors import WrongIssuer
    from tessera.verify.tokens import UnverifiedToken

    iss = UnverifiedToken.parse(token).claims.get("iss")
    if isinstance(iss, str) and iss != issuer:
        raise WrongIssuer(f"token issuer {iss!r} is not the pinned issuer {issuer!r}")


def main() -> None:  # pragma: no cover - thin wrapper
    sys.exit(run(sys.argv[1:]))


if __name__ == "__main__":  # pragma: no cover
    main()
