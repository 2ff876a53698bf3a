"""A whole pipeline in memory: real `Settings`, the twins of every port, one fake clock."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from batch_core.pipeline import Pipeline
from batch_core.routebook import Routebook, builtin_routebook
from batch_core.settings import Settings
from batch_core.testing.alerts import MemoryAlerts
from batch_core.testing.batch import MemoryBatch
from batch_core.testing.blobs import MemoryBlobs
from batch_core.testing.clock import FakeClock
from batch_core.testing.ledger import MemoryLedger
from batch_core.testing.poison import MemoryPoison
from batch_core.testing.records import MemoryRecords

# The required settings, pointing nowhere reachable (.invalid never resolves): nothing built
# from them can leave the process. No key: there is nothing to authenticate to.
MEMORY_VALUES = {
    "AzureWebJobsStorage__blobServiceUri": "https://memory.blob.invalid",
    "AzureWebJobsStorage__queueServiceUri": "https://memory.queue.invalid",
    "DROPBATCH_BATCH_URL": "https://memory.batch.invalid",
    "DROPBATCH_BATCH_ACCOUNT": "memory",
    "DROPBATCH_COSMOS_ENDPOINT": "https://memory.documents.invalid",
    # Specs drive one call at a time: tasks go one request each unless a spec groups them.
    "DROPBATCH_SUBMIT_WINDOW_MS": "0",
}


def memory_settings(overrides: Mapping[str, str] | None = None) -> Settings:
    """Real settings, parsed and validated as the app's are, from the setting names of
    local.settings.sample.json (`{"DROPBATCH_MAX_ATTEMPTS": "1"}`)."""
    return Settings.from_env({**MEMORY_VALUES, **(overrides or {})})


@dataclass(frozen=True)
class MemoryPipeline(Pipeline):
    """A `Pipeline` whose parts are the twins, typed as such so a test can drive them."""

    ledger: MemoryLedger
    blobs: MemoryBlobs
    batch: MemoryBatch
    alerts: MemoryAlerts
    poison: MemoryPoison
    records: MemoryRecords
    clock: FakeClock

    def provision(self) -> None:
        """Create the containers of the in-memory storage."""
        self.blobs.provision()


def memory_pipeline(
    settings_overrides: Mapping[str, str] | None = None,
    clock: FakeClock | None = None,
    routes: Routebook | None = None,
) -> MemoryPipeline:
    """A provisioned pipeline in memory. Settings are the defaults plus `settings_overrides`;
    a webhook is there when DROPBATCH_ALERT_WEBHOOK_URL is set (its deliveries are kept, not
    posted)."""
    settings = memory_settings(settings_overrides)
    clock = clock or FakeClock()
    blobs = MemoryBlobs(settings, clock)
    p = MemoryPipeline(
        settings=settings,
        ledger=MemoryLedger(),
        blobs=blobs,
        batch=MemoryBatch(settings, clock, blobs),
        alerts=MemoryAlerts(settings.alert_webhook_kind if settings.alert_webhook_url else None),
        poison=MemoryPoison(clock),
        records=MemoryRecords(),
        routes=routes or builtin_routebook(settings.worker_settings),
        clock=clock,
    )
    p.provision()
    return p
