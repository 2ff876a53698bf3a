"""The ledger in memory: run documents with etags, exactly as the Cosmos adapter stores and
reads them (validated on every read, a stale etag refused)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from batch_core.clock import iso
from batch_core.errors import ConflictError, InvalidDocumentError, NotFoundError
from batch_core.ledger import RunFilter, advance_with
from batch_core.run import Run
from batch_core.states import ACTIVE, TERMINAL, RunState
from batch_core.testing.twin import Twin

log = logging.getLogger(__name__)


class MemoryLedger(Twin):
    """A `LedgerPort`. Documents are kept as the Cosmos container would keep them (with an
    `_etag` that changes on every write), so what a run survives here it survives there."""

    def __init__(self) -> None:
        super().__init__()
        self.docs: dict[str, dict[str, Any]] = {}
        self._writes = 0

    def create(self, run: Run) -> tuple[Run, bool]:
        self._request("create", run.key)
        if run.key in self.docs:
            existing = self.get(run.key)
            assert existing is not None
            return existing, False
        return Run.from_doc(self._store(run.to_doc())), True

    def get(self, key: str) -> Run | None:
        self._request("get", key)
        doc = self.docs.get(key)
        return None if doc is None else Run.from_doc(doc)

    def save(self, run: Run) -> Run:
        self._request("save", run.key)
        stored = self.docs.get(run.key)
        if stored is None:
            raise NotFoundError(f"update run {run.key}: not found")
        if run.doc_etag and stored["_etag"] != run.doc_etag:
            raise ConflictError(f"update run {run.key}: changed by someone else (HTTP 412)")
        return Run.from_doc(self._store(run.to_doc()))

    def advance(
        self, run: Run, state: RunState, reason: str, at: dt.datetime, **changes: Any
    ) -> Run:
        return advance_with(self.save, run, state, reason, at, **changes)

    def active(self) -> list[Run]:
        self._request("query")
        states = {s.value for s in ACTIVE}
        return self._select(lambda d: d.get("state") in states)

    def unalerted(self) -> list[Run]:
        self._request("query")
        return self._select(
            lambda d: (
                d.get("alert_due") is True
                or (d.get("state") == RunState.FAILED and d.get("alerted") is False)
            )
        )

    def expirable_parts(self, before: dt.datetime, limit: int = 100) -> list[Run]:
        self._request("query")
        ended = {s.value for s in TERMINAL}
        cutoff = iso(before)  # compared as text, as Cosmos compares the stored strings
        return self._select(
            lambda d: (
                isinstance(d.get("parent"), str)
                and d.get("state") in ended
                and str(d.get("updated_at")) < cutoff
                and d.get("input_removed") is False
            ),
            limit,
        )

    def unsettled(self, limit: int = 200) -> list[Run]:
        self._request("query")
        ended = {s.value for s in TERMINAL}
        return self._select(
            lambda d: (
                d.get("input_removed") is False
                and "original" in d  # as Cosmos compares: a missing field is not null
                and d["original"] is None
                and d.get("state") in ended
            ),
            limit,
        )

    def known_keys(self, keys: Iterable[str]) -> set[str]:
        self._request("query")
        return {key for key in keys if key in self.docs}

    def recent(self, limit: int = 200, state: RunState | None = None) -> list[Run]:
        self._request("query")
        docs = sorted(self.docs.values(), key=lambda d: str(d.get("updated_at")), reverse=True)
        return self._valid([d for d in docs if state is None or d.get("state") == state][:limit])

    def newest(self, match: RunFilter, limit: int, updated_at_most: str | None = None) -> list[Run]:
        self._request("query")
        since = iso(match.updated_since) if match.updated_since else None
        q = (match.name_contains or "").lower()

        def wanted(d: dict[str, Any]) -> bool:
            updated = str(d.get("updated_at"))
            return (
                (match.state is None or d.get("state") == match.state.value)
                and (match.route is None or d.get("route") == match.route)
                and (not q or q in str(d.get("name", "")).lower())
                and (since is None or updated >= since)
                and (updated_at_most is None or updated <= updated_at_most)
                and str(d.get("id")).startswith(match.key_prefix or "")
            )

        docs = sorted(self.docs.values(), key=lambda d: str(d.get("updated_at")), reverse=True)
        return self._valid([d for d in docs if wanted(d)][:limit])

    def put_document(self, doc: Mapping[str, Any]) -> None:
        """Store a raw document as another writer (an older version, say) might have."""
        self._store(dict(doc))

    def _store(self, doc: dict[str, Any]) -> dict[str, Any]:
        self._writes += 1
        stored = {**doc, "_etag": f'"{self._writes:08x}-0000-0000-0000-000000000000"'}
        self.docs[str(doc["id"])] = stored
        return stored

    def _select(
        self, match: Callable[[dict[str, Any]], bool], limit: int | None = None
    ) -> list[Run]:
        found = [d for d in self.docs.values() if match(d)]
        return self._valid(found if limit is None else found[:limit])  # TOP, then validation

    @staticmethod
    def _valid(docs: list[dict[str, Any]]) -> list[Run]:
        runs = []
        for doc in docs:
            try:
                runs.append(Run.from_doc(doc))
            except InvalidDocumentError as e:
                # As the Cosmos adapter does: one unreadable document must not hide the rest.
                log.error("skipping a run document: %s", e)
        return runs
