"""Reading a fan-out file into its members, checked: items of a JSON document, rows of a CSV
file, entries of a zip archive (read under the zip program's caps) or a range of numbers.
Declared fields are checked (type, min, max, pattern), content values that go into the
member's command line must be safe there, and the count must not pass `max_members`. Any
problem raises RejectedInput naming the item, row or entry and the reason."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from worker.archive import Archive, entry_where
from worker.errors import RejectedInput
from worker.options import CsvOptions

# What a command line may hold of a stranger's text (as the routes file's checks say).
SAFE_VALUE = re.compile(r"[A-Za-z0-9._/-]*")
MAX_VALUE_CHARS = 1024


@dataclass(frozen=True)
class PlanSpec:
    """The route's [route.fanout] as the function app passes it (DROPBATCH_FANOUT_SPEC)."""

    route: str
    source: str
    entries: re.Pattern[str] | None
    range: tuple[int, int] | None
    max_members: int
    allow_empty: bool
    fields: dict[str, dict[str, Any]]
    values: tuple[str, ...]
    command_line: frozenset[str]
    write_params: bool
    write_global: bool
    write_input: bool

    @classmethod
    def from_json(cls, text: str) -> PlanSpec:
        """The spec as the task environment carries it (DROPBATCH_FANOUT_SPEC)."""
        doc = json.loads(text)
        span = doc.get("range")
        pattern = doc.get("entries")
        return cls(
            route=str(doc["route"]),
            source=str(doc["source"]),
            entries=re.compile(pattern, re.IGNORECASE | re.DOTALL) if pattern else None,
            range=(int(span[0]), int(span[1])) if span else None,
            max_members=int(doc["max_members"]),
            allow_empty=bool(doc.get("allow_empty")),
            fields={str(k): dict(v) for k, v in (doc.get("fields") or {}).items()},
            values=tuple(doc.get("values") or ()),
            command_line=frozenset(doc.get("command_line") or ()),
            write_params=bool(doc.get("write_params")),
            write_global=bool(doc.get("write_global")),
            write_input=bool(doc.get("write_input")),
        )


@dataclass
class Member:
    """One member: its params (item, row or index), its entry, its placeholder values."""

    params: dict[str, Any] | None = None
    entry: zipfile.ZipInfo | None = None
    values: dict[str, str] = field(default_factory=dict)


@dataclass
class Members:
    """What a fan-out file plans: its members and the shared global document."""

    members: list[Member]
    global_doc: dict[str, Any] | None = None


def read_members(spec: PlanSpec, path: Path, csv_options: CsvOptions) -> Members:
    """The members of the file at `path` (not for entries: see `entry_members`)."""
    if spec.source == "items":
        found = _items(path)
    elif spec.source == "rows":
        found = Members(list(_rows(path, csv_options, spec)))
    elif spec.source == "range":
        start, stop = spec.range or (0, 0)
        found = Members([Member(params={"index": n}) for n in range(start, stop)])
    else:
        raise ValueError(f"source {spec.source!r} is read with entry_members")
    _check_count(spec, len(found.members), spec.source)
    for n, member in enumerate(found.members):
        where = f"items[{n}]" if spec.source == "items" else f"row {n + 1}"
        if spec.source != "range":
            _fields(spec, member, where, "item" if spec.source == "items" else "row")
    return found


def entry_members(spec: PlanSpec, archive: Archive, path: Path) -> Members:
    """One member per zip entry whose name matches the route's `entries` glob, in name
    order. The archive was inspected already (unsafe names, links, encryption, methods)."""
    assert spec.entries is not None
    with zipfile.ZipFile(path) as listing:
        infos = [
            i
            for i in listing.infolist()
            if not i.is_dir()
            and not i.orig_filename.startswith("__MACOSX/")
            and spec.entries.fullmatch(i.orig_filename)
        ]
    infos.sort(key=lambda i: i.orig_filename)
    _check_count(spec, len(infos), "entries")
    members = []
    for info in infos:
        member = Member(entry=info)
        if "entry" in spec.values:
            _put(spec, member, "entry", info.orig_filename, entry_where(info.orig_filename))
        members.append(member)
    return Members(members)


