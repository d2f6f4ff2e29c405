"""The Organizations API's service logic, over ``OrganizationService``
(``tessera.iam.organizations``, shared with ``tessera org``): who may act on an
organization, CreateAccount (a real Tessera account with its access role),
handshakes, closing accounts, OUs, policies addressed by their AWS ids, policy
types, trusted service access, delegated administrators and tags.

Who may act (Organizations User Guide, "Management account", "Delegated
administrator"): the management account changes the organization; a delegated
administrator (for any service) may read it (Describe*/List*); any member may
describe its organization. Everyone else answers ``AccessDeniedException``.
IAM permissions are checked by the handlers first (``ctx.authorize``).

CreateAccount runs as AWS's does from the caller's view: the answer says
``IN_PROGRESS`` and the request is then polled. Tessera does the work before the
answer is sent, so the first poll already says ``SUCCEEDED`` (or ``FAILED`` with
AWS's reason)."""

from __future__ import annotations

import json
import secrets
import string
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Final, Protocol, cast

from tessera import ids
from tessera.errors import AccessDenied
from tessera.iam.model import Role, Tag
from tessera.iam.org_model import (
    RCP,
    SCP,
    CreateAccountRequest,
    DelegatedAdmin,
    Handshake,
    HandshakeState,
    OrgAccount,
    Organization,
    OrgPolicy,
    OrgUnit,
    PolicyType,
)
from tessera.iam.organizations import (
    FULL_AWS_ACCESS_ID,
    RCP_FULL_AWS_ACCESS_ID,
    OrganizationService,
    OrgServiceStore,
    place_of,
)
from tessera.organizations import errors as e
from tessera.store.base import AlreadyExists, NotFound
from tessera.store.identities import IdentityStore
from tessera.store.policies import AttachmentStore, PolicyStore
from tessera.store.records import Owner

# [C] the AccessDeniedException message of Organizations
NO_PERMISSION: Final = "You don't have permissions to access this resource."
DEFAULT_ROLE_NAME: Final = "OrganizationAccountAccessRole"
ADMINISTRATOR_ACCESS_ARN: Final = "arn:aws:iam::aws:policy/AdministratorAccess"
HANDSHAKE_LIFETIME: Final = timedelta(days=15)  # [D] invitations expire after 15 days
MAX_TAGS: Final = 50
SUPPORTED_TYPES: Final = (SCP, RCP)
#: service principals Tessera knows (trusted access, delegated administrators)
SERVICE_PRINCIPALS: Final = frozenset(
    {
        "iam.amazonaws.com",
        "sts.amazonaws.com",
        "access-analyzer.amazonaws.com",
        "account.amazonaws.com",
        "cloudtrail.amazonaws.com",
        "config.amazonaws.com",
        "guardduty.amazonaws.com",
        "securityhub.amazonaws.com",
        "sso.amazonaws.com",
        "ram.amazonaws.com",
    }
)
_LOWER_ALNUM = string.ascii_lowercase + string.digits


def _rand(n: int) -> str:
    return "".join(secrets.choice(_LOWER_ALNUM) for _ in range(n))


def service_access_setting(service_principal: str) -> str:
    return f"ServiceAccess/{service_principal}"


class ApiStore(OrgServiceStore, IdentityStore, PolicyStore, AttachmentStore, Protocol):
    """The storage the Organizations API uses: organizations and accounts, and the
    identities and policies of the access role CreateAccount makes."""


