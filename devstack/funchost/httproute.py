"""Route templates of HTTP triggers, matched as the Functions host (ASP.NET routing) does.

A template is segments split by ``/``. A segment is literal text (matched ignoring case),
parameters, or both (``{name}.{ext}``). A parameter is ``{name}``, optional ``{name?}`` or
with a default ``{name=value}`` (last segments only), a catch-all ``{*rest}`` or ``{**rest}``
(last segment, matches the rest of the path, slashes included), and may carry constraints:
``{id:int}``, ``{id:int:min(1)}``, ``{code:regex(^[a-z]{{3}}$)}``. Routes are tried in the
host's precedence: literal segments before parameters, constrained before free ones,
catch-alls last. Values are percent-decoded.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote

from devstack.funchost.errors import ConfigError

_PARAMETER = re.compile(r"\{([^{}]*(?:\{\{[^{}]*\}\}[^{}]*)*)\}")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)


def _integer(text: str, bounds: tuple[int, int]) -> bool:
    return re.fullmatch(r"-?\d+", text) is not None and bounds[0] <= int(text) <= bounds[1]


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return text.strip().lower() not in ("nan", "inf", "-inf", "infinity", "-infinity")


def _guid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _datetime(text: str) -> bool:
    try:
        dt.datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


_SIMPLE: dict[str, Callable[[str], bool]] = {
    "int": lambda v: _integer(v, _INT32),
    "long": lambda v: _integer(v, _INT64),
    "bool": lambda v: v.lower() in ("true", "false"),
    "alpha": lambda v: re.fullmatch(r"[A-Za-z]+", v) is not None,
    "guid": _guid,
    "double": _number,
    "float": _number,
    "decimal": _number,
    "datetime": _datetime,
    "required": lambda v: v != "",
}


def _constraint(text: str, template: str) -> Callable[[str], bool]:
    """One constraint (``int``, ``min(1)``, ``regex(...)``) as a test of a value."""
    name, _, rest = text.partition("(")
    name = name.strip().lower()
    if not rest:
        if name in _SIMPLE:
            return _SIMPLE[name]
        raise ConfigError(f"route {template!r}: unknown constraint {text!r}")
    if not rest.endswith(")"):
        raise ConfigError(f"route {template!r}: constraint {text!r} lacks its closing ')'")
    argument = rest[:-1]
    if name == "regex":
        pattern = re.compile(argument.replace("{{", "{").replace("}}", "}"), re.IGNORECASE)
        return lambda v: pattern.search(v) is not None
    try:
        numbers = [int(a) for a in argument.split(",")]
    except ValueError:
        raise ConfigError(f"route {template!r}: constraint {text!r} needs whole numbers") from None
    checks: dict[str, Callable[[str], bool]] = {
        "minlength": lambda v: len(v) >= numbers[0],
        "maxlength": lambda v: len(v) <= numbers[0],
        "length": lambda v: numbers[0] <= len(v) <= numbers[-1],
        "min": lambda v: _integer(v, _INT64) and int(v) >= numbers[0],
        "max": lambda v: _integer(v, _INT64) and int(v) <= numbers[0],
        "range": lambda v: _integer(v, _INT64) and numbers[0] <= int(v) <= numbers[-1],
    }
    if name not in checks:
        raise ConfigError(f"route {template!r}: unknown constraint {text!r}")
    return checks[name]


def _split_constraints(body: str) -> list[str]:
    """``id:int:regex(a:b)`` → ``["id", "int", "regex(a:b)"]`` (colons inside () stay)."""
    parts, depth, current = [], 0, ""
    for char in body:
        if char == ":" and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += {"(": 1, ")": -1}.get(char, 0)
        current += char
    parts.append(current)
    return parts


@dataclass(frozen=True)
class Parameter:
    name: str
    optional: bool
    default: str | None
    catch_all: bool
    checks: tuple[Callable[[str], bool], ...]


@dataclass(frozen=True)
class RouteTemplate:
    """A parsed route template: a regex over the path after the route prefix, the
    parameters' checks, and its precedence (lower is tried first)."""

    text: str
    pattern: re.Pattern[str]
    parameters: tuple[Parameter, ...]
    precedence: tuple[int, ...]

    @classmethod
    def parse(cls, text: str) -> RouteTemplate:
        template = text.strip().strip("/")
        segments = template.split("/") if template else []
        regex, parameters, ranks = "", [], []
        for index, segment in enumerate(segments):
            last = index == len(segments) - 1
            if not segment:
                raise ConfigError(f"route {text!r} has an empty segment")
            pieces, found = _segment(segment, text, last)
            parameters.extend(found)
            whole = len(found) == 1 and pieces == [None]
            optional = whole and (found[0].optional or found[0].catch_all)
            body = "".join(
                re.escape(piece) if piece is not None else _group(found.pop(0)) for piece in pieces
            )
            regex += f"(?:/{body})?" if optional else f"/{body}"
            ranks.append(_rank(segment, whole, parameters[-1] if whole else None))
        names = [p.name.lower() for p in parameters]
        if len(set(names)) != len(names):
            raise ConfigError(f"route {text!r} uses a parameter name twice")
        pattern = re.compile(f"^{regex}$", re.IGNORECASE | re.DOTALL)
        return cls(template, pattern, tuple(parameters), tuple(ranks))

    def match(self, path: str) -> dict[str, str] | None:
        """The route values if `path` (after the prefix, not decoded) matches, else None."""
        path = "/" + path.strip("/") if path.strip("/") else ""
        found = self.pattern.match(path)
        if found is None:
            return None
        values: dict[str, str] = {}
        for parameter in self.parameters:
            raw = found.group(_group_name(parameter))
            if raw is None or raw == "":
                if parameter.default is not None:
                    values[parameter.name] = parameter.default
                elif not (parameter.optional or parameter.catch_all):
                    return None
                continue
            value = unquote(raw)
            if not all(check(value) for check in parameter.checks):
                return None
            values[parameter.name] = value
        return values


