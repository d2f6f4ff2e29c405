"""Roles Anywhere ``CreateSession`` (``POST /sessions``): role credentials for a
request signed with an X.509 certificate's key.

Order of checks (each refusal is an ``AccessDeniedException``, 403, unless noted):
1. the AWS4-X509 signature (``tessera.rolesanywhere.signing``: scope, ±15 minutes,
   serial in ``Credential=``, the key's signature over SigV4's string to sign);
2. the trust anchor named by ``trustAnchorArn`` exists, is enabled and is in the
   signature's region;
3. the certificate path (``tessera.rolesanywhere.x509chain``): chain to one of the
   anchor's CA certificates, dates, CA:false + digitalSignature on the leaf,
   SHA-256+ everywhere, not revoked by an enabled CRL of the anchor;
4. the signature was not used before (a replay of an accepted request within its
   15-minute window is refused — Tessera's choice, stricter than a plain SigV4 check);
5. the profile exists in the anchor's account and region, is enabled and lists the
   role, and the role still has the unique id the profile bound;
6. the role's trust policy allows the service principal
   ``rolesanywhere.amazonaws.com`` to ``sts:AssumeRole`` (and ``sts:TagSession``
   when the certificate maps to tags, ``sts:SetSourceIdentity`` when it has a CN),
   with ``aws:SourceArn`` = the trust anchor ARN, ``aws:SourceAccount``,
   ``aws:PrincipalTag/x509…`` and ``aws:RequestTag/x509…`` keys.

The session is issued through ``tessera.sts.assume.issue_role_session`` (the same
code path as AssumeRole): name = the certificate serial in lower-case hex (or
``roleSessionName`` when the profile accepts it), source identity = the subject CN
(when it is a valid source identity), principal tags from the profile's attribute
mappings, session policies = the profile's inline and managed policies, duration
900–43,200 s, at most the profile's and the role's maximum (default: the profile's).
Every attempt whose certificate chained to the anchor is recorded on its subject
(ListSubjects/GetSubject), failures marked."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final

from tessera import ids
from tessera.errors import AccessDenied
from tessera.iam.model import Role
from tessera.iam.policy import PrincipalInfo
from tessera.operation import ContextValue, OperationContext
from tessera.protocol.query import Params
from tessera.registry import operation
from tessera.rolesanywhere import signing, x509chain
from tessera.rolesanywhere.errors import AccessDeniedException, ValidationException
from tessera.rolesanywhere.mappings import certificate_tags, subject_cn
from tessera.rolesanywhere.model import (
    SERVICE_PRINCIPAL,
    CredentialRecord,
    Crl,
    Profile,
    Subject,
    TrustAnchor,
    parse_resource_arn,
)
from tessera.rolesanywhere.x509chain import (
    CertificateRejected,
    certificate_pem,
    load_ca_bundle,
    load_crl,
)
from tessera.sts.assume import RoleSessionRequest, issue_role_session, parse_role_arn

if TYPE_CHECKING:
    from tessera.protocol.inputs import CreateSessionMembers

MIN_SECONDS: Final = 900
MAX_SECONDS: Final = 43_200
_SESSION_NAME_RE: Final = re.compile(r"[A-Za-z0-9_+=,.@-]{2,64}")
_SOURCE_IDENTITY_RE: Final = re.compile(r"[A-Za-z0-9_+=,.@-]{2,64}")
#: CRLs of one account and region read per session (pages of 100)
_MAX_CRLS: Final = 1000
_REPLAY_NAMESPACE: Final = "rolesanywhere-create-session:"
# [I] AWS's texts for these refusals are not published; ours say what failed
UNTRUSTED: Final = "Untrusted certificate. Insufficient certificate."
PROFILE_DISABLED: Final = "The profile is disabled or does not exist."
ROLE_NOT_IN_PROFILE: Final = "The role is not listed in the profile."
REPLAYED: Final = "This signed request has already been used; sign a new request."


def _arguments(params: Params[CreateSessionMembers]) -> dict[str, str]:
    """profileArn, roleArn, trustAnchorArn (query string or JSON body: the protocol
    layer merges them) and roleSessionName; instanceProperties refused."""
    params.refuse(
        "instanceProperties",
        "Tessera does not record instance properties (profiles cannot require them).",
    )
    out = {
        "profileArn": params.req_str("profileArn"),
        "roleArn": params.req_str("roleArn"),
        "trustAnchorArn": params.req_str("trustAnchorArn"),
    }
    name = params.get_str("roleSessionName")
    if name is not None:
        out["roleSessionName"] = name
    return out


def _crls(ctx: OperationContext, anchor: TrustAnchor) -> list[Crl]:
    found: list[Crl] = []
    after: str | None = None
    for _ in range(_MAX_CRLS // 100):
        page = ctx.store.list_ra_crls(anchor.account_id, anchor.region, after=after, limit=100)
        found += [c for c in page if c.enabled and c.trust_anchor_arn == anchor.arn]
        if len(page) < 100:
            break
        after = page[-1].crl_id
    return found


def _record(
    ctx: OperationContext, anchor: TrustAnchor, signed: signing.SignedRequest, failed: bool
) -> Subject:
    leaf = signed.leaf
    return ctx.store.record_ra_credential(
        anchor.account_id,
        anchor.region,
        leaf.subject.rfc4514_string(),
        CredentialRecord(
            seen_at=ctx.now.replace(microsecond=0),
            serial_number=str(leaf.serial_number),
            issuer=leaf.issuer.rfc4514_string(),
            failed=failed,
            certificate_pem=certificate_pem(leaf),
        ),
        new_subject_id=ids.uuid4_text(),
    )


def _seconds(requested: int | None, profile: Profile, role: Role) -> int:
    seconds = profile.duration_seconds if requested is None else requested
    if not MIN_SECONDS <= seconds <= MAX_SECONDS:
        raise ValidationException(
            f"durationSeconds must be between {MIN_SECONDS} and {MAX_SECONDS}."
        )
    if seconds > profile.duration_seconds:
        raise ValidationException(
            "The requested durationSeconds exceeds the durationSeconds of the profile."
        )
    if seconds > role.max_session_duration:
        raise ValidationException(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
        )
    return seconds


def _profile_and_role(
    ctx: OperationContext, anchor: TrustAnchor, profile_arn: str, role_arn: str
) -> tuple[Profile, Role]:
    ref = parse_resource_arn(profile_arn)
    if ref is None or ref.kind != "profile":
        raise ValidationException(f"Invalid profileArn: {profile_arn}")
    profile = None
    if ref.account_id == anchor.account_id and ref.region == anchor.region:
        profile = ctx.store.get_ra_profile(ref.account_id, ref.region, ref.resource_id)
    if profile is None or not profile.enabled:
        raise AccessDeniedException(PROFILE_DISABLED)
    bound = dict(profile.roles).get(role_arn)
    try:
        role_ref = parse_role_arn(role_arn)
    except Exception:  # malformed: not in any profile either
        role_ref = None
    role = None
    if bound and role_ref is not None:
        role = ctx.store.get_role(role_ref.account_id, role_ref.name)
    if role is None or role_ref is None or role.path != role_ref.path or role.role_id != bound:
        raise AccessDeniedException(ROLE_NOT_IN_PROFILE)
    return profile, role


@operation("rolesanywhere", "CreateSession", action=None, signed=False)
def create_session(
    ctx: OperationContext, params: Params[CreateSessionMembers]
) -> dict[str, object]:
    args = _arguments(params)
    if ctx.http is None:
        raise AccessDeniedException("CreateSession needs the signed HTTP request.")
    requested_seconds = params.get_int("durationSeconds")
    now = ctx.now
    try:
        signed = signing.verify_request(ctx.http, now)
    except (signing.SignatureRejected, CertificateRejected) as exc:
        raise AccessDeniedException(exc.message) from None

    anchor_ref = parse_resource_arn(args["trustAnchorArn"])
    if anchor_ref is None or anchor_ref.kind != "trust-anchor":
        raise ValidationException(f"Invalid trustAnchorArn: {args['trustAnchorArn']}")
    anchor = ctx.store.get_ra_trust_anchor(
        anchor_ref.account_id, anchor_ref.region, anchor_ref.resource_id
    )
    if anchor is None or not anchor.enabled or anchor.region != signed.region:
        raise AccessDeniedException(UNTRUSTED)

    try:
        x509chain.validate(
            signed.leaf,
            signed.intermediates,
            load_ca_bundle(anchor.certificate_data),
            [load_crl(c.crl_der) for c in _crls(ctx, anchor)],
            now,
        )
    except CertificateRejected as exc:
        if exc.anchored:
            _record(ctx, anchor, signed, failed=True)
        raise AccessDeniedException(exc.message) from None

    fresh = ctx.store.use_saml_assertion(
        _REPLAY_NAMESPACE + anchor.arn,
        signed.signature,
        signed.request_time + timedelta(minutes=16),
        now,
    )
    if not fresh:
        raise AccessDeniedException(REPLAYED)

    try:
        profile, role = _profile_and_role(ctx, anchor, args["profileArn"], args["roleArn"])
        session_name = args.get("roleSessionName")
        if session_name is not None:
            if not profile.accept_role_session_name:
                raise ValidationException("The profile does not accept a roleSessionName.")
            if not _SESSION_NAME_RE.fullmatch(session_name):
                raise ValidationException(
                    "roleSessionName must be 2-64 characters of [A-Za-z0-9_+=,.@-]."
                )
        else:
            session_name = format(signed.leaf.serial_number, "x")
        seconds = _seconds(requested_seconds, profile, role)
        tags = certificate_tags(signed.leaf, profile.attribute_mappings)
        cn = subject_cn(signed.leaf)
        source_identity = cn if cn is not None and _SOURCE_IDENTITY_RE.fullmatch(cn) else None

        keys: dict[str, ContextValue] = {
            "aws:SourceArn": anchor.arn,
            "aws:SourceAccount": anchor.account_id,
            "sts:RoleSessionName": session_name,
        }
        if source_identity is not None:
            keys["sts:SourceIdentity"] = source_identity
        for tag in tags:
            keys[f"aws:PrincipalTag/{tag.key}"] = tag.value
        request_tags = {t.key: t.value for t in tags}
        principal = PrincipalInfo(
            arn=SERVICE_PRINCIPAL, account=None, kind="service", service=SERVICE_PRINCIPAL
        )
        authz = ctx.authorizer
        authz.authorize_federated(
            ctx, "sts:AssumeRole", role, principal, request_keys=keys, request_tags=request_tags
        )
        if tags:
            authz.authorize_federated(
                ctx, "sts:TagSession", role, principal, request_keys=keys, request_tags=request_tags
            )
        if source_identity is not None:
            authz.authorize_federated(
                ctx,
                "sts:SetSourceIdentity",
                role,
                principal,
                request_keys=keys,
                request_tags=request_tags,
            )
        result = issue_role_session(
            ctx,
            role,
            RoleSessionRequest(
                session_name=session_name,
                seconds=seconds,
                policy=profile.session_policy,
                policy_arns=profile.managed_policy_arns,
                tags=tuple(tags),
                source_identity=source_identity,
            ),
        )
    except (AccessDenied, AccessDeniedException, ValidationException):
        _record(ctx, anchor, signed, failed=True)
        raise
    subject = _record(ctx, anchor, signed, failed=False)

    creds: Any = result["Credentials"]
    user: Any = result["AssumedRoleUser"]
    entry: dict[str, object] = {
        "assumedRoleUser": {"arn": user["Arn"], "assumedRoleId": user["AssumedRoleId"]},
        "credentials": {
            "accessKeyId": creds["AccessKeyId"],
            "secretAccessKey": creds["SecretAccessKey"],
            "sessionToken": creds["SessionToken"],
            "expiration": creds["Expiration"].strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        "packedPolicySize": int(str(result.get("SessionTokenUtilization", 0))),
        "roleArn": role.arn,
    }
    if source_identity is not None:
        entry["sourceIdentity"] = source_identity
    ctx.response_status = 201
    return {"credentialSet": [entry], "subjectArn": subject.arn}
