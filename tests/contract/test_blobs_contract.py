"""Blob storage's promises, kept by the Azure Storage adapter (on Azurite) and the twin."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from azure.storage.blob import BlobServiceClient

from batch_core.blobstore import BlobRef, BlobStore, blob_service
from batch_core.errors import NotFoundError, PermanentError
from batch_core.keys import normalize_etag
from batch_core.ports import BlobsPort
from batch_core.settings import Settings
from batch_core.testing import FakeClock, MemoryBlobs, memory_settings
from tests.contract.conftest import fresh_name


@dataclass
class BlobsSide:
    port: BlobsPort
    settings: Settings
    put: Callable[[str, str, bytes, dict[str, str]], BlobRef]  # with metadata
    content: Callable[[str, str], bytes | None]


def own_containers() -> dict[str, str]:
    base = fresh_name("c")
    return {
        f"DROPBATCH_CONTAINER_{role.upper()}": f"{base}-{role}"
        for role in ("incoming", "results", "logs", "failed", "archive")
    }


@pytest.fixture
def blobs(side: str, request: pytest.FixtureRequest) -> Iterator[BlobsSide]:
    if side == "memory":
        settings = memory_settings(own_containers())
        twin = MemoryBlobs(settings, FakeClock())
        twin.provision()
        yield BlobsSide(twin, settings, twin.put, twin.data)
        return
    stack = request.getfixturevalue("stack")
    settings = Settings.from_env({**stack.values, **own_containers()})
    service = blob_service(settings)
    store = BlobStore(service, settings)
    store.provision()
    yield BlobsSide(store, settings, _real_put(service), _real_content(service))
    for name in (settings.container_incoming, settings.container_results,
                 settings.container_logs, settings.container_failed,
                 settings.container_archive):  # fmt: skip
        service.delete_container(name)


def _real_put(service: BlobServiceClient) -> Callable[[str, str, bytes, dict[str, str]], BlobRef]:
    def put(container: str, name: str, data: bytes, metadata: dict[str, str]) -> BlobRef:
        client = service.get_blob_client(container, name)
        client.upload_blob(data, overwrite=True, metadata=metadata)
        props = client.get_blob_properties()
        return BlobRef(container, name, normalize_etag(props.etag), props.size,
                       props.last_modified, dict(props.metadata))  # fmt: skip

    return put


def _real_content(service: BlobServiceClient) -> Callable[[str, str], bytes | None]:
    def content(container: str, name: str) -> bytes | None:
        client = service.get_blob_client(container, name)
        return client.download_blob().readall() if client.exists() else None

    return content


def test_the_account_is_the_storage_account_of_the_settings(blobs: BlobsSide) -> None:
    assert blobs.port.account == blobs.settings.storage_account
    blobs.port.provision()  # again: nothing changes


def test_every_write_gives_the_blob_a_new_etag(blobs: BlobsSide) -> None:
    incoming = blobs.settings.container_incoming
    first = blobs.port.upload(incoming, "a.csv", b"id\n")
    second = blobs.port.upload(incoming, "a.csv", b"id\n")
    assert (first.container, first.name, first.size) == (incoming, "a.csv", 3)
    assert first.etag and second.etag != first.etag and not first.etag.startswith('"')
    assert blobs.port.current_etag(incoming, "a.csv") == second.etag
    blobs.port.write(incoming, "a.csv", "id\n", "text/csv")
    assert blobs.port.current_etag(incoming, "a.csv") not in (first.etag, second.etag)


def test_properties_tell_what_a_trigger_is_told_and_none_once_gone(blobs: BlobsSide) -> None:
    incoming = blobs.settings.container_incoming
    blobs.put(incoming, "p.csv", b"id\n1\n", {"dropbatch_parent": "zipkey"})
    current = blobs.port.current_etag(incoming, "p.csv")
    ref = blobs.port.properties(incoming, "p.csv")
    assert ref is not None
    assert (ref.container, ref.name, ref.etag, ref.size) == (incoming, "p.csv", current, 5)
    assert ref.parent == "zipkey" and ref.last_modified is not None
    assert current is not None and blobs.port.delete(incoming, "p.csv", current)
    assert blobs.port.properties(incoming, "p.csv") is None
    assert blobs.port.properties(fresh_name("gone"), "p.csv") is None


def test_the_etag_of_a_missing_blob_or_container_is_none(blobs: BlobsSide) -> None:
    assert blobs.port.current_etag(blobs.settings.container_incoming, "none.csv") is None
    assert blobs.port.current_etag(fresh_name("gone"), "none.csv") is None


def test_list_gives_names_in_order_with_size_metadata_and_time_under_a_prefix(
    blobs: BlobsSide,
) -> None:
    incoming = blobs.settings.container_incoming
    blobs.port.upload(incoming, "b/2.csv", b"22")
    blobs.put(incoming, "b/1.csv", b"1", {"dropbatch_parent": "zipkey"})
    blobs.port.upload(incoming, "a.csv", b"333")
    listed = list(blobs.port.list(incoming))
    assert [(b.name, b.size) for b in listed] == [("a.csv", 3), ("b/1.csv", 1), ("b/2.csv", 2)]
    assert listed[1].parent == "zipkey" and listed[0].parent is None
    assert all(b.last_modified is not None for b in listed)
    assert [b.name for b in blobs.port.list(incoming, prefix="b/")] == ["b/1.csv", "b/2.csv"]


def test_listing_a_missing_container_is_not_found(blobs: BlobsSide) -> None:
    with pytest.raises(NotFoundError):
        list(blobs.port.list(fresh_name("gone")))


def test_read_json_gives_an_object_or_none_and_refuses_what_is_not_json(
    blobs: BlobsSide,
) -> None:
    results = blobs.settings.container_results
    blobs.port.write(results, "s.json", json.dumps({"rows": 3}), "application/json")
    blobs.port.write(results, "list.json", b"[1, 2]", "application/json")
    blobs.port.write(results, "bad.json", b"{not json", "application/json")
    assert blobs.port.read_json(results, "s.json") == {"rows": 3}
    assert blobs.port.read_json(results, "list.json") is None
    assert blobs.port.read_json(results, "none.json") is None
    with pytest.raises(PermanentError, match=r"bad\.json"):
        blobs.port.read_json(results, "bad.json")


def test_writing_into_a_missing_container_is_not_found(blobs: BlobsSide) -> None:
    with pytest.raises(NotFoundError):
        blobs.port.write(fresh_name("gone"), "x.txt", b"x", "text/plain")


def test_delete_removes_only_the_version_named_by_its_etag(blobs: BlobsSide) -> None:
    incoming = blobs.settings.container_incoming
    old = blobs.port.upload(incoming, "a.csv", b"old")
    new = blobs.port.upload(incoming, "a.csv", b"new")
    assert blobs.port.delete(incoming, "a.csv", old.etag) is False  # replaced since
    assert blobs.content(incoming, "a.csv") == b"new"
    assert blobs.port.delete(incoming, "a.csv", new.etag) is True
    assert blobs.port.current_etag(incoming, "a.csv") is None
    assert blobs.port.delete(incoming, "a.csv", new.etag) is False  # gone


def test_copy_takes_content_and_metadata_and_says_when_there_is_nothing_to_copy(
    blobs: BlobsSide,
) -> None:
    incoming, failed = blobs.settings.container_incoming, blobs.settings.container_failed
    blobs.put(incoming, "a.csv", b"id\n1\n", {"dropbatch_parent": "zipkey"})
    assert blobs.port.copy(incoming, "a.csv", failed, "k/a.csv") is True
    assert blobs.content(failed, "k/a.csv") == b"id\n1\n"
    assert [b.parent for b in blobs.port.list(failed)] == ["zipkey"]
    assert blobs.port.copy(incoming, "none.csv", failed, "k/none.csv") is False
    assert blobs.port.copy(incoming, "a.csv", fresh_name("gone"), "a.csv") is False


def test_copy_with_metadata_adds_it_to_the_sources_and_onto_itself_makes_a_new_version(
    blobs: BlobsSide,
) -> None:
    incoming, failed = blobs.settings.container_incoming, blobs.settings.container_failed
    first = blobs.put(incoming, "b.csv", b"id\n2\n", {"dropbatch_parent": "zipkey"})
    assert blobs.port.copy(incoming, "b.csv", failed, "k/b.csv", {"dropbatch_replay_of": "old"})
    (copied,) = blobs.port.list(failed, prefix="k/b.csv")
    assert copied.metadata == {"dropbatch_parent": "zipkey", "dropbatch_replay_of": "old"}

    assert blobs.port.copy(incoming, "b.csv", incoming, "b.csv", {"dropbatch_replay_id": "r1"})

    (again,) = blobs.port.list(incoming, prefix="b.csv")
    assert again.etag != first.etag and again.replay_of is None
    assert again.metadata["dropbatch_replay_id"] == "r1"
    assert blobs.content(incoming, "b.csv") == b"id\n2\n"


def test_copy_of_a_version_copies_only_that_version(blobs: BlobsSide) -> None:
    incoming, archive = blobs.settings.container_incoming, blobs.settings.container_archive
    first = blobs.put(incoming, "v.csv", b"id\n1\n", {})
    assert blobs.port.copy(incoming, "v.csv", archive, "k1/v.csv", etag=first.etag) is True
    assert blobs.content(archive, "k1/v.csv") == b"id\n1\n"

    newer = blobs.put(incoming, "v.csv", b"id\n2\n", {})  # a newer upload under the same name

    assert blobs.port.copy(incoming, "v.csv", archive, "k2/v.csv", etag=first.etag) is False
    assert [b.name for b in blobs.port.list(archive, prefix="k2/")] == []
    assert blobs.port.copy(incoming, "v.csv", archive, "k2/v.csv", etag=newer.etag) is True
    assert blobs.content(archive, "k2/v.csv") == b"id\n2\n"
