"""The operation registry: each operation (STS, IAM, Roles Anywhere, Organizations,
CloudTrail) is declared once, beside its
handler, with ``@operation(service, name, action=..., ...)`` (or ``declare`` for
handlers a factory makes). A declaration says what the pipeline and the guard test
need to know: the service and wire name, whether a request must be signed, whether
the handler may run on the event loop, the IAM action it authorises and the
optional runtime service it needs. ``operation_table`` turns the declarations into
the per-service table a runtime serves (``tessera.app.operations`` imports the
modules that declare them)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Literal, TypeVar

from tessera.operation import Handler

Service = Literal["sts", "iam", "rolesanywhere", "organizations", "cloudtrail"]
#: Optional runtime services an operation may need; an operation that needs one is
#: served only when that service is configured.
Requirement = Literal["issuers", "inbound_oidc"]

H = TypeVar("H", bound=Handler)


@dataclass(frozen=True, slots=True)
class Operation:
    """One operation's declaration.

    ``action``: the IAM action the handler authorises first (``"iam:CreateUser"``),
    or ``None`` for an operation AWS does not authorise (GetCallerIdentity).
    ``signed``: ``False`` for the federation calls a caller makes without AWS
    credentials (the role's trust policy decides). ``inline``: the handler never
    waits on anything slow (no remote fetch, no CPU-heavy verification, no write
    that can wait on a lock) and so may run on the event loop when the store is
    local; the default, ``False``, runs it in a worker thread. ``requires``: the
    optional runtime service the handler uses (outbound federation's issuers, the
    inbound OIDC client)."""

    service: Service
    name: str
    handler: Handler
    action: str | None
    signed: bool = True
    inline: bool = False
    requires: Requirement | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.service, self.name)


_DECLARED: dict[tuple[str, str], Operation] = {}


def declare(op: Operation) -> Operation:
    """Add ``op`` to the registry; a second declaration of the same operation by a
    different handler is a programming error."""
    if op.inline and not op.signed:
        raise ValueError(f"{op.name}: an unsigned operation never runs inline")
    previous = _DECLARED.get(op.key)
    if previous is not None and _origin(previous.handler) != _origin(op.handler):
        raise ValueError(f"{op.service}:{op.name} is declared twice")
    _DECLARED[op.key] = op
    return op


def operation(
    service: Service,
    name: str,
    *,
    action: str | None,
    signed: bool = True,
    inline: bool = False,
    requires: Requirement | None = None,
) -> Callable[[H], H]:
    """Declare the decorated function as the handler of ``service``'s ``name``."""

    def register(handler: H) -> H:
        declare(Operation(service, name, handler, action, signed, inline, requires))
        return handler

    return register


def declared() -> tuple[Operation, ...]:
    """Every declaration made so far (import the declaring modules first:
    ``tessera.app.operations.all_operations``)."""
    return tuple(_DECLARED.values())


OperationTable = dict[str, dict[str, Operation]]


def operation_table(
    operations: Iterable[Operation], available: Collection[Requirement] = ()
) -> OperationTable:
    """The per-service table of ``operations``, without those that need an optional
    service not in ``available``."""
    table: OperationTable = {
        "sts": {},
        "iam": {},
        "rolesanywhere": {},
        "organizations": {},
        "cloudtrail": {},
    }
    for op in operations:
        if op.requires is None or op.requires in available:
            table.setdefault(op.service, {})[op.name] = op
    return table


def _origin(handler: Handler) -> tuple[str, str]:
    return (
        getattr(handler, "__module__", ""),
        getattr(handler, "__qualname__", repr(handler)),
    )
