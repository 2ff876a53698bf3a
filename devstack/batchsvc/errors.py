"""Errors of the local Batch service, each one a Batch REST error response."""

from __future__ import annotations


class BatchServiceError(Exception):
    """A request the service refuses, rendered as a Batch `BatchError` body."""

    status: int = 500
    code: str = "InternalError"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        values: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.values = dict(values or {})
        self.headers = dict(headers or {})


class BadRequest(BatchServiceError):
    """The request is malformed or names an invalid value (400)."""

    status = 400
    code = "InvalidRequestBody"


class AuthenticationFailed(BatchServiceError):
    """The SharedKey signature does not match (403)."""

    status = 403
    code = "AuthenticationFailed"


class NotFound(BatchServiceError):
    """The resource does not exist (404)."""

    status = 404
    code = "ResourceNotFound"


class Conflict(BatchServiceError):
    """The resource exists already or is in a state that forbids the operation (409)."""

    status = 409
    code = "Conflict"


class PreconditionFailed(BatchServiceError):
    """An If-Match / If-None-Match / If-(Un)Modified-Since condition failed (412)."""

    status = 412
    code = "ConditionNotMet"


class Injected(BatchServiceError):
    """A fault injected on purpose (throttling, server errors)."""


class ConfigurationError(Exception):
    """The service was started with an invalid option."""
