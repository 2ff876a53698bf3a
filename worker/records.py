"""Cosmos DB adapter for the `records` container: upserts in transactional batches, several
in flight, and version clean-up.

A batch is all or nothing, so it is also the unit of retry: throttling (429) and 408/449/5xx
retry the whole batch, a request the service finds too large (413) is split in halves, and an
operation refused inside a batch fails the run naming its row.

Throttling is handled here, not in the SDK: the SDK's own throttle retries are turned off so
that every wait honours the server's Retry-After and counts against one budget. When the
budget is spent the run stops with WriteBudgetSpent (exit 76), to be retried later.

Over 300 lines because the throttle budget, the write statistics and the batched upserts
share one client and one lock; the grouping (`batches`) and the error translation
(`cosmos_errors`) already live apart.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, TypeVar

from azure.core.credentials import TokenCredential
from azure.core.exceptions import (
    ClientAuthenticationError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.cosmos import ContainerProxy, CosmosClient

# The public re-export (azure.cosmos.documents) is not typed as exported.
from azure.cosmos._retry_options import RetryOptions
from azure.cosmos.documents import ConnectionPolicy, SSLConfiguration
from azure.cosmos.exceptions import CosmosBatchOperationError, CosmosHttpResponseError

from worker.batches import Batch, sized_batches
from worker.contract import COSMOS_ENDPOINT, COSMOS_THROTTLE_BUDGET_SECONDS
from worker.cosmos_errors import (
    RETRYABLE_STATUS,
    TOO_LARGE,
    refused,
    retry_after_seconds,
    translated,
)
from worker.credentials import Credentials
from worker.errors import (
    ServiceError,
    WorkerConfigError,
    WriteBudgetSpent,
)
from worker.options import WriteOptions
from worker.settings import WorkerSettings
from worker.transport import pooled_transport

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

_QUERY = "query documents"


STAT_NAMES = (
    "written",
    "batches",
    "split_batches",
    "attempts",
    "throttled",
    "throttle_wait_seconds",
    "retried_errors",
    "deleted",
)


class WriteStats:
    """What the writes did, counted from many threads; the task log reports it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, float] = dict.fromkeys(STAT_NAMES, 0)

    def add(self, name: str, amount: float = 1) -> None:
        """Add `amount` to the counter `name` (thread-safe)."""
        with self._lock:
            self._values[name] += amount

    def merge(self, other: dict[str, float]) -> None:
        """Add every counter of another process's stats."""
        for name in STAT_NAMES:
            self.add(name, other.get(name, 0))

    def __getitem__(self, name: str) -> float:
        with self._lock:
            return self._values[name]

    def as_json(self) -> dict[str, float]:
        """The counters as JSON-ready values."""
        with self._lock:
            values = dict(self._values)
        values["throttle_wait_seconds"] = round(values["throttle_wait_seconds"], 3)
        return values


