"""Which dropped blob names the pipeline takes. A name travels into the task id, the output
and log paths (`<name>/<file key>/…`), log lines and the status page; one that cannot get
there intact is rejected at intake with the reason, before any task exists."""

from __future__ import annotations

import unicodedata

from worker.contract import MAX_BLOB_NAME_CHARS, MAX_DROPPED_NAME_CHARS

MAX_NAME_CHARS = MAX_DROPPED_NAME_CHARS
# Not characters at all (XML, and so blob listings, cannot carry them).
_NONCHARACTERS = frozenset("\ufffe\uffff")


def name_problem(name: str) -> str | None:
    """Why `name` cannot travel through the pipeline intact, or None when it can."""
    for ch in name:
        if unicodedata.category(ch) == "Cc" or ch in _NONCHARACTERS:
            return f"control character U+{ord(ch):04X} in the name; rename the file without it"
    if any(part in (".", "..") for part in name.split("/")):
        return (
            "a '.' or '..' path segment in the name: storage would resolve it to another name;"
            " rename the file"
        )
    if len(name) > MAX_NAME_CHARS:
        return (
            f"name of {len(name)} characters; its results and logs are named"
            f" <name>/<file key>/… and would pass storage's {MAX_BLOB_NAME_CHARS}-character"
            f" limit: keep names to {MAX_NAME_CHARS} characters"
        )
    return None


def shown_name(name: str, limit: int = 100) -> str:
    """The name for a reason or a log line: quoted and escaped, long ones cut."""
    return repr(name if len(name) <= limit else name[: limit - 1] + "…")
