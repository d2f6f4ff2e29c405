"""Which modules declare operations (``tessera.registry``), imported in one place,
and the operation table a runtime serves."""

from __future__ import annotations

from collections.abc import Collection

from tessera.registry import Operation, OperationTable, Requirement, declared, operation_table


def all_operations() -> tuple[Operation, ...]:
    """Every declared STS and IAM operation, optional services' ones included."""
    # imported here: the service modules are only needed once a runtime is built
    from tessera.audit import lookup  # noqa: F401
    from tessera.iam import (  # noqa: F401
        authorization_details,
        credential_report,
        last_accessed,
        mfa,
        ops_account,
        ops_instance_profiles,
        ops_login,
        ops_oidc,
        ops_policies,
        ops_roles,
        ops_saml,
        ops_server_certificates,
        ops_service_credentials,
        ops_service_linked,
        ops_signing_certificates,
        ops_ssh_keys,
        ops_users,
        outbound,
        simulate,
        unsupported,
    )
    from tessera.instances import ops as instance_ops  # noqa: F401
    from tessera.instances import ops_admin as instance_admin_ops  # noqa: F401
    from tessera.organizations import (  # noqa: F401
        ops_admin,
        ops_organization,
        ops_structure,
        root_access,
    )
    from tessera.organizations import ops_policies as org_ops_policies  # noqa: F401
    from tessera.organizations import unsupported as org_unsupported  # noqa: F401
    from tessera.rolesanywhere import (  # noqa: F401
        ops_anchors,
        ops_crls,
        ops_profiles,
        ops_subjects_tags,
        session,
    )
    from tessera.sts import (  # noqa: F401
        assume,
        authz_messages,
        operations,
        saml,
        scoped,
        tokens,
        web_identity,
        web_identity_federation,
    )
    from tessera.sts import unsupported as sts_unsupported  # noqa: F401

    return declared()


def build_table(available: Collection[Requirement]) -> OperationTable:
    """The table of every operation a runtime with the optional services
    ``available`` serves."""
    return operation_table(all_operations(), available)