class RecordStore:
    """The records container, written concurrently with bounded, throttle-aware retries."""

    def __init__(
        self, client: CosmosClient, container: ContainerProxy, options: WriteOptions
    ) -> None:
        self._client = client
        self._container = container
        self._options = options
        self.stats = WriteStats()
        self._budget_lock = threading.Lock()
        self._stop = threading.Event()

    @classmethod
    def connect(
        cls, settings: WorkerSettings, credentials: Credentials, identity: TokenCredential | None
    ) -> RecordStore:
        """A store of the Cosmos DB records container the settings name; WorkerConfigError for a
        missing endpoint."""
        if settings.cosmos_endpoint is None:
            raise WorkerConfigError(COSMOS_ENDPOINT, "missing (required)")
        credential: Any = credentials.cosmos_key or identity
        if credential is None:
            raise WorkerConfigError(COSMOS_ENDPOINT, "no Cosmos key and no identity")
        policy = ConnectionPolicy()
        # Throttling is retried by us (see the module docstring), not inside the SDK.
        policy.RetryOptions = RetryOptions(max_retry_attempt_count=0)
        kwargs: dict[str, Any] = {
            "connection_policy": policy,
            # Not retry_total: the SDK would use it as its throttle retry count too.
            "retry_connect": settings.service_retries,
            "retry_read": settings.service_retries,
            "retry_status": settings.service_retries,
            "retry_backoff_factor": settings.service_retry_backoff_seconds,
            "retry_backoff_max": max(settings.service_retry_backoff_seconds * 8, 1),
        }
        # One pooled connection per writer thread (the default pool of 10 would open and
        # discard connections, a TLS handshake each, past ten threads).
        kwargs["transport"] = pooled_transport(max(10, settings.writes.concurrency))
        if credentials.cosmos_ca_cert is not None:
            # With an explicit SSL configuration the SDK verifies against this CA even for a
            # local address (it skips verification for localhost otherwise).
            kwargs["ssl_config"] = SSLConfiguration()
            kwargs["connection_verify"] = str(credentials.cosmos_ca_cert)
        with translated("connect to Cosmos DB"):
            client = CosmosClient(settings.cosmos_endpoint, credential=credential, **kwargs)
            container = client.get_database_client(settings.cosmos_database).get_container_client(
                settings.records_container
            )
        _read_properties(container)
        return cls(client, container, settings.writes)

    def close(self) -> None:
        """Close the Cosmos DB client."""
        self._client.close()

    def upsert_all(self, items: Iterable[tuple[dict[str, Any], int | None]]) -> None:
        """Upsert every document in transactional batches (grouped by `pk`), `concurrency`
        batches at a time; the first failure stops the rest. Each document comes with an
        upper bound of its size as sent, or None (see `worker.batches.sized_batches`)."""
        self._run_concurrently(sized_batches(items), self._write_batch)

    def delete_versions(self, file_keys: Iterable[str]) -> int:
        """Delete every document of these file versions; return how many."""
        return sum(self.delete_version(key) for key in file_keys)

    def delete_version(self, file_key: str) -> int:
        """Delete every document of one file version; return how many."""
        query = "SELECT c.id, c.pk FROM c WHERE c.file_key = @key"
        return self._delete_matching(query, [{"name": "@key", "value": file_key}])

    def _delete_matching(self, query: str, parameters: list[dict[str, Any]]) -> int:
        def run_query() -> list[tuple[str, Any]]:
            items = self._container.query_items(
                query, parameters=parameters, enable_cross_partition_query=True
            )
            return [(str(item["id"]), item["pk"]) for item in items]

        try:
            keys = self._with_retries(run_query, _QUERY)
        except _Gone:
            raise ServiceError("query documents: database or container not found") from None
        before = self.stats["deleted"]
        self._run_concurrently(keys, self._delete_one)
        return int(self.stats["deleted"] - before)

    def _write_batch(self, batch: Batch) -> None:
        action = f"write a batch of {batch.describe()}"

        def execute() -> object:
            return self._container.execute_item_batch(
                batch.operations(), partition_key=batch.partition_key
            )

        try:
            self._with_retries(execute, action, raw_statuses={TOO_LARGE})
        except _Gone:
            raise ServiceError(f"{action}: database or container not found") from None
        except CosmosBatchOperationError as e:
            raise refused(batch, e) from e
        except CosmosHttpResponseError as e:
            if len(batch) == 1:
                raise ServiceError(
                    f"write row {batch.documents[0]['row']}: Cosmos DB refused its document"
                    f" as too large ({TOO_LARGE}; {batch.request_bytes} bytes as sent)"
                ) from e
            self.stats.add("split_batches")
            for half in batch.halves():
                self._write_batch(half)
            return
        self.stats.add("batches")
        self.stats.add("written", len(batch))

    def _delete_one(self, key: tuple[str, Any]) -> None:
        item_id, pk = key
        try:
            self._with_retries(
                lambda: self._container.delete_item(item_id, partition_key=pk), "delete a document"
            )
        except _Gone:
            return
        self.stats.add("deleted")

    def _with_retries(
        self,
        operation: Callable[[], R],
        action: str,
        raw_statuses: frozenset[int] | set[int] = frozenset(),
    ) -> R:
        """Run `operation`, waiting out throttling and retrying 408/449/5xx, boundedly.

        Other errors are translated into ours, except those with a status in `raw_statuses`
        and operations refused inside a batch, which the caller handles."""
        options = self._options
        for attempt in range(1, options.max_attempts + 1):
            if self._stop.is_set():
                raise _Cancelled()
            if action != _QUERY:
                self.stats.add("attempts")
            try:
                return operation()
            except (CosmosHttpResponseError, CosmosBatchOperationError) as e:
                if e.status_code == 404 and isinstance(e, CosmosHttpResponseError):
                    raise _Gone() from e
                if e.status_code == 429:
                    self._wait_throttled(retry_after_seconds(e), attempt)
                    continue
                if e.status_code in RETRYABLE_STATUS and attempt < options.max_attempts:
                    self._note_retry()
                    time.sleep(min(0.1 * 2**attempt, 5.0))
                    continue
                if e.status_code in raw_statuses or isinstance(e, CosmosBatchOperationError):
                    raise
                with translated(action):
                    raise
            except (ServiceRequestError, ServiceResponseError, ClientAuthenticationError):
                with translated(action):
                    raise
        raise WriteBudgetSpent(
            f"{action}: Cosmos DB throttled it {options.max_attempts} times in a row"
            " (DROPBATCH_COSMOS_MAX_ATTEMPTS)"
        )

    def _note_retry(self) -> None:
        self.stats.add("retried_errors")

    def _wait_throttled(self, seconds: float, attempt: int) -> None:
        with self._budget_lock:
            budget = self._options.throttle_budget_seconds
            if self.stats["throttle_wait_seconds"] + seconds > budget:
                raise WriteBudgetSpent(
                    f"Cosmos DB throttling would need more than {budget:g}s of waiting"
                    f" ({COSMOS_THROTTLE_BUDGET_SECONDS})"
                )
            self.stats.add("throttled")
            self.stats.add("throttle_wait_seconds", seconds)
        if attempt == self._options.max_attempts:
            return
        self._stop.wait(seconds)

    def _run_concurrently(self, items: Iterable[T], work: Callable[[T], None]) -> None:
        limit = self._options.concurrency
        self._stop.clear()
        with ThreadPoolExecutor(max_workers=limit, thread_name_prefix="cosmos") as pool:
            pending: set[Future[None]] = set()
            try:
                for item in items:
                    pending.add(pool.submit(work, item))
                    if len(pending) >= 2 * limit:
                        done, pending = wait(pending, return_when=FIRST_COMPLETED)
                        _raise_first(done)
                done, pending = wait(pending)
                _raise_first(done)
            except BaseException:
                self._stop.set()
                for future in pending:
                    future.cancel()
                raise


def _read_properties(container: ContainerProxy) -> None:
    """Read the container's properties now, while the file is checked: the SDK reads them
    once before its first batch, with every writer waiting. Only a head start: if it fails,
    the first batch reads them again and reports what goes wrong."""
    try:
        container.read()
    except Exception:
        log.debug("Cosmos DB container properties not read ahead", exc_info=True)


class _Gone(Exception):
    pass


class _Cancelled(Exception):
    pass


def _raise_first(done: Iterable[Future[None]]) -> None:
    errors = [f.exception() for f in done if f.exception() is not None]
    real = [e for e in errors if not isinstance(e, _Cancelled)]
    if real:
        raise real[0]  # type: ignore[misc]
