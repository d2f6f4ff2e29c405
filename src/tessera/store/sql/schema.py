"""Table definitions (SQLAlchemy Core) and the versioned migrations that create
them. Migrations are applied in order at start and recorded in
``schema_migrations``; a store never runs code against an unmigrated schema."""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import zstandard
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    inspect,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection

from tessera.iam.policy.principals import entity_ref, named_entity_arns
from tessera.store.audit import MAX_TERM_VALUE, AuditSegment, legacy_line, legacy_terms

metadata = MetaData()

TS = DateTime(timezone=True)

schema_migrations = Table(
    "schema_migrations",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("applied_at", TS, nullable=False),
)

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", LargeBinary, nullable=False),
)

accounts = Table(
    "accounts",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("created_at", TS, nullable=False),
    Column("issuer_id", String(36), nullable=True, unique=True),
    Column("outbound_enabled", Boolean, nullable=False, default=False),
    Column("org_id", String(64), nullable=True),
    Column("ou_path", Text, nullable=True),
)

access_keys = Table(
    "access_keys",
    metadata,
    Column("access_key_id", String(128), primary_key=True),
    Column("account_id", String(12), ForeignKey("accounts.account_id"), nullable=False),
    Column("user_key", String(64), nullable=True),  # lower-case user name; NULL = root
    Column("user_name", String(64), nullable=True),
    # the unique id of the user the key was made for (migration 7): a key whose
    # user is gone, or was created again under the same name, authenticates nobody
    Column("user_id", String(32), nullable=True),
    Column("secret_sealed", LargeBinary, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("last_used_at", TS, nullable=True),
    Column("last_used_service", String(32), nullable=True),
    Column("last_used_region", String(32), nullable=True),
    Index("ix_access_keys_owner", "account_id", "user_key"),
)

users = Table(
    "users",
    metadata,
    Column("account_id", String(12), ForeignKey("accounts.account_id"), primary_key=True),
    Column("name_key", String(64), primary_key=True),
    Column("name", String(64), nullable=False),
    Column("path", String(512), nullable=False),
    Column("user_id", String(32), nullable=False, unique=True),
    Column("created_at", TS, nullable=False),
    Column("permissions_boundary", String(2048), nullable=True),
)

groups = Table(
    "groups",
    metadata,
    Column("account_id", String(12), ForeignKey("accounts.account_id"), primary_key=True),
    Column("name_key", String(128), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("path", String(512), nullable=False),
    Column("group_id", String(32), nullable=False, unique=True),
    Column("created_at", TS, nullable=False),
)

group_members = Table(
    "group_members",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("group_key", String(128), primary_key=True),
    Column("user_key", String(64), primary_key=True),
    Index("ix_group_members_user", "account_id", "user_key"),
)

roles = Table(
    "roles",
    metadata,
    Column("account_id", String(12), ForeignKey("accounts.account_id"), primary_key=True),
    Column("name_key", String(64), primary_key=True),
    Column("name", String(64), nullable=False),
    Column("path", String(512), nullable=False),
    Column("role_id", String(32), nullable=False, unique=True),
    Column("created_at", TS, nullable=False),
    Column("trust_policy", Text, nullable=False),
    # JSON [[arn, unique id], …]: the IAM users and roles the trust policy named,
    # bound to their ids when it was stored (migration 7)
    Column("trust_principal_ids", Text, nullable=True),
    Column("description", String(1000), nullable=True),
    Column("max_session_duration", Integer, nullable=False),
    Column("permissions_boundary", String(2048), nullable=True),
    Column("last_used_at", TS, nullable=True),
    Column("last_used_region", String(32), nullable=True),
)

managed_policies = Table(
    "managed_policies",
    metadata,
    Column("arn", String(2048), primary_key=True),
    Column("account_id", String(12), ForeignKey("accounts.account_id"), nullable=False),
    Column("name_key", String(128), nullable=False),
    Column("name", String(128), nullable=False),
    Column("path", String(512), nullable=False),
    Column("policy_id", String(32), nullable=False, unique=True),
    Column("default_version_id", String(16), nullable=False),
    Column("next_version", Integer, nullable=False),
    Column("description", String(1000), nullable=True),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    UniqueConstraint("account_id", "name_key", name="uq_managed_policy_name"),
)

policy_versions = Table(
    "policy_versions",
    metadata,
    Column("policy_arn", String(2048), primary_key=True),
    Column("version_id", String(16), primary_key=True),
    Column("document", Text, nullable=False),
    Column("created_at", TS, nullable=False),
)

inline_policies = Table(
    "inline_policies",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("owner_type", String(8), primary_key=True),  # user | group | role
    Column("owner_key", String(128), primary_key=True),
    Column("name_key", String(128), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("document", Text, nullable=False),
)

attachments = Table(
    "attachments",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("owner_type", String(8), primary_key=True),
    Column("owner_key", String(128), primary_key=True),
    Column("policy_arn", String(2048), primary_key=True),
    Index("ix_attachments_policy", "policy_arn"),
)

tags = Table(
    "tags",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("resource_type", String(16), primary_key=True),  # user | role | policy | …
    Column("resource_key", String(2048), primary_key=True),
    Column("key_lower", String(128), primary_key=True),
    Column("key", String(128), nullable=False),
    Column("value", String(256), nullable=False),
    Column("position", Integer, nullable=False),
)

mfa_devices = Table(
    "mfa_devices",
    metadata,
    Column("serial_number", String(256), primary_key=True),
    Column("account_id", String(12), ForeignKey("accounts.account_id"), nullable=False),
    Column("name_key", String(256), nullable=False),
    Column("name", String(256), nullable=False),
    Column("path", String(512), nullable=False),
    Column("seed_sealed", LargeBinary, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("user_key", String(64), nullable=True),  # lower-case user name; NULL = unassigned
    Column("user_name", String(64), nullable=True),
    Column("enable_date", TS, nullable=True),
    Column("last_used_step", Integer, nullable=True),
    Index("ix_mfa_devices_name", "account_id", "name_key"),
    Index("ix_mfa_devices_user", "account_id", "user_key"),
)

issuer_keys = Table(
    "issuer_keys",
    metadata,
    Column("account_id", String(12), ForeignKey("accounts.account_id"), primary_key=True),
    Column("kid", String(32), primary_key=True),
    Column("alg", String(8), nullable=False),
    Column("private_sealed", LargeBinary, nullable=False),  # kek.seal(PEM, issuer-key:<acct>:<kid>)
    Column("created_at", TS, nullable=False),
    Column("not_before", TS, nullable=False),
    Column("retired_at", TS, nullable=True),
)

# --- organizations (SCPs and RCPs), managed by the Organizations API and `tessera org`;
# accounts.org_id / accounts.ou_path place an account in one organization
organizations = Table(
    "organizations",
    metadata,
    Column("org_id", String(34), primary_key=True),  # o-xxxxxxxxxx
    Column("root_id", String(32), nullable=False, unique=True),  # r-xxxx
    Column("management_account_id", String(12), nullable=False, unique=True),
    Column("created_at", TS, nullable=False),
)

org_units = Table(
    "org_units",
    metadata,
    Column("ou_id", String(68), primary_key=True),  # ou-xxxx-xxxxxxxx
    Column("org_id", String(34), ForeignKey("organizations.org_id"), nullable=False),
    Column("parent_id", String(68), nullable=False),  # the root id or an OU id
    Column("name", String(128), nullable=False),
    Column("created_at", TS, nullable=False),
    UniqueConstraint("parent_id", "name", name="uq_org_units_parent_name"),
)

org_policies = Table(
    "org_policies",
    metadata,
    Column("policy_id", String(130), primary_key=True),  # p-xxxxxxxx / p-FullAWSAccess
    Column("org_id", String(34), ForeignKey("organizations.org_id"), nullable=False),
    Column("policy_type", String(32), nullable=False),  # SERVICE_CONTROL_POLICY | RESOURCE_…
    Column("name", String(128), nullable=False),
    Column("description", String(512), nullable=False, default=""),
    Column("content", Text, nullable=False),
    Column("aws_managed", Boolean, nullable=False, default=False),
    Column("created_at", TS, nullable=False),
    UniqueConstraint("org_id", "policy_type", "name", name="uq_org_policies_name"),
)

org_policy_targets = Table(
    "org_policy_targets",
    metadata,
    Column("policy_id", String(130), ForeignKey("org_policies.policy_id"), primary_key=True),
    Column("target_id", String(68), primary_key=True),  # root id, OU id or account id
    Index("ix_org_policy_targets_target", "target_id"),
)

oidc_providers = Table(
    "oidc_providers",
    metadata,
    Column("account_id", String(12), ForeignKey("accounts.account_id"), primary_key=True),
    Column("url", String(255), primary_key=True),  # scheme-less, host lower-cased
    Column("scheme", String(8), nullable=False),  # https | http (loopback / insecure mode)
    Column("client_ids", Text, nullable=False),  # JSON array, in the order added
    Column("thumbprints", Text, nullable=False),  # JSON array
    Column("created_at", TS, nullable=False),
    # trusted identity propagation (migration 8): ContextProvider JSON, Identity Center ARN
    Column("context_provider", Text, nullable=True),
    Column("identity_center_arn", String(1224), nullable=True),
)

saml_providers = Table(
    "saml_providers",
    metadata,
    Column("account_id", String(12), ForeignKey("accounts.account_id"), primary_key=True),
    Column("name_key", String(128), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("provider_uuid", String(64), nullable=False, unique=True),
    Column("metadata_document", Text, nullable=False),
    Column("valid_until", TS, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("encryption_mode", String(16), nullable=True),  # Required | Allowed | NULL
    Column("private_keys_sealed", LargeBinary, nullable=True),  # kek.seal(JSON, saml-keys:<uuid>)
    # trusted identity propagation (migration 8): ContextProvider JSON, Identity Center ARN
    Column("context_provider", Text, nullable=True),
    Column("identity_center_arn", String(1224), nullable=True),
)

# Replay cache for AssumeRoleWithSAML: one row per accepted assertion ID (per provider)
# until the assertion could no longer be accepted anyway. The primary key is
# sha256(provider ARN, assertion ID) so the insert-or-fail is one atomic step that
# two replicas sharing a database cannot both win.
saml_assertion_ids = Table(
    "saml_assertion_ids",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("provider_arn", String(2048), nullable=False),
    Column("expires_at", TS, nullable=False),
    Index("ix_saml_assertion_ids_expires", "expires_at"),
)

# --- the AWS Organizations API (migration 13): member account details, settings
# (enabled policy types, trusted service access, IAM root-access features),
# CreateAccount requests, handshakes, delegated administrators and tags
org_accounts = Table(
    "org_accounts",
    metadata,
    Column("account_id", String(12), ForeignKey("accounts.account_id"), primary_key=True),
    Column("name", String(50), nullable=False),
    Column("email", String(64), nullable=False),
    Column("status", String(16), nullable=False),  # ACTIVE | SUSPENDED | PENDING_CLOSURE
    Column("joined_method", String(8), nullable=False),  # CREATED | INVITED
    Column("joined_at", TS, nullable=False),
)

org_settings = Table(
    "org_settings",
    metadata,
    Column("org_id", String(34), ForeignKey("organizations.org_id"), primary_key=True),
    Column("name", String(160), primary_key=True),  # e.g. PolicyType/SERVICE_CONTROL_POLICY
    Column("enabled_at", TS, nullable=False),
)

org_create_account_requests = Table(
    "org_create_account_requests",
    metadata,
    Column("request_id", String(36), primary_key=True),  # car-…
    Column("org_id", String(34), ForeignKey("organizations.org_id"), nullable=False),
    Column("account_name", String(50), nullable=False),
    Column("email", String(64), nullable=False),
    Column("role_name", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("requested_at", TS, nullable=False),
    Column("completed_at", TS, nullable=True),
    Column("account_id", String(12), nullable=True),
    Column("failure_reason", String(64), nullable=True),
    Index("ix_org_create_account_requests_org", "org_id"),
)

org_handshakes = Table(
    "org_handshakes",
    metadata,
    Column("handshake_id", String(40), primary_key=True),  # h-…
    Column("org_id", String(34), ForeignKey("organizations.org_id"), nullable=False),
    Column("target_account_id", String(12), nullable=False),
    Column("action", String(32), nullable=False),
    Column("state", String(16), nullable=False),
    Column("requested_at", TS, nullable=False),
    Column("expires_at", TS, nullable=False),
    Column("notes", String(1024), nullable=True),
    Index("ix_org_handshakes_org", "org_id"),
    Index("ix_org_handshakes_target", "target_account_id"),
)

org_delegated_admins = Table(
    "org_delegated_admins",
    metadata,
    Column("account_id", String(12), ForeignKey("accounts.account_id"), primary_key=True),
    Column("service_principal", String(128), primary_key=True),
    Column("org_id", String(34), ForeignKey("organizations.org_id"), nullable=False),
    Column("registered_at", TS, nullable=False),
)

org_tags = Table(
    "org_tags",
    metadata,
    Column("resource_id", String(130), primary_key=True),  # account, OU, root or policy id
    Column("key", String(128), primary_key=True),
    Column("value", String(256), nullable=False),
)

# --- service-linked roles (migration 9) ---------------------------------------------------

#: which roles are service-linked (by unique id) and for which service
service_linked_roles = Table(
    "service_linked_roles",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("role_id", String(32), primary_key=True),
    Column("role_key", String(128), nullable=False),
    Column("service_name", String(128), nullable=False),
)

#: DeleteServiceLinkedRole tasks, kept for GetServiceLinkedRoleDeletionStatus
slr_deletion_tasks = Table(
    "slr_deletion_tasks",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("task_id", String(512), primary_key=True),
    Column("role_name", String(128), nullable=False),
    Column("status", String(16), nullable=False),
    Column("reason", String(1000), nullable=True),
    Column("created_at", TS, nullable=False),
)

# --- login profiles, password policy, account settings, credential reports (migration 10)
login_profiles = Table(
    "login_profiles",
    metadata,
    Column("user_id", String(32), primary_key=True),  # the user's unique id (AIDA…)
    Column("account_id", String(12), ForeignKey("accounts.account_id"), nullable=False),
    Column("password_sealed", LargeBinary, nullable=False),  # kek.seal(KDF hash, password:<id>)
    Column("created_at", TS, nullable=False),
    Column("password_changed_at", TS, nullable=False),
    Column("reset_required", Boolean, nullable=False, default=False),
    Column("max_signin_session_duration", Integer, nullable=True),
    Column("password_last_used", TS, nullable=True),
    Index("ix_login_profiles_account", "account_id"),
)

password_history = Table(
    "password_history",
    metadata,
    Column("user_id", String(32), primary_key=True),
    Column("seq", Integer, primary_key=True),  # higher = newer
    Column("password_sealed", LargeBinary, nullable=False),
)

account_settings = Table(
    "account_settings",
    metadata,
    Column("account_id", String(12), ForeignKey("accounts.account_id"), primary_key=True),
    Column("password_policy", Text, nullable=True),  # JSON; NULL = none
    Column("alias", String(63), nullable=True, unique=True),
    Column("sts_token_version", String(8), nullable=True),
)

credential_reports = Table(
    "credential_reports",
    metadata,
    Column("account_id", String(12), ForeignKey("accounts.account_id"), primary_key=True),
    Column("started_at", TS, nullable=False),
    Column("generated_at", TS, nullable=True),
    Column("content", LargeBinary, nullable=True),
)


# --- instance profiles, server and signing certificates, SSH public keys and
# service-specific credentials (migration 11) ---------------------------------------
instance_profiles = Table(
    "instance_profiles",
    metadata,
    Column("account_id", String(12), ForeignKey("accounts.account_id"), primary_key=True),
    Column("name_key", String(128), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("path", String(512), nullable=False),
    Column("profile_id", String(32), nullable=False, unique=True),
    Column("created_at", TS, nullable=False),
    # the unique id (AROA…) of the one role in the profile, NULL when empty
    Column("role_id", String(32), nullable=True),
    Index("ix_instance_profiles_role", "account_id", "role_id"),
)

server_certificates = Table(
    "server_certificates",
    metadata,
    Column("account_id", String(12), ForeignKey("accounts.account_id"), primary_key=True),
    Column("name_key", String(128), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("path", String(512), nullable=False),
    Column("certificate_id", String(32), nullable=False, unique=True),
    Column("body", Text, nullable=False),
    Column("chain", Text, nullable=True),
    # kek.seal(PEM, "server-cert-key:<certificate_id>"): never stored in clear
    Column("private_key_sealed", LargeBinary, nullable=False),
    Column("uploaded_at", TS, nullable=False),
    Column("expires_at", TS, nullable=False),
)

signing_certificates = Table(
    "signing_certificates",
    metadata,
    Column("certificate_id", String(64), primary_key=True),
    Column("account_id", String(12), ForeignKey("accounts.account_id"), nullable=False),
    Column("user_id", String(32), nullable=False),  # the owner's AIDA… id
    Column("user_name", String(64), nullable=False),
    Column("body", Text, nullable=False),
    Column("fingerprint", String(64), nullable=False),  # sha256 hex of the DER
    Column("status", String(16), nullable=False),
    Column("uploaded_at", TS, nullable=False),
    UniqueConstraint("account_id", "fingerprint", name="uq_signing_certificates_cert"),
    Index("ix_signing_certificates_user", "account_id", "user_id"),
)

ssh_public_keys = Table(
    "ssh_public_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("account_id", String(12), ForeignKey("accounts.account_id"), nullable=False),
    Column("user_id", String(32), nullable=False),
    Column("user_name", String(64), nullable=False),
    Column("body", Text, nullable=False),
    Column("fingerprint", String(48), nullable=False),
    Column("status", String(16), nullable=False),
    Column("uploaded_at", TS, nullable=False),
    UniqueConstraint("user_id", "fingerprint", name="uq_ssh_public_keys_key"),
    Index("ix_ssh_public_keys_user", "account_id", "user_id"),
)

service_specific_credentials = Table(
    "service_specific_credentials",
    metadata,
    Column("credential_id", String(32), primary_key=True),
    Column("account_id", String(12), ForeignKey("accounts.account_id"), nullable=False),
    Column("user_id", String(32), nullable=False),
    Column("user_name", String(64), nullable=False),
    Column("service_name", String(128), nullable=False),
    Column("service_user_name", String(200), nullable=True),
    Column("service_credential_alias", String(200), nullable=True),
    Column("secret_hash", String(256), nullable=False),  # scrypt; the secret is never stored
    Column("status", String(16), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("expires_at", TS, nullable=True),
    Index("ix_service_specific_credentials_user", "account_id", "user_id"),
)

# IAM Roles Anywhere (migration 12): trust anchors, profiles and CRLs share one table
# (kind, id, the resource as JSON: tessera.rolesanywhere.model); subjects keep their
# bounded credential history as JSON, found by the SHA-256 of their subject DN.
rolesanywhere_resources = Table(
    "rolesanywhere_resources",
    metadata,
    Column("resource_id", String(36), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("kind", String(16), nullable=False),  # trust-anchor | profile | crl
    Column("created_at", TS, nullable=False),
    Column("body", Text, nullable=False),
    Index("ix_rolesanywhere_resources_scope", "account_id", "region", "kind", "resource_id"),
)

rolesanywhere_subjects = Table(
    "rolesanywhere_subjects",
    metadata,
    Column("subject_id", String(36), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("subject_key", String(64), nullable=False),  # sha256 hex of the subject DN
    Column("x509_subject", Text, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    Column("last_seen_at", TS, nullable=False),
    Column("credentials", Text, nullable=False),  # JSON list, newest first, bounded
    UniqueConstraint("account_id", "region", "subject_key", name="uq_rolesanywhere_subject"),
)


# Access advisor (#17): the last authenticated use of each action by each principal
# (user or role, by unique id), written behind requests; and the reports generated
# from it (GenerateServiceLastAccessedDetails), kept as JSON for paging.
service_last_accessed = Table(
    "service_last_accessed",
    metadata,
    Column("principal_id", String(128), primary_key=True),
    Column("action_key", String(256), primary_key=True),  # lower-cased action
    Column("account_id", String(12), nullable=False),
    Column("action", String(256), nullable=False),
    Column("region", String(64), nullable=False),
    Column("last_at", TS, nullable=False),
    Index("ix_service_last_accessed_account", "account_id", "principal_id"),
)

access_reports = Table(
    "access_reports",
    metadata,
    Column("job_id", String(64), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("job_type", String(16), nullable=False),
    Column("arn", String(2048), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("completed_at", TS, nullable=False),
    Column("report", Text, nullable=False),
    Index("ix_access_reports_account", "account_id", "created_at"),
)

# The instance registry (#16, migration 16): enrolled instances bound to their
# instance profile by its unique id; join tokens by SHA-256 only (single use);
# the serials of the certificates issued to each instance; the server's instance
# CA (key sealed under the KEK, context "instance-ca:<ca_id>").
instances = Table(
    "instances",
    metadata,
    Column("instance_id", String(19), primary_key=True),  # i- + 17 hex
    Column("account_id", String(12), ForeignKey("accounts.account_id"), nullable=False),
    Column("profile_name", String(128), nullable=False),
    Column("profile_id", String(32), nullable=False),  # AIPA…: the binding
    Column("name", String(128), nullable=True),
    Column("private_ipv4", String(15), nullable=True),
    Column("network", String(64), nullable=True),
    Column("region", String(32), nullable=False),
    Column("state", String(16), nullable=False),
    Column("created_at", TS, nullable=False),
    Index("ix_instances_account", "account_id", "instance_id"),
)

instance_join_tokens = Table(
    "instance_join_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),  # sha256 hex; never the token
    Column("instance_id", String(19), nullable=False),
    Column("expires_at", TS, nullable=False),
    Column("used_at", TS, nullable=True),
    Index("ix_instance_join_tokens_instance", "instance_id"),
)

instance_certificates = Table(
    "instance_certificates",
    metadata,
    Column("serial", String(64), primary_key=True),  # decimal
    Column("instance_id", String(19), nullable=False),
    Column("issued_at", TS, nullable=False),
    Column("not_after", TS, nullable=False),
    Index("ix_instance_certificates_instance", "instance_id", "not_after"),
)

instance_ca = Table(
    "instance_ca",
    metadata,
    Column("ca_id", String(32), primary_key=True),
    Column("certificate_pem", Text, nullable=False),
    Column("private_sealed", LargeBinary, nullable=False),
    Column("created_at", TS, nullable=False),
)


# The audit trail (migration 18; migration 14 stored a row per event): one row per
# *segment*, a batch of one account's events as the writer committed them (``data``:
# the events' lines, the audit package's format, already redacted; their time span
# and count). A row per event cost ~20 µs of CPU each on the writer thread, next to
# the request threads (bench/README.md); a segment is one row per batch and account
# (its terms one narrow row per distinct attribute value, inserted in one statement).
# ``seq`` orders segments stored within the same instant (pagination).
# Indexed by account and time (every LookupEvents query: one account, newest first)
# and by time (pruning). ``audit_terms`` lists each segment's distinct lookup
# attributes (``tessera.store.audit.LOOKUP_KEYS``), so a lookup by attribute reads
# only the segments that can hold a match; pruning deletes a segment's terms with it
# (explicitly: no foreign key). ``audit_spool_marks``: how far into each spool file
# the stored batches reached (a spool replayed after a crash is read from there on).
audit_segments = Table(
    "audit_segments",
    metadata,
    Column(
        "seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("account_id", String(12), nullable=False),
    Column("first_time", TS, nullable=False),
    Column("last_time", TS, nullable=False),
    Column("count", Integer, nullable=False),
    # the events' lines: compressed in ``packed`` (``pack_lines``), ``data``
    # then empty; segments stored before migration 19 keep their text in ``data``
    Column("data", Text, nullable=False),
    Column("packed", LargeBinary, nullable=True),
    Index("ix_audit_segments_account_time", "account_id", "last_time", "seq"),
    Index("ix_audit_segments_time", "last_time"),
)

audit_terms = Table(
    "audit_terms",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("key", String(32), primary_key=True),
    # at most MAX_TERM_VALUE characters; a value longer in UTF-8 than an index entry
    # may be is stored as its digest (``tessera.store.sql.audit``)
    Column("value", String(2000), primary_key=True),
    Column(
        "segment_seq",
        BigInteger().with_variant(Integer, "sqlite"),
        primary_key=True,
        autoincrement=False,
    ),
    Index("ix_audit_terms_segment", "segment_seq"),
)

# A key with more than ``TERM_LIST_OVER`` distinct values in one segment (an access
# key issued by each AssumeRole, a session name per session) is not a row per value:
# the values are one row, ``\n``-delimited, that a lookup by such a value searches.
# A row per value cost the writer ~40-70 µs of CPU per AssumeRole (a random entry in
# the terms index each), bench/README.md.
audit_term_lists = Table(
    "audit_term_lists",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("key", String(32), primary_key=True),
    Column(
        "segment_seq",
        BigInteger().with_variant(Integer, "sqlite"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("term_values", Text, nullable=False),  # "\n" + values joined by "\n" + "\n"
    Index("ix_audit_term_lists_segment", "segment_seq"),
)

#: distinct values of one key in a segment above which they are kept as a list
TERM_LIST_OVER = 16

audit_spool_marks = Table(
    "audit_spool_marks",
    metadata,
    Column("spool", String(200), primary_key=True),
    Column("mark", BigInteger, nullable=False),
    Column("updated_at", TS, nullable=False),
)

# The audit trail as migration 14 created it (a row per (account, event); migration
# 17 dropped its per-attribute indexes): only migrations 14 and 18 (which converts its
# rows to segments and drops it) use it, so it is not in ``metadata``.
_legacy = MetaData()
_audit_events_v14 = Table(
    "audit_events",
    _legacy,
    Column(
        "seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("account_id", String(12), nullable=False),
    Column("event_id", String(36), nullable=False),
    Column("event_time", TS, nullable=False),
    Column("event_name", String(128), nullable=False),
    Column("event_source", String(128), nullable=False),
    Column("read_only", Boolean, nullable=False),
    Column("username", String(256), nullable=True),
    Column("access_key_id", String(128), nullable=True),
    Column("resource_type", String(128), nullable=True),
    Column("resource_name", String(2048), nullable=True),
    Column("resource_types", Text, nullable=True),  # JSON list, every resource's type
    Column("resource_names", Text, nullable=True),  # JSON list, every resource's name
    Column("record", Text, nullable=False),
    UniqueConstraint("account_id", "event_id", name="uq_audit_events_account_event"),
    Index("ix_audit_events_time", "event_time"),
    Index("ix_audit_events_account_time", "account_id", "event_time"),
)

_MAX_TERM_BYTES = 2000
#: (PostgreSQL text holds no NUL: a printable prefix; a stored value equal to a
#: digest's text only makes its segments candidates of that lookup too)
_DIGEST_PREFIX = "sha256:"


def term_value(value: str) -> str:
    """The stored form of a term's value: as is, or its SHA-256 when longer in
    UTF-8 than an index entry may be (``tessera.store.sql.audit`` explains)."""
    raw = value.encode("utf-8", "surrogatepass")
    if len(raw) <= _MAX_TERM_BYTES:
        return value
    return _DIGEST_PREFIX + hashlib.sha256(raw).hexdigest()


#: zstd's level 1 (``zstandard``, the maintained binding of the reference library):
#: the audit lines of a segment (JSON, much repeated) shrink about 22-fold at ~3 GB/s,
#: five times less of the writer's CPU than zlib's fastest level (1.39 against 0.27
#: µs per event, with a better ratio; bench/README.md, "Sixth pass")
_PACK_LEVEL = 1
#: how every zstd frame begins; a segment packed before zstd is a zlib stream, whose
#: first byte is 0x78, so the two are told apart by their first bytes
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
#: the most a packed segment may unpack to (a guard: a segment holds at most 4,096
#: lines of at most ~100 KB each)
_MAX_UNPACKED = 1 << 30


def pack_lines(data: str) -> bytes:
    """A segment's lines as stored (``audit_segments.packed``): a zstd frame (a new
    compressor per call: a ``ZstdCompressor`` must not be shared between threads)."""
    raw = data.encode("utf-8", "surrogatepass")
    return zstandard.ZstdCompressor(level=_PACK_LEVEL).compress(raw)


def unpack_lines(data: str, packed: bytes | None) -> str:
    """A stored segment's lines: ``packed`` unpacked (a zstd frame, or the zlib
    stream of a segment packed before), or ``data`` for a segment stored before
    segments were packed."""
    if packed is None:
        return data
    packed = bytes(packed)  # (PostgreSQL's driver returns a memoryview)
    if packed[:4] == _ZSTD_MAGIC:
        raw = zstandard.ZstdDecompressor().decompress(packed, max_output_size=_MAX_UNPACKED)
    else:
        raw = zlib.decompress(packed)
    return raw.decode("utf-8", "surrogatepass")


def insert_audit_segments(conn: Connection, segments: Iterable[AuditSegment]) -> None:
    """Insert each segment (one statement each: its new ``seq`` keys its terms) and
    all their terms (a term row each, or a list per key with many values)."""
    terms: list[dict[str, Any]] = []
    lists: list[dict[str, Any]] = []
    for segment in segments:
        pk = conn.execute(
            audit_segments.insert().values(
                account_id=segment.account_id,
                first_time=segment.first_time,
                last_time=segment.last_time,
                count=segment.count,
                data="",
                packed=pack_lines(segment.data),
            )
        ).inserted_primary_key
        assert pk is not None
        seq = pk[0]
        account = segment.account_id
        by_key: dict[str, list[str]] = {}
        for key, value in segment.terms:
            by_key.setdefault(key, []).append(value)
        for key, values in by_key.items():
            if len(values) > TERM_LIST_OVER:
                lists.append(
                    {
                        "segment_seq": seq,
                        "account_id": account,
                        "key": key,
                        "term_values": "\n" + "\n".join(sorted(values)) + "\n",
                    }
                )
            else:
                terms.extend(
                    {"segment_seq": seq, "account_id": account, "key": key, "value": term_value(v)}
                    for v in values
                )
    if terms:
        conn.execute(audit_terms.insert(), terms)
    if lists:
        conn.execute(audit_term_lists.insert(), lists)


Migration = Callable[[Connection], None]


def _create(*tables: Table) -> Migration:
    def run(conn: Connection) -> None:
        for table in tables:
            table.create(conn)

    return run


def _add_columns(table: Table, *names: str) -> Callable[[Connection], None]:
    """``ALTER TABLE … ADD COLUMN`` for each named column the table lacks (a store
    created after the column was added to the definition already has it)."""

    def run(conn: Connection) -> None:
        present = {c["name"] for c in inspect(conn).get_columns(table.name)}
        for name in names:
            if name not in present:
                column = table.c[name]
                kind = column.type.compile(dialect=conn.dialect)
                conn.execute(text(f"ALTER TABLE {table.name} ADD COLUMN {name} {kind}"))

    return run


def _drop_indexes(*names: str) -> Migration:
    """``DROP INDEX IF EXISTS`` each (constant) name."""

    def run(conn: Connection) -> None:
        for name in names:
            conn.execute(text(f"DROP INDEX IF EXISTS {name}"))

    return run


def _bind_principals(conn: Connection) -> None:
    """Migration 7: bind what stores made before it named by name.

    Access keys get their user's id. Each role's trust policy gets the ids of
    the users and roles its ARNs name *now*; an ARN whose entity is gone stays
    unbound and so matches nobody (before, it would have matched whoever was
    created under that name next)."""
    _add_columns(access_keys, "user_id")(conn)
    _add_columns(roles, "trust_principal_ids")(conn)
    ak, u = access_keys.c, users.c
    for row in conn.execute(
        select(ak.access_key_id, ak.account_id, ak.user_key).where(ak.user_key.is_not(None))
    ).all():
        user_id = conn.execute(
            select(u.user_id).where((u.account_id == row.account_id) & (u.name_key == row.user_key))
        ).scalar()
        conn.execute(
            update(access_keys).where(ak.access_key_id == row.access_key_id).values(user_id=user_id)
        )
    r = roles.c
    for row in conn.execute(select(r.account_id, r.name_key, r.trust_policy)).all():
        try:
            document = json.loads(row.trust_policy)
        except ValueError:
            document = None
        bound: list[list[str]] = []
        for arn in named_entity_arns(document) if isinstance(document, dict) else []:
            ref = entity_ref(arn)
            assert ref is not None
            table = users if ref.kind == "user" else roles
            hit = conn.execute(
                select(table).where(
                    (table.c.account_id == ref.account) & (table.c.name_key == ref.name.lower())
                )
            ).first()
            if hit is not None and hit.path == ref.path:
                bound.append([arn, hit.user_id if ref.kind == "user" else hit.role_id])
        conn.execute(
            update(roles)
            .where((r.account_id == row.account_id) & (r.name_key == row.name_key))
            .values(trust_principal_ids=json.dumps(bound))
        )


def _add_tip_columns(conn: Connection) -> None:
    """Migration 8: the ContextProvider and Identity Center association of OIDC and
    SAML providers (trusted identity propagation)."""
    _add_columns(oidc_providers, "context_provider", "identity_center_arn")(conn)
    _add_columns(saml_providers, "context_provider", "identity_center_arn")(conn)


def _organizations_api(conn: Connection) -> None:
    """Migration 13: the Organizations API's tables; members placed before it get
    their details (name = account id, INVITED, joined when created) and existing
    organizations keep SCPs and RCPs enabled, as they always were."""
    for table in (
        org_accounts,
        org_settings,
        org_create_account_requests,
        org_handshakes,
        org_delegated_admins,
        org_tags,
    ):
        table.create(conn)
    for row in conn.execute(select(accounts).where(accounts.c.org_id.is_not(None))).all():
        conn.execute(
            org_accounts.insert().values(
                account_id=row.account_id,
                name=row.account_id,
                email="",
                status="ACTIVE",
                joined_method="INVITED",
                joined_at=row.created_at,
            )
        )
    for row in conn.execute(select(organizations)).all():
        for policy_type in ("SERVICE_CONTROL_POLICY", "RESOURCE_CONTROL_POLICY"):
            conn.execute(
                org_settings.insert().values(
                    org_id=row.org_id, name=f"PolicyType/{policy_type}", enabled_at=row.created_at
                )
            )


#: legacy rows per segment migration 18 makes
_SEGMENT_ROWS = 1000


def _audit_as_segments(conn: Connection) -> None:
    """Migration 18: the audit trail as segments. Each account's ``audit_events``
    rows, by event time (then ``seq``), a thousand at a time (keyset paging: never
    all of them in memory), become one segment each; ``audit_events`` is dropped.

    A row becomes the line ``{"r1":[event id, event time (ISO 8601, UTC), event
    name, event source, read-only, user name or null, access key id or null,
    [[resource type, resource name], …]],"rec":<the stored record, as is>}``."""

    _audit_segment_tables(conn)
    if not inspect(conn).has_table("audit_events"):
        return
    e = _audit_events_v14.c
    accounts_seen = [
        row[0] for row in conn.execute(select(e.account_id).distinct().order_by(e.account_id))
    ]
    for account in accounts_seen:
        last: tuple[datetime, int] | None = None
        while True:
            query = select(_audit_events_v14).where(e.account_id == account)
            if last is not None:
                query = query.where(
                    or_(e.event_time > last[0], and_(e.event_time == last[0], e.seq > last[1]))
                )
            rows = conn.execute(query.order_by(e.event_time, e.seq).limit(_SEGMENT_ROWS)).all()
            if not rows:
                break
            last = (rows[-1].event_time, rows[-1].seq)
            lines: list[str] = []
            terms: set[tuple[str, str]] = set()
            times: list[datetime] = []
            for row in rows:
                when = _utc(row.event_time)
                times.append(when)
                if row.resource_types is not None or row.resource_names is not None:
                    resources = [
                        [str(t), str(n)]
                        for t, n in zip(
                            json.loads(row.resource_types or "[]"),
                            json.loads(row.resource_names or "[]"),
                            strict=False,
                        )
                    ]
                elif row.resource_type is not None or row.resource_name is not None:
                    resources = [[row.resource_type or "", row.resource_name or ""]]
                else:
                    resources = []
                read_only = bool(row.read_only)
                head = [
                    row.event_id,
                    when.isoformat(),
                    row.event_name,
                    row.event_source,
                    read_only,
                    row.username,
                    row.access_key_id,
                    resources,
                ]
                lines.append(legacy_line(head, row.record))
                found = legacy_terms(head)
                terms.update(term for term in found if len(term[1]) <= MAX_TERM_VALUE)
            insert_audit_segments(
                conn,
                [
                    AuditSegment(
                        account_id=account,
                        first_time=min(times),
                        last_time=max(times),
                        count=len(rows),
                        data="\n".join(lines),
                        terms=frozenset(terms),
                    )
                ],
            )
            if len(rows) < _SEGMENT_ROWS:
                break
    _audit_events_v14.drop(conn)


def _audit_segment_tables(conn: Connection) -> None:
    for table in (audit_segments, audit_terms, audit_term_lists, audit_spool_marks):
        table.create(conn, checkfirst=True)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


MIGRATIONS: list[tuple[int, str, Migration]] = [
    (
        1,
        "accounts, access keys, users, groups, roles, policies, tags",
        _create(
            meta,
            accounts,
            access_keys,
            users,
            groups,
            group_members,
            roles,
            managed_policies,
            policy_versions,
            inline_policies,
            attachments,
            tags,
        ),
    ),
    (2, "virtual MFA devices", _create(mfa_devices)),
    (3, "issuer signing keys (outbound identity federation)", _create(issuer_keys)),
    (4, "IAM OpenID Connect providers (inbound web identity federation)", _create(oidc_providers)),
    (
        5,
        "SAML providers and the SAML assertion replay cache",
        _create(saml_providers, saml_assertion_ids),
    ),
    (
        6,
        "organizations, OUs, SCPs and RCPs",
        _create(organizations, org_units, org_policies, org_policy_targets),
    ),
    (7, "principals bound by unique id: access keys and trust policies", _bind_principals),
    (8, "trusted identity propagation on OIDC and SAML providers", _add_tip_columns),
    (
        9,
        "service-linked roles and their deletion tasks",
        _create(service_linked_roles, slr_deletion_tasks),
    ),
    (
        10,
        "login profiles, password history, account settings, credential reports",
        _create(login_profiles, password_history, account_settings, credential_reports),
    ),
    (
        11,
        "instance profiles, server and signing certificates, SSH public keys and "
        "service-specific credentials",
        _create(
            instance_profiles,
            server_certificates,
            signing_certificates,
            ssh_public_keys,
            service_specific_credentials,
        ),
    ),
    (
        12,
        "IAM Roles Anywhere: trust anchors, profiles, CRLs and subjects",
        _create(rolesanywhere_resources, rolesanywhere_subjects),
    ),
    (
        13,
        "the AWS Organizations API: accounts, settings, requests, handshakes, tags",
        _organizations_api,
    ),
    (14, "the audit trail (CloudTrail-format events)", _create(_audit_events_v14)),
    (
        15,
        "access advisor: service last accessed and its reports",
        _create(service_last_accessed, access_reports),
    ),
    (
        16,
        "instance registry: instances, join tokens, issued certificates, instance CA",
        _create(instances, instance_join_tokens, instance_certificates, instance_ca),
    ),
    (
        17,
        "audit trail: only the account/time and time indexes (cheaper inserts)",
        _drop_indexes(
            "ix_audit_events_account_name",
            "ix_audit_events_account_user",
            "ix_audit_events_account_key",
            "ix_audit_events_account_source",
            "ix_audit_events_account_resource",
        ),
    ),
    (
        18,
        "audit trail as segments: a row per batch of one account's events, their lookup "
        "terms, spool marks (was: a row per event)",
        _audit_as_segments,
    ),
    (
        19,
        "audit segments packed: their lines compressed in ``packed`` (was: text)",
        _add_columns(audit_segments, "packed"),
    ),
]
