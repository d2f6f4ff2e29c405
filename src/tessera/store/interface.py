"""``Store``: the whole storage interface, the composition of the per-aggregate
Protocols of ``tessera.store``. Services depend on the narrowest of those; what
hands out "the store" (``OperationContext.store``) types it as ``Store``."""

from __future__ import annotations

from typing import Protocol

from tessera.store.access_advisor import AccessAdvisorStore
from tessera.store.access_keys import AccessKeyStore
from tessera.store.account_settings import AccountSettingsStore
from tessera.store.accounts import AccountStore
from tessera.store.audit import AuditStore
from tessera.store.identities import IdentityStore
from tessera.store.instance_profiles import InstanceProfileStore
from tessera.store.instances import InstanceStore
from tessera.store.issuer_keys import IssuerKeyStore
from tessera.store.login_profiles import LoginProfileStore
from tessera.store.meta import MetaStore
from tessera.store.mfa import MfaStore
from tessera.store.oidc_providers import OidcProviderStore
from tessera.store.organizations import OrganizationStore
from tessera.store.policies import PolicyStore
from tessera.store.rolesanywhere import RolesAnywhereStore
from tessera.store.saml_providers import SamlProviderStore, SamlReplayCache
from tessera.store.server_certificates import ServerCertificateStore
from tessera.store.service_linked_roles import ServiceLinkedRoleStore
from tessera.store.tags import TagStore
from tessera.store.user_credentials import UserCredentialStore


class Store(
    AccountStore,
    AccessKeyStore,
    IdentityStore,
    PolicyStore,
    TagStore,
    MfaStore,
    IssuerKeyStore,
    OidcProviderStore,
    SamlProviderStore,
    SamlReplayCache,
    OrganizationStore,
    MetaStore,
    ServiceLinkedRoleStore,
    LoginProfileStore,
    AccountSettingsStore,
    InstanceProfileStore,
    ServerCertificateStore,
    UserCredentialStore,
    RolesAnywhereStore,
    AccessAdvisorStore,
    InstanceStore,
    AuditStore,
    Protocol,
):
    """Every aggregate of the storage interface (one engine implements all)."""


#: the Protocols that make up ``Store`` (the conformance suite checks it calls
#: every method of each)
AGGREGATES: tuple[type, ...] = (
    AccountStore,
    AccessKeyStore,
    IdentityStore,
    PolicyStore,
    TagStore,
    MfaStore,
    IssuerKeyStore,
    OidcProviderStore,
    SamlProviderStore,
    SamlReplayCache,
    OrganizationStore,
    MetaStore,
    ServiceLinkedRoleStore,
    LoginProfileStore,
    AccountSettingsStore,
    InstanceProfileStore,
    ServerCertificateStore,
    UserCredentialStore,
    RolesAnywhereStore,
    AccessAdvisorStore,
    InstanceStore,
    AuditStore,
)
