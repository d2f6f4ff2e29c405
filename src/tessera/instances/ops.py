"""The calls an instance's agent makes (REST-JSON, in the ``rolesanywhere`` model,
paths under ``/tessera/instances/``; declared ``signed=False``: they authenticate
the request themselves):

* ``POST /tessera/instances/join`` (JoinInstance) — ``{"joinToken", "csr"}``: the
  token is consumed atomically (single use; an unknown, used or expired token is
  refused with ``AccessDeniedException`` saying which); the CSR must be signed by
  an EC P-256/P-384 or RSA ≥ 2048 key, and its subject is ignored. Answers the
  instance certificate, the CA certificate and what the agent serves as metadata.
* ``POST /tessera/instances/certificate`` (RenewInstanceCertificate) — ``{"csr"}``
  signed ``AWS4-X509-{ECDSA,RSA}-SHA256`` by the instance's current, still-valid
  certificate (``tessera.rolesanywhere.signing``, scope service
  ``rolesanywhere``): a new 24 h certificate for the CSR's key.
* ``POST /tessera/instances/session`` (CreateInstanceSession) — signed the same
  way, optional ``{"durationSeconds"}`` (900-21600, default 6 h, at most the
  role's maximum): the instance profile role's credentials, answered in
  CreateSession's shape plus the instance profile's ARN and id.

For the two signed calls the instance is derived from the certificate only: the
signature verifies with the certificate's key, the certificate chains to the
instance CA (dates, CA:false, digitalSignature, strong hashes:
``tessera.rolesanywhere.x509chain``), its URI SAN and CN name the instance, this
server recorded issuing that serial to that instance, the instance exists in the
account the SAN names, is enabled, and the signature's region is the instance's;
a signature is accepted once. Then, for credentials: the instance profile still
has the unique id the instance was bound to, holds a role, and the role's trust
policy allows the service principal ``ec2.amazonaws.com`` to ``sts:AssumeRole``
(with ``aws:SourceAccount`` and ``aws:SourceArn`` = the instance ARN). The session
is named by the instance id (``assumed-role/<role>/i-…``) and carries the
instance's compute context (``ec2:SourceInstanceArn``, the network label, the
private IPv4, role delivery ``"2.0"``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tessera.auth.principal import ComputeContext
from tessera.iam.instance_profile_model import InstanceProfile
from tessera.iam.ops_instance_profiles import profile_role
from tessera.iam.policy import PrincipalInfo
from tessera.instances import model
from tessera.instances.ca import (
    CsrRejected,
    InstanceCa,
    certificate_instance,
    existing_ca,
    issue_certificate,
    load_csr,
)
from tessera.operation import ContextValue, OperationContext
from tessera.protocol.query import Params
from tessera.registry import operation
from tessera.rolesanywhere import signing, x509chain
from tessera.rolesanywhere.errors import AccessDeniedException, ValidationException
from tessera.rolesanywhere.x509chain import CertificateRejected
from tessera.store.instances import InstanceRecord, JoinOutcome
from tessera.sts.assume import RoleSessionRequest, issue_role_session

if TYPE_CHECKING:
    from tessera.protocol.inputs import (
        CreateInstanceSessionMembers,
        JoinInstanceMembers,
        RenewInstanceCertificateMembers,
    )

EC2_PRINCIPAL: Final = "ec2.amazonaws.com"
ROLE_DELIVERY: Final = "2.0"
DEFAULT_SECONDS: Final = 6 * 3600
MIN_SECONDS: Final = 900
MAX_SECONDS: Final = 6 * 3600
_REPLAY_NAMESPACE: Final = "tessera-instance:"

TOKEN_UNKNOWN: Final = "The join token is not valid."
TOKEN_USED: Final = "The join token was already used; create a new instance to enrol again."
TOKEN_EXPIRED: Final = "The join token has expired; create a new instance to enrol again."
UNTRUSTED: Final = "Untrusted certificate: it is not a current instance certificate."
NO_INSTANCE: Final = "The instance does not exist."
DISABLED: Final = "The instance is disabled."
REPLAYED: Final = "This signed request has already been used; sign a new request."
NO_ROLE: Final = "The instance profile of the instance does not exist or holds no role."


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _pem(cert: Any) -> str:
    return str(cert.public_bytes(serialization.Encoding.PEM).decode("ascii"))


def _issue(
    ctx: OperationContext, ca: InstanceCa, csr_pem: str, inst: InstanceRecord
) -> dict[str, object]:
    try:
        csr = load_csr(csr_pem)
    except CsrRejected as exc:
        raise ValidationException(str(exc)) from None
    key = csr.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):  # load_csr checked
        raise ValidationException("The CSR's key must be EC or RSA.")
    now = ctx.now.replace(microsecond=0)
    cert = issue_certificate(ca, key, inst, now)
    if not ctx.store.record_instance_certificate(
        inst.instance_id, str(cert.serial_number), now, cert.not_valid_after_utc
    ):
        raise AccessDeniedException(NO_INSTANCE)
    return {
        "certificate": _pem(cert),
        "caCertificate": ca.pem,
        "caFingerprint": ca.fingerprint,
        "notAfter": _iso(cert.not_valid_after_utc),
    }


def _profile(ctx: OperationContext, inst: InstanceRecord) -> InstanceProfile | None:
    profile = ctx.store.get_instance_profile(inst.account_id, inst.profile_name)
    if profile is None or profile.profile_id != inst.profile_id:
        return None
    return profile


@operation("rolesanywhere", "JoinInstance", action=None, signed=False)
def join_instance(ctx: OperationContext, params: Params[JoinInstanceMembers]) -> dict[str, object]:
    token = params.req_str("joinToken")
    csr_pem = params.req_str("csr")
    if len(token) > model.MAX_TOKEN_CHARS:
        raise AccessDeniedException(TOKEN_UNKNOWN)
    # validate the CSR before spending the token: a typo must not burn it
    try:
        load_csr(csr_pem)
    except CsrRejected as exc:
        raise ValidationException(str(exc)) from None
    ca = existing_ca(ctx.store)
    if ca is None:
        raise AccessDeniedException(TOKEN_UNKNOWN)
    outcome, instance_id = ctx.store.consume_join_token(model.token_hash(token), ctx.now)
    if outcome is JoinOutcome.USED:
        raise AccessDeniedException(TOKEN_USED)
    if outcome is JoinOutcome.EXPIRED:
        raise AccessDeniedException(TOKEN_EXPIRED)
    inst = ctx.store.get_instance(instance_id) if instance_id is not None else None
    if outcome is not JoinOutcome.CONSUMED or inst is None:
        raise AccessDeniedException(TOKEN_UNKNOWN)
    if inst.state != "enabled":
        raise AccessDeniedException(DISABLED)
    issued = _issue(ctx, ca, csr_pem, inst)
    profile = _profile(ctx, inst)
    doc: dict[str, object] = {
        "instanceId": inst.instance_id,
        "accountId": inst.account_id,
        "region": inst.region,
        "availabilityZone": model.availability_zone(inst.region),
        "instanceArn": model.instance_arn(inst.region, inst.account_id, inst.instance_id),
        "instanceProfileId": inst.profile_id,
        "created": _iso(inst.created_at),
        **issued,
    }
    if profile is not None:
        doc["instanceProfileArn"] = profile.arn
    if inst.private_ipv4:
        doc["privateIpv4"] = inst.private_ipv4
    if inst.network:
        doc["network"] = inst.network
    return doc


@dataclass(frozen=True)
class _Caller:
    instance: InstanceRecord
    ca: InstanceCa


def _authenticate(ctx: OperationContext) -> _Caller:
    """The enabled instance whose current certificate signed the request."""
    if ctx.http is None:
        raise AccessDeniedException("This call needs the signed HTTP request.")
    now = ctx.now
    try:
        signed = signing.verify_request(ctx.http, now)
    except (signing.SignatureRejected, CertificateRejected) as exc:
        raise AccessDeniedException(exc.message) from None
    ca = existing_ca(ctx.store)
    if ca is None:
        raise AccessDeniedException(UNTRUSTED)
    try:
        x509chain.validate(signed.leaf, signed.intermediates, [ca.certificate], [], now)
    except CertificateRejected as exc:
        raise AccessDeniedException(exc.message) from None
    named = certificate_instance(signed.leaf)
    if named is None:
        raise AccessDeniedException(UNTRUSTED)
    account_id, instance_id = named
    if not ctx.store.instance_certificate_issued(instance_id, str(signed.leaf.serial_number)):
        raise AccessDeniedException(UNTRUSTED)
    inst = ctx.store.get_instance(instance_id)
    if inst is None or inst.account_id != account_id:
        raise AccessDeniedException(NO_INSTANCE)
    if inst.state != "enabled":
        raise AccessDeniedException(DISABLED)
    if signed.region != inst.region:
        raise AccessDeniedException(
            f"Sign the request for the instance's region {inst.region}, not {signed.region}."
        )
    fresh = ctx.store.use_saml_assertion(
        _REPLAY_NAMESPACE + inst.instance_id,
        signed.signature,
        signed.request_time + timedelta(minutes=16),
        now,
    )
    if not fresh:
        raise AccessDeniedException(REPLAYED)
    return _Caller(inst, ca)


@operation("rolesanywhere", "RenewInstanceCertificate", action=None, signed=False)
def renew_instance_certificate(
    ctx: OperationContext, params: Params[RenewInstanceCertificateMembers]
) -> dict[str, object]:
    csr_pem = params.req_str("csr")
    caller = _authenticate(ctx)
    return _issue(ctx, caller.ca, csr_pem, caller.instance)


@operation("rolesanywhere", "CreateInstanceSession", action=None, signed=False)
def create_instance_session(
    ctx: OperationContext, params: Params[CreateInstanceSessionMembers]
) -> dict[str, object]:
    requested = params.get_int("durationSeconds")
    inst = _authenticate(ctx).instance
    profile = _profile(ctx, inst)
    role = profile_role(ctx.store, profile) if profile is not None else None
    if profile is None or role is None:
        raise AccessDeniedException(NO_ROLE)
    seconds = min(DEFAULT_SECONDS, role.max_session_duration) if requested is None else requested
    if not MIN_SECONDS <= seconds <= MAX_SECONDS:
        raise ValidationException(
            f"durationSeconds must be between {MIN_SECONDS} and {MAX_SECONDS}."
        )
    if seconds > role.max_session_duration:
        raise ValidationException(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
        )
    arn = model.instance_arn(inst.region, inst.account_id, inst.instance_id)
    keys: dict[str, ContextValue] = {
        "aws:SourceAccount": inst.account_id,
        "aws:SourceArn": arn,
        "sts:RoleSessionName": inst.instance_id,
    }
    principal = PrincipalInfo(
        arn=EC2_PRINCIPAL, account=None, kind="service", service=EC2_PRINCIPAL
    )
    ctx.authorizer.authorize_federated(ctx, "sts:AssumeRole", role, principal, request_keys=keys)
    result = issue_role_session(
        ctx,
        role,
        RoleSessionRequest(
            session_name=inst.instance_id,
            seconds=seconds,
            compute=ComputeContext(
                instance_arn=arn,
                source_vpc=inst.network,
                private_ipv4=inst.private_ipv4,
                role_delivery=ROLE_DELIVERY,
            ),
        ),
    )
    creds: Any = result["Credentials"]
    user: Any = result["AssumedRoleUser"]
    ctx.response_status = 201
    return {
        "credentialSet": [
            {
                "assumedRoleUser": {"arn": user["Arn"], "assumedRoleId": user["AssumedRoleId"]},
                "credentials": {
                    "accessKeyId": creds["AccessKeyId"],
                    "secretAccessKey": creds["SecretAccessKey"],
                    "sessionToken": creds["SessionToken"],
                    "expiration": _iso(creds["Expiration"]),
                },
                "roleArn": role.arn,
            }
        ],
        "instanceId": inst.instance_id,
        "instanceProfileArn": profile.arn,
        "instanceProfileId": profile.profile_id,
    }
