"""Globs on blob names: `*` stays in one path segment, `**` crosses segments, `?` is one
character, matching ignores case. `**/` also matches no folder at all (`a/**/b` matches
`a/b`)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

_NOT_SUPPORTED = "[]{}\\"


def check_glob(glob: str) -> str:
    """Raise ValueError saying what is wrong with `glob`; return it unchanged if it is fine."""
    if not glob:
        raise ValueError("expected a glob such as **.csv or reports/*.json, not an empty string")
    if glob.startswith("/"):
        raise ValueError("globs match blob names, which never start with /")
    if "***" in glob:
        raise ValueError("*** is not a glob; use * (one folder level) or ** (any depth)")
    bad = sorted({c for c in glob if c in _NOT_SUPPORTED})
    if bad:
        raise ValueError(
            f"{' '.join(bad)} not supported in globs (only *, ** and ?); "
            "list several globs in match instead"
        )
    return glob


def compile_glob(glob: str) -> re.Pattern[str]:
    """The regular expression that fully matches the blob names `glob` selects."""
    out: list[str] = []
    i = 0
    while i < len(glob):
        if glob.startswith("**/", i) and (i == 0 or glob[i - 1] == "/"):
            out.append("(?:.*/)?")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif glob[i] == "*":
            out.append("[^/]*")
            i += 1
        elif glob[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(glob[i]))
            i += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


Glob = Annotated[str, AfterValidator(check_glob)]
