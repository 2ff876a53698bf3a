"""Helpers for tests that drive batch_core against the local stack, synchronously."""

from __future__ import annotations

import datetime as dt
import time
import uuid

from azure.batch import BatchClient

from batch_core import reconcile
from batch_core.batch_service import BatchService
from batch_core.batchclient import batch_client
from batch_core.blobstore import BlobRef
from batch_core.clock import utcnow
from batch_core.pipeline import Pipeline
from batch_core.run import Run
from batch_core.settings import Settings
from devstack.stack import Stack

CSV_HEADER = b"id,postal_cd,country_cd,city_name,state_abbrv,latitude,longitude\n"


def pipeline_with(stack: Stack, **overrides: str) -> Pipeline:
    return Pipeline.build(Settings.from_env({**stack.values, **overrides}))


def batch_of(p: Pipeline) -> BatchClient:
    """A Batch client of the test's own, to look at what the pipeline did."""
    return batch_client(p.settings)


def service_of(p: Pipeline) -> BatchService:
    """The pipeline's Batch adapter, for set-up its port does not offer (the default pool, a
    job of the test's choosing)."""
    assert isinstance(p.batch, BatchService), p.batch
    return p.batch


def unique(name: str) -> str:
    return f"t-{uuid.uuid4().hex[:8]}/{name}"


def drop(p: Pipeline, name: str, data: bytes) -> BlobRef:
    """Upload a file into the incoming container as an operator would; return what a trigger
    would be told (no content)."""
    return p.blobs.upload(p.settings.container_incoming, name, data)


def drain(p: Pipeline, key: str, timeout: float = 90.0, now: dt.datetime | None = None) -> Run:
    """Tick the reconciler until run `key` is terminal; return it."""
    deadline = time.monotonic() + timeout
    while True:
        reconcile.tick(p, now or utcnow())
        run = p.ledger.get(key)
        assert run is not None, f"run {key} is not in the ledger"
        if run.state.terminal:
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"run {key} still {run.state} ({run.reason}) after {timeout}s")
        time.sleep(0.3)
