"""No secret anywhere a stranger or an operator may look: a mix of files (a CSV, a zip, a
command route with outputs, a rejected and a failed file) runs through the whole local stack,
then every Batch pool, job and task definition, every log line the stack wrote, every blob in
`results` and `logs`, every alert and every webhook body is searched for the stack's keys
(Azurite's, the Cosmos server's, the Batch account's, the Functions host's) and for the
shape of any other credential (SAS signature, AccountKey=, bearer token, SharedKey)."""

from __future__ import annotations

import base64
import json
import secrets
import threading
import urllib.parse
import urllib.request
import uuid
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from azure.batch import BatchClient

from batch_core.batch_service import batch_client
from batch_core.blobstore import blob_service
from batch_core.cosmosdb import ALERTS, cosmos_client
from batch_core.pipeline import Pipeline
from batch_core.settings import Settings
from devstack.stack import Stack
from tests.conftest import TEST_OVERRIDES, _start
from tests.e2e.runs import wait_for_runs
from tests.e2e.secretscan import SecretScanner

pytestmark = [pytest.mark.e2e, pytest.mark.stack]

ROUTES = """
version = 1

[defaults]
max_attempts = 2
backoff = "0s"

[pool.tools]
id = "{pool}"
autoscale = false
dedicated_max = 1
task_slots_per_node = 4

[[route]]
name = "zips"
match = ["**.zip"]
kind = "zip"

[[route]]
name = "csvs"
match = ["**.csv"]
kind = "csv"

# The task's whole environment goes into its outputs and its stdout: whatever Batch hands a
# task is scanned where an operator would read it.
[[route]]
name = "echo"
match = ["**/echo/*.txt"]
kind = "command"
pool = "tools"
[route.task]
command = '''/bin/sh -c 'mkdir -p out && cp "{{base}}" out/ && env | sort | tee out/env.txt' '''
resource_files = [{{ source = "input", path = "{{base}}" }}]
outputs = [{{ pattern = "out/**/*", to = "results:{{results}}/", upload = "task_success" }}]

[[route]]
name = "boom"
match = ["**/boom/*.txt"]
kind = "command"
pool = "tools"
exit_codes = {{ no_retry = [2] }}
[route.task]
command = '''/bin/sh -c 'env | sort >&2; echo broken >&2; exit 2' '''
"""


class Webhook:
    """A webhook receiver on a free port, keeping every body it is sent."""

    def __init__(self) -> None:
        bodies: list[str] = []
        self.bodies = bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                bodies.append(self.rfile.read(length).decode("utf-8", errors="replace"))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.close()


@pytest.fixture(scope="module")
def scanned_stack(tmp_path_factory: pytest.TempPathFactory, webhook: Webhook) -> Iterator[Stack]:
    """The whole stack, Functions host included, with the routes above and the webhook."""
    folder = tmp_path_factory.mktemp("secrets")
    routes = folder / "routes.toml"
    routes.write_text(ROUTES.format(pool=f"tools-{uuid.uuid4().hex[:8]}"), encoding="utf-8")
    overrides = {
        **TEST_OVERRIDES,
        "DROPBATCH_ROUTES_FILE": str(routes),
        "DROPBATCH_ALERT_WEBHOOK_URL": webhook.url,
    }
    stack = _start(folder / "stack", True, overrides)
    yield stack
    stack.stop()


def stack_secrets(stack: Stack) -> dict[str, str]:
    """Every key the stack holds, read from the stack itself."""
    assert stack.azurite and stack.cosmos and stack.batch
    connection = stack.azurite.connection_string
    account_key = connection.split("AccountKey=", 1)[1].split(";", 1)[0]
    return {
        "Azurite account key": account_key,
        "Cosmos key": stack.cosmos.key,
        "Batch account key": stack.batch.key or "",
        "Functions host key": stack.function_key,
    }


def batch_definitions(batch: BatchClient) -> Iterator[tuple[str, str]]:
    """Every pool, job and task as the Batch API returns it: command lines, environments,
    resource and output file URLs, start tasks."""
    for pool in batch.list_pools():
        yield f"pool {pool.id}", json.dumps(pool.as_dict())
    for job in batch.list_jobs():
        yield f"job {job.id}", json.dumps(job.as_dict())
        for task in batch.list_tasks(job.id):
            yield f"task {job.id}/{task.id}", json.dumps(task.as_dict())


def log_files(stack: Stack) -> Iterator[tuple[str, str]]:
    """The stack's own logs and every task's stdout/stderr on the nodes."""
    found = sorted((stack.state_dir / "logs").rglob("*"))
    nodes = stack.state_dir / "batch-nodes"
    found += sorted(p for p in nodes.rglob("*") if p.name in ("stdout.txt", "stderr.txt"))
    for path in found:
        if path.is_file():
            place = f"file {path.relative_to(stack.state_dir)}"
            yield place, path.read_text(encoding="utf-8", errors="replace")


def blobs_of(settings: Settings, container: str) -> Iterator[tuple[str, str]]:
    client = blob_service(settings).get_container_client(container)
    for blob in client.list_blobs():
        data = client.download_blob(blob.name).readall()
        yield f"blob {container}/{blob.name}", data.decode("utf-8", errors="replace")


