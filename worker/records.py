"""Cosmos DB adapter for the `records` container: concurrent upserts and version clean-up.

Throttling (429) is handled here, not in the SDK: the SDK's own throttle retries are turned
off so that every wait honours the server's Retry-After and counts against one budget. When
the budget is spent the run stops with WriteBudgetSpent (exit 76), to be retried later.

Over 300 lines because the throttle budget, the write statistics and the upserts share one
client and lock; a split is due once the work in progress on this module has landed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import Any, TypeVar

import requests
import requests.adapters
from azure.core.credentials import TokenCredential
from azure.core.exceptions import (
    ClientAuthenticationError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.pipeline.transport import RequestsTransport
from azure.cosmos import ContainerProxy, CosmosClient

# The public re-export (azure.cosmos.documents) is not typed as exported.
from azure.cosmos._retry_options import RetryOptions
from azure.cosmos.documents import ConnectionPolicy, SSLConfiguration
from azure.cosmos.exceptions import CosmosHttpResponseError

from worker.contract import COSMOS_ENDPOINT, COSMOS_THROTTLE_BUDGET_SECONDS
from worker.credentials import Credentials
from worker.errors import (
    ServiceError,
    WorkerConfigError,
    WorkerError,
    WorkerTransientError,
    WriteBudgetSpent,
)
from worker.options import WriteOptions
from worker.settings import WorkerSettings

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

_RETRYABLE_STATUS = {408, 449, 500, 502, 503, 504}
_DEFAULT_THROTTLE_WAIT = 1.0
_QUERY = "query documents"


STAT_NAMES = (
    "written",
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
        session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(
            pool_connections=2, pool_maxsize=max(10, settings.writes.concurrency)
        )
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        kwargs["transport"] = RequestsTransport(session=session, session_owner=True)
        if credentials.cosmos_ca_cert is not None:
            # With an explicit SSL configuration the SDK verifies against this CA even for a
            # local address (it skips verification for localhost otherwise).
            kwargs["ssl_config"] = SSLConfiguration()
            kwargs["connection_verify"] = str(credentials.cosmos_ca_cert)
        with _translated("connect to Cosmos DB"):
            client = CosmosClient(settings.cosmos_endpoint, credential=credential, **kwargs)
            container = client.get_database_client(settings.cosmos_database).get_container_client(
                settings.records_container
            )
        return cls(client, container, settings.writes)

    def close(self) -> None:
        """Close the Cosmos DB client."""
        self._client.close()

    def upsert_all(self, documents: Iterable[dict[str, Any]]) -> None:
        """Upsert every document, `concurrency` at a time; the first failure stops the rest."""
        self._run_concurrently(documents, self._upsert_one)

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

    def _upsert_one(self, document: dict[str, Any]) -> None:
        try:
            self._with_retries(lambda: self._container.upsert_item(document), "write a document")
        except _Gone:
            raise ServiceError("write a document: database or container not found") from None
        self.stats.add("written")

    def _delete_one(self, key: tuple[str, Any]) -> None:
        item_id, pk = key
        try:
            self._with_retries(
                lambda: self._container.delete_item(item_id, partition_key=pk), "delete a document"
            )
        except _Gone:
            return
        self.stats.add("deleted")

    def _with_retries(self, operation: Callable[[], R], action: str) -> R:
        """Run `operation`, waiting out throttling and retrying 408/449/5xx, boundedly."""
        options = self._options
        for attempt in range(1, options.max_attempts + 1):
            if self._stop.is_set():
                raise _Cancelled()
            if action != _QUERY:
                self.stats.add("attempts")
            try:
                return operation()
            except CosmosHttpResponseError as e:
                if e.status_code == 404:
                    raise _Gone() from e
                if e.status_code == 429:
                    self._wait_throttled(_retry_after_seconds(e), attempt)
                    continue
                if e.status_code in _RETRYABLE_STATUS and attempt < options.max_attempts:
                    self._note_retry()
                    time.sleep(min(0.1 * 2**attempt, 5.0))
                    continue
                with _translated(action):
                    raise
            except (ServiceRequestError, ServiceResponseError, ClientAuthenticationError):
                with _translated(action):
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


class _Gone(Exception):
    pass


class _Cancelled(Exception):
    pass


def _raise_first(done: Iterable[Future[None]]) -> None:
    errors = [f.exception() for f in done if f.exception() is not None]
    real = [e for e in errors if not isinstance(e, _Cancelled)]
    if real:
        raise real[0]  # type: ignore[misc]


def _retry_after_seconds(error: CosmosHttpResponseError) -> float:
    headers: Any = getattr(error, "headers", None) or {}
    if error.response is not None:
        headers = getattr(error.response, "headers", headers)
    for name in ("x-ms-retry-after-ms", "retry-after-ms"):
        value = headers.get(name)
        if value:
            try:
                return max(float(value) / 1000.0, 0.0)
            except ValueError:
                pass
    value = headers.get("retry-after")
    if value:
        try:
            return max(float(value), 0.0)
        except ValueError:
            pass
    return _DEFAULT_THROTTLE_WAIT


@contextmanager
def _translated(action: str) -> Iterator[None]:
    try:
        yield
    except WorkerError:
        raise
    except ClientAuthenticationError as e:
        raise WorkerConfigError("Cosmos DB credential", f"{action}: refused") from e
    except (ServiceRequestError, ServiceResponseError) as e:
        raise WorkerTransientError(f"{action}: Cosmos DB unreachable ({type(e).__name__})") from e
    except CosmosHttpResponseError as e:
        if e.status_code in (401, 403):
            raise WorkerConfigError(
                "Cosmos DB credential", f"{action}: refused ({e.status_code})"
            ) from e
        if e.status_code == 429:
            raise WriteBudgetSpent(f"{action}: Cosmos DB throttled") from e
        if e.status_code in _RETRYABLE_STATUS:
            raise WorkerTransientError(f"{action}: Cosmos DB answered {e.status_code}") from e
        if e.status_code == 404:
            raise ServiceError(f"{action}: database or container not found") from e
        raise ServiceError(f"{action}: Cosmos DB answered {e.status_code}") from e
