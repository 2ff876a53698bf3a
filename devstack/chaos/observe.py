"""What the stack holds about one cell's files once its fault is cleared: the ledger's runs
(zip entries included), the Batch tasks, the Cosmos records and the alerts."""

from __future__ import annotations

from collections import Counter

from batch_core.batch_service import batch_client
from batch_core.cosmosdb import RECORDS, cosmos_client
from batch_core.jobs import FANOUT_KEY_CHARS, is_fanout_job
from batch_core.pipeline import Pipeline
from batch_core.run import Run
from devstack.chaos.checks import Observed, RunSeen

LEDGER_WINDOW = 5000


def cell_runs(p: Pipeline, prefix: str) -> list[Run]:
    """The runs of files dropped under `prefix`, and of the entries their zips held."""
    recent = p.ledger.recent(LEDGER_WINDOW)
    top = {r.key for r in recent if r.name.startswith(prefix)}
    return [r for r in recent if r.key in top or (r.parent is not None and r.parent in top)]


def observe(p: Pipeline, prefix: str) -> Observed:
    """Everything the checks read about the files under `prefix`."""
    runs = cell_runs(p, prefix)
    seen = [
        RunSeen(r.key, r.name, r.state.value, r.attempt, r.parent, dict(r.summary)) for r in runs
    ]
    tasks: Counter[str] = Counter()
    fanout_jobs: dict[str, list[str]] = {}
    with batch_client(p.settings) as batch:
        for job in batch.list_jobs():
            ids = [t.id for t in batch.list_tasks(job.id) if t.id]
            tasks.update(ids)
            if job.id and is_fanout_job(p.settings, job.id):
                fanout_jobs[job.id[-FANOUT_KEY_CHARS:]] = ids
    records: dict[str, set[str]] = {}
    with cosmos_client(p.settings) as client:
        container = client.get_database_client(p.settings.cosmos_database).get_container_client(
            RECORDS
        )
        for r in runs:
            found = container.query_items(
                "SELECT VALUE c.id FROM c WHERE c.pk = @k",
                parameters=[{"name": "@k", "value": r.key}],
                partition_key=r.key,
            )
            records[r.key] = {str(i) for i in found}
    keys = {r.key for r in runs}
    alerts = [
        (str(a["run_key"]), str(a.get("kind")))
        for a in p.alerts.recent(LEDGER_WINDOW)
        if a.get("run_key") in keys
    ]
    return Observed(seen, tasks, records, alerts, fanout_jobs)
