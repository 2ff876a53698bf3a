"""The zip route stages each entry as uncommitted blocks of its child and commits the children
only once the whole archive has passed: runs of `python -m worker` against Azurite, with the
local Functions host's container scanner (the blob trigger) looking at what they leave."""

from __future__ import annotations

import base64
import functools
import json
import uuid
import zipfile

import pytest

from devstack.funchost.blobpath import BlobPathPattern
from devstack.funchost.blobqueue import BlobWorkQueue
from devstack.funchost.blobscanner import BlobScanner
from devstack.funchost.catalog import ArgumentKind, BlobFunction
from devstack.funchost.receipts import ReceiptStore
from devstack.funchost.storage import MessageCodec, StorageAccount
from tests.worker import corpus
from tests.worker.node import INCOMING, WorkerStack, unique
from worker.contract import (
    ENTRY_METADATA,
    MAX_DROPPED_NAME_CHARS,
    PARENT_METADATA,
    ZIP_MAX_TOTAL_BYTES,
    child_blob_name,
    parts_folder,
)
from worker.storage import staged_block_id

pytestmark = pytest.mark.stack

BLOCK = 4 * 1024 * 1024


@functools.cache
def two_block_csv() -> bytes:
    """A CSV entry of a little over one 4 MiB block, compressing like real rows do."""
    rows = [corpus.HEADER]
    size = len(corpus.HEADER)
    n = 0
    while size < BLOCK + 100_000:
        n += 1
        row = f"{n},{n * 7919 % 99991:05d},US,Town {n % 977},NC,{n % 90}.{n % 7},-{n % 180}.5"
        rows.append(row)
        size += len(row) + 1
    return ("\n".join(rows) + "\n").encode()


def crc_mismatch_last() -> bytes:
    data = bytearray(
        corpus.zip_of(
            [("a.csv", two_block_csv()), ("b.csv", corpus.good_csv())], method=zipfile.ZIP_STORED
        )
    )
    pos = data.find(b"Advance")  # only b.csv has this row
    data[pos] = ord("X")
    return bytes(data)


def staged_and_committed(stack: WorkerStack, prefix: str) -> tuple[list[str], list[str]]:
    """Names under `prefix` with staged blocks or content, and those committed."""
    container = stack.blobs.get_container_client(INCOMING)
    every = container.list_blobs(name_starts_with=prefix, include=["uncommittedblobs"])
    return sorted(b.name for b in every), stack.list_blobs(INCOMING, prefix)


def trigger_sees(stack: WorkerStack, prefix: str) -> list[str]:
    """The blobs the local Functions host's scanner would hand a trigger on `prefix`."""
    account = StorageAccount(stack.azurite.connection_string)
    account.ensure_container("azure-webjobs-hosts")
    host_id = f"staging-{uuid.uuid4().hex[:10]}"
    queue = BlobWorkQueue(account, host_id, MessageCodec())
    queue.ensure()
    function = BlobFunction(
        name="on_child",
        argument="blob",
        path=BlobPathPattern.parse(f"{INCOMING}/{prefix}{{name}}"),
        connection_string="unused",
        argument_kind=ArgumentKind.STREAM,
        call=lambda blob: None,
        wants_context=False,
    )
    scanner = BlobScanner(
        [function], {function.function_id: account}, ReceiptStore(account, host_id), queue
    )
    scanner.scan()
    names = []
    while batch := list(queue.client.receive_messages(max_messages=32, messages_per_page=32)):
        for message in batch:
            names.append(json.loads(base64.b64decode(message.content))["BlobName"])
            queue.client.delete_message(message)
    queue.client.delete_queue()
    return sorted(names)