class OrganizationsApi:
    def __init__(self, store: ApiStore) -> None:
        self.store = store
        self.orgs = OrganizationService(store)

    # ------------------------------------------------------------------ who may act

    def org_of(self, account_id: str) -> Organization:
        """The organization ``account_id`` belongs to (``AWSOrganizationsNotInUse``)."""
        account = self.store.get_account(account_id)
        if account is None or account.org_id is None:
            raise e.NotInUse()
        org = self.store.get_organization(account.org_id)
        if org is None:
            raise e.NotInUse()
        return org

    def managed_by(self, account_id: str) -> Organization:
        """The organization ``account_id`` manages; ``AccessDenied`` for a member."""
        org = self.org_of(account_id)
        if org.management_account_id != account_id:
            raise AccessDenied(NO_PERMISSION)
        return org

    def readable_by(self, account_id: str) -> Organization:
        """The organization ``account_id`` may read: its management account or a
        delegated administrator (for any service)."""
        org = self.org_of(account_id)
        if org.management_account_id == account_id:
            return org
        if any(a.account_id == account_id for a in self.store.list_delegated_admins(org.org_id)):
            return org
        raise AccessDenied(NO_PERMISSION)

    def is_delegated_admin(self, org: Organization, account_id: str, service: str) -> bool:
        return any(
            a.account_id == account_id and a.service_principal == service
            for a in self.store.list_delegated_admins(org.org_id)
        )

    # ------------------------------------------------------------------ organization

    def create_organization(self, account_id: str, now: datetime) -> Organization:
        account = self.store.get_account(account_id)
        if account is not None and account.org_id is not None:
            raise e.AlreadyInOrganization()
        return self.orgs.create_organization(account_id, now, policy_types=())

    def delete_organization(self, org: Organization) -> None:
        members = [a for a in self.members(org) if a.account_id != org.management_account_id]
        if members:
            raise e.OrganizationNotEmpty()
        self.store.delete_organization(org.org_id)

    def members(self, org: Organization) -> list[OrgAccount]:
        return self.store.list_org_accounts(org.org_id)

    def settings(self, org: Organization) -> list[str]:
        return self.store.org_settings(org.org_id)

    # ------------------------------------------------------------------ structure

    def check_root(self, org: Organization, root_id: str) -> None:
        if root_id != org.root_id:
            raise e.RootNotFound()

    def parent_of(self, org: Organization, child_id: str) -> str:
        """The root or OU id directly above an OU or account (``ChildNotFound``)."""
        if child_id.startswith("ou-"):
            ou = self.store.get_org_unit(child_id)
            if ou is None or ou.org_id != org.org_id:
                raise e.ChildNotFound()
            return ou.parent_id
        account = self.store.get_account(child_id) if ids.is_account_id(child_id) else None
        if account is None or account.org_id != org.org_id:
            raise e.ChildNotFound()
        levels = place_of(account)
        assert levels is not None and len(levels) >= 2
        return levels[-2]

    def check_parent(
        self, org: Organization, parent_id: str, missing: type[e.OrganizationsError]
    ) -> None:
        if parent_id == org.root_id:
            return
        ou = self.store.get_org_unit(parent_id) if parent_id.startswith("ou-") else None
        if ou is None or ou.org_id != org.org_id:
            raise missing()

    def ou(self, org: Organization, ou_id: str) -> OrgUnit:
        ou = self.store.get_org_unit(ou_id)
        if ou is None or ou.org_id != org.org_id:
            raise e.OuNotFound()
        return ou

    def ous_under(self, org: Organization, parent_id: str) -> list[OrgUnit]:
        self.check_parent(org, parent_id, e.ParentNotFound)
        return [ou for ou in self.store.list_org_units(org.org_id) if ou.parent_id == parent_id]

    def accounts_under(self, org: Organization, parent_id: str) -> list[OrgAccount]:
        self.check_parent(org, parent_id, e.ParentNotFound)
        out = []
        for details in self.members(org):
            if self.parent_of(org, details.account_id) == parent_id:
                out.append(details)
        return out

    def ou_path(self, org: Organization, ou: OrgUnit) -> str:
        """``o-…/r-…/ou-…/…/`` of an OU (the OrganizationalUnit ``Path`` member)."""
        chain = [ou.ou_id]
        parent = ou.parent_id
        while parent != org.root_id:
            above = self.ou(org, parent)
            chain.append(above.ou_id)
            parent = above.parent_id
        return "/".join([org.org_id, org.root_id, *reversed(chain)]) + "/"

    def rename_ou(self, org: Organization, ou_id: str, name: str) -> OrgUnit:
        ou = self.ou(org, ou_id)
        try:
            self.store.rename_org_unit(ou.ou_id, name)
        except AlreadyExists as exc:
            raise e.DuplicateOu() from exc
        return replace(ou, name=name)

    def delete_ou(self, org: Organization, ou_id: str) -> None:
        ou = self.ou(org, ou_id)
        if self.ous_under(org, ou.ou_id) or self.accounts_under(org, ou.ou_id):
            raise e.OuNotEmpty()
        self.store.delete_org_unit(ou.ou_id)

    # ------------------------------------------------------------------ accounts

    def member(self, org: Organization, account_id: str) -> OrgAccount:
        account = self.store.get_account(account_id)
        details = self.store.get_org_account(account_id)
        if account is None or account.org_id != org.org_id or details is None:
            raise e.AccountNotFound()
        return details

    def move_account(
        self, org: Organization, account_id: str, source_id: str, destination_id: str
    ) -> str:
        self.member(org, account_id)
        self.check_parent(org, source_id, e.SourceParentNotFound)
        self.check_parent(org, destination_id, e.DestinationParentNotFound)
        current = self.parent_of(org, account_id)
        if current != source_id:
            raise e.AccountNotFound(
                f"The account {account_id} is not in the source parent {source_id}."
            )
        if current == destination_id:
            raise e.DuplicateAccount()
        return self.orgs.place_account(org.org_id, account_id, destination_id)

    def remove_account(self, org: Organization, account_id: str) -> None:
        self.member(org, account_id)
        self.orgs.remove_account(org.org_id, account_id)

    def close_account(self, org: Organization, account_id: str) -> None:
        """Suspend a member account: its credentials stop working at once."""
        details = self.member(org, account_id)
        if account_id == org.management_account_id:
            raise e.ConstraintViolation(
                "CANNOT_CLOSE_MANAGEMENT_ACCOUNT",
                "You cannot close the management account of an organization.",
            )
        if details.status != "ACTIVE":
            raise e.AccountAlreadyClosed()
        self.store.set_org_account_status(account_id, "SUSPENDED")

    def create_account(
        self,
        org: Organization,
        name: str,
        email: str,
        role_name: str | None,
        tags: Sequence[Tag],
        now: datetime,
    ) -> CreateAccountRequest:
        """Record the request (IN_PROGRESS) and carry it out (see the module doc)."""
        request = CreateAccountRequest(
            request_id=f"car-{_rand(32)}",
            org_id=org.org_id,
            account_name=name,
            email=email,
            role_name=role_name or DEFAULT_ROLE_NAME,
            state="IN_PROGRESS",
            requested_at=now,
        )
        self.store.put_create_account_request(request)
        self._complete(org, request, tags, now)
        return request

    def _complete(
        self, org: Organization, request: CreateAccountRequest, tags: Sequence[Tag], now: datetime
    ) -> CreateAccountRequest:
        if any(m.email.lower() == request.email.lower() for m in self.members(org)):
            done = replace(
                request, state="FAILED", failure_reason="EMAIL_ALREADY_EXISTS", completed_at=now
            )
            self.store.put_create_account_request(done)
            return done
        for _ in range(20):
            account_id = ids.new_account_id()
            try:
                self.store.create_account(account_id, now)
                break
            except AlreadyExists:
                continue
        else:  # pragma: no cover - 20 collisions in a 9e11 space
            done = replace(
                request, state="FAILED", failure_reason="INTERNAL_FAILURE", completed_at=now
            )
            self.store.put_create_account_request(done)
            return done
        details = OrgAccount(
            account_id, request.account_name, request.email, "ACTIVE", "CREATED", now
        )
        self.orgs.place_account(org.org_id, account_id, None, now, details)
        self._access_role(org, account_id, request.role_name, now)
        if tags:
            self.store.put_org_tags(account_id, tags)
        done = replace(request, state="SUCCEEDED", account_id=account_id, completed_at=now)
        self.store.put_create_account_request(done)
        return done

    def _access_role(
        self, org: Organization, account_id: str, role_name: str, now: datetime
    ) -> None:
        """The role the management account assumes into the new account, with
        the AWS managed policy ``AdministratorAccess`` attached."""
        trust = json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:iam::{org.management_account_id}:root"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            },
            separators=(",", ":"),
        )
        role = Role(
            account_id=account_id,
            name=role_name,
            path="/",
            role_id=ids.new_unique_id(ids.ROLE_PREFIX),
            created_at=now,
            trust_policy=trust,
        )
        self.store.create_role(role)
        self.store.attach_policy(Owner(account_id, "role", role_name), ADMINISTRATOR_ACCESS_ARN)

    def create_account_request(self, org: Organization, request_id: str) -> CreateAccountRequest:
        found = self.store.get_create_account_request(request_id)
        if found is None or found.org_id != org.org_id:
            raise e.CreateAccountStatusNotFound()
        return found

    # ------------------------------------------------------------------ handshakes

    def invite(
        self,
        org: Organization,
        target_account_id: str,
        notes: str | None,
        tags: Sequence[Tag],
        now: datetime,
    ) -> Handshake:
        account = self.store.get_account(target_account_id)
        if account is None:
            raise e.AccountNotFound()
        if account.org_id is not None:
            raise e.HandshakeConstraintViolation(
                "ALREADY_IN_AN_ORGANIZATION", "The account is already a member of an organization."
            )
        for other in self.store.list_handshakes(
            org_id=org.org_id, target_account_id=account.account_id
        ):
            if other.state in ("OPEN", "REQUESTED") and other.expires_at > now:
                raise e.DuplicateHandshake()
        handshake = Handshake(
            handshake_id=f"h-{_rand(32)}",
            org_id=org.org_id,
            target_account_id=target_account_id,
            action="INVITE",
            state="OPEN",
            requested_at=now,
            expires_at=now + HANDSHAKE_LIFETIME,
            notes=notes,
        )
        self.store.put_handshake(handshake)
        if tags:
            self.store.put_org_tags(handshake.handshake_id, tags)
        return handshake

    def handshake_for(self, handshake_id: str, account_id: str, now: datetime) -> Handshake:
        """A handshake the account is a party to (its target, or the management
        account of its organization); an expired open one reads as EXPIRED."""
        found = self.store.get_handshake(handshake_id)
        if found is None:
            raise e.HandshakeNotFound()
        org = self.store.get_organization(found.org_id)
        parties = {found.target_account_id, org.management_account_id if org else ""}
        if account_id not in parties:
            raise e.HandshakeNotFound()
        if found.state in ("OPEN", "REQUESTED") and found.expires_at <= now:
            found = replace(found, state="EXPIRED")
            self.store.put_handshake(found)
        return found

    def _transition(self, handshake: Handshake, state: HandshakeState) -> Handshake:
        if handshake.state == state:
            raise e.HandshakeAlreadyInState()
        if handshake.state not in ("OPEN", "REQUESTED"):
            raise e.InvalidHandshakeTransition()
        done = replace(handshake, state=state)
        self.store.put_handshake(done)
        return done

    def accept(self, handshake_id: str, account_id: str, now: datetime) -> Handshake:
        handshake = self.handshake_for(handshake_id, account_id, now)
        if handshake.target_account_id != account_id:
            raise AccessDenied(NO_PERMISSION)
        if handshake.state == "OPEN":
            account = self.store.get_account(account_id)
            if account is not None and account.org_id is not None:
                raise e.HandshakeConstraintViolation(
                    "ALREADY_IN_AN_ORGANIZATION",
                    "The account is already a member of an organization.",
                )
        done = self._transition(handshake, "ACCEPTED")
        details = OrgAccount(account_id, account_id, "", "ACTIVE", "INVITED", now)
        self.orgs.place_account(handshake.org_id, account_id, None, now, details)
        tags = self.store.get_org_tags(handshake.handshake_id)
        if tags:
            self.store.put_org_tags(account_id, tags)
        return done

    def decline(self, handshake_id: str, account_id: str, now: datetime) -> Handshake:
        handshake = self.handshake_for(handshake_id, account_id, now)
        if handshake.target_account_id != account_id:
            raise AccessDenied(NO_PERMISSION)
        return self._transition(handshake, "DECLINED")

    def cancel(self, handshake_id: str, account_id: str, now: datetime) -> Handshake:
        handshake = self.handshake_for(handshake_id, account_id, now)
        org = self.store.get_organization(handshake.org_id)
        if org is None or org.management_account_id != account_id:
            raise AccessDenied(NO_PERMISSION)
        return self._transition(handshake, "CANCELED")

    # ------------------------------------------------------------------ policies

    def policy(self, org: Organization, policy_id: str) -> OrgPolicy:
        """A policy by the id AWS shows (``p-FullAWSAccess`` is this organization's)."""
        internal = {
            FULL_AWS_ACCESS_ID: self.orgs.full_access_id(org),
            RCP_FULL_AWS_ACCESS_ID: self.orgs.rcp_full_access_id(org),
        }.get(policy_id, policy_id)
        found = self.store.get_org_policy(internal)
        if found is None or found.org_id != org.org_id or internal != found.policy_id:
            raise e.PolicyNotFound()
        if found.aws_managed and policy_id == internal:
            raise e.PolicyNotFound()  # the per-organization row id is not an AWS id
        return found

    @staticmethod
    def public_id(policy: OrgPolicy) -> str:
        if policy.aws_managed:
            return FULL_AWS_ACCESS_ID if policy.policy_type == SCP else RCP_FULL_AWS_ACCESS_ID
        return policy.policy_id

    @staticmethod
    def supported_type(value: str) -> PolicyType:
        if value not in SUPPORTED_TYPES:
            raise e.PolicyTypeNotAvailable(
                f"Tessera supports only SERVICE_CONTROL_POLICY and RESOURCE_CONTROL_POLICY, "
                f"not {value}."
            )
        return cast(PolicyType, value)

    def update_policy(
        self,
        org: Organization,
        policy_id: str,
        name: str | None,
        description: str | None,
        content: str | None,
    ) -> OrgPolicy:
        policy = self.policy(org, policy_id)
        if policy.aws_managed:
            raise e.InvalidInput("IMMUTABLE_POLICY", "AWS-managed policies cannot be changed.")
        if content is not None:
            self.orgs.validate(policy.policy_type, content)
        updated = replace(
            policy,
            name=policy.name if name is None else name,
            description=policy.description if description is None else description,
            content=policy.content if content is None else content,
        )
        try:
            self.store.update_org_policy(updated)
        except AlreadyExists as exc:
            raise e.DuplicatePolicy() from exc
        return updated

    def target_kind(self, org: Organization, target_id: str) -> str:
        """ROOT, ORGANIZATIONAL_UNIT or ACCOUNT (``TargetNotFound``)."""
        if target_id == org.root_id:
            return "ROOT"
        if target_id.startswith("ou-"):
            ou = self.store.get_org_unit(target_id)
            if ou is not None and ou.org_id == org.org_id:
                return "ORGANIZATIONAL_UNIT"
        elif ids.is_account_id(target_id):
            account = self.store.get_account(target_id)
            if account is not None and account.org_id == org.org_id:
                return "ACCOUNT"
        raise e.TargetNotFound()

    def target_name(self, org: Organization, target_id: str) -> str:
        kind = self.target_kind(org, target_id)
        if kind == "ROOT":
            return "Root"
        if kind == "ORGANIZATIONAL_UNIT":
            return self.ou(org, target_id).name
        return self.member(org, target_id).name

    def policies_for_target(
        self, org: Organization, target_id: str, policy_type: PolicyType
    ) -> list[OrgPolicy]:
        self.target_kind(org, target_id)
        return self.store.org_policies_for_targets([target_id], policy_type)[target_id]

    def enable_type(self, org: Organization, root_id: str, policy_type: str, now: datetime) -> None:
        self.check_root(org, root_id)
        self.orgs.enable_policy_type(org, self.supported_type(policy_type), now)

    def disable_type(self, org: Organization, root_id: str, policy_type: str) -> None:
        self.check_root(org, root_id)
        self.orgs.disable_policy_type(org, self.supported_type(policy_type))

    # ------------------------------------------------------------------ services

    @staticmethod
    def known_service(service_principal: str) -> str:
        if service_principal not in SERVICE_PRINCIPALS:
            raise e.InvalidInput(
                "UNRECOGNIZED_SERVICE_PRINCIPAL",
                f"You specified an unrecognized service principal: {service_principal}.",
            )
        return service_principal

    def register_admin(
        self, org: Organization, account_id: str, service_principal: str, now: datetime
    ) -> None:
        service = self.known_service(service_principal)
        details = self.member(org, account_id)
        if account_id == org.management_account_id:
            raise e.ConstraintViolation(
                "CANNOT_REGISTER_MASTER_AS_DELEGATED_ADMINISTRATOR",
                "You cannot register the management account as a delegated administrator.",
            )
        if details.status != "ACTIVE":
            raise e.ConstraintViolation(
                "CANNOT_REGISTER_SUSPENDED_ACCOUNT_AS_DELEGATED_ADMINISTRATOR",
                "You cannot register a suspended account as a delegated administrator.",
            )
        try:
            self.store.add_delegated_admin(DelegatedAdmin(org.org_id, account_id, service, now))
        except AlreadyExists as exc:
            raise e.AccountAlreadyRegistered() from exc

    def deregister_admin(self, org: Organization, account_id: str, service_principal: str) -> None:
        service = self.known_service(service_principal)
        self.member(org, account_id)
        try:
            self.store.remove_delegated_admin(account_id, service)
        except NotFound as exc:
            raise e.AccountNotRegistered() from exc

    # ------------------------------------------------------------------ tags

    def tag_target(self, org: Organization, resource_id: str) -> str:
        """The stored id of a taggable resource (account, OU, root or policy)."""
        if resource_id.startswith("p-"):
            return self.policy(org, resource_id).policy_id
        self.target_kind(org, resource_id)
        return resource_id

    def tag(self, org: Organization, resource_id: str, tags: Sequence[Tag]) -> None:
        target = self.tag_target(org, resource_id)
        keys = [t.key for t in tags]
        if len(set(keys)) != len(keys):
            raise e.InvalidInput("DUPLICATE_TAG_KEY", "Duplicate tag keys in the request.")
        present = {t.key for t in self.store.get_org_tags(target)}
        if len(present | set(keys)) > MAX_TAGS:
            raise e.ConstraintViolation(
                "MAX_TAG_LIMIT_EXCEEDED", f"A resource can have at most {MAX_TAGS} tags."
            )
        self.store.put_org_tags(target, tags)

    def untag(self, org: Organization, resource_id: str, keys: Sequence[str]) -> None:
        self.store.remove_org_tags(self.tag_target(org, resource_id), keys)

    def tags_of(self, org: Organization, resource_id: str) -> list[Tag]:
        return self.store.get_org_tags(self.tag_target(org, resource_id))
