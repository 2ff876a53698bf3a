"""The storage front publishes BlobCreated events as Azure Storage does through Event Grid."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.request import ProxyHandler, Request, build_opener

import pytest
from azure.storage.blob import BlobServiceClient

from tests.devstack.funchost.conftest import DEV_KEY, ROOT, Azurite, _stop_group

pytestmark = pytest.mark.stack


class Receiver(ThreadingHTTPServer):
    """A webhook that completes the handshake, records deliveries and fails the first one."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Receive)
        self.deliveries: list[tuple[str, list[dict[str, Any]], int]] = []
        self.fail_first = True
        self.changed = threading.Condition()

    def wait(self, count: int) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.deliveries) >= count, 30), self.deliveries


class _Receive(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        kind = self.headers["aeg-event-type"]
        answer = ""
        with self.server.changed:
            if kind == "SubscriptionValidation":
                status = 200
                answer = json.dumps({"validationResponse": body[0]["data"]["validationCode"]})
            else:
                status = 500 if self.server.fail_first else 200
                self.server.fail_first = False
                self.server.deliveries.append((kind, body, status))
            self.server.changed.notify_all()
        self.send_response(status)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer.encode())

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def front(azurite: Azurite) -> Iterator[str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devstack.faultproxy",
            "--upstream",
            f"127.0.0.1:{azurite.blob_port}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        yield str(json.loads(process.stdout.readline())["url"])
    finally:
        _stop_group(process)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def subscribe(front: str, document: dict[str, Any]) -> int:
    request = Request(
        f"{front}/_devstack/eventgrid/subscriptions", data=json.dumps(document).encode()
    )
    with build_opener(ProxyHandler({})).open(request, timeout=30) as response:
        return int(response.status)


def test_an_upload_publishes_one_blob_created_and_a_failed_delivery_is_retried(
    front: str, receiver: Receiver
) -> None:
    endpoint = f"http://127.0.0.1:{receiver.server_address[1]}/hook?code=k"
    subscription = {
        "name": "incoming",
        "endpoint": endpoint,
        "includedEventTypes": ["Microsoft.Storage.BlobCreated"],
        "subjectBeginsWith": "/blobServices/default/containers/watched/",
    }
    assert subscribe(front, subscription) == 201
    connection = (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        f"AccountKey={DEV_KEY};BlobEndpoint={front}/devstoreaccount1;"
    )
    service = BlobServiceClient.from_connection_string(connection)
    service.create_container("unwatched").upload_blob("skip.csv", b"not watched")
    watched = service.create_container("watched")
    props = watched.get_blob_client("in/a b.csv").upload_blob(b"a,b\n1,2\n")
    receiver.wait(2)  # the failed attempt, then its retry
    (failed, retried) = receiver.deliveries[:2]
    assert (failed[0], failed[2], retried[2]) == ("Notification", 500, 200)
    assert failed[1] == retried[1] and len(retried[1]) == 1
    event = retried[1][0]
    assert event["eventType"] == "Microsoft.Storage.BlobCreated"
    assert event["subject"] == "/blobServices/default/containers/watched/blobs/in/a b.csv"
    assert event["topic"].endswith("/providers/Microsoft.Storage/storageAccounts/devstoreaccount1")
    assert event["data"]["eTag"] == str(props["etag"]).strip('"')
    assert event["data"]["api"] == "PutBlob" and event["data"]["contentLength"] == 8
    assert event["data"]["url"] == f"{front}/devstoreaccount1/watched/in/a%20b.csv"
    assert {"id", "eventTime", "dataVersion", "metadataVersion"} <= set(event)


def test_a_block_list_commit_publishes_with_the_blob_length(front: str, receiver: Receiver) -> None:
    receiver.fail_first = False
    endpoint = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
    assert subscribe(front, {"name": "all", "endpoint": endpoint}) == 201
    connection = (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        f"AccountKey={DEV_KEY};BlobEndpoint={front}/devstoreaccount1;"
    )
    service = BlobServiceClient.from_connection_string(
        connection, max_single_put_size=1024, max_block_size=1024
    )
    container = service.create_container("blocks")
    props = container.upload_blob("big.bin", b"z" * 5000)
    receiver.wait(1)
    (event,) = receiver.deliveries[0][1]
    assert event["data"]["api"] == "PutBlockList"
    assert event["data"]["contentLength"] == 5000
    assert event["data"]["eTag"] == str(props.get_blob_properties().etag).strip('"')
    assert len(receiver.deliveries) == 1
