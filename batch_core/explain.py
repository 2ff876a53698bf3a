"""`dropbatch routes explain BLOB_NAME`: which route a name takes and the exact Batch task it
would get, with nothing submitted and nothing written (the snapshot an `input` file is
pinned to is shown as a placeholder: it is taken when the file is really submitted)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from batch_core.keys import file_key, task_id
from batch_core.pipeline import Pipeline
from batch_core.ports import BlobsPort
from batch_core.routebook import is_ignored
from batch_core.run import Run
from batch_core.states import RunState
from batch_core.submission import job_for, pool_for, task_for

SNAPSHOT_PLACEHOLDER = "SNAPSHOT-TAKEN-AT-SUBMIT"


class _ReadOnlyBlobs:
    """The pipeline's blobs for reading; a snapshot is not taken but named."""

    def __init__(self, blobs: BlobsPort) -> None:
        self._blobs = blobs

    def snapshot(self, container: str, name: str, etag: str) -> str:
        return SNAPSHOT_PLACEHOLDER

    def __getattr__(self, name: str) -> Any:
        return getattr(self._blobs, name)


def explain(p: Pipeline, name: str, now: dt.datetime) -> dict[str, Any]:
    """What dropping `name` into `incoming` would do: route, pool, job and task JSON."""
    container = p.settings.container_incoming
    if is_ignored(name, p.settings.ignore_prefixes):
        return {"name": name, "outcome": "ignored (an ignored prefix or a folder marker)"}
    route = p.routes.match(name)
    if route is None:
        return {"name": name, "outcome": "rejected", "reason": p.routes.no_route_reason(name)}
    etag = p.blobs.current_etag(container, name) or "0x0"
    key = file_key(p.blobs.account, container, name, etag)
    run = Run(
        key=key, container=container, name=name, etag=etag, size=0, route=route.name,
        state=RunState.SUBMITTED, reason="explain", created_at=now, updated_at=now,
        attempt=1,
        job_id=job_for(p, route, now.date()), task_id=task_id(name, key, 1),
    )  # fmt: skip
    dry = dataclasses.replace(p, blobs=_ReadOnlyBlobs(p.blobs))
    task = task_for(dry, run, 1)
    return {
        "name": name,
        "route": route.name,
        "kind": route.kind,
        "pool": pool_for(p, route).pool_id,
        "job": run.job_id,
        "file_key": key,
        "task": task.as_dict(),
    }
