"""Principals in stored policies are identities: binding and showing them.

When a role's trust policy is stored (CreateRole, UpdateAssumeRolePolicy), each
IAM user and role ARN in its ``Principal`` / ``NotPrincipal`` elements is bound
to that entity's unique id (``AIDA…`` / ``AROA…``); an ARN naming no existing
user or role is refused with AWS's ``Invalid principal in policy`` error. The
policy engine then matches those principals by id (``PrincipalSpec.bind``), so
after ``bob`` is deleted and a new ``bob`` created, the old trust does not
extend to the new one.

Reading the policy back shows what it names now, as IAM does: a bound principal
whose entity is gone appears as its unique id, and a renamed user as its current
ARN. Only those documents are re-serialised; all others are returned verbatim.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol

from tessera.errors import MalformedPolicyDocument
from tessera.iam.model import Role, User
from tessera.iam.policy.principals import (
    aws_principal_elements,
    entity_ref,
    invalid_principal_message,
    named_entity_arns,
)


class EntityReader(Protocol):
    """The reads binding needs (the IAM store satisfies it)."""

    def get_user(self, account_id: str, name: str) -> User | None: ...
    def get_role(self, account_id: str, name: str) -> Role | None: ...
    def get_user_by_id(self, user_id: str) -> User | None: ...
    def get_role_by_id(self, role_id: str) -> Role | None: ...


def bind_principals(store: EntityReader, document: str) -> tuple[tuple[str, str], ...]:
    """``(ARN, unique id)`` for each IAM user and role ARN the (already validated)
    policy names. Raises ``MalformedPolicyDocument`` ("Invalid principal in
    policy") for an ARN that names no existing user or role (path included)."""
    bound: list[tuple[str, str]] = []
    for arn in named_entity_arns(json.loads(document)):
        ref = entity_ref(arn)
        assert ref is not None
        entity: User | Role | None
        if ref.kind == "user":
            entity = store.get_user(ref.account, ref.name)
        else:
            entity = store.get_role(ref.account, ref.name)
        if entity is None or entity.path != ref.path:
            raise MalformedPolicyDocument(invalid_principal_message("AWS", arn))
        bound.append((arn, entity.user_id if isinstance(entity, User) else entity.role_id))
    return tuple(bound)


def shown_document(store: EntityReader, document: str, ids: tuple[tuple[str, str], ...]) -> str:
    """The stored policy as IAM shows it: bound principals whose entity is gone
    appear as their unique id, renamed ones as their current ARN."""
    replace: dict[str, str] = {}
    for arn, unique_id in ids:
        ref = entity_ref(arn)
        current: User | Role | None = None
        if ref is not None and ref.kind == "user":
            current = store.get_user_by_id(unique_id)
        elif ref is not None:
            current = store.get_role_by_id(unique_id)
        shown = unique_id if current is None else current.arn
        if shown != arn:
            replace[arn] = shown
    if not replace:
        return document
    parsed = json.loads(document)
    for principal in aws_principal_elements(parsed):
        principal["AWS"] = _substitute(principal["AWS"], replace)
    return json.dumps(parsed)


def _substitute(value: Any, replace: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return replace.get(value, value)
    if isinstance(value, list):
        return [replace.get(v, v) if isinstance(v, str) else v for v in value]
    return value


def shown_trust(store: EntityReader, role: Role) -> str:
    """A role's trust policy as GetRole / ListRoles show it."""
    return shown_document(store, role.trust_policy, role.trust_principal_ids)
