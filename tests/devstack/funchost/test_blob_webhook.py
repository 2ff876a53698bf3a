"""The blobs webhook: Event Grid delivers BlobCreated events, the host invokes the function."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any
from urllib.error import HTTPError
from urllib.request import ProxyHandler, Request, build_opener

import pytest
from azure.storage.blob import BlobServiceClient

from tests.devstack.funchost.conftest import AppFactory, Azurite, FunctionApp, HostProcess

pytestmark = pytest.mark.stack

APP = """
import json
import os
import pathlib

import azure.functions as func

app = func.FunctionApp()
RECORD = pathlib.Path(os.environ["FUNCHOST_TEST_RECORD"])


@app.blob_trigger(arg_name="blob", path="pushed-SUFFIX/{name}", connection="AzureWebJobsStorage",
                  source=func.BlobSource.EVENT_GRID)
def on_pushed(blob: func.InputStream) -> None:
    with RECORD.open("a") as f:
        f.write(json.dumps({"name": blob.name, "content": blob.read().decode(),
                            "etag": blob.blob_properties["ETag"]}) + "\\n")
"""
OPENER = build_opener(ProxyHandler({}))


def post(url: str, kind: str, body: Any) -> tuple[int, bytes]:
    request = Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"aeg-event-type": kind, "Content-Type": "application/json"},
    )
    try:
        with OPENER.open(request, timeout=30) as response:
            return int(response.status), bytes(response.read())
    except HTTPError as e:
        return e.code, e.read()


def blob_created(container: str, name: str, etag: str, port: int) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "topic": "/subscriptions/x/resourceGroups/y/providers/Microsoft.Storage/storageAccounts/a",
        "subject": f"/blobServices/default/containers/{container}/blobs/{name}",
        "eventType": "Microsoft.Storage.BlobCreated",
        "eventTime": "2026-12-01T00:00:00Z",
        "data": {
            "api": "PutBlob",
            "eTag": etag.strip('"'),
            "blobType": "BlockBlob",
            "url": f"http://127.0.0.1:{port}/devstoreaccount1/{container}/{name}",
        },
        "dataVersion": "",
        "metadataVersion": "1",
    }


@pytest.fixture
def pushed(apps: AppFactory, azurite: Azurite) -> tuple[FunctionApp, HostProcess, str]:
    app = apps.write(APP, {"AzureWebJobsStorage": azurite.connection_string})
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    service.create_container(f"pushed-{app.suffix}")
    host = apps.start(app, "--event-grid", "--http-port", "0")
    ready = host.ready_line()
    assert ready["blob_webhooks"] == {"on_pushed": f"pushed-{app.suffix}"}
    keys = json.loads((app.directory / "function-keys.json").read_text())
    (key,) = [k["value"] for k in keys["systemKeys"] if k["name"] == "blobs_extension"]
    url = f"{ready['http']}/runtime/webhooks/blobs?functionName=Host.Functions.on_pushed"
    return app, host, f"{url}&code={key}"


def test_the_validation_handshake_echoes_the_code(
    pushed: tuple[FunctionApp, HostProcess, str],
) -> None:
    _, _, url = pushed
    event = {"id": "1", "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent"}
    status, body = post(
        url, "SubscriptionValidation", [{**event, "data": {"validationCode": "c0de"}}]
    )
    assert (status, json.loads(body)) == (200, {"validationResponse": "c0de"})


def test_a_notification_invokes_the_function_once_and_nothing_is_polled(
    pushed: tuple[FunctionApp, HostProcess, str], azurite: Azurite
) -> None:
    app, host, url = pushed
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    container = service.get_container_client(f"pushed-{app.suffix}")
    etag = str(container.upload_blob("a.csv", b"x,y\n").get_blob_properties().etag)
    container.upload_blob("unannounced.csv", b"no event for this one")
    event = blob_created(container.container_name, "a.csv", etag, azurite.blob_port)
    status, _ = post(url, "Notification", [event])
    assert status == 202
    host.wait_for_events("invocation", function="on_pushed", outcome="succeeded")
    time.sleep(2)  # ten polls of the host: a polled trigger would have found the other blob
    records = app.records()
    assert records == [
        {"name": f"{container.container_name}/a.csv", "content": "x,y\n", "etag": etag}
    ]
    assert len(host.events("invocation", function="on_pushed")) == 1


def test_a_wrong_or_missing_key_is_401(pushed: tuple[FunctionApp, HostProcess, str]) -> None:
    _, _, url = pushed
    base = url.rsplit("&code=", 1)[0]
    assert post(f"{base}&code=not-the-key", "Notification", [])[0] == 401
    assert post(base, "Notification", [])[0] == 401


def test_an_event_for_another_container_is_ignored(
    pushed: tuple[FunctionApp, HostProcess, str], azurite: Azurite
) -> None:
    app, host, url = pushed
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    other = service.create_container(f"other-{app.suffix}")
    etag = str(other.upload_blob("b.csv", b"1").get_blob_properties().etag)
    status, _ = post(url, "Notification", [blob_created(other.container_name, "b.csv", etag, 1)])
    assert status == 202
    host.wait_for_events("http_request", path="/runtime/webhooks/blobs", status=202)
    time.sleep(1)
    assert app.records() == []
    assert host.events("blob_enqueued") == []
