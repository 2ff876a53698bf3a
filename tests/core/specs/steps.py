"""The steps decision specs are written in: what the world does (a file lands, a task ends,
time passes), on a pipeline in memory."""

from __future__ import annotations

from batch_core import intake, reconcile
from batch_core.run import Run
from batch_core.testing import MemoryPipeline, memory_pipeline
from batch_core.tickreport import TickReport

CSV = (
    b"id,postal_cd,country_cd,city_name,state_abbrv,latitude,longitude\n"
    b"1,06001,US,Avon,CT,41.8,-72.8\n"
)


def pipeline(**settings: str) -> MemoryPipeline:
    """A pipeline in memory with some settings changed (names as in local.settings)."""
    return memory_pipeline(settings)


def received(p: MemoryPipeline, name: str = "a.csv", data: bytes = CSV) -> Run:
    """A file lands in incoming and its trigger runs at once: the run is submitted."""
    blob = p.blobs.upload(p.settings.container_incoming, name, data)
    run = intake.receive(p, blob, p.clock.now())
    assert run is not None and run.job_id and run.task_id
    return run


def stored(p: MemoryPipeline, run: Run) -> Run:
    """The run as the ledger holds it now."""
    now = p.ledger.get(run.key)
    assert now is not None, f"run {run.key} is not in the ledger"
    return now


def tick(p: MemoryPipeline, **later: float) -> TickReport:
    """Let time pass (`minutes=1`), then one reconcile tick."""
    p.clock.advance(**later)
    return reconcile.tick(p, p.clock.now())


def task_ends(
    p: MemoryPipeline,
    run: Run,
    exit_code: int | None = 0,
    failure: str | None = None,
    stderr: bytes | None = None,
) -> None:
    """The run's current task ends with `exit_code` and Batch's `failure` text."""
    current = stored(p, run)
    assert current.job_id and current.task_id
    p.batch.complete(current.job_id, current.task_id, exit_code, failure, stderr=stderr)
