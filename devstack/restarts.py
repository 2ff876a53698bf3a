"""Restarting one server of a running local stack on its own, as a crash or a redeploy would:
the Batch service on the same port and state folder, the Functions host, the Cosmos
DB-compatible server with its data carried over by a snapshot (it keeps data in memory).

`restart_cosmos` also says what it saw the restart lose: the documents the server had
acknowledged after the snapshot was taken, as read once more just before the stop (created,
or changed, in that window). It is a lower bound: a write acknowledged between that read and
the stop is lost unseen."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azure.cosmos import CosmosClient

from devstack import cosmos_snapshot
from devstack.process import ManagedProcess
from devstack.stack import Stack

log = logging.getLogger(__name__)


def _restart(proc: ManagedProcess, down_seconds: float) -> float:
    """Stop `proc`, wait `down_seconds`, start it again; return seconds until it answered."""
    proc.stop()
    time.sleep(down_seconds)
    began = time.monotonic()
    proc.start()
    return time.monotonic() - began


def restart_batch(stack: Stack, down_seconds: float = 1.0) -> float:
    """The Batch service again on the same port and state folder: its tasks survive, those
    running at the stop are requeued."""
    assert stack.batch is not None
    proc = stack.batch.process
    port = stack.batch.url.rsplit(":", 1)[1].split("/", 1)[0]
    at = proc.argv.index("--port")
    proc.argv[at + 1] = port
    return _restart(proc, down_seconds)


def restart_functions(stack: Stack, down_seconds: float = 1.0) -> float:
    """The Functions host again: its triggers pick up where the storage and ledger say, and
    the event subscription is pointed at it again (its HTTP port may have changed). Blob
    events published while it was down are retried until it answers, for a few minutes."""
    assert stack.functions is not None
    seconds = _restart(stack.functions, down_seconds)
    stack.subscribe_blob_events()
    return seconds


@dataclass
class CosmosRestart:
    """What a restart of the Cosmos server did to its data."""

    seconds: float = 0.0
    snapshot_documents: int = 0
    # Per container: ids the server had acknowledged that the snapshot missed.
    lost: dict[str, list[str]] = field(default_factory=dict)  # created after the snapshot
    reverted: dict[str, list[str]] = field(default_factory=dict)  # changed after it

    def as_json(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 2),
            "snapshot_documents": self.snapshot_documents,
            "lost": {c: len(ids) for c, ids in self.lost.items()},
            "reverted": {c: len(ids) for c, ids in self.reverted.items()},
        }


def _documents(client: CosmosClient) -> dict[str, dict[str, dict[str, Any]]]:
    """Every document of every container (of every database), by container and id."""
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for db_props in client.list_databases():
        db = client.get_database_client(db_props["id"])
        for c_props in db.list_containers():
            container = db.get_container_client(c_props["id"])
            found[c_props["id"]] = {
                doc["id"]: {k: v for k, v in doc.items() if not k.startswith("_")}
                for doc in container.read_all_items()
            }
    return found


def _cosmos(stack: Stack) -> CosmosClient:
    from batch_core.cosmosdb import cosmos_client
    from batch_core.settings import Settings

    return cosmos_client(Settings.from_env(stack.values))


def _saved(snapshot: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """The documents `cosmos_snapshot.save` wrote, by container and id."""
    data = json.loads(snapshot.read_text())
    return {
        c["id"]: {d["id"]: d for d in c["documents"]}
        for db in data["databases"]
        for c in db["containers"]
    }


def restart_cosmos(
    stack: Stack, down_seconds: float = 1.0, after_snapshot: Callable[[], object] | None = None
) -> CosmosRestart:
    """Snapshot the Cosmos server, stop it, start it on the same port, provision the
    database and load the snapshot: what `make down`/`make up` do, with the app running.
    The report names what the server acknowledged between the snapshot and the stop;
    `after_snapshot` runs in that window (a write landing there, in tests)."""
    assert stack.cosmos is not None
    client = _cosmos(stack)
    report = CosmosRestart()
    snapshot: Path = stack.state_dir / "cosmos-restart-snapshot.json"
    report.snapshot_documents = cosmos_snapshot.save(client, snapshot)
    saved = _saved(snapshot)
    if after_snapshot is not None:
        after_snapshot()
    acknowledged = _documents(client)
    report.seconds = _restart(stack.cosmos.process, down_seconds)
    began = time.monotonic()
    stack.provision()
    cosmos_snapshot.load(_cosmos(stack), snapshot)
    report.seconds += time.monotonic() - began
    for container, docs in acknowledged.items():
        kept = saved.get(container, {})
        report.lost[container] = sorted(i for i in docs if i not in kept)
        report.reverted[container] = sorted(
            i for i, d in docs.items() if i in kept and kept[i] != d
        )
    log.info("cosmos restart: %s", report.as_json())
    return report
