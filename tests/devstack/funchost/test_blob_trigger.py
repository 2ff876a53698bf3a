"""Blob triggers behave as the real host's: once per blob version, retried, then poisoned."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueServiceClient

from tests.devstack.funchost.conftest import AppFactory, Azurite, FunctionApp, HostProcess

pytestmark = pytest.mark.stack

APP = """
import json
import os
import pathlib

import azure.functions as func

app = func.FunctionApp()
RECORD = pathlib.Path(os.environ["FUNCHOST_TEST_RECORD"])


def record(**fields):
    with RECORD.open("a") as f:
        f.write(json.dumps(fields) + "\\n")


@app.blob_trigger(arg_name="blob", path="incoming-SUFFIX/{name}", connection="AzureWebJobsStorage")
def on_blob(blob: func.InputStream) -> None:
    content = blob.read()
    record(function="on_blob", name=blob.name, uri=blob.uri, length=blob.length,
           content=content.decode(), properties=blob.blob_properties, metadata=blob.metadata,
           is_input_stream=isinstance(blob, func.InputStream))


@app.blob_trigger(arg_name="blob", path="quiet-SUFFIX/{name}", connection="AzureWebJobsStorage")
def on_quiet(blob: func.InputStream) -> None:
    record(function="on_quiet", name=blob.name, length=blob.length)


@app.blob_trigger(arg_name="blob", path="failing-SUFFIX/{name}", connection="AzureWebJobsStorage")
def always_fails(blob: func.InputStream) -> None:
    raise RuntimeError("this function always fails")
