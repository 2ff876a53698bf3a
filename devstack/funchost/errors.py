"""Errors of the local Functions host: one root, a shallow tree."""

from __future__ import annotations


class FuncHostError(Exception):
    """Root of every error the local Functions host raises on purpose."""


class StartupError(FuncHostError):
    """The host cannot start; the message names the cause."""


class SettingMissingError(StartupError):
    """An app setting the app or a binding needs is not set."""

    def __init__(self, name: str, needed_by: str) -> None:
        super().__init__(f"app setting {name!r} is not set (needed by {needed_by})")
        self.name = name
        self.needed_by = needed_by


class AppLoadError(StartupError):
    """``function_app`` could not be imported or holds no usable FunctionApp."""


class ConfigError(StartupError):
    """host.json, the settings file or a binding holds a value the host cannot use."""


class ScheduleError(ConfigError):
    """A timer schedule is neither a valid six-field NCRONTAB expression nor a TimeSpan."""

    def __init__(self, expression: str, reason: str) -> None:
        super().__init__(f"invalid timer schedule {expression!r}: {reason}")
        self.expression = expression
        self.reason = reason
