"""Errors of the dropbatch pipeline: one root, a shallow tree, retryable or not."""

from __future__ import annotations


class DropbatchError(Exception):
    """Root of every error the pipeline raises on purpose."""

    retryable: bool = False


class SettingError(DropbatchError):
    """A setting is missing or malformed; start-up stops and names it."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"setting {name}: {reason}")
        self.name = name
        self.reason = reason


class TransientError(DropbatchError):
    """A service was unavailable, throttled or timed out; the same call may succeed later."""

    retryable = True


class PermanentError(DropbatchError):
    """A call failed in a way that retrying cannot fix (bad request, missing permission)."""


class ConflictError(TransientError):
    """Someone else changed the document first; read it again and retry."""


class NotFoundError(PermanentError):
    """The resource does not exist (or no longer does)."""


class InvalidDocumentError(PermanentError):
    """A stored document failed validation when read."""


class BadRequestError(PermanentError):
    """A request's parameter is malformed; the message names the parameter and the reason."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"parameter {name}: {reason}")
        self.name = name
        self.reason = reason
