"""End to end with no key anywhere: the whole local stack started keyless (identities and
tokens, as Azure runs it with shared keys and local auth disabled) processes a CSV and a
zip, and nothing on the way holds or uses an account key."""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.core.credentials import AzureNamedKeyCredential
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
from azure.cosmos import CosmosClient
from azure.cosmos.documents import ConnectionPolicy, SSLConfiguration
from azure.storage.blob import BlobServiceClient

from batch_core.batch_service import batch_client
from batch_core.cosmosdb import RECORDS, cosmos_client
from batch_core.pipeline import Pipeline
from batch_core.run import Run
from batch_core.settings import Settings
from devstack.servers import AZURITE_KEY, BATCH_KEY, COSMOS_KEY
from devstack.stack import APP_ENVIRONMENT, Stack
from tests.conftest import TEST_OVERRIDES

pytestmark = [pytest.mark.e2e, pytest.mark.stack]
TIMEOUT_SECONDS = 240
KEYS = ("AccountKey=", AZURITE_KEY, COSMOS_KEY, BATCH_KEY)


@pytest.fixture(scope="module")
def keyless_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(tmp_path_factory.mktemp("keyless"))
    try:
        stack.start(overrides=TEST_OVERRIDES, keyless=True)
    except BaseException:
        stack.stop()
        raise
    yield stack
    stack.stop()


