"""How the worker reads Cosmos DB's errors: which to retry, how long throttling says to wait,
and what each one means as the worker's own error (and so its exit code)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.cosmos.exceptions import CosmosBatchOperationError, CosmosHttpResponseError

from worker.batches import Batch
from worker.errors import (
    ServiceError,
    WorkerConfigError,
    WorkerError,
    WorkerTransientError,
    WriteBudgetSpent,
)

RETRYABLE_STATUS = {408, 449, 500, 502, 503, 504}
TOO_LARGE = 413
_DEFAULT_THROTTLE_WAIT = 1.0


def refused(batch: Batch, error: CosmosBatchOperationError) -> WorkerError:
    """The error for a batch refused because of one of its operations, naming its row: a
    transient one (exit 75) when that operation's status is worth retrying later."""
    kind = WorkerTransientError if error.status_code in RETRYABLE_STATUS else ServiceError
    index = error.error_index if isinstance(error.error_index, int) else -1
    if not 0 <= index < len(batch):
        return kind(
            f"write a batch of {batch.describe()}: Cosmos DB refused it ({error.status_code})"
        )
    document = batch.documents[index]
    return kind(
        f"write row {document['row']}: Cosmos DB refused its document (id {document['id']})"
        f" with {error.status_code}, so its batch of {batch.describe()} was not written"
    )


def retry_after_seconds(error: HttpResponseError) -> float:
    """How long the service asked to wait before the next try (its Retry-After headers)."""
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
def translated(action: str) -> Iterator[None]:
    """Turn the Cosmos SDK's errors raised inside the block into the worker's, naming `action`."""
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
        if e.status_code in RETRYABLE_STATUS:
            raise WorkerTransientError(f"{action}: Cosmos DB answered {e.status_code}") from e
        if e.status_code == 404:
            raise ServiceError(f"{action}: database or container not found") from e
        raise ServiceError(f"{action}: Cosmos DB answered {e.status_code}") from e
