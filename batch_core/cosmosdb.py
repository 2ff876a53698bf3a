"""The Cosmos DB account: client construction, provisioning and error translation."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from azure.core.exceptions import AzureError, ServiceRequestError, ServiceResponseError
from azure.cosmos import CosmosClient, DatabaseProxy, PartitionKey
from azure.cosmos.documents import ConnectionPolicy, SSLConfiguration
from azure.cosmos.exceptions import CosmosHttpResponseError

from batch_core.credentials import cosmos_credential
from batch_core.errors import (
    ConflictError,
    DropbatchError,
    NotFoundError,
    PermanentError,
    TransientError,
)
from batch_core.settings import Settings
from worker.transport import pooled_transport

RUNS = "runs"
RECORDS = "records"
ALERTS = "alerts"
# Container name → partition key path. Records are partitioned by `pk`, which the worker sets
# (by default the file key, so one file's writes and its reprocessing stay in one partition).
CONTAINERS = {RUNS: "/id", RECORDS: "/pk", ALERTS: "/id"}

T = TypeVar("T")


def cosmos_client(settings: Settings) -> CosmosClient:
    """A Cosmos DB client for the settings' endpoint, with its key or the identity; TLS stays
    verified against the configured CA file."""
    policy = ConnectionPolicy()
    if settings.cosmos_ca_cert:
        # The local server's certificate is self-signed. azure-cosmos skips verification for
        # 127.0.0.1 unless a CA file is configured, so naming it keeps TLS verified.
        policy.SSLConfiguration = SSLConfiguration()
        policy.SSLConfiguration.SSLCaCerts = settings.cosmos_ca_cert
    credential = cosmos_credential(settings.cosmos_key, settings.identity)
    return CosmosClient(
        settings.cosmos_endpoint, credential, connection_policy=policy, transport=pooled_transport()
    )


def database(client: CosmosClient, settings: Settings) -> DatabaseProxy:
    """The pipeline's database."""
    return client.get_database_client(settings.cosmos_database)


def provision(client: CosmosClient, settings: Settings) -> None:
    """Create the database and containers if missing (idempotent)."""
    with translated("provision Cosmos DB"):
        db = client.create_database_if_not_exists(settings.cosmos_database)
        for name, path in CONTAINERS.items():
            db.create_container_if_not_exists(name, PartitionKey(path))


def translate(error: AzureError, doing: str) -> DropbatchError:
    """The dropbatch error for a Cosmos DB SDK error: not found, conflict, transient, permanent."""
    if isinstance(error, CosmosHttpResponseError):
        status = error.status_code or 0
        if status == 404:
            return NotFoundError(f"{doing}: not found")
        if status in (409, 412):
            return ConflictError(f"{doing}: changed by someone else (HTTP {status})")
        if status in (408, 429, 449) or status >= 500:
            return TransientError(f"{doing}: Cosmos DB answered HTTP {status}; will retry")
        return PermanentError(f"{doing}: Cosmos DB answered HTTP {status}: {error.message}")
    if isinstance(error, ServiceRequestError | ServiceResponseError):
        return TransientError(f"{doing}: Cosmos DB unreachable ({type(error).__name__})")
    return PermanentError(f"{doing}: {type(error).__name__}: {error}")


@contextmanager
def translated(doing: str) -> Iterator[None]:
    """Run the block with Cosmos DB errors translated (see `translate`)."""
    try:
        yield
    except AzureError as e:
        raise translate(e, doing) from e


def call(doing: str, fn: Callable[[], T]) -> T:
    """`fn()` with Cosmos DB errors translated (see `translate`)."""
    with translated(doing):
        return fn()