def status_pages(stack: Stack, prefix: str) -> Iterator[tuple[str, str]]:
    """What the status page serves an operator (the key goes in the request, never back)."""
    assert stack.functions_url
    query = urllib.parse.urlencode({"code": stack.function_key, "q": prefix})
    for route in ("status", "status.json"):
        url = f"{stack.functions_url}/api/{route}?{query}"
        with urllib.request.urlopen(url, timeout=30) as response:
            yield f"page /api/{route}", response.read().decode("utf-8", errors="replace")


def alert_documents(settings: Settings) -> Iterator[tuple[str, str]]:
    alerts = (
        cosmos_client(settings)
        .get_database_client(settings.cosmos_database)
        .get_container_client(ALERTS)
    )
    for doc in alerts.read_all_items():
        yield f"alert {doc['id']} ({doc['kind']} {doc['subject']})", json.dumps(doc)


def test_no_key_token_or_signature_anywhere_after_a_mix_of_files(
    scanned_stack: Stack, webhook: Webhook, samples: Path
) -> None:
    stack = scanned_stack
    p = Pipeline.build(Settings.from_env(stack.values))
    s = p.settings
    prefix = f"scan-{uuid.uuid4().hex[:6]}/"
    csv_file, zip_file = sorted(samples.glob("*.csv"))[0], sorted(samples.glob("*.zip"))[0]
    drops = {
        csv_file.name: csv_file.read_bytes(),
        zip_file.name: zip_file.read_bytes(),
        "echo/words.txt": b"some words\n",
        "boom/broken.txt": b"x\n",
        "notes.txt": b"no route takes this\n",  # rejected: no route
        "binary.csv": b"id,name\n1,\x00\x01\x02\xff\xfe\n",  # rejected: not text
    }

    # When a mix of files runs through the whole stack
    for name, data in drops.items():
        p.blobs.upload(s.container_incoming, prefix + name, data)
    with zipfile.ZipFile(zip_file) as archive:
        entries = len(archive.namelist())
    runs = {r.name[len(prefix) :]: r for r in wait_for_runs(p, prefix, len(drops) + entries)}

    # Then each ended as expected: succeeded, rejected, failed (alerted through the webhook)
    states = {name: r.state.value for name, r in runs.items() if name in drops}
    assert states == {
        csv_file.name: "succeeded",
        zip_file.name: "succeeded",
        "echo/words.txt": "succeeded",
        "boom/broken.txt": "failed",
        "notes.txt": "rejected",
        "binary.csv": "rejected",
    }, {n: r.reason for n, r in runs.items()}
    assert any("boom/broken.txt" in body for body in webhook.bodies), webhook.bodies
    results = {b.name for b in p.blobs.list(s.container_results, prefix)}
    assert any(name.endswith("/env.txt") for name in results), results

    # And no key, token or signature is anywhere
    scanner = SecretScanner(stack_secrets(stack))
    looked_at = {
        "batch": scanner.scan_all(batch_definitions(batch_client(s))),
        "log files": scanner.scan_all(log_files(stack)),
        "results": scanner.scan_all(blobs_of(s, s.container_results)),
        "logs": scanner.scan_all(blobs_of(s, s.container_logs)),
        "alerts": scanner.scan_all(alert_documents(s)),
        "status page": scanner.scan_all(status_pages(stack, prefix)),
        "webhook": scanner.scan_all((f"webhook body {i}", b) for i, b in enumerate(webhook.bodies)),
    }
    assert all(looked_at.values()), f"a source had nothing to scan: {looked_at}"
    assert not scanner.findings, "secrets found:\n" + scanner.report()


def test_the_scanner_finds_each_kind_of_secret() -> None:
    # The scan above can fail: each secret form and shape is found, and the excerpt hides it
    key = base64.b64encode(secrets.token_bytes(64)).decode()
    scanner = SecretScanner({"a key": key})
    scanner.scan("plain", f"key is {key} here")
    scanner.scan("url-encoded", "https://x/?k=" + urllib.parse.quote(key, safe=""))
    scanner.scan("sas", "https://a.blob/c/b?sv=2021&sp=r&sig=abcdEFGH1234%2B%3D")
    scanner.scan("conn", "DefaultEndpointsProtocol=http;AccountName=x;AccountKey=c2VjcmV0c2VjcmV0;")
    scanner.scan("bearer", "Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln")
    scanner.scan("sharedkey", "Authorization: SharedKey devstoreaccount1:c2lnbmF0dXJlc2lnbmF0dXJl")
    scanner.scan("clean", "Bearer accepted: 3; SharedKey refused; sig= is a SAS field")
    found = {(f.place, f.what) for f in scanner.findings}
    assert ("plain", "a key") in found
    assert ("url-encoded", "a key") in found
    assert ("sas", "SAS signature") in found
    assert ("conn", "connection-string key") in found
    assert ("bearer", "bearer token") in found
    assert ("sharedkey", "SharedKey authorization") in found
    assert not [f for f in scanner.findings if f.place == "clean"]
    assert all(key not in str(f) for f in scanner.findings)
