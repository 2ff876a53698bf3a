"""status.json: the runs `dropbatch status --json` prints, filtered and paged.

Paging is by continuation token (keyset on `updated_at`, newest first), so a deep page costs
what the first one does. Runs updated at the same moment as the last one returned are
remembered in the token, so ties are neither repeated nor skipped.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from batch_core.clock import iso
from batch_core.errors import BadRequestError
from batch_core.ledger import RunFilter
from batch_core.ports import LedgerPort
from batch_core.states import RunState

ROUTE_NAME = re.compile(r"[a-z0-9-]{1,24}")

DEFAULT_LIMIT = 100
MAX_LIMIT = 500
MAX_QUERY = 200
PARAMETERS = ("state", "route", "q", "limit", "continuation", "code")


@dataclass(frozen=True)
class Cursor:
    """Where the previous page ended: its last `updated_at`, and the runs returned with it."""

    updated_at: str
    seen: tuple[str, ...]

    def token(self) -> str:
        """The cursor as the opaque continuation token status.json returns."""
        raw = json.dumps({"u": self.updated_at, "s": list(self.seen)}, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def parse(cls, token: str) -> Cursor:
        """The cursor of a continuation token; BadRequestError naming `continuation` for any other
        text."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            doc = json.loads(raw)
            updated_at, seen = doc["u"], doc["s"]
        except (binascii.Error, ValueError, TypeError, KeyError):
            raise BadRequestError(
                "continuation", "is not a token this API returned; start from the first page"
            ) from None
        if not isinstance(updated_at, str) or not all(isinstance(s, str) for s in seen):
            raise BadRequestError("continuation", "is not a token this API returned")
        return cls(updated_at, tuple(seen))


@dataclass(frozen=True)
class RunQuery:
    """One page request of status.json: which runs, how many, and from where."""

    match: RunFilter
    limit: int = DEFAULT_LIMIT
    cursor: Cursor | None = None

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> RunQuery:
        """Read ?state=, ?route=, ?q=, ?limit= and ?continuation=; BadRequestError names the
        first parameter that is off and why."""
        unknown = sorted(set(params) - set(PARAMETERS))
        if unknown:
            raise BadRequestError(unknown[0], f"is not known; use {', '.join(PARAMETERS[:-1])}")
        state = params.get("state") or None
        if state is not None and state not in {s.value for s in RunState}:
            raise BadRequestError("state", f"{state!r} is not one of {_values(RunState)}")
        route = params.get("route") or None
        if route is not None and not ROUTE_NAME.fullmatch(route):
            raise BadRequestError("route", f"{route!r} is not a route name ([a-z0-9-], ≤24)")
        q = params.get("q") or None
        if q is not None and len(q) > MAX_QUERY:
            raise BadRequestError("q", f"is longer than {MAX_QUERY} characters")
        raw_limit = params.get("limit") or str(DEFAULT_LIMIT)
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
            raise BadRequestError("limit", f"{raw_limit!r} is not a whole number 1..{MAX_LIMIT}")
        token = params.get("continuation") or None
        return cls(
            match=RunFilter(state=RunState(state) if state else None, route=route, name_contains=q),
            limit=int(raw_limit),
            cursor=Cursor.parse(token) if token else None,
        )


def runs_page(ledger: LedgerPort, query: RunQuery) -> dict[str, Any]:
    """One page: `runs` (run documents, newest first) and `continuation` (None on the last
    page)."""
    seen = set(query.cursor.seen) if query.cursor else set()
    # One more than asked tells whether another page follows.
    fetched = ledger.newest(
        query.match,
        query.limit + len(seen) + 1,
        query.cursor.updated_at if query.cursor else None,
    )
    fresh = [r for r in fetched if r.key not in seen]
    runs, more = fresh[: query.limit], len(fresh) > query.limit
    continuation = None
    if more and runs:
        last = iso(runs[-1].updated_at)
        tied = [r.key for r in runs if iso(r.updated_at) == last]
        carried = seen if query.cursor and query.cursor.updated_at == last else set()
        continuation = Cursor(last, tuple(sorted(carried | set(tied)))).token()
    return {"runs": [r.to_doc() for r in runs], "continuation": continuation}


def _values(kind: type[RunState]) -> str:
    return ", ".join(v.value for v in kind)
