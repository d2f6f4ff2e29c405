"""What never enters an audit record: secret keys, session tokens, JWTs (web
identity tokens, GetWebIdentityToken's token), SAML responses, passwords, TOTP
codes, private keys and MFA seeds.

The set of secret member names is derived from the pinned botocore models (every
structure member whose target shape carries the ``sensitive`` trait in STS and
IAM) plus an explicit list for what the models do not mark (``SessionToken``, the
MFA ``AuthenticationCode1/2`` and ``TokenCode`` …). In Organizations and Roles
Anywhere ``sensitive`` marks personal data (account names, e-mail addresses, tag
values), which CloudTrail records, so only the explicit list applies there.

In ``requestParameters`` a secret's value becomes ``HIDDEN_DUE_TO_SECURITY_REASONS``
(as CloudTrail writes it); in ``responseElements`` a secret member is omitted (as
CloudTrail omits the secret access key). Access key ids stay. Every secret value
seen while redacting is also collected, and ``scrub`` removes any of them (and any
string shaped like a JWT) from the final record text: an error message or a
free-text member that echoes a secret cannot carry it into the trail."""

from __future__ import annotations

import base64
import functools
import json
import re
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any

HIDDEN = "HIDDEN_DUE_TO_SECURITY_REASONS"

#: Secret members the models do not mark ``sensitive`` (or that a JSON service
#: spells in camelCase).
EXPLICIT_SECRETS: frozenset[str] = frozenset(
    {
        "SecretAccessKey",
        "SessionToken",
        "WebIdentityToken",
        "SAMLAssertion",
        "SAMLResponse",
        "Password",
        "OldPassword",
        "NewPassword",
        "AuthenticationCode1",
        "AuthenticationCode2",
        "TokenCode",
        "Base32StringSeed",
        "QRCodePNG",
        "PrivateKey",
        "TradeInToken",
        "SubjectToken",
        "ClientSecret",
        "ServicePassword",
        "ServiceCredentialSecret",
        "AddPrivateKey",
        "Token",
        "secretAccessKey",
        "sessionToken",
        "privateKey",
        "password",
        "token",
    }
)

#: Services whose ``sensitive`` trait marks secrets (elsewhere it marks PII).
_SECRET_TRAIT_SERVICES = ("sts", "iam")

_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
#: Collected secrets shorter than this are not scrubbed from free text (a
#: six-digit TOTP code could collide with anything); they are hidden where they
#: stand, which is the only place they appear.
_MIN_SCRUB = 8


@functools.cache
def secret_members() -> frozenset[str]:
    """Member names whose values are secrets (derived once from the models)."""
    import botocore.session

    names: set[str] = set(EXPLICIT_SECRETS)
    session = botocore.session.get_session()
    for service in _SECRET_TRAIT_SERVICES:
        model = session.get_service_model(service)
        for shape_name in model.shape_names:
            shape = model.shape_for(shape_name)
            if shape.type_name != "structure":
                continue
            for member, target in shape.members.items():
                if target.metadata.get("sensitive") or target.serialization.get("sensitive"):
                    names.add(member)
    return frozenset(names)


@functools.cache
def secret_names_any_case() -> frozenset[str]:
    """``secret_members()`` as sent (``RoleArn``) and as CloudTrail spells them
    (``roleArn``): one set lookup decides whether a member is secret."""
    names = secret_members()
    return names | frozenset(_camel_uncached(n) for n in names)


def _camel_uncached(name: str) -> str:
    return name[:1].lower() + name[1:] if name else name


_CAMEL: dict[str, str] = {}
_MAX_CAMEL = 8192


def _camel(name: str) -> str:
    """CloudTrail's member names: the first letter lowered (``RoleArn`` →
    ``roleArn``, ``SAMLAssertionID`` → ``sAMLAssertionID``); memoised (member names
    come from the models, a bounded set)."""
    camel = _CAMEL.get(name)
    if camel is None:
        camel = _camel_uncached(name)
        if len(_CAMEL) < _MAX_CAMEL:
            _CAMEL[name] = camel
    return camel


