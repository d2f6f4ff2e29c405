"""The Roles Anywhere exceptions (REST-JSON): AWS's exception names and HTTP
statuses for this service. The renderer writes ``{"__type": code, "message": …}``."""

from __future__ import annotations

from tessera.errors import SenderError


class ValidationException(SenderError):
    code = "ValidationException"
    status = 400


class ResourceNotFoundException(SenderError):
    code = "ResourceNotFoundException"
    status = 404


class AccessDeniedException(SenderError):
    """CreateSession's refusals (untrusted, expired or revoked certificates, a
    disabled anchor or profile, a role the profile does not list …)."""

    code = "AccessDeniedException"
    status = 403


class TooManyTagsException(SenderError):
    code = "TooManyTagsException"
    status = 400
