"""The container scanner: finds new blob versions and hands each to the work queue once.

Every poll lists each watched container (page by page, so any number of blobs is fine)
and, for each blob version not seen before, claims its receipt and enqueues a work
message. Versions already claimed are remembered in memory, so steady-state polls cost
one listing per container and nothing per old blob.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor

from azure.core.exceptions import AzureError, ResourceNotFoundError

from devstack.funchost.blobqueue import BlobTriggerMessage, BlobWorkQueue
from devstack.funchost.catalog import BlobFunction
from devstack.funchost.receipts import ReceiptOutcome, ReceiptStore
from devstack.funchost.storage import StorageAccount, normalize_etag

log = logging.getLogger(__name__)

DEFAULT_PAGE_SIZE = 5000
DEFAULT_CLAIM_WORKERS = 16


class BlobScanner:
    """Scans the containers of blob-triggered functions for new blob versions."""

    def __init__(
        self,
        functions: Iterable[BlobFunction],
        accounts: Mapping[str, StorageAccount],
        receipts: ReceiptStore,
        queue: BlobWorkQueue,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        claim_workers: int = DEFAULT_CLAIM_WORKERS,
    ) -> None:
        self._functions = tuple(functions)
        self._accounts = accounts
        self._receipts = receipts
        self._queue = queue
        self._page_size = page_size
        self._claim_workers = claim_workers
        self._known: dict[str, dict[str, str]] = {}
        self._missing_containers: set[str] = set()

    def run(self, stop: threading.Event, poll_seconds: float) -> None:
        while not stop.is_set():
            try:
                self.scan()
            except Exception:  # a bug here must not end scanning for the host's lifetime
                log.exception("blob scan failed")
            stop.wait(poll_seconds)

    def scan(self) -> int:
        """One pass over every watched container; returns how many blobs were enqueued."""
        enqueued = 0
        for function in self._functions:
            try:
                enqueued += self._scan_function(function)
            except AzureError as e:
                log.warning(
                    "scanning %s for %s failed: %s", function.path.container, function.name, e
                )
        return enqueued

    def _scan_function(self, function: BlobFunction) -> int:
        account = self._accounts[function.function_id]
        container = account.container(function.path.container)
        known = self._known.get(function.function_id, {})
        current: dict[str, str] = {}
        enqueued = 0
        pages = container.list_blobs(
            name_starts_with=function.path.prefix or None, results_per_page=self._page_size
        ).by_page()
        scan_started = time.monotonic()
        claim_seconds = 0.0
        try:
            for page in pages:
                listed_at = time.time()
                candidates: list[tuple[str, str, str]] = []
                for item in page:
                    if function.path.match(item.name) is None:
                        continue
                    etag = normalize_etag(str(item.etag))
                    if known.get(item.name) == etag:
                        current[item.name] = etag
                    else:
                        blob_type = str(getattr(item.blob_type, "value", item.blob_type))
                        candidates.append((item.name, etag, blob_type))
                claim_started = time.monotonic()
                outcomes = self._claim_all(function, candidates, listed_at)
                claim_seconds += time.monotonic() - claim_started
                for (name, etag, _), outcome in zip(candidates, outcomes, strict=True):
                    if outcome is not ReceiptOutcome.BUSY:
                        current[name] = etag
                    enqueued += outcome is ReceiptOutcome.ENQUEUED
        except ResourceNotFoundError:
            if function.path.container not in self._missing_containers:
                log.warning(
                    "container %s watched by %s does not exist (yet)",
                    function.path.container,
                    function.name,
                )
                self._missing_containers.add(function.path.container)
            return 0
        self._missing_containers.discard(function.path.container)
        self._known[function.function_id] = current
        if enqueued:
            total = time.monotonic() - scan_started
            log.info(
                "scan of %s for %s: %d new blobs enqueued",
                function.path.container,
                function.name,
                enqueued,
                extra={
                    "fields": {
                        "event": "blob_scan",
                        "function": function.name,
                        "enqueued": enqueued,
                        "listed": len(current),
                        "list_ms": round((total - claim_seconds) * 1000, 1),
                        "claim_ms": round(claim_seconds * 1000, 1),
                    }
                },
            )
        return enqueued

    def _claim_all(
        self, function: BlobFunction, candidates: list[tuple[str, str, str]], listed_at: float
    ) -> list[ReceiptOutcome]:
        # A claim is several storage round trips; many new blobs (an unpacked archive, a
        # first start on a full container) are claimed side by side.
        if len(candidates) <= 1:
            return [self._claim_safely(function, c, listed_at) for c in candidates]
        workers = min(self._claim_workers, len(candidates))
        with ThreadPoolExecutor(workers, thread_name_prefix="blob-claim") as pool:
            return list(pool.map(lambda c: self._claim_safely(function, c, listed_at), candidates))

    def _claim_safely(
        self, function: BlobFunction, candidate: tuple[str, str, str], listed_at: float
    ) -> ReceiptOutcome:
        name, etag, blob_type = candidate
        try:
            return self._claim(function, name, etag, blob_type, listed_at)
        except AzureError as e:
            log.warning(
                "claiming blob %s/%s failed; retried on the next scan: %s",
                function.path.container,
                name,
                e,
            )
            return ReceiptOutcome.BUSY

    def _claim(
        self, function: BlobFunction, name: str, etag: str, blob_type: str, listed_at: float
    ) -> ReceiptOutcome:
        started = time.monotonic()
        message = BlobTriggerMessage(
            function_id=function.function_id,
            blob_type=blob_type or "BlockBlob",
            container=function.path.container,
            blob_name=name,
            etag=etag,
        )
        sent: list[str] = []
        outcome = self._receipts.claim(
            function.function_id,
            etag,
            function.path.container,
            name,
            enqueue=lambda: sent.append(self._queue.send(message)),
        )
        if outcome is ReceiptOutcome.ENQUEUED:
            log.info(
                "new blob %s/%s for %s: message %s on %s",
                function.path.container,
                name,
                function.name,
                sent[0],
                self._queue.name,
                extra={
                    "fields": {
                        "event": "blob_enqueued",
                        "function": function.name,
                        "blob": f"{function.path.container}/{name}",
                        "etag": etag,
                        "message_id": sent[0],
                        # When its listing page arrived (epoch seconds), and how long the
                        # receipt and the message took: where a file waits before its queue.
                        "listed_at": round(listed_at, 3),
                        "claim_ms": round((time.monotonic() - started) * 1000, 1),
                    }
                },
            )
        return outcome
