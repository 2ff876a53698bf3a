"""The container scanner, driven directly: paging, one message per blob version, receipts."""

from __future__ import annotations

import base64
import json
import uuid

import pytest

from devstack.funchost.blobpath import BlobPathPattern
from devstack.funchost.blobqueue import BlobWorkQueue
from devstack.funchost.blobscanner import BlobScanner
from devstack.funchost.catalog import ArgumentKind, BlobFunction
from devstack.funchost.receipts import ReceiptStore
from devstack.funchost.storage import MessageCodec, StorageAccount
from tests.devstack.funchost.conftest import Azurite

pytestmark = pytest.mark.stack


def _function(container: str, path: str) -> BlobFunction:
    return BlobFunction(
        name="on_blob",
        argument="blob",
        path=BlobPathPattern.parse(f"{container}/{path}"),
        connection_string="unused",
        argument_kind=ArgumentKind.STREAM,
        call=lambda blob: None,
        wants_context=False,
    )


def _scanner(
    azurite: Azurite,
    function: BlobFunction,
    host_id: str,
    page_size: int,
) -> tuple[BlobScanner, BlobWorkQueue]:
    account = StorageAccount(azurite.connection_string)
    account.ensure_container("azure-webjobs-hosts")
    queue = BlobWorkQueue(account, host_id, MessageCodec())
    queue.ensure()
    scanner = BlobScanner(
        [function],
        {function.function_id: account},
        ReceiptStore(account, host_id),
        queue,
        page_size=page_size,
    )
    return scanner, queue


def _drain(queue: BlobWorkQueue) -> list[dict[str, str]]:
    found = []
    while batch := list(queue.client.receive_messages(max_messages=32, messages_per_page=32)):
        for message in batch:
            found.append(json.loads(base64.b64decode(message.content)))
            queue.client.delete_message(message)
    return found


def test_every_blob_across_many_listing_pages_is_enqueued_exactly_once(azurite: Azurite) -> None:
    container = f"paged-{uuid.uuid4().hex[:8]}"
    account = StorageAccount(azurite.connection_string)
    account.ensure_container(container)
    names = [f"file-{i:02}.csv" for i in range(11)]
    for name in names:
        account.container(container).upload_blob(name, b"x")
    scanner, queue = _scanner(azurite, _function(container, "{name}"), "scan-a", page_size=3)

    assert scanner.scan() == 11
    assert scanner.scan() == 0

    messages = _drain(queue)
    assert sorted(m["BlobName"] for m in messages) == names
    assert {m["FunctionId"] for m in messages} == {"Host.Functions.on_blob"}


def test_a_new_scanner_with_the_same_host_id_relies_on_the_receipts(azurite: Azurite) -> None:
    container = f"receipts-{uuid.uuid4().hex[:8]}"
    account = StorageAccount(azurite.connection_string)
    account.ensure_container(container)
    account.container(container).upload_blob("a.csv", b"x")
    function = _function(container, "{name}")
    first, queue = _scanner(azurite, function, "scan-b", page_size=100)
    assert first.scan() == 1

    # A fresh scanner (a restarted host) remembers nothing in memory
    second, _ = _scanner(azurite, function, "scan-b", page_size=100)
    assert second.scan() == 0
    # ... while another host id has receipts of its own
    other, other_queue = _scanner(azurite, function, "scan-c", page_size=100)
    assert other.scan() == 1

    assert len(_drain(queue)) == 1
    assert len(_drain(other_queue)) == 1


def test_only_blobs_matching_the_path_pattern_are_enqueued(azurite: Azurite) -> None:
    container = f"pattern-{uuid.uuid4().hex[:8]}"
    account = StorageAccount(azurite.connection_string)
    account.ensure_container(container)
    for name in ("in/a.csv", "in/b.txt", "out/c.csv"):
        account.container(container).upload_blob(name, b"x")
    scanner, queue = _scanner(azurite, _function(container, "in/{name}.csv"), "scan-d", 100)

    assert scanner.scan() == 1

    assert [m["BlobName"] for m in _drain(queue)] == ["in/a.csv"]


def test_a_missing_container_is_not_an_error(azurite: Azurite) -> None:
    scanner, _ = _scanner(
        azurite, _function(f"absent-{uuid.uuid4().hex[:8]}", "{name}"), "scan-e", 100
    )

    assert scanner.scan() == 0