@pytest.mark.parametrize(
    ("zip_name", "build", "settings", "entry", "cause"),
    [
        (
            "ratio.zip",
            lambda: corpus.zip_of(
                [("a.csv", two_block_csv()), ("zeros.csv", b"0\n" * (2 * 1024 * 1024))]
            ),
            {},
            "zeros.csv",
            "compression ratio above 200 (DROPBATCH_ZIP_MAX_RATIO)",
        ),
        (
            "crc.zip",
            crc_mismatch_last,
            {},
            "b.csv",
            "corrupt entry (Bad CRC-32 for file 'b.csv')",
        ),
        (
            "total.zip",
            lambda: corpus.zip_of([("a.csv", two_block_csv()), ("b.csv", corpus.good_csv())]),
            {ZIP_MAX_TOTAL_BYTES: str(len(two_block_csv()) + 10)},
            "b.csv",
            f"archive expands to more than {len(two_block_csv()) + 10} bytes"
            f" ({ZIP_MAX_TOTAL_BYTES})",
        ),
        (
            "nested.zip",
            lambda: corpus.zip_of(
                [("a.csv", two_block_csv()), ("inner.csv", corpus.zip_of([("x.csv", b"x\n")]))]
            ),
            {},
            "inner.csv",
            "nested archive (a zip inside the zip)",
        ),
        (
            "z" * 700 + ".zip",
            lambda: corpus.zip_of(
                [("a.csv", two_block_csv()), ("b" * 400 + ".csv", corpus.good_csv())]
            ),
            {},
            "b" * 400 + ".csv",
            f"child blob name would pass {MAX_DROPPED_NAME_CHARS} characters, the longest a file's"
            " results and logs can be named under",
        ),
    ],
    ids=["ratio", "crc", "total", "nested", "long-child-name"],
)
def test_an_archive_whose_last_entry_is_bad_commits_no_child(
    worker_stack: WorkerStack,
    zip_name: str,
    build: object,
    settings: dict[str, str],
    entry: str,
    cause: str,
) -> None:
    # Given an archive whose first entry is good (two blocks) and whose last is not
    name = unique(zip_name)

    # When the worker runs
    run = worker_stack.process("zip", name, build(), **settings)  # type: ignore[operator]

    # Then it is rejected naming the last entry, and no child exists: the first entry's
    # blocks were staged, but never committed, so neither listings nor the trigger see them
    assert run.code == 3, run.stderr
    assert run.summary()["reason"] == f"{INCOMING}/{name}: entry {entry!r}: {cause}"
    assert run.summary()["children"] == []
    prefix = f"{parts_folder(name)}/"
    staged, committed = staged_and_committed(worker_stack, prefix)
    assert staged == [child_blob_name(name, run.key, "a.csv")]
    assert committed == []
    assert trigger_sees(worker_stack, prefix) == []
    assert not worker_stack.exists(INCOMING, staged[0])


def test_a_valid_archives_children_are_all_committed_whole_with_their_metadata(
    worker_stack: WorkerStack,
) -> None:
    name = unique("valid.zip")
    entries = {"a.csv": two_block_csv(), "sub/b.csv": corpus.good_csv(), "empty.csv": b""}

    run = worker_stack.process("zip", name, corpus.zip_of(entries.items()))

    assert run.code == 0, run.stderr
    blobs = {entry: child_blob_name(name, run.key, entry) for entry in entries}
    assert run.summary()["children"] == [
        {"entry": e, "blob": blobs[e], "bytes": len(data)} for e, data in entries.items()
    ]
    prefix = f"{parts_folder(name)}/"
    assert staged_and_committed(worker_stack, prefix) == (sorted(blobs.values()),) * 2
    assert trigger_sees(worker_stack, prefix) == sorted(blobs.values())
    for entry, data in entries.items():
        client = worker_stack.blobs.get_blob_client(INCOMING, blobs[entry])
        props = client.get_blob_properties()
        assert props.metadata == {PARENT_METADATA: run.key, ENTRY_METADATA: entry}
        assert props.content_settings.content_type == "text/csv"
        assert worker_stack.read(INCOMING, blobs[entry]) == data
        committed, uncommitted = client.get_block_list("all")
        assert (len(committed), uncommitted) == (-(-len(data) // BLOCK), [])


def test_a_rerun_after_a_crash_mid_archive_commits_the_rest_and_keeps_what_was_committed(
    worker_stack: WorkerStack,
) -> None:
    # Given an attempt that died mid-archive: it had committed a.csv's child (say, a commit
    # that got through before a crash) and staged blocks of b.csv's, the first one left
    # garbled and one with a number the entry does not reach
    name = unique("crashed.zip")
    _, key = worker_stack.upload(
        name, corpus.zip_of([("a.csv", corpus.good_csv()), ("b.csv", two_block_csv())])
    )
    first = worker_stack.blobs.get_blob_client(INCOMING, child_blob_name(name, key, "a.csv"))
    first.upload_blob(corpus.good_csv(), metadata={PARENT_METADATA: key, ENTRY_METADATA: "a.csv"})
    first_etag = first.get_blob_properties().etag
    second = worker_stack.blobs.get_blob_client(INCOMING, child_blob_name(name, key, "b.csv"))
    second.stage_block(staged_block_id(0), b"left over from the crashed attempt\n")
    second.stage_block(staged_block_id(7), b"never part of the entry\n")
    assert not second.exists()

    # When the task runs again
    run = worker_stack.process("zip", name)

    # Then the existing child is kept as it was, the other is committed exactly from the
    # entry, and no left-over block is part of it
    assert run.code == 0, run.stderr
    counts = run.task_log()["counts"]
    assert (counts["children_uploaded"], counts["children_already_there"]) == (1, 1)
    assert first.get_blob_properties().etag == first_etag
    assert worker_stack.read(INCOMING, second.blob_name) == two_block_csv()
    committed, uncommitted = second.get_block_list("all")
    assert ([b.id for b in committed], uncommitted) == (
        [staged_block_id(0), staged_block_id(1)],
        [],
    )
    assert second.get_blob_properties().metadata == {
        PARENT_METADATA: key,
        ENTRY_METADATA: "b.csv",
    }
