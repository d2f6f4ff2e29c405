"""Organizations for the policy engine: service control policies (SCPs) and
resource control policies (RCPs) attached to an organization's root, its OUs and
its accounts, and the per-level policy lists the authoriser feeds to
``evaluate`` (``PolicySet.scps`` / ``PolicySet.rcps``).

Both the AWS Organizations API (``tessera.organizations``) and ``tessera org …``
(cli/org_cmd.py) drive this service; its refusals are the Organizations
exceptions of ``tessera.organizations.errors`` (``OrgError`` is their base). What
follows AWS (Organizations User Guide, "Service control policies", "Resource
control policies", "Enabling a policy type"):

* A policy type applies only while it is enabled on the root (the settings
  ``PolicyType/<type>``). The API's CreateOrganization enables none, as AWS;
  ``tessera org create`` enables SCPs and RCPs (as it always did).
* Enabling SCPs attaches the AWS-managed ``FullAWSAccess`` SCP (shown as
  ``p-FullAWSAccess``) to the root, every OU and every account; every new OU and
  every account that joins gets it too. A target must keep at least one SCP
  (detaching the last one is a ``ConstraintViolationException``,
  ``MIN_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED``). Disabling a type detaches every
  policy of that type.
* SCPs limit principals of member accounts: every level (root → OUs → account)
  must allow. They never apply to the management account, nor to service-linked
  roles (path ``/aws-service-role/``).
* RCPs limit access to resources of member accounts, for the services that
  support them (S3, STS, KMS, SQS, Secrets Manager, …; not IAM). The
  AWS-managed ``RCPFullAWSAccess`` (``p-RCPFullAWSAccess``) is attached
  everywhere while RCPs are enabled and cannot be detached, so an RCP level
  always allows and only Deny statements restrict; the evaluator adds it
  implicitly. RCPs do not apply to the management account.
* SCP/RCP documents: at most 5,120 characters, parsed with the SCP/RCP rules
  of the policy parser (RCPs need ``"Principal": "*"``).
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable
from datetime import datetime
from typing import Final, Protocol

from tessera.errors import MalformedPolicyDocument
from tessera.iam.model import Account
from tessera.iam.org_model import (
    RCP,
    SCP,
    OrgAccount,
    Organization,
    OrgPolicy,
    OrgUnit,
    PolicyType,
)
from tessera.iam.policy import Policy, PolicyKind, parse_policy
from tessera.organizations import errors as e
from tessera.store.accounts import AccountStore
from tessera.store.base import AlreadyExists, NotFound
from tessera.store.organizations import OrganizationStore

FULL_AWS_ACCESS_ID: Final = "p-FullAWSAccess"
RCP_FULL_AWS_ACCESS_ID: Final = "p-RCPFullAWSAccess"
FULL_AWS_ACCESS: Final = (
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'
)
RCP_FULL_AWS_ACCESS: Final = (
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*",'
    '"Action":"*","Resource":"*"}]}'
)
MAX_POLICY_CHARS: Final = 5_120
# services whose resources RCPs protect (Organizations User Guide, RCPs)
RCP_SERVICES: Final = frozenset(
    {
        "s3",
        "sts",
        "kms",
        "sqs",
        "secretsmanager",
        "cognito-identity",
        "logs",
        "dynamodb",
        "ecr",
        "aoss",
    }
)
_LOWER_ALNUM = string.ascii_lowercase + string.digits

CompileFn = Callable[[str, PolicyKind, str], Policy | None]


#: a refused organizations change (the CLI prints it and exits 1; the API answers it)
OrgError = e.OrganizationsError
MAX_OU_DEPTH: Final = 5


def policy_type_setting(policy_type: str) -> str:
    """The organization setting that says ``policy_type`` is enabled on the root."""
    return f"PolicyType/{policy_type}"


def _rand(n: int) -> str:
    return "".join(secrets.choice(_LOWER_ALNUM) for _ in range(n))


def _path(org: Organization, chain: list[str]) -> str:
    return "/".join([org.org_id, org.root_id, *chain]) + "/"


class OrgServiceStore(OrganizationStore, AccountStore, Protocol):
    """The storage the organization service uses: organizations and accounts."""


class OrganizationService:
    def __init__(self, store: OrgServiceStore) -> None:
        self.store = store

    # ------------------------------------------------------------------ structure

    def create_organization(
        self,
        management_account_id: str,
        now: datetime,
        policy_types: tuple[PolicyType, ...] = (SCP, RCP),
    ) -> Organization:
        """Create an organization managed by ``management_account_id`` with
        ``policy_types`` enabled on its root (the API passes none, as AWS)."""
        account = self.store.get_account(management_account_id)
        if account is None:
            raise e.AccountNotFound(f"Account {management_account_id} does not exist.")
        if account.org_id is not None:
            raise e.AlreadyInOrganization(
                f"Account {management_account_id} is already in {account.org_id}."
            )
        org = Organization(f"o-{_rand(10)}", f"r-{_rand(4)}", management_account_id, now)
        try:
            self.store.create_organization(org)
        except AlreadyExists as exc:
            raise e.AlreadyInOrganization(
                f"Account {management_account_id} already belongs to an organization."
            ) from exc
        self.store.put_org_account(
            OrgAccount(management_account_id, management_account_id, "", "ACTIVE", "CREATED", now)
        )
        self.store.create_org_policy(
            OrgPolicy(
                self.full_access_id(org),
                org.org_id,
                SCP,
                "FullAWSAccess",
                "Allows access to every operation",
                FULL_AWS_ACCESS,
                True,
                now,
            )
        )
        self.store.create_org_policy(
            OrgPolicy(
                self.rcp_full_access_id(org),
                org.org_id,
                RCP,
                "RCPFullAWSAccess",
                "Allows access to every operation",
                RCP_FULL_AWS_ACCESS,
                True,
                now,
            )
        )
        for policy_type in policy_types:
            self.enable_policy_type(org, policy_type, now)
        return org

    @staticmethod
    def rcp_full_access_id(org: Organization) -> str:
        """Like ``full_access_id`` for ``RCPFullAWSAccess``."""
        return RCP_FULL_AWS_ACCESS_ID + "-" + org.org_id[2:]

    def default_policy_id(self, org: Organization, policy_type: PolicyType) -> str:
        return self.full_access_id(org) if policy_type == SCP else self.rcp_full_access_id(org)

    def enabled_types(self, org: Organization) -> list[PolicyType]:
        settings = set(self.store.org_settings(org.org_id))
        return [t for t in (SCP, RCP) if policy_type_setting(t) in settings]

    def targets(self, org: Organization) -> list[str]:
        """Every policy target of the organization: its root, OUs and accounts."""
        return [
            org.root_id,
            *(ou.ou_id for ou in self.store.list_org_units(org.org_id)),
            *(a.account_id for a in self.store.list_accounts() if a.org_id == org.org_id),
        ]

    def enable_policy_type(self, org: Organization, policy_type: PolicyType, now: datetime) -> None:
        """Enable ``policy_type`` on the root and attach its AWS-managed full-access
        policy to every target that has no policy of that type."""
        if not self.store.enable_org_setting(org.org_id, policy_type_setting(policy_type), now):
            raise e.PolicyTypeAlreadyEnabled()
        targets = self.targets(org)
        attached = self.store.org_policies_for_targets(targets, policy_type)
        default = self.default_policy_id(org, policy_type)
        for target in targets:
            if not attached[target]:
                self.store.attach_org_policy(default, target)

    def disable_policy_type(self, org: Organization, policy_type: PolicyType) -> None:
        """Disable ``policy_type`` and detach every policy of that type."""
        if not self.store.disable_org_setting(org.org_id, policy_type_setting(policy_type)):
            raise e.PolicyTypeNotEnabled()
        targets = self.targets(org)
        for target, policies in self.store.org_policies_for_targets(targets, policy_type).items():
            for policy in policies:
                try:
                    self.store.detach_org_policy(policy.policy_id, target)
                except NotFound:  # a concurrent detach
                    continue

    def _attach_defaults(self, org: Organization, target_id: str) -> None:
        """A new OU or account gets the full-access policy of each enabled type."""
        for policy_type in self.enabled_types(org):
            try:
                self.store.attach_org_policy(self.default_policy_id(org, policy_type), target_id)
            except AlreadyExists:
                continue

    @staticmethod
    def full_access_id(org: Organization) -> str:
        """FullAWSAccess is one AWS-managed policy in AWS; here each organization
        keeps its own row (``p-FullAWSAccess-<org suffix>``), shown as
        ``p-FullAWSAccess``."""
        return FULL_AWS_ACCESS_ID + "-" + org.org_id[2:]

    def organization(self, org_id: str) -> Organization:
        org = self.store.get_organization(org_id)
        if org is None:
            raise e.NotInUse(f"Organization {org_id} does not exist.")
        return org

    def _parent_chain(self, org: Organization, parent_id: str) -> list[str]:
        """The OU ids from the root (exclusive) down to ``parent_id`` (inclusive)."""
        if parent_id == org.root_id:
            return []
        chain: list[str] = []
        current = parent_id
        for _ in range(6):  # AWS allows OUs five levels deep
            ou = self.store.get_org_unit(current)
            if ou is None or ou.org_id != org.org_id:
                raise e.ParentNotFound(f"Parent {parent_id} is not in {org.org_id}.")
            chain.append(ou.ou_id)
            if ou.parent_id == org.root_id:
                return list(reversed(chain))
            current = ou.parent_id
        raise e.ParentNotFound(f"Parent {parent_id} is nested too deeply.")

    def create_org_unit(self, org_id: str, parent_id: str, name: str, now: datetime) -> OrgUnit:
        org = self.organization(org_id)
        depth = len(self._parent_chain(org, parent_id))
        if depth >= MAX_OU_DEPTH:
            raise e.ConstraintViolation(
                "OU_DEPTH_LIMIT_EXCEEDED",
                "OUs can be nested at most five levels below the root.",
            )
        if not name or len(name) > 128:
            raise e.InvalidInput("INVALID_PATTERN", "An OU name is 1 to 128 characters.")
        ou = OrgUnit(f"ou-{org.root_id[2:]}-{_rand(8)}", org.org_id, parent_id, name, now)
        try:
            self.store.create_org_unit(ou)
        except AlreadyExists as exc:
            raise e.DuplicateOu(f"An OU named {name} already exists under {parent_id}.") from exc
        self._attach_defaults(org, ou.ou_id)
        return ou

    def place_account(
        self,
        org_id: str,
        account_id: str,
        parent_id: str | None,
        now: datetime | None = None,
        details: OrgAccount | None = None,
    ) -> str:
        """Add ``account_id`` to the organization (or move it) under ``parent_id``
        (the root when None); returns its new ``aws:PrincipalOrgPaths`` value. An
        account that joins gets ``details`` (by default: named by its id, INVITED)."""
        org = self.organization(org_id)
        account = self.store.get_account(account_id)
        if account is None:
            raise e.AccountNotFound(f"Account {account_id} does not exist.")
        if account.org_id is not None and account.org_id != org.org_id:
            raise e.AlreadyInOrganization(f"Account {account_id} belongs to {account.org_id}.")
        chain = self._parent_chain(org, parent_id or org.root_id)
        path = _path(org, chain)
        if account.org_id is None:
            joined = details or OrgAccount(
                account_id, account_id, "", "ACTIVE", "INVITED", now or account.created_at
            )
            self.store.put_org_account(joined)
        self.store.set_account_org(account_id, org.org_id, path)
        if account.org_id is None:
            self._attach_defaults(org, account_id)
        return path

    def remove_account(self, org_id: str, account_id: str) -> None:
        org = self.organization(org_id)
        account = self.store.get_account(account_id)
        if account is None or account.org_id != org.org_id:
            raise e.AccountNotFound(f"Account {account_id} is not in {org.org_id}.")
        if account_id == org.management_account_id:
            raise e.MasterCannotLeave("The management account cannot leave its organization.")
        for policy in self.attached(account_id):
            self.store.detach_org_policy(policy.policy_id, account_id)
        for admin in self.store.list_delegated_admins(org.org_id):
            if admin.account_id == account_id:
                self.store.remove_delegated_admin(account_id, admin.service_principal)
        # an account's tags belong to the organization it leaves
        self.store.remove_org_tags(account_id, [t.key for t in self.store.get_org_tags(account_id)])
        self.store.set_account_org(account_id, None, None)

    # ------------------------------------------------------------------ policies

    @staticmethod
    def validate(policy_type: PolicyType, content: str) -> None:
        if len(content) > MAX_POLICY_CHARS:
            raise e.ConstraintViolation(
                "POLICY_CONTENT_LIMIT_EXCEEDED",
                f"The policy is {len(content)} characters; the limit is {MAX_POLICY_CHARS}.",
            )
        kind = PolicyKind.SCP if policy_type == SCP else PolicyKind.RCP
        try:
            parse_policy(content, kind)
        except MalformedPolicyDocument as exc:
            raise e.MalformedPolicyDocument(f"MalformedPolicyDocument: {exc.message}") from exc

    def create_policy(
        self,
        org_id: str,
        policy_type: PolicyType,
        name: str,
        content: str,
        now: datetime,
        description: str = "",
    ) -> OrgPolicy:
        org = self.organization(org_id)
        self.validate(policy_type, content)
        policy = OrgPolicy(
            f"p-{_rand(8)}", org.org_id, policy_type, name, description, content, False, now
        )
        try:
            self.store.create_org_policy(policy)
        except AlreadyExists as exc:
            raise e.DuplicatePolicy(f"A policy named {name} already exists.") from exc
        return policy

    def update_policy(self, policy_id: str, content: str) -> None:
        policy = self.policy(policy_id)
        if policy.aws_managed:
            raise e.InvalidInput("IMMUTABLE_POLICY", "AWS-managed policies cannot be changed.")
        self.validate(policy.policy_type, content)
        self.store.update_org_policy_content(policy_id, content)

    def delete_policy(self, policy_id: str) -> None:
        policy = self.policy(policy_id)
        if policy.aws_managed:
            raise e.InvalidInput("IMMUTABLE_POLICY", "AWS-managed policies cannot be deleted.")
        try:
            self.store.delete_org_policy(policy_id)
        except AlreadyExists as exc:
            raise e.PolicyInUse(f"Policy {policy_id} is still attached; detach it first.") from exc

    def policy(self, policy_id: str) -> OrgPolicy:
        found = self.store.get_org_policy(policy_id)
        if found is None:
            raise e.PolicyNotFound(f"Policy {policy_id} does not exist.")
        return found

    def _check_target(self, org: Organization, target_id: str) -> None:
        if target_id == org.root_id:
            return
        if target_id.startswith("ou-"):
            ou = self.store.get_org_unit(target_id)
            if ou is not None and ou.org_id == org.org_id:
                return
        else:
            account = self.store.get_account(target_id)
            if account is not None and account.org_id == org.org_id:
                return
        raise e.TargetNotFound(f"Target {target_id} is not in {org.org_id}.")

    def attach(self, policy_id: str, target_id: str) -> None:
        policy = self.policy(policy_id)
        org = self.organization(policy.org_id)
        self._check_target(org, target_id)
        if policy.policy_type not in self.enabled_types(org):
            raise e.PolicyTypeNotEnabled()
        try:
            self.store.attach_org_policy(policy_id, target_id)
        except AlreadyExists as exc:
            raise e.DuplicatePolicyAttachment(
                f"Policy {policy_id} is already attached to {target_id}."
            ) from exc

    def detach(self, policy_id: str, target_id: str) -> None:
        policy = self.policy(policy_id)
        attached = self.store.org_policies_for_targets([target_id], policy.policy_type)[target_id]
        if policy_id not in {p.policy_id for p in attached}:
            raise e.PolicyNotAttached(f"Policy {policy_id} is not attached to {target_id}.")
        if policy.policy_type == RCP and policy.aws_managed:
            raise e.InvalidInput(
                "NON_DETACHABLE_POLICY", "You cannot detach RCPFullAWSAccess from a target."
            )
        if policy.policy_type == SCP and len(attached) == 1:
            # [C] Organizations: "You cannot remove the last policy attached to …"
            raise e.ConstraintViolation(
                "MIN_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED",
                f"You cannot remove the last service control policy attached to {target_id}.",
            )
        try:
            self.store.detach_org_policy(policy_id, target_id)
        except NotFound as exc:  # a concurrent detach
            raise e.PolicyNotAttached(
                f"Policy {policy_id} is not attached to {target_id}."
            ) from exc

    def attached(self, target_id: str) -> list[OrgPolicy]:
        return [
            *self.store.org_policies_for_targets([target_id], SCP)[target_id],
            *self.store.org_policies_for_targets([target_id], RCP)[target_id],
        ]


def place_of(account: Account) -> tuple[str, ...] | None:
    """The target ids root → OUs → account for a member account, from its path."""
    if account.org_id is None or not account.ou_path:
        return None
    parts = [p for p in account.ou_path.split("/") if p]
    return (*parts[1:], account.account_id)  # drop the o-… element


def org_levels(
    store: OrganizationStore,
    account: Account | None,
    policy_type: PolicyType,
    compile_policy: CompileFn,
) -> list[list[Policy]]:
    """One list of compiled policies per level (root → OUs → account) for a member
    account; ``[]`` when the account is outside an organization or is its
    management account (SCPs and RCPs do not apply there). RCP levels get the
    implicit ``RCPFullAWSAccess`` allow, so only their denies restrict."""
    if account is None:
        return []
    levels = place_of(account)
    if levels is None:
        return []
    assert account.org_id is not None
    org = store.get_organization(account.org_id)
    if org is None or org.management_account_id == account.account_id:
        return []
    if policy_type_setting(policy_type) not in store.org_settings(org.org_id):
        return []  # the type is not enabled on the root: it restricts nothing
    attached = store.org_policies_for_targets(levels, policy_type)
    kind = PolicyKind.SCP if policy_type == SCP else PolicyKind.RCP
    out: list[list[Policy]] = []
    for target in levels:
        level: list[Policy] = []
        if policy_type == RCP:
            implicit = compile_policy(RCP_FULL_AWS_ACCESS, PolicyKind.RCP, "RCPFullAWSAccess")
            if implicit is not None:
                level.append(implicit)
        for pol in attached[target]:
            if policy_type == RCP and pol.aws_managed:
                continue  # RCPFullAWSAccess: the implicit allow above
            compiled = compile_policy(pol.content, kind, pol.policy_id)
            if compiled is not None:
                level.append(compiled)
        out.append(level)
    return out
