"""Line numbers for messages: tomllib gives none, so the raw text is scanned for the header
lines where each `[[route]]` and `[pool.<alias>]` table starts."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_ROUTE = re.compile(r"\s*\[\[\s*route\s*\]\]")
_POOL = re.compile(r"""\s*\[\s*pool\s*\.\s*(?:"([^"]*)"|'([^']*)'|([A-Za-z0-9_-]+))\s*[\].]""")
_TABLE = re.compile(r"\s*\[\s*([A-Za-z0-9_-]+)\s*\]")
_KEY = re.compile(r"\s*([A-Za-z0-9_-]+)\s*[=.]")


@dataclass
class Lines:
    """Where tables start: the N-th `[[route]]`, each pool alias, each other top-level name."""

    routes: list[int] = field(default_factory=list)
    pools: dict[str, int] = field(default_factory=dict)
    top: dict[str, int] = field(default_factory=dict)

    def of(self, loc: tuple[str | int, ...]) -> int:
        """The line to name for a problem at `loc` (1 when nothing better is known)."""
        head = loc[0] if loc else None
        if (
            head == "route"
            and len(loc) > 1
            and isinstance(loc[1], int)
            and loc[1] < len(self.routes)
        ):
            return self.routes[loc[1]]
        if head == "pool" and len(loc) > 1 and str(loc[1]) in self.pools:
            return self.pools[str(loc[1])]
        return self.top.get(str(head), 1)


def scan(text: str) -> Lines:
    """Where each route and pool table (and each top-level table) of the routes file starts."""
    found = Lines()
    in_string: str | None = None
    in_table = False
    for number, line in enumerate(text.splitlines(), start=1):
        if in_string is None:
            if _ROUTE.match(line):
                found.routes.append(number)
                found.top.setdefault("route", number)
                in_table = True
            elif m := _POOL.match(line):
                found.pools.setdefault(next(g for g in m.groups() if g is not None), number)
                found.top.setdefault("pool", number)
                in_table = True
            elif m := _TABLE.match(line):
                found.top.setdefault(m.group(1), number)
                in_table = True
            elif not in_table and (m := _KEY.match(line)):
                found.top.setdefault(m.group(1), number)
        in_string = _string_state(line, in_string)
    return found


def _string_state(line: str, in_string: str | None) -> str | None:
    """Whether a multi-line string is still open after `line` (a rough count of quotes)."""
    for quote in ("'''", '"""'):
        if in_string in (None, quote) and line.count(quote) % 2 == 1:
            return None if in_string == quote else quote
    return in_string
