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


class VanishedError(NotFoundError):
    """The dropped file was deleted or replaced before its task could be created."""


class InvalidDocumentError(PermanentError):
    """A stored document failed validation when read."""


class RoutesFileError(SettingError):
    """The routes file is unreadable or invalid: names the file, line, route or pool, field."""

    def __init__(
        self, setting: str, file: str, line: int | None, subject: str, field: str, reason: str
    ) -> None:
        place = f"{file}:{line}" if line else file
        head = f"{place} {subject}" if subject else place
        super().__init__(setting, ": ".join([head, *([field] if field else []), reason]))
        self.file = file
        self.line = line
        self.subject = subject
        self.field = field
        self.detail = reason


class UnsafeValueError(PermanentError):
    """A value from an uploaded file may not go into a command line; the file is rejected."""

    def __init__(self, placeholder: str, value: str) -> None:
        shown = value if len(value) <= 60 else value[:57] + "..."
        super().__init__(
            f"{{{placeholder}}} is {shown!r}, which may not go into a command line "
            "(allowed: letters, digits and . _ / -)"
        )
        self.placeholder = placeholder
        self.value = value


class BadRequestError(PermanentError):
    """A request's parameter is malformed; the message names the parameter and the reason."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"parameter {name}: {reason}")
        self.name = name
        self.reason = reason