"""


def _blob_app(
    apps: AppFactory,
    azurite: Azurite,
    host_json: dict[str, Any] | None = None,
) -> tuple[FunctionApp, BlobServiceClient]:
    app = apps.write(APP, {"AzureWebJobsStorage": azurite.connection_string}, host_json)
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    for container in ("incoming", "quiet", "failing"):
        service.create_container(f"{container}-{app.suffix}")
    return app, service


def _upload(
    service: BlobServiceClient,
    app: FunctionApp,
    container: str,
    name: str,
    data: bytes,
    **kwargs: Any,
) -> str:
    client = service.get_blob_client(f"{container}-{app.suffix}", name)
    return str(client.upload_blob(data, overwrite=True, **kwargs)["etag"])


def _succeeded(host: HostProcess, function: str) -> list[dict[str, Any]]:
    return host.events("invocation", function=function, outcome="succeeded")


def _blob_of(app: FunctionApp, container: str, name: str) -> str:
    return f"{container}-{app.suffix}/{name}"


def test_the_host_reports_ready_with_the_functions_it_serves(
    apps: AppFactory, azurite: Azurite
) -> None:
    app, _ = _blob_app(apps, azurite)

    host = apps.start(app)

    assert host.ready_line() == {
        "event": "ready",
        "service": "functions",
        "functions": ["on_blob", "on_quiet", "always_fails"],
    }
    assert host.stop() == 0


def test_each_new_blob_fires_its_function_once_with_an_input_stream(
    apps: AppFactory, azurite: Azurite
) -> None:
    app, service = _blob_app(apps, azurite)
    host = apps.start(app)
    host.ready_line()

    # Given three blobs, one with metadata and a content type
    for name in ("a.csv", "b.csv"):
        _upload(service, app, "incoming", name, b"x,y\n1,2\n")
    _upload(service, app, "incoming", "dir/c.csv", b"hello", metadata={"source": "test"})
    host.wait_until(lambda: len(_succeeded(host, "on_blob")) >= 3, "three invocations")

    # When a later blob has been seen (so earlier blobs went through more scans)
    _upload(service, app, "incoming", "sentinel.csv", b"s")
    host.wait_until(lambda: len(_succeeded(host, "on_blob")) >= 4, "the sentinel")

    # Then each blob fired exactly once
    names = sorted(e["blob"] for e in host.events("invocation", function="on_blob"))
    assert names == sorted(
        _blob_of(app, "incoming", n) for n in ("a.csv", "b.csv", "dir/c.csv", "sentinel.csv")
    )
    # And the function got what the real host gives: container/name, uri, length, properties
    (record,) = [r for r in app.records() if r["name"] == _blob_of(app, "incoming", "dir/c.csv")]
    assert record["is_input_stream"] is True
    assert record["content"] == "hello"
    assert record["length"] == 5
    assert record["uri"].endswith(f"/incoming-{app.suffix}/dir/c.csv")
    assert record["metadata"] == {"source": "test"}
    assert {"ETag", "Length", "LastModified", "ContentType"} <= set(record["properties"])
    assert record["properties"]["Length"] == 5
    assert host.stop() == 0


def test_a_restart_does_not_refire_blobs_already_processed(
    apps: AppFactory, azurite: Azurite
) -> None:
    app, service = _blob_app(apps, azurite)
    first = apps.start(app)
    first.ready_line()
    _upload(service, app, "incoming", "once.csv", b"1")
    first.wait_until(lambda: len(_succeeded(first, "on_blob")) == 1, "the first run")
    assert first.stop() == 0

    # When the host restarts with the same host id and a new blob arrives
    second = apps.start(app)
    second.ready_line()
    _upload(service, app, "incoming", "after-restart.csv", b"2")
    second.wait_until(lambda: len(_succeeded(second, "on_blob")) >= 1, "the new blob")

    # Then only the new blob fired
    assert [e["blob"] for e in second.events("invocation", function="on_blob")] == [
        _blob_of(app, "incoming", "after-restart.csv")
    ]
    assert second.stop() == 0


def test_overwriting_a_blob_fires_again_for_the_new_etag(
    apps: AppFactory, azurite: Azurite
) -> None:
    app, service = _blob_app(apps, azurite)
    host = apps.start(app)
    host.ready_line()
    first_etag = _upload(service, app, "incoming", "data.csv", b"version 1")
    host.wait_until(lambda: len(_succeeded(host, "on_blob")) == 1, "the first version")

    second_etag = _upload(service, app, "incoming", "data.csv", b"version 2")
    host.wait_until(lambda: len(_succeeded(host, "on_blob")) == 2, "the second version")

    etags = [e["etag"] for e in _succeeded(host, "on_blob")]
    assert etags == [f'"{first_etag.strip(chr(34))}"', f'"{second_etag.strip(chr(34))}"']
    assert [r["content"] for r in app.records()] == ["version 1", "version 2"]
    assert host.stop() == 0


def test_receipts_are_stored_where_the_real_host_keeps_them(
    apps: AppFactory, azurite: Azurite
) -> None:
    app, service = _blob_app(apps, azurite)
    host = apps.start(app)
    host.ready_line()
    etag = _upload(service, app, "incoming", "dir/r.csv", b"r").strip('"')
    host.wait_until(lambda: len(_succeeded(host, "on_blob")) == 1, "the invocation")
    assert host.stop() == 0

    hosts = service.get_container_client("azure-webjobs-hosts")
    prefix = f"blobreceipts/{app.host_id}/"
    receipts = [b for b in hosts.list_blobs(name_starts_with=prefix, include=["metadata"])]

    assert [r.name for r in receipts] == [
        f'{prefix}Host.Functions.on_blob/"{etag}"/incoming-{app.suffix}/dir/r.csv'
    ]
    assert "Incomplete" not in (receipts[0].metadata or {})


def test_a_failing_function_is_tried_five_times_then_its_message_is_poisoned(
    apps: AppFactory, azurite: Azurite
) -> None:
    app, service = _blob_app(apps, azurite)
    host = apps.start(app)
    host.ready_line()
    etag = _upload(service, app, "failing", "bad.csv", b"bad")

    host.wait_for_events("poison", function="always_fails")

    failures = host.events("invocation", function="always_fails")
    assert [f["outcome"] for f in failures] == ["failed"] * 5
    assert [f["dequeue_count"] for f in failures] == [1, 2, 3, 4, 5]
    assert "RuntimeError: this function always fails" in failures[0]["error"]
    poison = QueueServiceClient.from_connection_string(azurite.connection_string).get_queue_client(
        "webjobs-blobtrigger-poison"
    )
    documents = [
        json.loads(base64.b64decode(m.content)) for m in poison.receive_messages(max_messages=32)
    ]
    assert {
        "Type": "BlobTrigger",
        "FunctionId": "Host.Functions.always_fails",
        "BlobType": "BlockBlob",
        "ContainerName": f"failing-{app.suffix}",
        "BlobName": "bad.csv",
        "ETag": f'"{etag.strip(chr(34))}"',
    } in documents
    assert host.stop() == 0


def test_the_poison_threshold_comes_from_host_json(apps: AppFactory, azurite: Azurite) -> None:
    app, service = _blob_app(
        apps, azurite, {"version": "2.0", "extensions": {"blobs": {"maxDequeueCount": 2}}}
    )
    host = apps.start(app)
    host.ready_line()
    _upload(service, app, "failing", "bad.csv", b"bad")

    host.wait_for_events("poison", function="always_fails")

    assert len(host.events("invocation", function="always_fails")) == 2
    assert host.stop() == 0


def test_max_degree_of_parallelism_one_runs_blob_invocations_one_at_a_time(
    apps: AppFactory, azurite: Azurite
) -> None:
    app, service = _blob_app(
        apps, azurite, {"version": "2.0", "extensions": {"blobs": {"maxDegreeOfParallelism": 1}}}
    )
    host = apps.start(app)
    host.ready_line()

    for index in range(4):
        _upload(service, app, "incoming", f"{index}.csv", b"x")
    host.wait_until(lambda: len(_succeeded(host, "on_blob")) == 4, "four invocations")

    # Each invocation's start line comes right after the previous one's result line
    lines = [e for e in host.logs if e.get("event") in ("invocation_started", "invocation")]
    assert [e["event"] for e in lines] == ["invocation_started", "invocation"] * 4
    assert host.stop() == 0


def test_a_function_that_never_reads_its_blob_causes_no_download(
    apps: AppFactory, azurite: Azurite
) -> None:
    app, service = _blob_app(apps, azurite)
    host = apps.start(app)
    host.ready_line()

    _upload(service, app, "quiet", "big.bin", b"0" * 1_000_000)
    _upload(service, app, "incoming", "read.csv", b"read me")
    host.wait_until(
        lambda: len(_succeeded(host, "on_quiet")) == 1 and len(_succeeded(host, "on_blob")) == 1,
        "both invocations",
    )

    (quiet,) = _succeeded(host, "on_quiet")
    (reading,) = _succeeded(host, "on_blob")
    assert quiet["content_downloads"] == 0
    assert reading["content_downloads"] == 1
    assert [d["blob"] for d in host.events("blob_download")] == [
        _blob_of(app, "incoming", "read.csv")
    ]
    assert [r["length"] for r in app.records() if r["function"] == "on_quiet"] == [1_000_000]
    assert host.stop() == 0


BYTES_APP = """
import json
import os
import pathlib

