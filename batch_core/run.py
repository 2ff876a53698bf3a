"""The run document: one per file version, in the Cosmos container `runs`."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from batch_core.clock import iso, parse_iso
from batch_core.errors import InvalidDocumentError
from batch_core.states import RunState

# Terminal states an operator hears about (an alert each).
INCIDENTS = frozenset({RunState.FAILED, RunState.REJECTED})

# 2 added `fanout`; a version-1 document reads as a run without it (no migration needed).
SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)
HISTORY_LIMIT = 50


@dataclass(frozen=True)
class Run:
    """One file version's run: what was dropped, its state and history, and where its task is."""

    key: str
    container: str
    name: str
    etag: str
    size: int
    route: str
    state: RunState
    reason: str
    created_at: dt.datetime
    updated_at: dt.datetime
    attempt: int = 0
    job_id: str | None = None
    task_id: str | None = None
    parent: str | None = None
    children: tuple[str, ...] = ()
    next_attempt_at: dt.datetime | None = None
    summary: Mapping[str, Any] = field(default_factory=dict)
    history: tuple[Mapping[str, str], ...] = ()
    alerted: bool = False
    # An incident (failed or rejected) an operator has not been told of yet: set with the
    # state, cleared when the alert is stored, so a crash in between is alerted next tick.
    alert_due: bool = False
    # The file is no longer at container/name: moved to `original`, deleted (DROPBATCH_
    # TERMINAL_ORIGINALS) or, for a zip's extracted CSV, expired.
    input_removed: bool = False
    # "container/name" where the file is once the run's end settled it (moved, or left in
    # place when its name cannot travel); None until then, and when it was deleted.
    original: str | None = None
    replay_of: str | None = None  # the file key of the run this one replays (dropbatch replay)
    # A fan-out file's progress (see `batch_core.fanoutstate`): bounded counters, never one
    # entry per member. None for a single-task run.
    fanout: Mapping[str, Any] | None = None
    doc_etag: str | None = None  # the stored document's _etag, for optimistic concurrency

    def to_doc(self) -> dict[str, Any]:
        """The run as its ledger document (with its schema version)."""
        return {
            "id": self.key,
            "schema_version": SCHEMA_VERSION,
            "container": self.container,
            "name": self.name,
            "etag": self.etag,
            "size": self.size,
            "route": self.route,
            "state": self.state.value,
            "reason": self.reason,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "attempt": self.attempt,
            "job_id": self.job_id,
            "task_id": self.task_id,
            "parent": self.parent,
            "children": list(self.children),
            "next_attempt_at": iso(self.next_attempt_at) if self.next_attempt_at else None,
            "summary": dict(self.summary),
            "history": [dict(h) for h in self.history][-HISTORY_LIMIT:],
            "alerted": self.alerted,
            "alert_due": self.alert_due,
            "input_removed": self.input_removed,
            "original": self.original,
            "replay_of": self.replay_of,
            "fanout": dict(self.fanout) if self.fanout is not None else None,
        }

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Run:
        """Validate a stored document and build the run; InvalidDocumentError says what is off."""
        key = doc.get("id", "?")
        version = doc.get("schema_version")
        if version not in READABLE_VERSIONS:
            raise InvalidDocumentError(f"run {key}: schema_version {version!r} is not supported")
        try:
            state = RunState(doc["state"])
            next_at = doc.get("next_attempt_at")
            return cls(
                key=str(doc["id"]),
                container=str(doc["container"]),
                name=str(doc["name"]),
                etag=str(doc["etag"]),
                size=int(doc["size"]),
                route=str(doc["route"]),
                state=state,
                reason=str(doc.get("reason") or ""),
                created_at=parse_iso(doc["created_at"]),
                updated_at=parse_iso(doc["updated_at"]),
                attempt=int(doc.get("attempt") or 0),
                job_id=doc.get("job_id"),
                task_id=doc.get("task_id"),
                parent=doc.get("parent"),
                children=tuple(doc.get("children") or ()),
                next_attempt_at=parse_iso(next_at) if next_at else None,
                summary=dict(doc.get("summary") or {}),
                history=tuple(doc.get("history") or ()),
                alerted=bool(doc.get("alerted")),
                alert_due=bool(doc.get("alert_due")),
                input_removed=bool(doc.get("input_removed")),
                original=doc.get("original"),
                replay_of=doc.get("replay_of"),
                fanout=dict(doc["fanout"]) if isinstance(doc.get("fanout"), dict) else None,
                doc_etag=doc.get("_etag"),
            )
        except (KeyError, ValueError, TypeError) as e:
            raise InvalidDocumentError(f"run {key}: {e!r}") from e

    def moved(self, state: RunState, reason: str, at: dt.datetime, **changes: Any) -> Run:
        """A copy in `state`, with the transition recorded in the history."""
        entry = {"at": iso(at), "state": state.value, "reason": reason}
        return dataclasses.replace(
            self,
            state=state,
            reason=reason,
            updated_at=at,
            history=(*self.history, entry),
            alert_due=state in INCIDENTS,
            **changes,
        )
