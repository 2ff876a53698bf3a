"""Blob storage in memory: containers of blobs whose etag changes on every write."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from batch_core.blobstore import BlobRef
from batch_core.errors import NotFoundError, PermanentError, VanishedError
from batch_core.settings import Settings
from batch_core.testing.clock import FakeClock
from batch_core.testing.twin import Twin


@dataclass
class StoredBlob:
    """One blob of the in-memory storage: its bytes, etag, time and metadata."""

    data: bytes
    etag: str
    last_modified: dt.datetime
    content_type: str = "application/octet-stream"
    metadata: dict[str, str] = field(default_factory=dict)


class MemoryBlobs(Twin):
    """A `BlobsPort` for one storage account. `put` places a blob as another writer would
    (with metadata, say); `data` reads one back."""

    def __init__(self, settings: Settings, clock: FakeClock) -> None:
        super().__init__()
        self._s = settings
        self._clock = clock
        self.containers: dict[str, dict[str, StoredBlob]] = {}
        self.snapshots: dict[tuple[str, str, str], bytes] = {}
        self._writes = 0

    @property
    def account(self) -> str:
        return self._s.storage_account

    def provision(self) -> None:
        s = self._s
        for name in (
            s.container_incoming,
            s.container_results,
            s.container_logs,
            s.container_failed,
            s.container_archive,
        ):
            self._request("create_container", name)
            self.containers.setdefault(name, {})

    def list(self, container: str, prefix: str | None = None) -> Iterator[BlobRef]:
        self._request("list", container)
        blobs = self._container(container, f"list container {container}")
        for name in sorted(blobs):
            if prefix is None or name.startswith(prefix):
                yield self._ref(container, name, blobs[name])

    def upload(self, container: str, name: str, data: bytes) -> BlobRef:
        self._request("upload", container, name)
        return self.put(container, name, data)

    def properties(self, container: str, name: str) -> BlobRef | None:
        self._request("properties", container, name)
        blob = self.containers.get(container, {}).get(name)
        return None if blob is None else self._ref(container, name, blob)

    def current_etag(self, container: str, name: str) -> str | None:
        self._request("properties", container, name)
        blob = self.containers.get(container, {}).get(name)
        return None if blob is None else blob.etag

    def snapshot(self, container: str, name: str, etag: str) -> str:
        self._request("snapshot", container, name)
        blob = self.containers.get(container, {}).get(name)
        if blob is None or blob.etag != etag.strip('"'):
            raise VanishedError(
                f"{container}/{name} was deleted or replaced before its task was created"
            )
        self._writes += 1
        made = f"{self._clock.now():%Y-%m-%dT%H:%M:%S}.{self._writes:07d}Z"
        self.snapshots[(container, name, made)] = blob.data
        return made

    def read_tail(self, container: str, name: str, max_bytes: int = 8192) -> bytes | None:
        self._request("download", container, name)
        blob = self.containers.get(container, {}).get(name)
        return None if blob is None else blob.data[-max_bytes:] if max_bytes else b""

    def read_json(self, container: str, name: str) -> dict[str, Any] | None:
        self._request("download", container, name)
        blob = self.containers.get(container, {}).get(name)
        if blob is None:
            return None
        try:
            value = json.loads(blob.data)
        except ValueError as e:
            raise PermanentError(f"{container}/{name} is not valid JSON: {e}") from e
        return value if isinstance(value, dict) else None

    def write(self, container: str, name: str, data: bytes | str, content_type: str) -> None:
        self._request("upload", container, name)
        raw = data.encode("utf-8") if isinstance(data, str) else data
        self.put(container, name, raw, content_type=content_type)

    def delete(self, container: str, name: str, etag: str) -> bool:
        self._request("delete", container, name)
        blobs = self.containers.get(container, {})
        blob = blobs.get(name)
        if blob is None or blob.etag != etag.strip('"'):
            return False
        del blobs[name]
        return True

    def copy(
        self,
        src_container: str,
        name: str,
        dst_container: str,
        dst_name: str,
        metadata: Mapping[str, str] | None = None,
        etag: str | None = None,
    ) -> bool:
        self._request("copy", src_container, name, dst_container, dst_name)
        source = self.containers.get(src_container, {}).get(name)
        if source is None or dst_container not in self.containers:
            return False
        if etag is not None and source.etag != etag.strip('"'):
            return False
        merged = {**source.metadata, **(metadata or {})}
        self.put(dst_container, dst_name, source.data, merged, source.content_type)
        return True

    # What a test does outside the port.

    def put(
        self,
        container: str,
        name: str,
        data: bytes,
        metadata: Mapping[str, str] | None = None,
        content_type: str = "application/octet-stream",
    ) -> BlobRef:
        """Write a blob now (a new etag), as any writer would; NotFoundError without its
        container."""
        blobs = self._container(container, f"write {container}/{name}")
        self._writes += 1
        blobs[name] = StoredBlob(
            data=data,
            etag=f"0x8D{self._writes:014X}",
            last_modified=self._clock.now(),
            content_type=content_type,
            metadata=dict(metadata or {}),
        )
        return self._ref(container, name, blobs[name])

    def data(self, container: str, name: str) -> bytes | None:
        """The blob's bytes; None when it is not there."""
        blob = self.containers.get(container, {}).get(name)
        return None if blob is None else blob.data

    def names(self, container: str) -> tuple[str, ...]:
        """The names of the container's blobs, sorted; none for a missing container."""
        return tuple(sorted(self.containers.get(container, {})))

    def _container(self, container: str, doing: str) -> dict[str, StoredBlob]:
        if container not in self.containers:
            raise NotFoundError(f"{doing}: not found")
        return self.containers[container]

    @staticmethod
    def _ref(container: str, name: str, blob: StoredBlob) -> BlobRef:
        return BlobRef(
            container=container,
            name=name,
            etag=blob.etag,
            size=len(blob.data),
            last_modified=blob.last_modified,
            metadata=dict(blob.metadata),
        )
