"""The ledger: one run document per file version in the Cosmos container `runs`."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import AzureError
from azure.cosmos import ContainerProxy
from azure.cosmos.exceptions import CosmosResourceExistsError

from batch_core import telemetry
from batch_core.clock import iso
from batch_core.cosmosdb import call, translate, translated
from batch_core.errors import ConflictError, InvalidDocumentError, NotFoundError
from batch_core.run import Run
from batch_core.states import ACTIVE, TERMINAL, RunState

log = logging.getLogger(__name__)

KEYS_PER_QUERY = 100  # keys looked up in one query (the IN list of `known_keys`)


@dataclass(frozen=True)
class RunFilter:
    """Which runs a listing wants; every field left None matches all."""

    state: RunState | None = None
    route: str | None = None
    name_contains: str | None = None  # case-insensitive substring of the blob name
    updated_since: dt.datetime | None = None
    key_prefix: str | None = None  # the start of the file key

    def where(self) -> tuple[list[str], list[dict[str, Any]]]:
        """The WHERE clauses and their parameters."""
        clauses: list[str] = []
        params: list[dict[str, Any]] = []
        if self.state is not None:
            clauses.append("c.state = @state")
            params.append({"name": "@state", "value": self.state.value})
        if self.route is not None:
            clauses.append("c.route = @route")
            params.append({"name": "@route", "value": self.route})
        if self.name_contains:
            clauses.append("CONTAINS(LOWER(c.name), @q)")
            params.append({"name": "@q", "value": self.name_contains.lower()})
        if self.updated_since is not None:
            clauses.append("c.updated_at >= @since")
            params.append({"name": "@since", "value": iso(self.updated_since)})
        if self.key_prefix:
            clauses.append("STARTSWITH(c.id, @key)")
            params.append({"name": "@key", "value": self.key_prefix})
        return clauses, params


class Ledger:
    """The ledger port over a Cosmos DB container of run documents."""

    def __init__(self, container: ContainerProxy) -> None:
        self._c = container

    def create(self, run: Run) -> tuple[Run, bool]:
        """Record a new run; if the key exists already (a duplicate event), return the stored
        run and False."""
        try:
            doc = self._c.create_item(run.to_doc())
        except CosmosResourceExistsError:
            existing = self.get(run.key)
            if existing is None:  # deleted in between: extremely unlikely, try again later
                raise ConflictError(f"run {run.key} vanished while being created") from None
            return existing, False
        except AzureError as e:
            raise translate(e, f"create run {run.key}") from e
        return Run.from_doc(doc), True

    def get(self, key: str) -> Run | None:
        try:
            doc = call(f"read run {key}", lambda: self._c.read_item(key, partition_key=key))
        except NotFoundError:
            return None
        return Run.from_doc(doc)

    def save(self, run: Run) -> Run:
        """Replace the stored run if nobody changed it since it was read (ConflictError if so)."""
        kwargs: dict[str, Any] = {}
        if run.doc_etag:
            kwargs = {"etag": run.doc_etag, "match_condition": MatchConditions.IfNotModified}
        doc = call(
            f"update run {run.key}",
            lambda: self._c.replace_item(run.key, run.to_doc(), **kwargs),
        )
        return Run.from_doc(doc)

    def advance(
        self, run: Run, state: RunState, reason: str, at: dt.datetime, **changes: Any
    ) -> Run:
        """Move a run forward (never backward) and store it; logs one line per transition."""
        return advance_with(self.save, run, state, reason, at, **changes)

    # The tick's queries filter on equality (and IN) of indexed properties, so that Cosmos DB
    # reads only the documents that match them, never the history: a NOT, a function or a
    # range alone would read every document of the container.

    def active(self) -> list[Run]:
        states = ", ".join(f"'{s.value}'" for s in ACTIVE)  # our own constants
        return list(self._query(f"SELECT * FROM c WHERE c.state IN ({states})", []))

    def unalerted(self) -> list[Run]:
        """Failed or rejected runs whose alert is not stored yet (`alert_due`), and failed
        runs of documents written before that flag (not `alerted`)."""
        query = (
            "SELECT * FROM c WHERE c.alert_due = true OR (c.state = @failed AND c.alerted = false)"
        )
        return list(self._query(query, [{"name": "@failed", "value": RunState.FAILED.value}]))

    def expirable_parts(self, before: dt.datetime, limit: int = 100) -> list[Run]:
        """Ended runs of extracted files (they have a parent) whose input is still there."""
        query = (
            f"SELECT TOP {int(limit)} * FROM c WHERE IS_STRING(c.parent) "
            "AND ARRAY_CONTAINS(@ended, c.state) AND c.updated_at < @before "
            "AND c.input_removed = false"
        )
        params: list[dict[str, Any]] = [
            {"name": "@ended", "value": [s.value for s in TERMINAL]},
            {"name": "@before", "value": iso(before)},
        ]
        return list(self._query(query, params))

    def unsettled(self, limit: int = 200) -> list[Run]:
        """At most `limit` ended runs whose file is still where it was dropped."""
        ended = ", ".join(f"'{s.value}'" for s in sorted(TERMINAL))
        query = (
            f"SELECT TOP {int(limit)} * FROM c WHERE c.input_removed = false "
            f"AND c.original = null AND c.state IN ({ended})"
        )
        return list(self._query(query, []))

    def known_keys(self, keys: Iterable[str]) -> set[str]:
        wanted = sorted(set(keys))
        known: set[str] = set()
        for start in range(0, len(wanted), KEYS_PER_QUERY):
            chunk = wanted[start : start + KEYS_PER_QUERY]
            names = [f"@k{i}" for i in range(len(chunk))]
            query = f"SELECT VALUE c.id FROM c WHERE c.id IN ({', '.join(names)})"
            params: list[dict[str, object]] = [
                {"name": n, "value": k} for n, k in zip(names, chunk, strict=True)
            ]
            with translated("look up run keys"):
                items = self._c.query_items(
                    query, parameters=params, enable_cross_partition_query=True
                )
                known.update(str(i) for i in items)
        return known

    def recent(self, limit: int = 200, state: RunState | None = None) -> list[Run]:
        return self.newest(RunFilter(state=state), limit)

    def newest(self, match: RunFilter, limit: int, updated_at_most: str | None = None) -> list[Run]:
        """At most `limit` runs that `match`, most recently updated first; with
        `updated_at_most` (an ISO time as stored), only those updated then or earlier."""
        clauses, params = match.where()
        if updated_at_most is not None:
            clauses.append("c.updated_at <= @before")
            params.append({"name": "@before", "value": updated_at_most})
        where = f"WHERE {' AND '.join(clauses)} " if clauses else ""
        query = f"SELECT TOP {int(limit)} * FROM c {where}ORDER BY c.updated_at DESC"
        return list(self._query(query, params))

    def _query(self, query: str, params: list[dict[str, Any]]) -> Iterator[Run]:
        with translated("query runs"):
            docs = list(
                self._c.query_items(
                    query,
                    parameters=params,
                    enable_cross_partition_query=True,
                )
            )
        for doc in docs:
            try:
                yield Run.from_doc(doc)
            except InvalidDocumentError as e:
                # One unreadable document (another version's, say) must not hide the rest.
                log.error("skipping a run document: %s", e)


def advance_with(
    save: Callable[[Run], Run],
    run: Run,
    state: RunState,
    reason: str,
    at: dt.datetime,
    **changes: Any,
) -> Run:
    """What `advance` means for any ledger: refuse a backward move, store the moved run with
    `save`, log one line for the transition."""
    if not run.state.can_move_to(state):
        raise ConflictError(f"run {run.key}: {run.state} cannot move to {state}")
    saved = save(run.moved(state, reason, at, **changes))
    telemetry.transition(saved.key, saved.route, run.state.value, state.value, state.terminal)
    log.info(
        "run %s %s -> %s: %s (%s/%s)",
        run.key, run.state.value, state.value, reason, run.container, run.name,
    )  # fmt: skip
    return saved
