"""In-memory twins of every port (`batch_core.ports`), shipped with the package as a stub
broker is: tests of batch_core's decisions run on them with no server, synchronously, in
milliseconds. `tests/contract` runs the same assertions on each twin and its real adapter, so
the twins keep the real adapters' promises.

    p = memory_pipeline({"DROPBATCH_MAX_ATTEMPTS": "2"})
    run = intake.receive(p, p.blobs.upload("incoming", "a.csv", b"id\\n"), p.clock.now())
    p.batch.complete(run.job_id, run.task_id, exit_code=75)
    reconcile.tick(p, p.clock.advance(minutes=1))
"""

from batch_core.testing.alerts import MemoryAlerts
from batch_core.testing.batch import MemoryBatch, MemoryJob, MemoryTask
from batch_core.testing.blobs import MemoryBlobs
from batch_core.testing.clock import FakeClock
from batch_core.testing.ledger import MemoryLedger
from batch_core.testing.pipeline import MemoryPipeline, memory_pipeline, memory_settings
from batch_core.testing.poison import MemoryPoison
from batch_core.testing.records import MemoryRecords
from batch_core.testing.twin import Twin

__all__ = [
    "FakeClock",
    "MemoryAlerts",
    "MemoryBatch",
    "MemoryBlobs",
    "MemoryJob",
    "MemoryLedger",
    "MemoryPipeline",
    "MemoryPoison",
    "MemoryRecords",
    "MemoryTask",
    "Twin",
    "memory_pipeline",
    "memory_settings",
]