def _check_count(spec: PlanSpec, count: int, what: str) -> None:
    if count > spec.max_members:
        raise RejectedInput(
            f"{count} {what}, more than max_members ({spec.max_members}) of route {spec.route!r}"
        )
    if count == 0 and not spec.allow_empty:
        raise RejectedInput(
            f"no {what} to fan out over (set allow_empty = true in [route.fanout] to accept it)"
        )


def _items(path: Path) -> Members:
    try:
        doc = json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError) as e:
        raise RejectedInput(f"not a JSON document ({e})") from None
    if not isinstance(doc, dict):
        raise RejectedInput('expected a JSON object {"global": {...}, "items": [...]}')
    items = doc.get("items")
    if not isinstance(items, list):
        raise RejectedInput('"items" is missing or not a list')
    glob = doc.get("global", {})
    if not isinstance(glob, dict):
        raise RejectedInput('"global" is not a JSON object')
    members = []
    for n, item in enumerate(items):
        if not isinstance(item, dict):
            raise RejectedInput("expected a JSON object", f"items[{n}]")
        members.append(Member(params=item))
    return Members(members, glob)


def _rows(path: Path, options: CsvOptions, spec: PlanSpec) -> Iterator[Member]:
    try:
        text = path.read_bytes().decode(options.encoding)
    except UnicodeDecodeError as e:
        raise RejectedInput(f"not {options.encoding} text ({e})") from None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=options.delimiter)
    try:
        header = next(reader, None)
        if header is None:
            return
        header = [h.strip() for h in header]
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise RejectedInput(
                    f"{len(row)} fields, the header has {len(header)}", f"line {reader.line_num}"
                )
            yield Member(params=dict(zip(header, row, strict=True)))
    except csv.Error as e:
        raise RejectedInput(f"not valid CSV ({e})", f"line {reader.line_num}") from None


def _fields(spec: PlanSpec, member: Member, where: str, kind: str) -> None:
    params = member.params or {}
    for name, rule in spec.fields.items():
        if name not in params:
            raise RejectedInput(f"field {name!r} is missing", where)
        value = _typed(params[name], rule, f"field {name!r}", where, from_text=kind == "row")
        if f"{kind}.{name}" in spec.values:
            _put(spec, member, f"{kind}.{name}", value, where)


def _typed(value: Any, rule: dict[str, Any], what: str, where: str, *, from_text: bool) -> str:
    """The value as it is rendered, after its declared type, bounds and pattern held."""
    kind = rule.get("type", "str")
    number: float | None = None
    if kind == "int":
        if from_text and isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise RejectedInput(f"{what}: expected a whole number, got {value!r}", where)
        number = value
        text = str(value)
    elif kind == "float":
        if from_text and isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = float(value)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise RejectedInput(f"{what}: expected a number, got {value!r}", where)
        number = value
        text = repr(value) if isinstance(value, float) else str(value)
    else:
        if not isinstance(value, str):
            raise RejectedInput(f"{what}: expected a string, got {value!r}", where)
        text = value
    if number is not None and rule.get("min") is not None and number < rule["min"]:
        raise RejectedInput(f"{what}: {text} is below the minimum {rule['min']:g}", where)
    if number is not None and rule.get("max") is not None and number > rule["max"]:
        raise RejectedInput(f"{what}: {text} is above the maximum {rule['max']:g}", where)
    pattern = rule.get("pattern")
    if pattern is not None and not re.fullmatch(pattern, text):
        raise RejectedInput(f"{what}: {text!r} does not match the pattern {pattern!r}", where)
    return text


def _put(spec: PlanSpec, member: Member, name: str, value: str, where: str) -> None:
    if len(value) > MAX_VALUE_CHARS:
        raise RejectedInput(f"{{{name}}} is longer than {MAX_VALUE_CHARS} characters", where)
    if name in spec.command_line and not SAFE_VALUE.fullmatch(value):
        raise RejectedInput(
            f"{{{name}}} = {value!r} may not go into the command line "
            "(only letters, digits, '.', '_', '/' and '-')",
            where,
        )
    member.values[name] = value