_LAST_TIME: tuple[datetime, str] | None = None


def cloudtrail_time(value: datetime) -> str:
    """``2019-07-01T22:22:51Z``: eventTime, session creationDate (the last second
    formatted is remembered: the calls of one second share it)."""
    global _LAST_TIME
    v = (value if value.tzinfo is UTC else value.astimezone(UTC)).replace(microsecond=0)
    last = _LAST_TIME
    if last is not None and last[0] == v:
        return last[1]
    text = v.strftime("%Y-%m-%dT%H:%M:%SZ")
    _LAST_TIME = (v, text)
    return text


_LAST_ELEMENT: tuple[datetime, str] | None = None


def element_time(value: datetime) -> str:
    """``Jul 2, 2019 12:22:51 AM``: timestamps inside requestParameters and
    responseElements, as CloudTrail's documented STS and IAM records show them (the
    last one formatted is remembered, by the instant it was given: credentials
    issued in one second expire in one second)."""
    global _LAST_ELEMENT
    last = _LAST_ELEMENT
    if last is not None and last[0] == value:  # (the same instant: the same text)
        return last[1]
    v = (value if value.tzinfo is UTC else value.astimezone(UTC)).replace(microsecond=0)
    hour = v.hour % 12 or 12
    text = f"{v:%b} {v.day}, {v.year} {hour}:{v:%M:%S} {'AM' if v.hour < 12 else 'PM'}"
    _LAST_ELEMENT = (value, text)
    return text


#: member name → (its name in a record, whether its value is a secret); memoised
#: (member names come from the models, a bounded set)
_MEMBERS: dict[str, tuple[str, bool]] = {}


def _member(key: str) -> tuple[str, bool]:
    member = (_camel(key), key in secret_names_any_case())
    if len(_MEMBERS) < _MAX_CAMEL:
        _MEMBERS[key] = member
    return member


#: types copied into a record as they are
_PLAIN = frozenset({str, int, float, bool, type(None)})


