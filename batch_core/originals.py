"""Where a dropped file goes once its run has ended, so that `incoming` holds pending work
only (DROPBATCH_TERMINAL_ORIGINALS): `archive` copies it to the archive container, `delete`
does not, and both then delete it from `incoming`; `keep` leaves it there. A failed file is
quarantined in `failed` whatever the setting, as it always was.

The copy keeps the quarantine's layout, `<container>/<name>/<file key>/<base name>`, and the
run document records where it went (`original`), so `dropbatch replay` and `status` find it.
Every step is guarded by the run's etag: a newer upload under the same name is a run of its
own and is never copied or deleted for this one. The copy comes first and the delete second,
and both may be done again: a retry after a crash in between finds the copy made (the key in
its path names exactly this version) and completes the delete.

An extracted CSV stays until its zip's run has ended: a zip task that runs again skips the
children that exist, and would extract (and process) a removed one a second time. A file
whose name cannot travel intact (rejected for it) stays where it is, for its owner to rename:
storage would resolve or refuse its name in a copy or a delete."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Any

from batch_core.blobnames import name_problem
from batch_core.errors import DropbatchError
from batch_core.pipeline import Pipeline
from batch_core.run import Run
from batch_core.states import RunState
from worker.contract import output_prefix

log = logging.getLogger(__name__)

ARCHIVE, KEEP, DELETE = "archive", "keep", "delete"
SETTLE_LIMIT = 200  # ended runs whose file is still in place, settled per tick


@dataclass(frozen=True)
class Settled:
    """What became of an ended run's file: the copy made (`container/name`, None when there
    is none) and the run document's changes (empty when the file stays where it is)."""

    kept: str | None = None
    changes: dict[str, Any] = field(default_factory=dict)


def kept_name(run: Run) -> str:
    """The name of the run's copy in the archive or failed container."""
    return f"{output_prefix(run.name, run.key)}/{run.name.rsplit('/', 1)[-1]}"


def settle(p: Pipeline, run: Run, state: RunState, parent_ended: bool | None = None) -> Settled:
    """Copy the file of `run`, ending in `state`, where the setting (or, when failed, the
    quarantine) wants it, then delete it from its container unless it is kept there. An
    extracted file whose zip is still going is copied when failed, and otherwise left for
    `settle_ended` to move once the zip has ended."""
    s = p.settings
    if name_problem(run.name):
        return Settled(None, {"original": f"{run.container}/{run.name}"})  # left in place
    keep = s.terminal_originals == KEEP or not (
        parent_ended if parent_ended is not None else _parent_ended(p, run)
    )
    kept = None
    if state is RunState.FAILED:
        kept = copy_once(p, run, s.container_failed)
    elif state in (RunState.SUCCEEDED, RunState.REJECTED) and not keep:
        kept = copy_once(p, run, s.container_archive) if s.terminal_originals == ARCHIVE else None
    if keep:
        return Settled(kept)
    if p.blobs.delete(run.container, run.name, run.etag):
        log.info("%s/%s left %s (%s)", run.container, run.name, run.container, kept or "deleted")
    return Settled(kept, {"input_removed": True, "original": kept})


def copy_once(p: Pipeline, run: Run, container: str) -> str | None:
    """Copy exactly the run's version of its file to `container` (`container/name`): also
    when an earlier try copied it and deleted the source. None when the version is gone."""
    name = kept_name(run)
    copied = p.blobs.copy(run.container, run.name, container, name, etag=run.etag)
    if copied or any(b.name == name for b in p.blobs.list(container, name)):
        return f"{container}/{name}"
    return None


def settle_ended(p: Pipeline) -> int:
    """Move the files of ended runs that are still where they were dropped: runs that ended
    at intake (rejected names, no route), vanished ones, extracted files whose zip has ended
    since, and any whose move a crash interrupted. Nothing with `keep`. Returns how many."""
    if p.settings.terminal_originals == KEEP:
        return 0
    parents: dict[str, bool] = {}
    moved = 0
    for run in p.ledger.unsettled(SETTLE_LIMIT):
        try:
            if run.parent and run.parent not in parents:
                parents[run.parent] = _parent_ended(p, run)
            if run.parent and not parents[run.parent]:
                continue
            done = settle(p, run, run.state, parent_ended=True)
            p.ledger.save(dataclasses.replace(run, **done.changes))
            moved += 1
        except DropbatchError as e:
            log.warning("moving the file of run %s (%s) failed: %s", run.key, run.name, e)
    return moved


def _parent_ended(p: Pipeline, run: Run) -> bool:
    if not run.parent:
        return True
    parent = p.ledger.get(run.parent)
    return parent is None or parent.state.terminal
