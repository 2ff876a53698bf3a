"""Reading the routes file: TOML → models → cross-table checks → a Routebook, or one
RoutesFileError naming the file, the line of the route or pool, the field and what is
allowed."""

from __future__ import annotations

import difflib
import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from batch_core.errors import RoutesFileError
from batch_core.routebook.book import Routebook
from batch_core.routebook.builtin import builtin_routebook
from batch_core.routebook.checks import Loc, problems
from batch_core.routebook.lines import scan
from batch_core.routebook.model import RoutesFile
from batch_core.routebook.pools import DEFAULT_POOL, Pool
from batch_core.routebook.values import FieldError

ROUTES_FILE = "DROPBATCH_ROUTES_FILE"
DEFAULT_ROUTES_FILE = "routes.toml"
_TOML_AT = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
_REASONS = {
    "missing": "required",
    "string_type": "expected a string",
    "int_type": "expected a whole number",
    "float_type": "expected a number",
    "bool_type": "expected true or false",
    "list_type": "expected a list",
    "dict_type": "expected a table",
    "model_type": "expected a table",
    "model_attributes_type": "expected a table",
}


def load_routes(
    path: str | os.PathLike[str] | None,
    *,
    shown_as: str | None = None,
    worker_settings: Mapping[str, str] | None = None,
) -> Routebook:
    """The routebook in `path` (None: the built-in routes, whose csv/zip options come from
    `worker_settings`). Raises RoutesFileError; messages name the file as `shown_as`
    (default: the path as given)."""
    if path is None:
        return builtin_routebook(worker_settings)
    shown = shown_as or os.fspath(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RoutesFileError(ROUTES_FILE, shown, None, "", "", "file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise RoutesFileError(ROUTES_FILE, shown, None, "", "", f"cannot be read: {e}") from None
    return parse_routes(text, shown)


def load_routes_from_env(
    environ: Mapping[str, str],
    app_root: str | os.PathLike[str],
    worker_settings: Mapping[str, str] | None = None,
) -> Routebook:
    """The routebook the app runs with: `DROPBATCH_ROUTES_FILE` (relative to `app_root`),
    else `routes.toml` in `app_root` if there is one, else the built-in routes."""
    setting = environ.get(ROUTES_FILE, "").strip()
    root = Path(app_root)
    path = root / (setting or DEFAULT_ROUTES_FILE)
    if not setting and not path.exists():
        return builtin_routebook(worker_settings)
    shown = os.path.relpath(path, root) if path.is_relative_to(root) else os.fspath(path)
    return load_routes(path, shown_as=shown, worker_settings=worker_settings)


def parse_routes(text: str, shown_as: str = DEFAULT_ROUTES_FILE) -> Routebook:
    """The routebook in `text`, the content of a routes file shown in messages as `shown_as`."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        message = str(e)
        at = _TOML_AT.search(message)
        where = f"{at.group(1)}:{at.group(2)}" if at else None
        reason = _TOML_AT.sub("", message)
        raise RoutesFileError(
            ROUTES_FILE,
            f"{shown_as}:{where}" if where else shown_as,
            None,
            "",
            "",
            f"not valid TOML: {reason}",
        ) from None
    lines = scan(text)
    try:
        doc = RoutesFile.model_validate(raw)
    except ValidationError as e:
        loc, reason = _first(e)
        raise _error(shown_as, lines.of(loc), raw, loc, reason) from None
    for loc, reason in problems(doc):
        raise _error(shown_as, lines.of(loc), raw, loc, reason)
    pools = dict(doc.pool)
    used = {r.pool or doc.defaults.pool for r in doc.route}
    if DEFAULT_POOL not in pools and DEFAULT_POOL in used:
        pools[DEFAULT_POOL] = Pool()
    return Routebook(tuple(doc.route), pools, doc.defaults, shown_as)


def _first(error: ValidationError) -> tuple[Loc, str]:
    """The first problem pydantic found, as (location, what is allowed)."""
    errors = error.errors()
    detail = errors[0]
    # A misspelt field is also reported missing; the misspelling is the news.
    for other in errors:
        if other["type"] == "extra_forbidden" and other["loc"][:-1] == detail["loc"][:-1]:
            detail = other
            break
    loc: Loc = tuple(detail["loc"])
    kind = detail["type"]
    ctx = detail.get("ctx") or {}
    cause = ctx.get("error")
    if isinstance(cause, FieldError):
        return (*loc, *cause.loc), cause.reason
    if kind == "value_error":
        return loc, str(cause) if cause is not None else detail["msg"]
    if kind == "literal_error":
        return loc, "expected " + str(ctx["expected"]).replace("'", "")
    if kind == "extra_forbidden":
        allowed = _fields_at(RoutesFile, loc[:-1])
        given = str(loc[-1])
        # "latitude_column" for "latitude": a name that holds an allowed one is the best guess.
        close = sorted((a for a in allowed if a in given), key=len)[-1:]
        close = close or difflib.get_close_matches(given, allowed, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        return loc, f"unknown field{hint}" + (
            f"; expected one of {', '.join(allowed)}" if allowed else ""
        )
    if kind in ("greater_than_equal", "less_than_equal"):
        word = "at least" if kind == "greater_than_equal" else "at most"
        bound = ctx.get("ge", ctx.get("le"))
        return loc, f"expected {word} {bound}"
    if kind in ("too_short", "string_too_short"):
        return loc, "may not be empty"
    return loc, _REASONS.get(kind, detail["msg"])


def _fields_at(model: type[BaseModel], loc: Loc) -> list[str]:
    """The field names of the table at `loc`, for an "unknown field" message."""
    current: Any = model
    for part in loc:
        current = _table_type(current)
        if isinstance(part, str) and isinstance(current, type) and issubclass(current, BaseModel):
            info = current.model_fields.get(part)
            current = info.annotation if info else None
        else:  # a list index or a dict key: the element type
            args = [a for a in typing.get_args(current) if a is not type(None)]
            current = args[-1] if args else None
    table = _table_type(current)
    if isinstance(table, type) and issubclass(table, BaseModel):
        return list(table.model_fields)
    return []


def _table_type(annotation: Any) -> Any:
    """`X | None` → X, `Annotated[X, …]` → X."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = args[0] if len(args) == 1 else annotation
            if len(args) != 1:
                return annotation
        else:
            return annotation


def _error(shown: str, line: int, raw: dict[str, Any], loc: Loc, reason: str) -> RoutesFileError:
    subject, rest = _subject(raw, loc)
    return RoutesFileError(ROUTES_FILE, shown, line, subject, _path(rest), reason)


def _subject(raw: dict[str, Any], loc: Loc) -> tuple[str, Loc]:
    """("route 'hexgrid'" | "pool 'x'" | "", the location below it)."""
    if len(loc) >= 2 and loc[0] == "route" and isinstance(loc[1], int):
        routes = raw.get("route")
        entry = routes[loc[1]] if isinstance(routes, list) and loc[1] < len(routes) else None
        name = entry.get("name") if isinstance(entry, dict) else None
        return (f"route '{name}'" if isinstance(name, str) else f"route #{loc[1] + 1}"), loc[2:]
    if len(loc) >= 2 and loc[0] == "pool":
        return f"pool '{loc[1]}'", loc[2:]
    return "", loc


def _path(loc: Loc) -> str:
    """("task", "outputs", 0, "upload") → "task.outputs[0].upload"."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