import azure.functions as func

app = func.FunctionApp()


@app.blob_trigger(arg_name="data", path="bytes-SUFFIX/{name}", connection="AzureWebJobsStorage")
def as_bytes(data: bytes, context: func.Context) -> None:
    pathlib.Path(os.environ["FUNCHOST_TEST_RECORD"]).write_text(
        json.dumps({"type": type(data).__name__, "content": data.decode(),
                    "invocation_id": context.invocation_id,
                    "function_name": context.function_name,
                    "is_context": isinstance(context, func.Context)}) + "\\n"
    )
"""


def test_a_function_annotated_with_bytes_gets_the_content_and_a_context(
    apps: AppFactory, azurite: Azurite
) -> None:
    app = apps.write(BYTES_APP, {"AzureWebJobsStorage": azurite.connection_string})
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    service.create_container(f"bytes-{app.suffix}").upload_blob("b.txt", b"payload")
    host = apps.start(app)
    host.ready_line()

    (run,) = host.wait_for_events("invocation", function="as_bytes")

    assert run["outcome"] == "succeeded"
    assert run["content_downloads"] == 1
    assert app.records() == [
        {
            "type": "bytes",
            "content": "payload",
            "invocation_id": run["invocation_id"],
            "function_name": "as_bytes",
            "is_context": True,
        }
    ]
    assert host.stop() == 0


SDK_APP = """
import json
import os
import pathlib

import azure.functions as func
import azurefunctions.extensions.bindings.blob as blob

app = func.FunctionApp()


@app.blob_trigger(arg_name="client", path="sdk-SUFFIX/{name}", connection="AzureWebJobsStorage")
def on_client(client: blob.BlobClient) -> None:
    props = client.get_blob_properties()
    pathlib.Path(os.environ["FUNCHOST_TEST_RECORD"]).write_text(
        json.dumps({"type": type(client).__module__ + "." + type(client).__name__,
                    "container": client.container_name, "blob": client.blob_name,
                    "etag": props.etag, "size": props.size})
    )
"""


def test_an_sdk_blob_client_binding_gets_a_client_and_never_the_content(
    apps: AppFactory, azurite: Azurite
) -> None:
    # Given a function that asks for an SDK BlobClient (deferred binding)
    app = apps.write(SDK_APP, {"AzureWebJobsStorage": azurite.connection_string})
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    service.create_container(f"sdk-{app.suffix}")
    host = apps.start(app)
    host.ready_line()

    # When a blob lands
    etag = _upload(service, app, "sdk", "big.csv", b"0" * 500_000)
    host.wait_until(lambda: len(_succeeded(host, "on_client")) == 1, "the invocation")

    # Then the function got a client for that blob, and nothing was downloaded
    (invocation,) = _succeeded(host, "on_client")
    assert invocation["content_downloads"] == 0
    got = json.loads(app.record_file.read_text())
    assert got["type"] == "azure.storage.blob._blob_client.BlobClient"
    assert (got["container"], got["blob"], got["size"]) == (f"sdk-{app.suffix}", "big.csv", 500_000)
    assert got["etag"].strip('"') == etag.strip('"')
    assert host.stop() == 0