@pytest.fixture
def as_the_app(keyless_stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Pipeline:
    """The test acts with the function app's identity: its environment, its settings."""
    for name in APP_ENVIRONMENT:
        monkeypatch.setenv(name, keyless_stack.values[name])
    return Pipeline.build(Settings.from_env(keyless_stack.values))


def admin_json(url: str, ca_cert: Path) -> Any:
    context = ssl.create_default_context(cafile=str(ca_cert))
    with urllib.request.urlopen(url, timeout=10, context=context) as response:
        return json.loads(response.read())


def wait_for_runs(p: Pipeline, prefix: str, expected: int) -> list[Run]:
    deadline = time.monotonic() + TIMEOUT_SECONDS
    runs: list[Run] = []
    while time.monotonic() < deadline:
        runs = [r for r in p.ledger.recent(1000) if r.name.startswith(prefix)]
        if len(runs) >= expected and all(r.state.terminal for r in runs):
            return runs
        time.sleep(1)
    states = sorted((r.name, r.state.value) for r in runs)
    raise AssertionError(f"{len(runs)}/{expected} runs, not all terminal: {states}")


def no_key_in(text: str) -> bool:
    return not any(key in text for key in KEYS)


def test_a_keyless_stack_runs_a_csv_and_a_zip_with_no_key_anywhere(
    keyless_stack: Stack, as_the_app: Pipeline, samples: Path
) -> None:
    stack, p = keyless_stack, as_the_app
    assert stack.identity is not None and stack.azurite is not None and stack.batch is not None
    assert stack.cosmos is not None
    prefix = f"keyless-{uuid.uuid4().hex[:6]}/"
    csv_file, zip_file = sorted(samples.glob("*.csv"))[0], sorted(samples.glob("*.zip"))[0]

    # When a CSV and a zip are dropped into `incoming`
    for path in (csv_file, zip_file):
        p.blobs.upload(p.settings.container_incoming, prefix + path.name, path.read_bytes())

    # Then both end succeeded, the zip's CSVs too
    with zipfile.ZipFile(zip_file) as archive:
        entries = len(archive.namelist())
    runs = wait_for_runs(p, prefix, expected=2 + entries)
    assert {r.state.value for r in runs} == {"succeeded"}, [(r.name, r.reason) for r in runs]
    assert {r.route for r in runs} == {"csv", "zip"}
    zip_run = next(r for r in runs if r.route == "zip")
    assert len(zip_run.children) == entries
    # And Cosmos holds one document per row of the dropped CSV
    csv_run = next(r for r in runs if r.name == prefix + csv_file.name)
    rows = len(csv_file.read_text(encoding="utf-8").splitlines()) - 1
    records = (
        cosmos_client(p.settings)
        .get_database_client(p.settings.cosmos_database)
        .get_container_client(RECORDS)
    )
    ids = list(
        records.query_items(
            "SELECT VALUE c.id FROM c WHERE c.file_key = @k",
            parameters=[{"name": "@k", "value": csv_run.key}],
            enable_cross_partition_query=True,
        )
    )
    assert len(ids) == rows

    # And no setting names or holds a key
    for name in ("AzureWebJobsStorage", "DROPBATCH_BATCH_KEY", "DROPBATCH_COSMOS_KEY"):
        assert name not in stack.values
    assert [n for n, v in stack.values.items() if not no_key_in(v)] == []
    settings_text = stack.settings_file.read_text()
    assert no_key_in(settings_text)
    # And the nodes' credentials file holds no key: the certificate to trust and where the
    # node's metadata service answers for the pool identity
    for credentials in (stack.state_dir / "batch-nodes").glob("*/*/shared/dropbatch/*.json"):
        assert sorted(json.loads(credentials.read_text())) == [
            "DROPBATCH_COSMOS_CA_CERT",
            "DROPBATCH_NODE_IDENTITY_AUTHORITY",
        ]
        assert no_key_in(credentials.read_text())
    # And every task's stdout/stderr reached `logs` through output files, with the identity
    logs = [
        b.name for b in p.blobs.list(p.settings.container_logs) if b.name.endswith("stderr.txt")
    ]
    assert len(logs) >= len(runs)
    # And no task's command line or environment holds one
    batch = batch_client(p.settings)
    tasks = [t for job in batch.list_jobs() for t in batch.list_tasks(job.id)]
    assert tasks
    for task in tasks:
        env = {s.name: s.value or "" for s in task.environment_settings or []}
        assert no_key_in(task.command_line), task.id
        assert [n for n, v in env.items() if not no_key_in(v)] == [], task.id
        assert env.get("DROPBATCH_WORKER_IDENTITY_CLIENT_ID") == stack.identity.node_client_id

    # And every service was reached with tokens, never with a key
    batch_stats = admin_json(f"{stack.batch.url}/_devstack/stats", stack.ca_cert)
    auth = batch_stats["authentication"]
    assert auth.get("Bearer accepted", 0) > 0 and "SharedKey accepted" not in auth, auth
    cosmos_auth = admin_json(f"{stack.cosmos.endpoint}_devstack/auth", stack.ca_cert)
    assert cosmos_auth["authentication"].get("aad accepted", 0) > 0, cosmos_auth
    assert [k for k in cosmos_auth["authentication"] if k.endswith(" accepted")] == ["aad accepted"]
    debug = stack.azurite.debug_log.read_text(encoding="utf-8", errors="replace")
    assert "Validation against token authentication successfully" in debug
    assert "matched." not in debug  # "Signature 1 matched.": a SharedKey request accepted
    # And tokens went to the app's identity and, through the nodes' metadata endpoint, to
    # the pool's identity
    with urllib.request.urlopen(f"{stack.identity.url}/_devstack/stats", timeout=10) as r:
        issued = json.loads(r.read())["issued"]
    app_id, node_id = stack.identity.app_client_id, stack.identity.node_client_id
    assert f"app_service {app_id} https://batch.core.windows.net/" in issued, issued
    assert f"imds {node_id} https://storage.azure.com" in issued, issued
    assert f"imds {node_id} https://127.0.0.1" in issued, issued  # Cosmos, from the worker


def test_the_keyless_services_refuse_the_well_known_keys(keyless_stack: Stack) -> None:
    stack = keyless_stack
    assert stack.azurite is not None and stack.cosmos is not None and stack.batch is not None
    ca = str(stack.ca_cert)
    # Azurite: the emulator's well-known key signs nothing here
    blobs = BlobServiceClient(
        stack.azurite.blob_endpoint,
        credential=AzureNamedKeyCredential("devstoreaccount1", AZURITE_KEY),
        connection_verify=ca,
    )
    with pytest.raises(ClientAuthenticationError):
        list(blobs.list_containers())
    # Cosmos: local (master key) authorization is disabled
    policy = ConnectionPolicy()
    policy.SSLConfiguration = SSLConfiguration()
    policy.SSLConfiguration.SSLCaCerts = ca
    with pytest.raises(HttpResponseError) as refused:
        cosmos = CosmosClient(stack.cosmos.endpoint, COSMOS_KEY, connection_policy=policy)
        list(cosmos.list_databases())
    assert refused.value.status_code == 401
    # Batch: the account allows Entra ID tokens only
    from azure.batch import BatchClient

    batch = BatchClient(
        stack.batch.url,
        AzureNamedKeyCredential(stack.batch.account, BATCH_KEY),
        connection_verify=ca,
    )
    with pytest.raises(HttpResponseError) as denied:
        list(batch.list_pools())
    assert denied.value.status_code == 401
    try:
        stats = admin_json(f"{stack.batch.url}/_devstack/stats", stack.ca_cert)
    except urllib.error.URLError as e:  # pragma: no cover - the service is up above
        raise AssertionError(e) from e
    assert stats["authentication"].get("SharedKey refused", 0) >= 1
