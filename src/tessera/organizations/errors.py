"""The Organizations exceptions, by AWS's exception name (the JSON ``__type``),
HTTP 400 unless noted. ``ConstraintViolationException``, ``InvalidInputException``
and ``HandshakeConstraintViolationException`` carry a ``Reason`` member, which the
JSON renderer writes from ``fields``. Messages are AWS's where we have seen them
([C]) and otherwise written in AWS's style ([I])."""

from __future__ import annotations

from typing import ClassVar

from tessera.errors import SenderError


class OrganizationsError(SenderError):
    """Base of every Organizations exception (``tessera org`` prints the message)."""

    default_message: ClassVar[str] = ""

    def __init__(self, message: str = "") -> None:
        super().__init__(message or self.default_message)
        self.fields: dict[str, str] = {}


class _WithReason(OrganizationsError):
    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(message)
        self.reason = reason
        self.fields = {"Reason": reason}


class ConstraintViolation(_WithReason):
    code = "ConstraintViolationException"


class InvalidInput(_WithReason):
    code = "InvalidInputException"


class HandshakeConstraintViolation(_WithReason):
    code = "HandshakeConstraintViolationException"


def _simple(name: str, message: str) -> type[OrganizationsError]:
    return type(name, (OrganizationsError,), {"code": name, "default_message": message})


NotInUse = _simple(
    "AWSOrganizationsNotInUseException", "Your account is not a member of an organization."
)
AlreadyInOrganization = _simple(
    "AlreadyInOrganizationException", "The AWS account is already a member of an organization."
)
AccountNotFound = _simple(
    "AccountNotFoundException", "You specified an account that doesn't exist."
)
AccountAlreadyClosed = _simple(
    "AccountAlreadyClosedException", "You have already closed the account."
)
AccountAlreadyRegistered = _simple(
    "AccountAlreadyRegisteredException",
    "The provided account is already a delegated administrator for your organization.",
)
AccountNotRegistered = _simple(
    "AccountNotRegisteredException",
    "The provided account is not a delegated administrator for your organization.",
)
ChildNotFound = _simple(
    "ChildNotFoundException",
    "We can't find an organizational unit (OU) or AWS account with the ChildId that you specified.",
)
ParentNotFound = _simple(
    "ParentNotFoundException", "We can't find a root or OU with the ParentId that you specified."
)
SourceParentNotFound = _simple(
    "SourceParentNotFoundException",
    "We can't find a source root or OU with the ParentId that you specified.",
)
DestinationParentNotFound = _simple(
    "DestinationParentNotFoundException",
    "We can't find the destination container (a root or OU) with the ParentId that you specified.",
)
DuplicateAccount = _simple(
    "DuplicateAccountException", "That account is already present in the specified destination."
)
OuNotFound = _simple(
    "OrganizationalUnitNotFoundException",
    "We can't find an OU with the OrganizationalUnitId that you specified.",
)
OuNotEmpty = _simple(
    "OrganizationalUnitNotEmptyException",
    "The specified OU is not empty. Move all accounts to another root or to other OUs, "
    "remove all child OUs, and try the operation again.",
)
DuplicateOu = _simple(
    "DuplicateOrganizationalUnitException", "An OU with the same name already exists."
)
OrganizationNotEmpty = _simple(
    "OrganizationNotEmptyException",
    "The organization isn't empty. To delete an organization, you must first remove all "
    "accounts except the management account.",
)
RootNotFound = _simple(
    "RootNotFoundException", "We can't find a root with the RootId that you specified."
)
PolicyNotFound = _simple(
    "PolicyNotFoundException", "We can't find a policy with the PolicyId that you specified."
)
PolicyInUse = _simple(
    "PolicyInUseException",
    "The policy is attached to one or more entities. You must detach it from all roots, "
    "OUs, and accounts before performing this operation.",
)
PolicyNotAttached = _simple(
    "PolicyNotAttachedException",
    "The policy isn't attached to the specified target in the specified root.",
)
DuplicatePolicy = _simple("DuplicatePolicyException", "A policy with the same name already exists.")
DuplicatePolicyAttachment = _simple(
    "DuplicatePolicyAttachmentException",
    "The selected policy is already attached to the specified target.",
)
MalformedPolicyDocument = _simple(
    "MalformedPolicyDocumentException",
    "The provided policy document doesn't meet the requirements of the specified policy type.",
)
PolicyTypeNotEnabled = _simple(
    "PolicyTypeNotEnabledException",
    "The specified policy type isn't currently enabled in this root. You can't attach "
    "policies of the specified type to entities in a root until you enable that type in "
    "the root.",
)
PolicyTypeAlreadyEnabled = _simple(
    "PolicyTypeAlreadyEnabledException", "The specified policy type is already enabled."
)
PolicyTypeNotAvailable = _simple(
    "PolicyTypeNotAvailableForOrganizationException",
    "You can't use a policy type that isn't available in your organization.",
)
TargetNotFound = _simple(
    "TargetNotFoundException",
    "We can't find a root, OU, account, or email address with the TargetId that you specified.",
)
HandshakeNotFound = _simple(
    "HandshakeNotFoundException",
    "We can't find a handshake with the HandshakeId that you specified.",
)
HandshakeAlreadyInState = _simple(
    "HandshakeAlreadyInStateException",
    "The specified handshake is already in the requested state.",
)
InvalidHandshakeTransition = _simple(
    "InvalidHandshakeTransitionException",
    "You can't perform the operation on the handshake in its current state.",
)
DuplicateHandshake = _simple(
    "DuplicateHandshakeException",
    "A handshake with the same action and target already exists.",
)
CreateAccountStatusNotFound = _simple(
    "CreateAccountStatusNotFoundException",
    "We can't find an create account request with the CreateAccountRequestId that you specified.",
)
MasterCannotLeave = _simple(
    "MasterCannotLeaveOrganizationException",
    "You can't remove a management account from an organization. If you want the management "
    "account to become a member account in another organization, you must first delete the "
    "current organization of the current management account.",
)


# --- IAM's centralized root access operations (Query protocol; the errors have no
# awsQueryError trait, so the wire code is the shape name, HTTP 400)


class _IamOrgError(SenderError):
    default_message: ClassVar[str] = ""

    def __init__(self, message: str = "") -> None:
        super().__init__(message or self.default_message)


class OrganizationNotFound(_IamOrgError):
    code = "OrganizationNotFoundException"
    default_message = (
        "The request was rejected because no organization is associated with your account."
    )


class OrganizationNotInAllFeaturesMode(_IamOrgError):
    code = "OrganizationNotInAllFeaturesModeException"
    default_message = (
        "The request was rejected because your organization does not have All features enabled."
    )


class ServiceAccessNotEnabled(_IamOrgError):
    code = "ServiceAccessNotEnabledException"
    default_message = (
        "The request was rejected because trusted access is not enabled for IAM in AWS "
        "Organizations."
    )


class AccountNotManagementOrDelegatedAdministrator(_IamOrgError):
    code = "AccountNotManagementOrDelegatedAdministratorException"
    default_message = (
        "The request was rejected because the account making the request is not the "
        "management account or delegated administrator account for centralized root access."
    )


class CallerIsNotManagementAccount(_IamOrgError):
    code = "CallerIsNotManagementAccountException"
    default_message = (
        "The request was rejected because the account making the request is not the "
        "management account for the organization."
    )
