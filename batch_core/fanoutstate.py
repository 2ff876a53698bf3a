"""A fan-out file's progress as its run document keeps it (`Run.fanout`): bounded counters
and short lists, never one entry per member, so a 10,000-member file still has one small
document. Only members that failed keep a record (attempts, when to retry), and at most
`MAX_RETRYING` of them at once; the reasons of at most `MAX_FAILURES` failed members are
kept for the summary."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from batch_core.run import Run

MAX_FAILURES = 50  # failed members whose reason the document keeps
MAX_RETRYING = 1000  # members waiting for another attempt at once
MAX_ENDED = 10_000  # members that ended failed or rejected (at most max_members anyway)

Phase = Literal["waiting", "planning", "creating", "running"]


@dataclass(frozen=True)
class Failure:
    """A member that ended failed or rejected, with its reason (the bounded list keeps 50)."""

    index: int
    state: str  # failed | rejected
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """The failure as the run document stores it."""
        return {"index": self.index, "state": self.state, "reason": self.reason}


@dataclass(frozen=True)
class Retry:
    """A failed member waiting to be reactivated: its failed attempts and when to retry."""

    attempts: int  # attempts that ended failed so far
    not_before: str | None = None  # ISO time of the next attempt; None: reactivated already


@dataclass(frozen=True)
class FanoutState:
    """A fan-out file's progress, kept bounded in its run document: phase, counters, the
    merge's state, the failed members and the creation watermark."""

    phase: Phase = "waiting"
    planned_by_task: bool = True  # a plan task ran in the job (it counts among its tasks)
    count: int | None = None
    created: int = 0  # members 0..created-1 exist in the job (the creation watermark)
    merge: str = "none"  # none | pending | created | running | succeeded | failed | rejected
    merge_attempts: int = 0
    merge_next_at: str | None = None
    succeeded: int = 0
    running: int = 0
    waiting: int = 0
    retried: int = 0  # reactivations
    ended: tuple[int, ...] = ()  # members that ended failed or rejected, for good
    rejected: int = 0  # of `ended`
    failures: tuple[Failure, ...] = ()
    retrying: dict[str, Retry] = field(default_factory=dict)
    listed_at: str | None = None  # ISO time of the last listing of changed tasks
    snapshot: str | None = None  # the input's snapshot, once taken (members share it)
    terminated: bool = False

    @property
    def failed(self) -> int:
        """Members that ended failed (not rejected)."""
        return len(self.ended) - self.rejected

    @property
    def done(self) -> int:
        """Members that ended, whatever the outcome."""
        return self.succeeded + len(self.ended)

    def to_dict(self) -> dict[str, Any]:
        """The state as the run document stores it."""
        doc = dataclasses.asdict(self)
        doc["ended"] = list(self.ended)
        doc["failures"] = [f.to_dict() for f in self.failures]
        doc["retrying"] = {k: dataclasses.asdict(v) for k, v in self.retrying.items()}
        doc["failed"] = self.failed
        return doc

    @classmethod
    def from_dict(cls, doc: dict[str, Any] | None) -> FanoutState:
        """The state a run document holds (a fresh one for None)."""
        if not doc:
            return cls()
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in doc.items() if k in known}
        values["ended"] = tuple(int(i) for i in doc.get("ended") or ())
        values["failures"] = tuple(Failure(**f) for f in doc.get("failures") or ())
        values["retrying"] = {str(k): Retry(**v) for k, v in (doc.get("retrying") or {}).items()}
        return cls(**values)

    def with_failure(self, index: int, state: str, reason: str) -> FanoutState:
        """Member `index` ended failed or rejected for good."""
        failures = self.failures
        if len(failures) < MAX_FAILURES:
            failures = (*failures, Failure(index, state, reason[:300]))
        retrying = {k: v for k, v in self.retrying.items() if k != str(index)}
        return dataclasses.replace(
            self,
            ended=(*self.ended, index)[:MAX_ENDED],
            rejected=self.rejected + (state == "rejected"),
            failures=failures,
            retrying=retrying,
        )

    def progress(self) -> dict[str, Any]:
        """What `dropbatch status` and the status page show of a fan-out in flight."""
        return {
            "members": self.count,
            "created": self.created,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "rejected": self.rejected,
            "running": self.running,
            "retrying": len(self.retrying),
            "merge": self.merge,
            "failed_members": [f.to_dict() for f in self.failures],
        }


def members_cell(run: Run) -> str:
    """A fan-out file's progress in one cell of `dropbatch status`: members done of the
    total, and how many failed ("19/20 done, 1 failed"); empty for a single-task run."""
    if run.fanout is None:
        return ""
    state = FanoutState.from_dict(dict(run.fanout))
    if state.count is None:
        return "planning" if state.phase == "planning" else "waiting"
    text = f"{state.done}/{state.count} done"
    if state.ended:
        text += f", {state.failed} failed" + (
            f", {state.rejected} rejected" if state.rejected else ""
        )
    if state.retrying:
        text += f", {len(state.retrying)} retrying"
    return text
