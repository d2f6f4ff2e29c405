"""``tessera agent …``: role credentials from an X.509 certificate (IAM Roles
Anywhere's CreateSession) for SDKs that know nothing of certificates.

* ``tessera agent credential-process …`` prints one ``credential_process`` JSON
  object (for ``credential_process = …`` in ``~/.aws/config``); on failure it
  exits 1 with one line on stderr, within ``PROCESS_TIMEOUT`` seconds;
* ``tessera agent join --endpoint URL --token T --state-dir DIR`` enrols this
  machine as a Tessera instance (#16); ``tessera agent serve --state-dir DIR``
  then serves the instance's IMDSv2 view (its instance profile role's
  credentials and its metadata), renewing the instance certificate at half-life;
* ``tessera agent serve …`` serves the credentials on 127.0.0.1: an
  IMDSv2-compatible endpoint (``--port``, default 9911) and, with
  ``--container-port`` and ``--container-token-file``, the container-credentials
  endpoint ``GET /v1/credentials``. SIGTERM or SIGINT stops it cleanly.

The flags are those of AWS's ``aws_signing_helper`` (``--certificate``,
``--private-key``, ``--intermediates``, ``--trust-anchor-arn``, ``--profile-arn``,
``--role-arn``, ``--session-duration``, ``--role-session-name``, ``--region``,
``--endpoint``, ``--port``, ``--hop-limit``, ``--debug``), so scripts can switch.
Its ``--no-verify-ssl`` and ``--with-proxy`` are refused with a reason: give the
server's CA with ``--ca-bundle`` instead; no proxy is ever used.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

from tessera.agent.errors import AgentError

PROCESS_TIMEOUT = 10.0
DEFAULT_IMDS_PORT = 9911

log = logging.getLogger("tessera.agent")


class _Refuse(argparse.Action):
    """An ``aws_signing_helper`` flag we deliberately do not honour."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        self.why = kwargs.pop("why")
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> NoReturn:
        parser.error(f"{self.option_strings[0]} is not supported: {self.why}")


