"""Small value types of the routes file: durations, tolerances, names, globs, sources."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, PlainValidator

_DURATION_PART = re.compile(r"(\d+)([smhd])")
_DURATION = re.compile(r"(?:\d+[smhd])+")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
DURATION_HELP = 'expected a duration such as "30s", "15m", "1h", "2h30m" or "1d"'
ROUTE_NAME = re.compile(r"[a-z0-9-]{1,24}")
POOL_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
RESERVED_ENV_PREFIXES = ("AZ_BATCH_", "DROPBATCH_")


class FieldError(ValueError):
    """Raised by a whole-table check to blame one field of that table (`loc` below it)."""

    def __init__(self, loc: str | int | tuple[str | int, ...], reason: str) -> None:
        super().__init__(reason)
        self.loc = loc if isinstance(loc, tuple) else (loc,)
        self.reason = reason


class Model(BaseModel):
    """Base of every table in the routes file: unknown fields are errors, no coercion."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def parse_duration(value: Any) -> dt.timedelta:
    """`"30s"`, `"15m"`, `"1h"`, `"1d"`, or a sum of them such as `"1h30m"`."""
    if not isinstance(value, str) or not _DURATION.fullmatch(value.strip()):
        raise ValueError(DURATION_HELP)
    total = dt.timedelta()
    for number, unit in _DURATION_PART.findall(value):
        total += dt.timedelta(**{_UNITS[unit]: int(number)})
    return total


def _positive(value: dt.timedelta) -> dt.timedelta:
    if value <= dt.timedelta():
        raise ValueError("expected a duration above zero")
    return value


Duration = Annotated[dt.timedelta, PlainValidator(parse_duration)]
PositiveDuration = Annotated[
    dt.timedelta, PlainValidator(parse_duration), AfterValidator(_positive)
]


class Tolerance(Model):
    """How many fan-out members may end failed or rejected before the file fails."""

    count: int | None = None
    percent: float | None = None

    def allowed(self, members: int) -> int:
        """The number of members allowed to fail out of `members` (a percentage rounds down)."""
        if self.percent is not None:
            return int(members * self.percent // 100)
        return self.count or 0


def parse_tolerance(value: Any) -> Tolerance:
    """A tolerance from a count (0 or more) or a percentage such as "5%"; ValueError otherwise."""
    if isinstance(value, Tolerance):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return Tolerance(count=value)
    if isinstance(value, str) and re.fullmatch(r"\d+(\.\d+)?%", value.strip()):
        percent = float(value.strip()[:-1])
        if percent <= 100:
            return Tolerance(percent=percent)
    raise ValueError('expected a count (0 or more) or a percentage such as "5%"')


TolerateValue = Annotated[Tolerance, PlainValidator(parse_tolerance)]


def check_route_name(value: str) -> str:
    """The name, if it is 1 to 24 of a-z, 0-9 and -; else ValueError."""
    if not ROUTE_NAME.fullmatch(value):
        raise ValueError("expected 1 to 24 of a-z, 0-9 and -")
    return value


def check_relative_path(value: str) -> str:
    """A path inside a task's working directory or a container: no leading '/', no '..'."""
    if not value or value.startswith("/") or "\\" in value or ".." in value.split("/"):
        raise ValueError("expected a relative path (no leading /, no .., no backslash)")
    return value


def check_env_names(value: dict[str, str]) -> dict[str, str]:
    """The variables, if each name is a variable name that Batch and dropbatch do not reserve; else
    FieldError naming it."""
    for name in value:
        if not ENV_NAME.fullmatch(name):
            raise FieldError(name, "not a variable name (letters, digits and _)")
        if name.startswith(RESERVED_ENV_PREFIXES):
            raise FieldError(
                name, "reserved: AZ_BATCH_* and DROPBATCH_* are set by Batch and dropbatch"
            )
    return value


RouteName = Annotated[str, AfterValidator(check_route_name)]
RelativePath = Annotated[str, AfterValidator(check_relative_path)]
Env = Annotated[dict[str, str], AfterValidator(check_env_names)]