def _segment(segment: str, text: str, last: bool) -> tuple[list[str | None], list[Parameter]]:
    """A segment as literal pieces and parameter slots (None), and its parameters."""
    pieces: list[str | None] = []
    parameters: list[Parameter] = []
    position = 0
    for found in _PARAMETER.finditer(segment):
        if found.start() > position:
            pieces.append(segment[position : found.start()])
        pieces.append(None)
        parameters.append(_parameter(found.group(1), text, last))
        position = found.end()
    if position < len(segment):
        pieces.append(segment[position:])
    if any(p is not None and ("{" in p or "}" in p) for p in pieces):
        raise ConfigError(f"route {text!r}: unbalanced braces in segment {segment!r}")
    if len(parameters) > 1 and any(p.optional or p.catch_all for p in parameters):
        raise ConfigError(f"route {text!r}: an optional or catch-all parameter must be alone")
    return pieces, parameters


def _parameter(body: str, text: str, last: bool) -> Parameter:
    catch_all = body.startswith("*")
    body = body.lstrip("*")
    default: str | None = None
    # `{id?}`, `{id:int?}`, `{id=7}` and `{id:int=7}`: the marker ends the parameter.
    optional = body.endswith("?")
    head, *constraints = _split_constraints(body.removesuffix("?"))
    if "=" in head:
        head, default = head.split("=", 1)
    elif constraints and "=" in constraints[-1] and not constraints[-1].endswith(")"):
        constraints[-1], default = constraints[-1].split("=", 1)
    name = head
    if not _NAME.match(name):
        raise ConfigError(f"route {text!r}: {name!r} is not a parameter name")
    if (catch_all or optional or default is not None) and not last:
        raise ConfigError(f"route {text!r}: {{{body}}} may only be the last segment")
    checks = tuple(_constraint(c, text) for c in constraints if c)
    return Parameter(name, optional or default is not None, default, catch_all, checks)


def _group_name(parameter: Parameter) -> str:
    return f"p_{parameter.name}"


def _group(parameter: Parameter) -> str:
    body = ".*" if parameter.catch_all else "[^/]+"
    return f"(?P<{_group_name(parameter)}>{body})"


def _rank(segment: str, whole: bool, parameter: Parameter | None) -> int:
    if "{" not in segment:
        return 1
    if not whole or parameter is None:
        return 2  # literal text and parameters in one segment
    if parameter.catch_all:
        return 5
    return 3 if parameter.checks else 4
