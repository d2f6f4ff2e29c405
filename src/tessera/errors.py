"""The one exception tree: every error Tessera answers carries its AWS wire code,
HTTP status and fault type. Operations raise these; one renderer in
``tessera.protocol`` writes the ``ErrorResponse``. Anything else that escapes an
operation is rendered as ``InternalFailure`` with no detail leaked."""

from __future__ import annotations

from typing import ClassVar


class TesseraError(Exception):
    """Base class. Subclasses set ``code``, ``status`` and ``sender_fault``."""

    code: ClassVar[str] = "InternalFailure"
    status: ClassVar[int] = 500
    sender_fault: ClassVar[bool] = False

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message

    @property
    def fault(self) -> str:
        return "Sender" if self.sender_fault else "Receiver"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class SenderError(TesseraError):
    sender_fault = True
    status = 400


# --- Query protocol / common errors -------------------------------------------------


class ValidationError(SenderError):
    code = "ValidationError"


class InvalidAction(SenderError):
    code = "InvalidAction"


class MissingAction(SenderError):
    code = "MissingAction"


class MissingParameter(SenderError):
    code = "MissingParameter"


class InvalidParameterValue(SenderError):
    code = "InvalidParameterValue"


class InvalidParameterCombination(SenderError):
    code = "InvalidParameterCombination"


class InvalidQueryParameter(SenderError):
    code = "InvalidQueryParameter"


class MalformedQueryString(SenderError):
    code = "MalformedQueryString"
    status = 404


class Throttling(SenderError):
    code = "Throttling"


class InternalFailure(TesseraError):
    code = "InternalFailure"
    status = 500
    sender_fault = False


class ServiceUnavailable(TesseraError):
    code = "ServiceUnavailable"
    status = 503
    sender_fault = False


# --- Authentication (SigV4) ---------------------------------------------------------


class IncompleteSignature(SenderError):
    code = "IncompleteSignature"
    status = 400


class SignatureDoesNotMatch(SenderError):
    code = "SignatureDoesNotMatch"
    status = 403


class InvalidClientTokenId(SenderError):
    code = "InvalidClientTokenId"
    status = 403

    def __init__(
        self, message: str = "The security token included in the request is invalid."
    ) -> None:
        super().__init__(message)


class MissingAuthenticationToken(SenderError):
    code = "MissingAuthenticationToken"
    status = 403

    def __init__(self, message: str = "Request is missing Authentication Token") -> None:
        super().__init__(message)


class ExpiredToken(SenderError):
    """An expired *session token* was used to sign the request."""

    code = "ExpiredToken"
    status = 403

    def __init__(
        self, message: str = "The security token included in the request is expired"
    ) -> None:
        super().__init__(message)


class RequestExpired(SenderError):
    code = "RequestExpired"


class AccessDenied(SenderError):
    code = "AccessDenied"
    status = 403

    def __init__(self, message: str = "", *, encoded_message: str | None = None) -> None:
        super().__init__(message)
        # the sealed decision details (sts.authz_messages); rendered as the
        # error's EncodedAuthorizationMessage element
        self.encoded_message = encoded_message


# --- STS modeled errors -------------------------------------------------------------


class MalformedPolicyDocument(SenderError):
    code = "MalformedPolicyDocument"


class PackedPolicyTooLarge(SenderError):
    code = "PackedPolicyTooLarge"


class InvalidContextAssertion(SenderError):
    code = "InvalidContextAssertion"  # 400: AssumeRole ProvidedContexts


class RegionDisabled(SenderError):
    code = "RegionDisabledException"
    status = 403


class ExpiredTokenException(SenderError):
    """An expired *web identity token or SAML assertion* (not a session token)."""

    code = "ExpiredTokenException"


class IDPRejectedClaim(SenderError):
    code = "IDPRejectedClaim"
    status = 403


class InvalidIdentityToken(SenderError):
    code = "InvalidIdentityToken"


class IDPCommunicationError(SenderError):
    code = "IDPCommunicationError"


class InvalidAuthorizationMessage(SenderError):
    code = "InvalidAuthorizationMessageException"


class OutboundWebIdentityFederationDisabled(SenderError):
    code = "OutboundWebIdentityFederationDisabledException"
    status = 403


class SessionDurationEscalation(SenderError):
    code = "SessionDurationEscalationException"
    status = 403


class JWTPayloadSizeExceeded(SenderError):
    code = "JWTPayloadSizeExceededException"


class InsufficientSessionLifetime(SenderError):
    code = "InsufficientSessionLifetime"


class InvalidSubjectCredentials(SenderError):
    code = "InvalidSubjectCredentials"


# --- IAM modeled errors -------------------------------------------------------------


class NoSuchEntity(SenderError):
    code = "NoSuchEntity"
    status = 404


class EntityAlreadyExists(SenderError):
    code = "EntityAlreadyExists"
    status = 409


class DeleteConflict(SenderError):
    code = "DeleteConflict"
    status = 409


class LimitExceeded(SenderError):
    code = "LimitExceeded"
    status = 409


class InvalidInput(SenderError):
    code = "InvalidInput"


class ConcurrentModification(SenderError):
    code = "ConcurrentModification"
    status = 409


class EntityTemporarilyUnmodifiable(SenderError):
    code = "EntityTemporarilyUnmodifiable"
    status = 409


class UnmodifiableEntity(SenderError):
    code = "UnmodifiableEntity"


class PolicyNotAttachable(SenderError):
    code = "PolicyNotAttachable"


class InvalidAuthenticationCode(SenderError):
    code = "InvalidAuthenticationCode"
    status = 403


class FeatureEnabled(SenderError):
    code = "FeatureEnabled"
    status = 409


class FeatureDisabled(SenderError):
    code = "FeatureDisabled"
    status = 404


class OpenIdIdpCommunicationError(SenderError):
    code = "OpenIdIdpCommunicationError"


class ServiceFailure(TesseraError):
    code = "ServiceFailure"
    status = 500
    sender_fault = False


# --- IAM login profiles, password policy and account reports (iam-account) -------------


class PasswordPolicyViolation(SenderError):
    code = "PasswordPolicyViolation"


class InvalidUserType(SenderError):
    code = "InvalidUserType"


class ReportNotPresent(SenderError):
    code = "ReportNotPresent"
    status = 410


class ReportExpired(SenderError):
    code = "ReportExpired"
    status = 410


class ReportInProgress(SenderError):
    code = "ReportInProgress"
    status = 404


# --- IAM credentials of other kinds (instance profiles, certificates, SSH keys,
# service-specific credentials) ---------------------------------------------------


class MalformedCertificate(SenderError):
    code = "MalformedCertificate"


class KeyPairMismatch(SenderError):
    code = "KeyPairMismatch"


class InvalidCertificate(SenderError):
    code = "InvalidCertificate"


class DuplicateCertificate(SenderError):
    code = "DuplicateCertificate"
    status = 409


class InvalidPublicKey(SenderError):
    code = "InvalidPublicKey"


class UnrecognizedPublicKeyEncoding(SenderError):
    code = "UnrecognizedPublicKeyEncoding"


class DuplicateSSHPublicKey(SenderError):
    code = "DuplicateSSHPublicKey"


class ServiceNotSupported(SenderError):
    code = "NotSupportedService"
    status = 404
