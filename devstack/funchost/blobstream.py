"""The blob a function receives: an ``azure.functions.InputStream`` that downloads lazily.

Name, URI, length, properties and metadata come from one HEAD request the trigger
needs anyway; the content is fetched only when the function first reads. Each fetch is
counted and logged, so a function that never reads its blob provably costs no download.
Reads are pinned to the triggering ETag: if the blob was overwritten meanwhile, reading
fails and the newer version triggers on its own.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Mapping
from typing import Any

from azure.core import MatchConditions
from azure.functions.blob import InputStream
from azure.storage.blob import BlobClient, BlobProperties, StorageStreamDownloader

log = logging.getLogger(__name__)


class DownloadCounter:
    """Counts content downloads host-wide (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._total = 0

    def add(self) -> int:
        with self._lock:
            self._total += 1
            return self._total

    @property
    def total(self) -> int:
        with self._lock:
            return self._total


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def properties_document(properties: BlobProperties) -> dict[str, Any]:
    """Blob properties under the names the real host passes as trigger metadata."""
    settings = properties.content_settings
    md5 = settings.content_md5 if settings is not None else None
    blob_type = str(getattr(properties.blob_type, "value", properties.blob_type) or "BlockBlob")
    return {
        "BlobType": blob_type,
        "ContentLength": properties.size,
        "Length": properties.size,
        "ContentType": settings.content_type if settings is not None else None,
        "ContentEncoding": settings.content_encoding if settings is not None else None,
        "ContentMD5": md5.hex() if isinstance(md5, bytes | bytearray) else md5,
        "ETag": properties.etag,
        "LastModified": _iso(properties.last_modified),
        "CreatedOn": _iso(properties.creation_time),
        "AccessTier": properties.blob_tier,
        "LeaseState": getattr(properties.lease, "state", None),
    }


class LazyBlobStream(InputStream):
    """An azure.functions InputStream whose content is downloaded on the first read, not before."""

    def __init__(
        self,
        client: BlobClient,
        etag: str,
        *,
        name: str,
        uri: str,
        length: int | None,
        blob_properties: Mapping[str, Any],
        metadata: Mapping[str, str],
        counter: DownloadCounter,
    ) -> None:
        super().__init__(
            data=b"",
            name=name,
            uri=uri,
            length=length,
            blob_properties=dict(blob_properties),
            metadata=dict(metadata),
        )
        self._client = client
        self._etag = etag
        self._counter = counter
        self._downloader: StorageStreamDownloader[bytes] | None = None
        self.downloads = 0

    def _content(self) -> StorageStreamDownloader[bytes]:
        if self._downloader is None:
            self._downloader = self._client.download_blob(
                etag=self._etag, match_condition=MatchConditions.IfNotModified
            )
            self.downloads += 1
            total = self._counter.add()
            log.info(
                "downloaded content of blob %s",
                self.name,
                extra={
                    "fields": {
                        "event": "blob_download",
                        "blob": self.name,
                        "bytes": self.length,
                        "downloads_total": total,
                    }
                },
            )
        return self._downloader

    def read(self, size: int | None = -1) -> bytes:
        downloader = self._content()
        return downloader.read() if size is None or size < 0 else downloader.read(size)

    def read1(self, size: int | None = -1) -> bytes:
        return self.read(size)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readable(self) -> bool:
        return True
