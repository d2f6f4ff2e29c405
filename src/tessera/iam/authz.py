"""The one authorisation decision every operation goes through:
``Authorizer.authorize(ctx, action, resource, …)``. It gathers what applies to
the caller from the store — identity policies (user inline + attached + its
groups', or the role's), permissions boundary, session policies carried in the
session token, the resource-based (trust) policy — builds the request context
(global ``aws:*`` keys plus the operation's own keys) and asks the pure policy
engine (``tessera.iam.policy``). Parsed policies are cached by document text."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Protocol

from tessera import arn as arns
from tessera.auth.principal import Principal, PrincipalKind
from tessera.errors import AccessDenied, MalformedPolicyDocument
from tessera.iam.model import Account, BoundPolicy, Role
from tessera.iam.org_model import RCP, SCP
from tessera.iam.organizations import RCP_SERVICES, org_levels
from tessera.iam.policy import (
    Decision,
    Policy,
    PolicyGroup,
    PolicyKind,
    PolicySet,
    PrincipalInfo,
    RequestContext,
    access_denied_message,
    add_moment_keys,
    evaluate,
    global_keys,
    normalize_keys,
    parse_policy,
    principal_keys,
)
from tessera.store.accounts import AccountStore
from tessera.store.identities import IdentityStore
from tessera.store.memo import NO_MEMO, Memo
from tessera.store.organizations import OrganizationStore
from tessera.store.policies import PolicyStore
from tessera.store.records import Owner
from tessera.store.tags import TagStore

if TYPE_CHECKING:
    from tessera.operation import ContextValue, OperationContext

_UNSET: object = object()
_ALLOW_ALL = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'

_PRINCIPAL_TYPE = {
    PrincipalKind.ROOT: "Account",
    PrincipalKind.USER: "User",
    PrincipalKind.ROLE_SESSION: "AssumedRole",
    PrincipalKind.FEDERATED_USER: "FederatedUser",
}


@lru_cache(maxsize=4096)
def compiled(document: str, kind: PolicyKind, label: str) -> Policy | None:
    """Parse once per distinct document; a stored document that no longer parses
    (it was valid when written) grants nothing rather than failing the request."""
    try:
        return parse_policy(document, kind, label=label)
    except MalformedPolicyDocument:
        return None


@lru_cache(maxsize=4096)
def compiled_bound(bound: BoundPolicy, kind: PolicyKind, label: str) -> Policy | None:
    """A stored resource policy, parsed once, with its principals bound to the
    unique ids they were stored with (so they match by identity, never by name)."""
    policy = compiled(bound.document, kind, label)
    return None if policy is None else policy.bind_principals(dict(bound.principal_ids))


def principal_info(caller: Principal) -> PrincipalInfo:
    session = caller.session
    if caller.kind is PrincipalKind.ROLE_SESSION:
        assert session is not None
        return PrincipalInfo(
            arn=caller.arn,
            account=caller.account_id,
            kind="role-session",
            role_arn=session.source_arn,
            unique_id=session.source_id,
            federated_provider=session.federated_provider,
        )
    if caller.kind is PrincipalKind.FEDERATED_USER:
        assert session is not None
        return PrincipalInfo(
            arn=caller.arn,
            account=caller.account_id,
            kind="federated-user",
            source_user_arn=session.source_arn,
            source_user_id=session.source_id,
        )
    if caller.kind is PrincipalKind.ROOT:
        return PrincipalInfo(arn=caller.arn, account=caller.account_id, kind="root")
    return PrincipalInfo(
        arn=caller.arn, account=caller.account_id, kind="user", unique_id=caller.user_id
    )


#: identity policies, permissions boundary and IAM tags of a user or role
_Side = tuple[PolicyGroup, Policy | None, dict[str, str]]


@dataclass(frozen=True, slots=True)
class CallerPolicies:
    identity: Sequence[Policy]
    boundary: Policy | None
    session: Sequence[Policy] | None
    principal_tags: dict[str, str]
    #: GetScopedCredentials layers (each must allow); set by ``caller_policies``
    scope_layers: Sequence[Sequence[Policy]] = ()


@dataclass(frozen=True, slots=True)
class CallerView:
    """The caller-side inputs of a decision (shared: treat as immutable)."""

    info: PrincipalInfo
    policies: CallerPolicies
    account: Account | None
    scps: Sequence[Sequence[Policy]]
    keys: Mapping[str, ContextValue]  # normalised caller keys (``principal_keys``)


class AuthzStore(AccountStore, IdentityStore, PolicyStore, TagStore, OrganizationStore, Protocol):
    """The storage the authoriser reads: principals, their policies and tags, and
    the organization policies above an account."""


class Authorizer:
    def __init__(self, store: AuthzStore, memo: Memo = NO_MEMO) -> None:
        """``memo`` keeps what is derived from memoised reads (a caller's policies,
        its decision inputs); the server passes the store's read cache."""
        self.store = store
        self.memo = memo

    # ------------------------------------------------------------------ gathering

    def owner_policies(self, owner: Owner) -> list[Policy]:
        out: list[Policy] = []
        for inline in self.store.list_inline_policies(owner):
            pol = compiled(
                inline.document, PolicyKind.IDENTITY, f"{owner.kind}/{owner.name}/{inline.name}"
            )
            if pol is not None:
                out.append(pol)
        for policy_arn, document in self.store.attached_policy_documents([owner]):
            pol = compiled(document, PolicyKind.IDENTITY, policy_arn)
            if pol is not None:
                out.append(pol)
        return out

    def managed(self, policy_arn: str | None, kind: PolicyKind) -> Policy | None:
        if policy_arn is None:
            return None
        document = self.store.get_default_policy_document(policy_arn)
        if document is None:
            return None
        return compiled(document, kind, policy_arn)

    def user_policies(
        self, account_id: str, user_id: str
    ) -> tuple[list[Policy], Policy | None, dict[str, str]]:
        """The policies, boundary and tags of the user with unique id ``user_id``
        (nothing when that user is gone: a same-name successor is another user)."""
        user = self.store.get_user_by_id(user_id)
        if user is None or user.account_id != account_id:
            return [], None, {}
        policies = self.owner_policies(Owner(account_id, "user", user.name))
        for group in self.store.groups_for_user(account_id, user.name):
            policies.extend(self.owner_policies(Owner(account_id, "group", group.name)))
        boundary = self.managed(user.permissions_boundary, PolicyKind.BOUNDARY)
        if user.permissions_boundary and boundary is None:
            boundary = compiled(
                '{"Version":"2012-10-17","Statement":[]}', PolicyKind.BOUNDARY, "missing"
            )
        tags = {t.key: t.value for t in self.store.get_tags(account_id, "user", user.name.lower())}
        return policies, boundary, tags

    def caller_policies(self, caller: Principal) -> CallerPolicies:
        gathered = self._caller_policies(caller)
        session = caller.session
        if session is None or not session.scope_policies:
            return gathered
        # a layer that no longer parses allows nothing (empty layer): fail closed
        layers = tuple(
            tuple(p for p in (compiled(doc, PolicyKind.SESSION, f"scope-down-{i}"),) if p)
            for i, doc in enumerate(session.scope_policies, 1)
        )
        return dataclasses.replace(gathered, scope_layers=layers)

    def _caller_policies(self, caller: Principal) -> CallerPolicies:
        session = caller.session
        acct = caller.account_id
        session_policies: list[Policy] | None = None
        if session is not None and session.has_session_policy:
            session_policies = []
            if session.session_policy is not None:
                pol = compiled(session.session_policy, PolicyKind.SESSION, "session-policy")
                if pol is not None:
                    session_policies.append(pol)
            for policy_arn in session.policy_arns:
                pol = self.managed(policy_arn, PolicyKind.SESSION)
                if pol is not None:
                    session_policies.append(pol)

        if caller.kind is PrincipalKind.ROOT:
            return CallerPolicies((), None, session_policies, {})
        if caller.kind is PrincipalKind.USER:
            identity, boundary, tags = self._user_side(acct, caller.user_id)
            return CallerPolicies(identity, boundary, session_policies, tags)
        assert session is not None
        session_tags = {t.key: t.value for t in session.tags}
        if caller.kind is PrincipalKind.ROLE_SESSION:
            role_side = self._role_side(acct, session.source_id)
            if role_side is None:
                return CallerPolicies((), None, session_policies, session_tags)
            identity, boundary, tags = role_side
            return CallerPolicies(
                identity, boundary, session_policies, _merge_tags(tags, session_tags)
            )
        # federated user: the federating user's permissions ∩ the session policy
        if session.source_arn == arns.root_arn(acct):
            root_all = compiled(_ALLOW_ALL, PolicyKind.IDENTITY, "root")
            assert root_all is not None
            return CallerPolicies((root_all,), None, session_policies, session_tags)
        identity, boundary, tags = self._user_side(acct, session.source_id)
        return CallerPolicies(identity, boundary, session_policies, _merge_tags(tags, session_tags))

    def _user_side(self, account_id: str, user_id: str) -> _Side:
        """The user's identity policies (one ``PolicyGroup``, whose action index then
        serves every request of that user), boundary and tags; memoised in the
        store's read cache, so any IAM write drops it like the reads it comes from."""

        def load() -> _Side:
            policies, boundary, tags = self.user_policies(account_id, user_id)
            return PolicyGroup(policies), boundary, tags

        return self.memo.memo(("authz-user", account_id, user_id), load)

    def _role_side(self, account_id: str, role_id: str) -> _Side | None:
        """Like ``_user_side`` for a role; ``None`` when the role is gone (a role
        created again under its name has another id)."""

        def load() -> _Side | None:
            role = self.store.get_role_by_id(role_id)
            if role is None or role.account_id != account_id:
                return None
            identity = self.owner_policies(Owner(account_id, "role", role.name))
            boundary = self.managed(role.permissions_boundary, PolicyKind.BOUNDARY)
            tags = {
                t.key: t.value for t in self.store.get_tags(account_id, "role", role.name.lower())
            }
            return PolicyGroup(identity), boundary, tags

        return self.memo.memo(("authz-role", account_id, role_id), load)

    def caller_view(self, caller: Principal) -> CallerView:
        """What every decision for ``caller`` starts from. For a long-term access
        key it is memoised in the read cache (per key: the principal, its policies,
        tags and account all come from memoised reads, so it is dropped with them);
        temporary credentials carry their own session facts and get it afresh."""
        if caller.session is None and caller.access_key_id is not None:
            return self.memo.memo(
                ("authz-caller", caller.access_key_id, caller.kind, caller.arn, caller.user_id),
                lambda: self._caller_view(caller),
            )
        return self._caller_view(caller)

    def _caller_view(self, caller: Principal) -> CallerView:
        info = principal_info(caller)
        gathered = self.caller_policies(caller)
        account = self.store.get_account(caller.account_id) if caller.account_id else None
        session = caller.session
        extra: dict[str, ContextValue] = {}
        if session is not None and session.federated_provider:
            extra["aws:FederatedProvider"] = session.federated_provider
        if session is not None:  # <provider>:aud / :sub of a web-identity session
            extra.update(session.web_identity_claims)
            if session.compute is not None:  # ec2:SourceInstanceArn … (#16)
                extra.update(session.compute.condition_keys())
            # aws:OriginIdentity/* and aws:TransactionContext/* (trusted identity
            # propagation): last, so nothing else the session carries can shadow them
            extra.update(session.tip_context)
        keys = principal_keys(
            info,
            username=caller.name if caller.kind is PrincipalKind.USER else None,
            userid=caller.user_id,
            principal_type=_PRINCIPAL_TYPE[caller.kind],
            principal_tags=gathered.principal_tags,
            mfa_present=(session.mfa_authenticated if session is not None else None),
            token_issue_time=session.issued_at if session is not None else None,
            source_identity=session.source_identity if session is not None else None,
            org_id=account.org_id if account is not None else None,
            org_paths=[account.ou_path] if account is not None and account.ou_path else None,
            extra=extra,
        )
        scps = [] if _scp_exempt(caller) else org_levels(self.store, account, SCP, compiled)
        return CallerView(info, gathered, account, scps, keys)

    def context_keys(
        self,
        ctx: OperationContext,
        caller: Principal,
        view: CallerView,
        request_keys: Mapping[str, ContextValue] | None,
        resource_tags: Mapping[str, str] | None,
    ) -> dict[str, ContextValue]:
        """The condition keys of one request: the caller's, the moment's
        (``aws:CurrentTime``, ``aws:SourceIp`` …), the resource's tags and the
        request's own keys, in ``global_keys``'s order of precedence."""
        keys = dict(view.keys)
        session = caller.session
        mfa_age = None
        if session is not None and session.mfa_authenticated and session.mfa_auth_time is not None:
            mfa_age = max(0, int((ctx.now - session.mfa_auth_time).total_seconds()))
        add_moment_keys(
            keys,
            current_time=ctx.now,
            secure_transport=ctx.secure_transport,
            source_ip=ctx.source_ip,
            requested_region=ctx.region,
            mfa_age_seconds=mfa_age,
        )
        network = ctx.config.network_of(ctx.source_ip)
        if network is not None:  # --network-cidr: the request came from this network
            keys.update(
                normalize_keys({"aws:SourceVpc": network, "aws:VpcSourceIp": ctx.source_ip})
            )
        if resource_tags:
            keys.update(
                normalize_keys({f"aws:ResourceTag/{k}": v for k, v in resource_tags.items()})
            )
            keys.update(
                normalize_keys({f"iam:ResourceTag/{k}": v for k, v in resource_tags.items()})
            )
        if request_keys:
            keys.update(normalize_keys(request_keys))
            if session is not None and session.tip_context:
                # a request key can never override trusted identity propagation keys
                keys.update(normalize_keys(dict(session.tip_context)))
        return keys

    # ------------------------------------------------------------------ decision

    def decide(
        self,
        ctx: OperationContext,
        action: str,
        resource: str,
        *,
        request_keys: Mapping[str, ContextValue] | None = None,
        resource_account: str | None = None,
        resource_policy: BoundPolicy | None = None,
        resource_tags: Mapping[str, str] | None = None,
        trust: bool = False,
    ) -> tuple[RequestContext, Decision]:
        caller = ctx.caller
        view = self.caller_view(caller)
        gathered = view.policies
        keys = self.context_keys(ctx, caller, view, request_keys, resource_tags)
        rcps = self.rcp_levels(action, resource_account, caller.account_id, view.account)
        resource_pol = None
        if resource_policy is not None:
            kind = PolicyKind.TRUST if trust else PolicyKind.RESOURCE
            resource_pol = compiled_bound(
                resource_policy, kind, "trust-policy" if trust else "resource-policy"
            )
        request = RequestContext.normalized(action, resource, view.info, keys)
        decision = evaluate(
            request,
            PolicySet(
                identity=gathered.identity,
                resource=resource_pol,
                resource_account=resource_account,
                boundary=gathered.boundary,
                session=gathered.session,
                is_trust_evaluation=trust,
                scps=view.scps,
                rcps=rcps,
                scope_layers=gathered.scope_layers,
            ),
        )
        return request, decision

    def rcp_levels(
        self,
        action: str,
        resource_account: str | None,
        caller_account: str,
        caller_account_row: Account | None = None,
    ) -> list[list[Policy]]:
        """The RCP levels guarding the resource's account, for services RCPs cover."""
        if action.partition(":")[0].lower() not in RCP_SERVICES:
            return []
        target = resource_account or caller_account
        if caller_account_row is not None and caller_account_row.account_id == target:
            row: Account | None = caller_account_row
        else:
            row = self.store.get_account(target) if target else None
        return org_levels(self.store, row, RCP, compiled)

    def authorize(
        self,
        ctx: OperationContext,
        action: str,
        resource: str,
        *,
        request_keys: Mapping[str, ContextValue] | None = None,
        resource_account: str | None = None,
        resource_policy: BoundPolicy | None = None,
        resource_tags: Mapping[str, str] | None = None,
        trust: bool = False,
        message_action: str | None = None,
    ) -> Decision:
        request, decision = self.decide(
            ctx,
            action,
            resource,
            request_keys=request_keys,
            resource_account=resource_account,
            resource_policy=resource_policy,
            resource_tags=resource_tags,
            trust=trust,
        )
        if not decision.allowed:
            messages = ctx.authz_messages
            encoded = (
                messages.encode(ctx.caller.account_id, request, decision, ctx.now)
                if messages is not None
                else None
            )
            if message_action is not None:
                request = RequestContext(message_action, resource, request.principal, request.keys)
            text = access_denied_message(request, decision)
            if encoded is not None and ctx.config.append_authorization_message:
                # opt-in (serve --append-authorization-message): the AWS CLI prints only
                # the message, so CLI users get the encoded decision as EC2 gives it
                text += f" Encoded authorization failure message: {encoded}"
            raise AccessDenied(text, encoded_message=encoded)
        return decision

    def authorize_federated(
        self,
        ctx: OperationContext,
        action: str,
        role: Role,
        principal: PrincipalInfo,
        *,
        request_keys: Mapping[str, ContextValue] | None = None,
        request_tags: Mapping[str, str] | None = None,
    ) -> Decision:
        """The trust decision for an unsigned caller (AssumeRoleWithWebIdentity,
        AssumeRoleWithSAML): ``principal`` is a ``web-identity`` / ``saml``
        PrincipalInfo whose ``federated_provider`` is the provider ARN; only the
        role's trust policy can allow it. Raises ``AccessDenied`` with AWS's text
        ("Not authorized to perform sts:AssumeRoleWithWebIdentity")."""
        extra: dict[str, ContextValue] = {}
        if principal.federated_provider:
            extra["aws:FederatedProvider"] = principal.federated_provider
        role_tags = {
            t.key: t.value for t in self.store.get_tags(role.account_id, "role", role.name.lower())
        }
        for k, v in role_tags.items():
            extra[f"iam:ResourceTag/{k}"] = v
        if request_keys:
            extra.update(request_keys)
        keys = global_keys(
            principal,
            current_time=ctx.now,
            secure_transport=ctx.secure_transport,
            source_ip=ctx.source_ip,
            request_tags=request_tags,
            resource_tags=role_tags,
            requested_region=ctx.region,
            extra=extra,
        )
        trust_policy = compiled_bound(role.trust, PolicyKind.TRUST, "trust-policy")
        request = RequestContext(action, role.arn, principal, keys)
        decision = evaluate(
            request,
            PolicySet(
                identity=(),
                resource=trust_policy,
                resource_account=role.account_id,
                is_trust_evaluation=True,
                rcps=self.rcp_levels(action, role.account_id, role.account_id),
            ),
        )
        if not decision.allowed:
            raise AccessDenied(access_denied_message(request, decision))
        return decision


def _scp_exempt(caller: Principal) -> bool:
    """SCPs never limit service-linked roles (path ``/aws-service-role/``)."""
    session = caller.session
    return (
        caller.kind is PrincipalKind.ROLE_SESSION
        and session is not None
        and ":role/aws-service-role/" in session.source_arn
    )


def _merge_tags(base: Mapping[str, str], override: Mapping[str, str]) -> dict[str, str]:
    """Session tags override principal tags with the same key, case-insensitively."""
    lowered = {k.lower() for k in override}
    merged = {k: v for k, v in base.items() if k.lower() not in lowered}
    merged.update(override)
    return merged


def denial_message(caller_arn: str, action: str, resource: str, reason: str) -> str:
    """AWS's AccessDenied text; ``reason`` ("because no …") may be empty."""
    text = f"User: {caller_arn} is not authorized to perform: {action} on resource: {resource}"
    return f"{text} {reason}" if reason else text
