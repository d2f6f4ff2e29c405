"""Who is calling: the authenticated ``Principal`` (root, IAM user, role session,
federated user, GetSessionToken session) and, for temporary credentials, the
``Session`` state carried inside the session token."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from tessera.iam.model import Tag


class PrincipalKind(StrEnum):
    ROOT = "root"
    USER = "user"
    ROLE_SESSION = "role-session"
    FEDERATED_USER = "federated-user"


class SessionKind(StrEnum):
    ASSUMED_ROLE = "assumed-role"  # AssumeRole / -WithWebIdentity / -WithSAML
    FEDERATION = "federation"  # GetFederationToken
    SESSION_TOKEN = "session-token"  # GetSessionToken


@dataclass(frozen=True, slots=True)
class ComputeContext:
    """The machine a session was delivered to (an enrolled instance, #16), sealed in
    its session token: the outbound token's ``ec2_*`` claims and the condition keys
    ``ec2:SourceInstanceArn``, ``aws:Ec2InstanceSourceVpc``,
    ``aws:Ec2InstanceSourcePrivateIPv4`` and ``ec2:RoleDelivery`` come from it, and
    from nothing a caller can send. Fields left ``None`` are absent."""

    instance_arn: str  # arn:aws:ec2:<region>:<account>:instance/i-…
    source_vpc: str | None = None  # the instance's network label
    private_ipv4: str | None = None
    role_delivery: str | None = None  # "2.0": delivered through the IMDSv2 channel

    def condition_keys(self) -> dict[str, str]:
        keys = {"ec2:SourceInstanceArn": self.instance_arn}
        if self.source_vpc:
            keys["aws:Ec2InstanceSourceVpc"] = self.source_vpc
        if self.private_ipv4:
            keys["aws:Ec2InstanceSourcePrivateIPv4"] = self.private_ipv4
        if self.role_delivery:
            keys["ec2:RoleDelivery"] = self.role_delivery
        return keys


@dataclass(frozen=True, slots=True)
class Session:
    """Everything a temporary credential carries (sealed in its session token)."""

    kind: SessionKind
    account_id: str
    issued_at: datetime
    expires_at: datetime
    # the long-term identity the session derives from
    source_arn: str  # user ARN / role ARN / root ARN
    source_id: str  # AIDA… / AROA… / account id
    source_name: str  # user name / role name / "" for root
    session_name: str = ""  # RoleSessionName / federated Name
    session_policy: str | None = None  # inline session policy document
    policy_arns: tuple[str, ...] = ()
    tags: tuple[Tag, ...] = ()
    transitive_tag_keys: tuple[str, ...] = ()
    source_identity: str | None = None
    mfa_authenticated: bool = False
    mfa_auth_time: datetime | None = None
    chain_depth: int = 0
    federated_provider: str | None = None
    original_expires_at: datetime | None = None
    web_identity_claims: tuple[tuple[str, str], ...] = field(default=())
    # GetScopedCredentials (sts.scoped): the scope-down policy documents, oldest
    # first (each must allow a request), this session's scoped-session id and the
    # caller's description of it (kept for audit)
    scope_policies: tuple[str, ...] = ()
    scoped_session_id: str | None = None
    scoped_description: str | None = None
    # trusted identity propagation (tessera.iam.tip_model): (condition key, value) of
    # aws:OriginIdentity/* and aws:TransactionContext/IdentityProvider/*, set only by
    # AssumeRoleWithWebIdentity/SAML through a provider with a ContextProvider and
    # copied unchanged along AssumeRole chains; never settable by a caller
    tip_context: tuple[tuple[str, str], ...] = ()
    # the instance the session was delivered to (never copied to chained sessions,
    # as EC2's instance keys are not)
    compute: ComputeContext | None = None

    @property
    def has_session_policy(self) -> bool:
        return self.session_policy is not None or bool(self.policy_arns)


@dataclass(frozen=True, slots=True)
class Principal:
    kind: PrincipalKind
    account_id: str
    arn: str  # the caller's ARN as GetCallerIdentity reports it
    user_id: str  # aws:userid
    principal_arn: str  # aws:PrincipalArn (the role ARN for role sessions)
    name: str  # user / role / federated user name; "" for root
    access_key_id: str | None = None
    session: Session | None = None

    @property
    def is_root(self) -> bool:
        return self.kind is PrincipalKind.ROOT

    @property
    def temporary(self) -> bool:
        return self.session is not None