class Redactor:
    """One record's redaction: collects the secret values it hides.

    Written for the request path (every answered call builds a record): one loop
    per mapping, the member's type checked with one set lookup before any
    ``isinstance``, names camel-cased from a memo."""

    __slots__ = ("secrets",)

    def __init__(self) -> None:
        self.secrets: set[str] = set()

    def _collect(self, value: object) -> None:
        if isinstance(value, str):
            if value:
                self.secrets.add(value)
        elif isinstance(value, bytes):
            if value:
                self.secrets.add(base64.b64encode(value).decode())
        elif isinstance(value, Mapping):
            for item in value.values():
                self._collect(item)
        elif isinstance(value, list | tuple):
            for item in value:
                self._collect(item)
        else:
            text = getattr(value, "reveal", None)
            if callable(text):
                self._collect(text())

    def is_secret(self, name: str) -> bool:
        return name in secret_names_any_case()

    def request(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``requestParameters``: camelCase names, secrets hidden."""
        return self._walk(params, True)

    def response(self, result: Mapping[str, Any]) -> dict[str, Any]:
        """``responseElements``: camelCase names, secret members omitted."""
        return self._walk(result, False)

    def _walk(self, mapping: Mapping[str, Any], hide: bool) -> dict[str, Any]:
        members = _MEMBERS
        plain = _PLAIN
        out: dict[str, Any] = {}
        for key, value in mapping.items():
            member = members.get(key)
            if member is None:
                member = _member(key)
            name, secret = member
            if secret:
                self._collect(value)
                if hide:
                    out[name] = HIDDEN
                continue
            kind = type(value)
            if kind in plain:
                out[name] = value
            elif kind is dict:
                out[name] = self._walk(value, hide)
            else:
                out[name] = self._value(value, hide)
        return out

    def _value(self, value: Any, hide: bool) -> Any:
        kind = type(value)
        if kind in _PLAIN:
            return value
        # the exact built-in types first: an ABC ``isinstance`` costs a µs
        if kind is dict:
            return self._walk(value, hide)
        if kind is list or kind is tuple:
            return [self._value(item, hide) for item in value]
        if kind is datetime:
            return element_time(value)
        if isinstance(value, Mapping):
            return self._walk(value, hide)
        if isinstance(value, list | tuple):
            return [self._value(item, hide) for item in value]
        if isinstance(value, datetime):
            return element_time(value)
        if isinstance(value, bytes):
            return base64.b64encode(value).decode()
        if isinstance(value, str | int | float | bool):  # subclasses (enums …)
            return value
        if hasattr(value, "reveal"):  # a tessera.sensitive.Secret
            self._collect(value)
            return HIDDEN
        return str(value)


def _escaped(secret: str) -> bool:
    """Whether JSON text may spell ``secret`` differently (escapes)."""
    return not (secret.isascii() and secret.isprintable()) or '"' in secret or "\\" in secret


#: how much of a long secret ``may_hold`` looks for (a secret in the text has its
#: prefix there too; a short needle is found faster than a 400-character token)
_PROBE_CHARS = 16


def may_hold(line: bytes, secrets: Collection[str]) -> bool:
    """Whether ``scrub`` might change the UTF-8 JSON ``line`` (False only when it
    certainly would not). The request path's check: every credential-issuing call
    collects its new secrets, which are then nowhere in its record, and scanning a
    400-character session token cost more than the rest of the capture.

    Sound because JSON spells a printable ASCII character other than a quote or a
    backslash as itself (orjson and the standard library alike): if a secret's
    first ``_PROBE_CHARS`` characters are all such, every spelling of the secret
    in ``line`` contains them verbatim, so their absence rules the secret out. A
    prefix with any other character, or a JWT-shaped string, says True."""
    return line.rfind(b"eyJ") >= 0 or secret_may_appear(line, secrets)


def secret_may_appear(line: bytes, secrets: Collection[str]) -> bool:
    """``may_hold`` without its JWT check (the caller made it). ``rfind`` rather
    than ``in``: CPython's reverse search of a short needle measured two to three
    times faster than its forward one (bench/README.md, "Sixth pass"); the answer
    is the same."""
    for secret in secrets:
        if len(secret) < _MIN_SCRUB:
            continue
        probe = secret[:_PROBE_CHARS]
        if _escaped(probe) or line.rfind(probe.encode()) >= 0:
            return True
    return False


def _needs_scrub(text: str, secrets: Collection[str]) -> bool:
    """Whether ``scrub`` would change ``text`` (or might: a secret JSON escapes).
    Substring searches only: the common case, a secret omitted where it stood and
    echoed nowhere, costs no more than that."""
    if "eyJ" in text:
        return True
    return any(len(s) >= _MIN_SCRUB and (s in text or _escaped(s)) for s in secrets)


def scrub(text: str, secrets: Collection[str]) -> str:
    """``text`` with every collected secret (at least ``_MIN_SCRUB`` long) and
    every JWT-shaped string replaced by ``HIDDEN`` (``text`` itself when there is
    nothing to replace)."""
    if not _needs_scrub(text, secrets):
        return text
    for secret in sorted((s for s in secrets if len(s) >= _MIN_SCRUB), key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, HIDDEN)
        # the same secret as it appears inside JSON text: escaped to ASCII (the
        # standard library's encoder) or with only quotes, backslashes and control
        # characters escaped (orjson)
        if _escaped(secret):
            for quoted in (json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]):
                if quoted != secret and quoted in text:
                    text = text.replace(quoted, HIDDEN)
    return _JWT.sub(HIDDEN, text) if "eyJ" in text else text
