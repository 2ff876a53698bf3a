"""Placeholders in commands, environment values and paths: `{name}`, `{var.x}`, `{row.x}`;
`{{` and `}}` are literal braces. Parsing is checked at start-up; rendering is pure."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from batch_core.errors import UnsafeValueError

# Every route's tasks may use these.
FILE_NAMES = (
    "name", "base", "stem", "ext", "dir", "container", "file_key", "key12", "route", "results",
)  # fmt: skip
# Fan-out member tasks also get these (entry/row/item depending on the fan-out source).
MEMBER_NAMES = ("index", "count", "member")
MERGE_NAMES = ("count",)
# Values taken from what strangers upload (the blob name, zip entries, rows, items): in a
# command line they must match SAFE_VALUE, or the file (or member) is rejected.
UNTRUSTED = frozenset({"name", "base", "stem", "ext", "dir", "results", "entry"})
UNTRUSTED_PREFIXES = ("row.", "item.")
SAFE_VALUE = re.compile(r"[A-Za-z0-9._/-]*")
_NAME = re.compile(r"[a-z_][a-z0-9_]*(?:\.[A-Za-z0-9_-]+)?")


@dataclass(frozen=True)
class Placeholder:
    """One `{…}` in a template: `name` is the whole text between the braces."""

    name: str


Part = str | Placeholder


def parse(template: str) -> tuple[Part, ...]:
    """Split `template` into literal text and placeholders; ValueError when a brace is
    unbalanced or a `{…}` holds something that is not a placeholder name."""
    parts: list[Part] = []
    text: list[str] = []
    i = 0
    while i < len(template):
        c = template[i]
        if template.startswith(("{{", "}}"), i):
            text.append(c)
            i += 2
        elif c == "{":
            end = template.find("}", i + 1)
            inner = template[i + 1 : end] if end > 0 else ""
            if end < 0 or not _NAME.fullmatch(inner):
                shown = template[i : end + 1] if end > 0 else template[i : i + 20]
                raise ValueError(
                    f"'{shown}' is not a placeholder; write {{{{ and }}}} for literal braces"
                )
            if text:
                parts.append("".join(text))
                text = []
            parts.append(Placeholder(inner))
            i = end + 1
        elif c == "}":
            raise ValueError("unbalanced '}'; write }} for a literal brace")
        else:
            text.append(c)
            i += 1
    if text:
        parts.append("".join(text))
    return tuple(parts)


def names_in(template: str) -> tuple[str, ...]:
    """The placeholder names the template uses, in order."""
    return tuple(p.name for p in parse(template) if isinstance(p, Placeholder))


def check(
    template: str, allowed: Iterable[str], hints: Mapping[str, str], default: str | None = None
) -> None:
    """ValueError naming the first placeholder of `template` not in `allowed`; `hints` maps a
    name (or a prefix such as "var.") to the reason it is not available here, `default` is
    the reason for any other name (else the allowed names are listed)."""
    allowed = set(allowed)
    for name in names_in(template):
        if name in allowed:
            continue
        prefix = name.split(".", 1)[0] + "." if "." in name else name
        hint = hints.get(name) or hints.get(prefix) or default
        if hint is None:
            listed = ", ".join("{" + n + "}" for n in sorted(allowed))
            hint = f"expected one of {listed}"
        raise ValueError(f"unknown placeholder {{{name}}}: {hint}")


def is_untrusted(name: str) -> bool:
    """Whether the placeholder's value comes from the dropped file (its name, metadata) and so is
    never trusted."""
    return name in UNTRUSTED or name.startswith(UNTRUSTED_PREFIXES)


def render(template: str, values: Mapping[str, str], *, command_line: bool = False) -> str:
    """Fill the placeholders of `template` from `values`. With `command_line`, a value that
    comes from the uploaded file (its name or content) must match `[A-Za-z0-9._/-]*`, else
    UnsafeValueError: a command line is not a place for strangers' text."""
    out: list[str] = []
    for part in parse(template):
        if isinstance(part, str):
            out.append(part)
            continue
        if part.name not in values:
            raise KeyError(f"no value for placeholder {{{part.name}}}")
        value = values[part.name]
        if command_line and is_untrusted(part.name) and not SAFE_VALUE.fullmatch(value):
            raise UnsafeValueError(part.name, value)
        out.append(value)
    return "".join(out)
