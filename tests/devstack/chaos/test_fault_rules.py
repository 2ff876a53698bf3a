"""The stack's fault rules on its storage and Cosmos hops, through real SDK clients: a rule
scoped to one caller (User-Agent) spares the others; a lost response took effect; a timeout
did not; throttling says when to come back."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.core.exceptions import AzureError, HttpResponseError
from azure.cosmos import ContainerProxy, CosmosClient
from azure.cosmos._retry_options import RetryOptions  # not re-exported publicly
from azure.cosmos.documents import ConnectionPolicy, SSLConfiguration
from azure.cosmos.exceptions import CosmosHttpResponseError
from azure.storage.blob import BlobServiceClient

from batch_core.cosmosdb import RECORDS
from batch_core.settings import Settings
from devstack.chaos.control import Faults
from devstack.stack import Stack

pytestmark = [pytest.mark.stack]


@pytest.fixture(scope="module")
def chaos_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(tmp_path_factory.mktemp("faults"), chaos=True).start(with_functions=False)
    yield stack
    stack.stop()


@pytest.fixture
def faults(chaos_stack: Stack) -> Iterator[Faults]:
    f = Faults(chaos_stack)
    yield f
    f.clear()


def blobs(stack: Stack, agent: str | None) -> BlobServiceClient:
    assert stack.azurite is not None
    return BlobServiceClient.from_connection_string(
        stack.azurite.connection_string, retry_total=0, user_agent=agent or ""
    )


@pytest.fixture
def opened() -> Iterator[list[CosmosClient]]:
    """The Cosmos clients a test opens, closed after it (no socket left to the collector)."""
    clients: list[CosmosClient] = []
    yield clients
    for client in clients:
        client.close()


def records(stack: Stack, agent: str | None, opened: list[CosmosClient]) -> ContainerProxy:
    """The records container through a client whose User-Agent ends with `agent`; it
    retries nothing, so each injected fault reaches the test."""
    settings = Settings.from_env(stack.values)
    policy = ConnectionPolicy()
    policy.SSLConfiguration = SSLConfiguration()
    policy.SSLConfiguration.SSLCaCerts = settings.cosmos_ca_cert
    policy.RetryOptions = RetryOptions(max_retry_attempt_count=0)
    assert settings.cosmos_key is not None
    client = CosmosClient(settings.cosmos_endpoint, settings.cosmos_key,
                          connection_policy=policy, user_agent_suffix=agent)  # fmt: skip
    opened.append(client)
    return client.get_database_client(settings.cosmos_database).get_container_client(RECORDS)


def test_a_storage_fault_for_one_caller_spares_the_others(
    chaos_stack: Stack, faults: Faults
) -> None:
    container = blobs(chaos_stack, None).get_container_client(f"c{uuid.uuid4().hex[:8]}")
    container.create_container()
    faults.add("storage", kind="error", status=503, caller="*dropbatch-worker*")
    container.upload_blob("spared.txt", b"x")  # another caller
    worker = blobs(chaos_stack, "dropbatch-worker").get_container_client(container.container_name)
    with pytest.raises(HttpResponseError) as raised:
        worker.upload_blob("faulted.txt", b"x")
    assert raised.value.status_code == 503
    assert [b.name for b in container.list_blobs()] == ["spared.txt"]


def test_a_lost_storage_response_took_effect_and_a_timeout_did_not(
    chaos_stack: Stack, faults: Faults
) -> None:
    container = blobs(chaos_stack, None).get_container_client(f"c{uuid.uuid4().hex[:8]}")
    container.create_container()
    app = blobs(chaos_stack, "dropbatch-app").get_container_client(container.container_name)
    faults.add("storage", kind="drop", operation="PUT *dropped*", caller="*dropbatch-app*")
    faults.add("storage", kind="timeout", latency_ms=100, operation="PUT *held*")
    for name in ("dropped.txt", "held.txt"):
        with pytest.raises(AzureError):
            app.upload_blob(name, b"x")
    assert [b.name for b in container.list_blobs()] == ["dropped.txt"]


def test_cosmos_throttles_with_retry_after_and_drops_after_applying(
    chaos_stack: Stack, faults: Faults, opened: list[CosmosClient]
) -> None:
    worker = records(chaos_stack, "dropbatch-worker", opened)
    other = records(chaos_stack, None, opened)
    pk = uuid.uuid4().hex
    faults.add("cosmos", kind="throttle", retry_after=2, caller="*dropbatch-worker*", count=1,
               operation="POST /dbs/*/colls/records/docs*")  # fmt: skip
    with pytest.raises(CosmosHttpResponseError) as raised:
        worker.create_item({"id": "a", "pk": pk})
    assert raised.value.status_code == 429
    assert raised.value.headers.get("x-ms-retry-after-ms") == "2000"
    faults.add("cosmos", kind="drop", caller="*dropbatch-worker*", count=1,
               operation="POST /dbs/*/colls/records/docs*")  # fmt: skip
    with pytest.raises(AzureError):
        worker.create_item({"id": "b", "pk": pk})
    held = other.query_items(
        "SELECT VALUE c.id FROM c WHERE c.pk = @k",
        parameters=[{"name": "@k", "value": pk}],
        partition_key=pk,
    )
    assert sorted(str(i) for i in held) == ["b"]


def test_a_rule_the_servers_do_not_know_is_refused(chaos_stack: Stack) -> None:
    assert chaos_stack.cosmos is not None
    url = chaos_stack.cosmos.endpoint.rstrip("/") + "/_devstack/faults"
    tls = ssl.create_default_context(cafile=str(Path(chaos_stack.cosmos.ca_cert)))
    body = json.dumps({"kind": "meltdown"}).encode()
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(urllib.request.Request(url, body, method="POST"), context=tls)
    assert raised.value.code == 400
    raised.value.close()
