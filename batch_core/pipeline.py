"""The pipeline's parts, built once from settings and passed explicitly. Each part is typed
with its port (`batch_core.ports`); `build` makes the real adapters, `batch_core.testing`
the in-memory twins."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from batch_core.alertstore import Alerts
from batch_core.batch_service import BatchService
from batch_core.batchclient import batch_client
from batch_core.blobstore import BlobStore, blob_service
from batch_core.cosmosdb import ALERTS, RECORDS, RUNS, cosmos_client, database, provision
from batch_core.ledger import Ledger
from batch_core.poison import PoisonQueue
from batch_core.pools import PoolPlan, plan_pools
from batch_core.ports import AlertsPort, BatchPort, BlobsPort, LedgerPort, PoisonPort, RecordsPort
from batch_core.records import Records
from batch_core.routebook import ROUTES_FILE, Routebook, load_routes_from_env
from batch_core.settings import Settings
from batch_core.submitter import GroupSubmitter


@dataclass(frozen=True)
class Pipeline:
    """Everything batch_core works with: the settings and one adapter per port."""

    settings: Settings
    ledger: LedgerPort
    blobs: BlobsPort
    batch: BatchPort
    alerts: AlertsPort
    poison: PoisonPort
    records: RecordsPort
    routes: Routebook

    @classmethod
    def build(
        cls, settings: Settings, routes: Routebook | None = None, app_root: Path | None = None
    ) -> Pipeline:
        """The real adapters: Cosmos DB, Blob storage, Azure Batch and the poison queue; the
        routes given, else those of the routes file (see `routes_for`)."""
        cosmos = cosmos_client(settings)
        db = database(cosmos, settings)
        return cls(
            settings=settings,
            ledger=Ledger(db.get_container_client(RUNS)),
            blobs=BlobStore(blob_service(settings), settings),
            batch=BatchService(batch_client(settings), settings),
            alerts=Alerts.build(db.get_container_client(ALERTS), settings),
            poison=PoisonQueue.build(settings),
            records=Records(db.get_container_client(RECORDS)),
            routes=routes or routes_for(settings, app_root or Path.cwd()),
        )

    @cached_property
    def submitter(self) -> GroupSubmitter:
        """Groups the tasks this process's invocations plan together (one per pipeline)."""
        return GroupSubmitter(self.batch, self.settings.submit_window_ms / 1000)

    @cached_property
    def pools(self) -> dict[str, PoolPlan]:
        """The pool plan of every alias of the routebook (`default` always among them)."""
        return plan_pools(self.routes, self.settings)

    def provision(self) -> None:
        """Create containers and the database if missing (idempotent)."""
        self.blobs.provision()
        provision(cosmos_client(self.settings), self.settings)


def routes_for(settings: Settings, app_root: Path) -> Routebook:
    """The routebook of DROPBATCH_ROUTES_FILE (relative to `app_root`), else of `routes.toml`
    in `app_root` when there is one, else the built-in routes. RoutesFileError names what
    to fix in a bad file."""
    given = {ROUTES_FILE: settings.routes_file} if settings.routes_file else {}
    return load_routes_from_env(given, app_root, settings.worker_settings)