def _port(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {raw!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 1-65535 (got {value})")
    return value


def _hop_limit(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {raw!r}") from None
    if not 1 <= value <= 255:
        raise argparse.ArgumentTypeError(f"hop limit must be 1-255 (got {value})")
    return value


def _duration(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {raw!r}") from None


def _add_credential_args(p: argparse.ArgumentParser, *, required: bool = True) -> None:
    p.add_argument(
        "--certificate", required=required, type=Path, metavar="CERT.pem", help="leaf certificate"
    )
    p.add_argument(
        "--private-key",
        required=required,
        type=Path,
        metavar="KEY.pem",
        help="its private key (PEM, RSA or EC, unencrypted; must not be readable by group or "
        "others)",
    )
    p.add_argument(
        "--intermediates", type=Path, metavar="PEM", help="intermediate CA certificates to send"
    )
    p.add_argument("--trust-anchor-arn", required=required, metavar="ARN", help="the trust anchor")
    p.add_argument("--profile-arn", required=required, metavar="ARN", help="the profile")
    p.add_argument("--role-arn", required=required, metavar="ARN", help="the role to assume")
    p.add_argument(
        "--session-duration",
        type=_duration,
        default=None if not required else 3600,
        metavar="SECONDS",
        help="session duration, 900-43200 (default 3600)",
    )
    p.add_argument("--role-session-name", metavar="NAME", help="role session name to ask for")
    p.add_argument(
        "--region", metavar="REGION", help="signing region (default: the trust anchor's)"
    )
    p.add_argument(
        "--endpoint",
        metavar="URL",
        help="the server's base URL, e.g. https://tessera.example.com:8443 "
        "(default https://rolesanywhere.<region>.amazonaws.com)",
    )
    p.add_argument(
        "--ca-bundle", type=Path, metavar="PEM", help="extra CA certificates trusted for HTTPS"
    )
    p.add_argument(
        "--insecure-key-file-mode",
        action="store_true",
        help="INSECURE: accept a private key file readable by group or others (with a warning)",
    )
    p.add_argument("--debug", action="store_true", help="log progress to stderr (no secrets)")
    p.add_argument(
        "--no-verify-ssl",
        action=_Refuse,
        why="give the server's CA certificate with --ca-bundle",
        help=argparse.SUPPRESS,
    )
    p.add_argument(
        "--with-proxy",
        action=_Refuse,
        why="the agent connects to the endpoint directly",
        help=argparse.SUPPRESS,
    )


def register(subparsers: Any) -> None:
    p_agent = subparsers.add_parser(
        "agent",
        help="role credentials from an X.509 certificate for unmodified AWS SDKs",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p_agent.add_subparsers(dest="agent_command", required=True, metavar="COMMAND")
    p_cp = sub.add_parser(
        "credential-process",
        help="print credentials for credential_process in ~/.aws/config",
        description="Call CreateSession once and print the credential_process JSON "
        "(Version 1). Exits 1 with one line on stderr on failure, within 10 s.",
    )
    _add_credential_args(p_cp)
    p_cp.set_defaults(func=cmd_credential_process)

    p_serve = sub.add_parser(
        "serve",
        help="serve credentials on 127.0.0.1 (IMDSv2 and container endpoints)",
        description="Serve role credentials on 127.0.0.1, refreshed in the background: an "
        "IMDSv2-compatible endpoint (AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:PORT/) "
        "and optionally the container endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI="
        "http://127.0.0.1:P/v1/credentials with AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE).",
    )
    _add_credential_args(p_serve, required=False)
    p_serve.add_argument(
        "--state-dir",
        type=Path,
        metavar="DIR",
        help="serve the enrolled instance of DIR (see 'tessera agent join'): its instance "
        "profile role's credentials and its instance metadata, instead of a Roles Anywhere "
        "profile",
    )
    p_serve.add_argument(
        "--port",
        type=_port,
        default=DEFAULT_IMDS_PORT,
        help=f"IMDS port on 127.0.0.1 (default {DEFAULT_IMDS_PORT})",
    )
    p_serve.add_argument(
        "--hop-limit",
        type=_hop_limit,
        default=1,
        help="IP TTL of responses, 1-255 (default 1, as EC2)",
    )
    p_serve.add_argument(
        "--container-port", type=_port, metavar="P", help="also serve GET /v1/credentials here"
    )
    p_serve.add_argument(
        "--container-token-file",
        type=Path,
        metavar="F",
        help="the file whose content the container endpoint's Authorization must equal",
    )
    p_serve.set_defaults(func=cmd_serve)

    p_join = sub.add_parser(
        "join",
        help="enrol this machine as a Tessera instance with a one-time join token",
        description="Make a key here (never sent), send a CSR with the join token from "
        "'tessera instance create' and keep the instance certificate in --state-dir "
        "(0700; key.pem 0600). Then run 'tessera agent serve --state-dir DIR'.",
    )
    p_join.add_argument(
        "--endpoint", required=True, metavar="URL", help="the Tessera server's base URL"
    )
    p_join.add_argument("--token", required=True, metavar="T", help="the join token")
    p_join.add_argument(
        "--state-dir", required=True, type=Path, metavar="DIR", help="where to keep the identity"
    )
    p_join.add_argument(
        "--ca-fingerprint",
        metavar="sha256:…",
        help="the instance CA fingerprint 'tessera instance create' printed (checked)",
    )
    p_join.add_argument(
        "--ca-bundle", type=Path, metavar="PEM", help="extra CA certificates trusted for HTTPS"
    )
    p_join.add_argument("--json", action="store_true", help="print one JSON object")
    p_join.set_defaults(func=cmd_join)


def _fail(command: str, reason: str) -> int:
    print(f"{command}: {reason}", file=sys.stderr)
    return 1


_RA_FLAGS = (
    ("certificate", "--certificate"),
    ("private_key", "--private-key"),
    ("trust_anchor_arn", "--trust-anchor-arn"),
    ("profile_arn", "--profile-arn"),
    ("role_arn", "--role-arn"),
)
_RA_ONLY = (
    *_RA_FLAGS,
    ("intermediates", "--intermediates"),
    ("session_duration", "--session-duration"),
    ("role_session_name", "--role-session-name"),
    ("region", "--region"),
)


def _make_fetch(args: argparse.Namespace, *, timeout: float) -> Any:
    """A function that loads the identity (again: certificates get renewed on
    disk) and calls CreateSession; validates the arguments once first."""
    if getattr(args, "session_duration", None) is None:
        args.session_duration = 3600
    from tessera.agent.client import SessionClient, SessionParams, default_endpoint, resolve_region
    from tessera.agent.signer import load_identity

    region = resolve_region(args.trust_anchor_arn, args.profile_arn, args.region)
    params = SessionParams(
        endpoint=args.endpoint or default_endpoint(region),
        region=region,
        trust_anchor_arn=args.trust_anchor_arn,
        profile_arn=args.profile_arn,
        role_arn=args.role_arn,
        duration_seconds=args.session_duration,
        role_session_name=args.role_session_name or None,
    )

    def client() -> SessionClient:
        identity = load_identity(
            args.certificate,
            args.private_key,
            args.intermediates,
            insecure_key_file_mode=args.insecure_key_file_mode,
        )
        return SessionClient(identity, params, ca_bundle=args.ca_bundle, timeout=timeout)

    client()  # fail fast on bad files or flags

    def fetch() -> Any:
        return client().create_session()

    return fetch


def _configure_logging(debug: bool) -> None:
    from tessera.logconfig import configure_logging

    configure_logging("debug" if debug else "info")


def cmd_credential_process(args: argparse.Namespace) -> int:
    command = "tessera agent credential-process"
    started = time.monotonic()

    def watchdog() -> None:
        print(f"{command}: timed out after {PROCESS_TIMEOUT:g} s", file=sys.stderr, flush=True)
        os._exit(1)

    timer = threading.Timer(PROCESS_TIMEOUT, watchdog)
    timer.daemon = True
    timer.start()
    if args.debug:
        _configure_logging(True)
    else:
        logging.getLogger("tessera").setLevel(logging.ERROR)
    try:
        from tessera.agent.formats import process_json

        fetch = _make_fetch(args, timeout=max(1.0, PROCESS_TIMEOUT - 0.5))
        remaining = PROCESS_TIMEOUT - 0.5 - (time.monotonic() - started)
        if remaining <= 0:
            return _fail(command, f"timed out after {PROCESS_TIMEOUT:g} s")
        creds = fetch()
        out = process_json(creds)
    except AgentError as exc:
        return _fail(command, exc.reason)
    finally:
        timer.cancel()
    sys.stdout.write(out + "\n")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from tessera.agent.cache import CredentialCache
    from tessera.agent.container import ContainerEndpoint, check_token_file
    from tessera.agent.httpd import LoopbackServer
    from tessera.agent.imds import ImdsEndpoint, role_name

    command = "tessera agent serve"
    _configure_logging(args.debug)
    if args.state_dir is not None:
        given = [flag for attr, flag in _RA_ONLY if getattr(args, attr) is not None]
        if given:
            return _fail(command, f"{', '.join(given)} cannot be used with --state-dir")
    else:
        missing = [flag for attr, flag in _RA_FLAGS if getattr(args, attr) is None]
        if missing:
            return _fail(command, f"{', '.join(missing)} required (or --state-dir)")
    if (args.container_port is None) != (args.container_token_file is None):
        return _fail(command, "--container-port and --container-token-file go together")
    if args.container_port is not None and args.container_port == args.port:
        return _fail(command, "--container-port must differ from --port")
    try:
        if args.container_token_file is not None:
            check_token_file(args.container_token_file)
        clock = _clock()
        instance = None
        if args.state_dir is not None:
            from tessera.agent.instance import InstanceAgent, InstanceMetadata

            instance = InstanceAgent(
                args.state_dir,
                clock=clock,
                endpoint=args.endpoint,
                ca_bundle=args.ca_bundle,
                timeout=PROCESS_TIMEOUT,
            )
            instance.renew_if_due()
            fetch = instance.create_session
        else:
            fetch = _make_fetch(args, timeout=PROCESS_TIMEOUT)
    except AgentError as exc:
        return _fail(command, exc.reason)

    cache = CredentialCache(fetch, clock=clock)
    cache.run_once()  # pre-fetch: the first SDK request must not wait for CreateSession
    servers: list[LoopbackServer] = []
    metadata = None
    if instance is not None:

        def obtained() -> Any:
            served = cache.current()
            return None if served is None else served[1]

        metadata = InstanceMetadata(instance.state, lambda: instance.profile, obtained)
    try:
        servers.append(
            LoopbackServer(
                ImdsEndpoint(cache, args.role_arn, clock=clock, metadata=metadata),
                args.port,
                hop_limit=args.hop_limit,
            )
        )
        if args.container_port is not None:
            servers.append(
                LoopbackServer(
                    ContainerEndpoint(cache, args.container_token_file),
                    args.container_port,
                    hop_limit=args.hop_limit,
                )
            )
    except OSError as exc:
        for server in servers:
            server.server_close()
        return _fail(command, f"cannot listen on 127.0.0.1: {exc.strerror or exc}")

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    for server in servers:
        server.start()
    cache.start()
    if instance is not None:
        instance.start()
        log.info(
            "IMDS endpoint http://127.0.0.1:%d/ serving instance %s",
            servers[0].port,
            instance.state.instance_id,
        )
    else:
        log.info(
            "IMDS endpoint http://127.0.0.1:%d/ serving role %s",
            servers[0].port,
            role_name(args.role_arn),
        )
    if len(servers) > 1:
        log.info("container endpoint http://127.0.0.1:%d/v1/credentials", servers[1].port)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        log.info("stopping")
        for server in servers:
            server.stop()
        cache.stop()
        if instance is not None:
            instance.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 0


def _clock() -> Any:
    """The system clock, or (tests only) one shifted by ``TESSERA_AGENT_INSECURE_CLOCK_OFFSET``
    seconds, so certificate renewal at half-life can be exercised without waiting."""
    from tessera.clock import SystemClock

    raw = os.environ.get("TESSERA_AGENT_INSECURE_CLOCK_OFFSET")
    if not raw:
        return SystemClock()
    from datetime import timedelta

    try:
        offset = timedelta(seconds=float(raw))
    except ValueError:
        raise AgentError("TESSERA_AGENT_INSECURE_CLOCK_OFFSET is not a number") from None
    log.warning("INSECURE: the agent's clock is shifted by %s", offset)
    base = SystemClock()

    class _Shifted:
        def now(self) -> Any:
            return base.now() + offset

    return _Shifted()


def cmd_join(args: argparse.Namespace) -> int:
    import json

    from tessera.agent.instance import join

    command = "tessera agent join"
    try:
        state = join(
            args.endpoint,
            args.token,
            args.state_dir,
            clock=_clock(),
            ca_fingerprint=args.ca_fingerprint,
            ca_bundle=args.ca_bundle,
            timeout=PROCESS_TIMEOUT,
        )
    except AgentError as exc:
        return _fail(command, exc.reason)
    except OSError as exc:
        return _fail(command, f"cannot write {args.state_dir}: {exc.strerror or exc}")
    result = {
        "instance_id": state.instance_id,
        "instance_arn": state.instance_arn,
        "ca_fingerprint": state.ca_fingerprint,
        "state_dir": str(args.state_dir),
    }
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        print(
            f"enrolled {state.instance_id}; now run: tessera agent serve --state-dir "
            f"{args.state_dir}"
        )
    return 0
