"""Blob storage events as Azure Storage publishes them to Event Grid (the Event Grid schema):
what the storage front (`devstack.faultproxy`) makes of a successful Put Blob, Put Blob From
URL, Put Block List or (synchronously completed) Copy Blob answered by Azurite.

A `Microsoft.Storage.BlobCreated` event: `id`, `topic`
(`/subscriptions/…/providers/Microsoft.Storage/storageAccounts/<account>`), `subject`
(`/blobServices/default/containers/<c>/blobs/<name>`), `eventType`, `eventTime`, `data`
(`api`, `clientRequestId`, `requestId`, `eTag`, `contentType`, `contentLength`, `blobType`,
`url`, `sequencer`), `dataVersion`, `metadataVersion`."""

from __future__ import annotations

import datetime as dt
import itertools
import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

BLOB_CREATED = "Microsoft.Storage.BlobCreated"
# The local stack's account lives in no subscription: a fixed, recognisable one stands in.
TOPIC_PREFIX = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/devstack"
    "/providers/Microsoft.Storage/storageAccounts/"
)
_BLOCK_ID = re.compile(rb"<(Latest|Uncommitted|Committed)>([^<]*)</")
_BLOCKS_REMEMBERED = 100_000


@dataclass(frozen=True)
class Exchange:
    """One storage request and Azurite's answer, as the front saw them."""

    method: str
    target: str  # path and query, percent-encoded, as sent
    request_headers: Mapping[str, str]  # lower-case names
    body: bytes
    status: int
    response_headers: Mapping[str, str]  # lower-case names
    base_url: str  # scheme://host:port clients use to reach the front


def _blob_address(target: str) -> tuple[str, str, str, dict[str, list[str]]] | None:
    """(account, container, blob name, query) of a path-style blob request, else None."""
    parts = urlsplit(target)
    account, _, rest = parts.path.lstrip("/").partition("/")
    container, _, name = rest.partition("/")
    if not account or not container or not name:
        return None
    return account, container, unquote(name), parse_qs(parts.query)


class BlobEventSource:
    """Turns exchanges into BlobCreated events; remembers staged block sizes so a committed
    block list's event carries the blob's length."""

    def __init__(self) -> None:
        self._blocks: OrderedDict[tuple[str, str, bytes], int] = OrderedDict()
        self._lock = threading.Lock()
        self._sequence = itertools.count(1)
        self._epoch = time.time_ns()

    def observe(self, exchange: Exchange) -> dict[str, Any] | None:
        """The event this exchange causes (None for every other request)."""
        if exchange.method != "PUT" or exchange.status not in (201, 202):
            return None
        address = _blob_address(exchange.target)
        if address is None:
            return None
        account, container, name, query = address
        comp = (query.get("comp") or [""])[0]
        headers = exchange.request_headers
        if comp == "block" and exchange.status == 201:
            block_id = (query.get("blockid") or [""])[0].encode()
            self._remember((container, name, block_id), len(exchange.body))
            return None
        copy_source = "x-ms-copy-source" in headers
        if comp == "blocklist" and exchange.status == 201:
            api, length = "PutBlockList", self._committed_length(container, name, exchange.body)
            content_type = headers.get("x-ms-blob-content-type", "application/octet-stream")
            blob_type = "BlockBlob"
        elif comp == "" and exchange.status == 201 and "x-ms-blob-type" in headers:
            api = "PutBlobFromUrl" if copy_source else "PutBlob"
            length = None if copy_source else len(exchange.body)
            content_type = headers.get("x-ms-blob-content-type", "application/octet-stream")
            blob_type = headers["x-ms-blob-type"]
        elif comp == "" and exchange.status == 202 and copy_source:
            # An asynchronous copy still pending publishes when it completes: not seen here.
            if exchange.response_headers.get("x-ms-copy-status", "").lower() != "success":
                return None
            api, length, content_type, blob_type = "CopyBlob", None, None, "BlockBlob"
        else:
            return None
        etag = exchange.response_headers.get("etag", "").strip('"')
        url = f"{exchange.base_url}/{account}/{container}/{quote(name, safe='/~')}"
        data: dict[str, Any] = {
            "api": api,
            "clientRequestId": headers.get("x-ms-client-request-id", ""),
            "requestId": exchange.response_headers.get("x-ms-request-id", ""),
            "eTag": etag,
            "contentType": content_type,
            "contentLength": length,
            "blobType": blob_type,
            "url": url,
            "sequencer": f"{self._epoch:016x}{next(self._sequence):016x}",
        }
        return {
            "id": str(uuid.uuid4()),
            "topic": TOPIC_PREFIX + account,
            "subject": f"/blobServices/default/containers/{container}/blobs/{name}",
            "eventType": BLOB_CREATED,
            "eventTime": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"),
            "data": {k: v for k, v in data.items() if v is not None},
            "dataVersion": "",
            "metadataVersion": "1",
        }

    def _remember(self, key: tuple[str, str, bytes], size: int) -> None:
        with self._lock:
            self._blocks[key] = size
            self._blocks.move_to_end(key)
            while len(self._blocks) > _BLOCKS_REMEMBERED:
                self._blocks.popitem(last=False)

    def _committed_length(self, container: str, name: str, body: bytes) -> int | None:
        """The sum of the listed blocks' sizes; None when one was staged past the front."""
        total: int | None = 0
        with self._lock:
            for _, block_id in _BLOCK_ID.findall(body):
                size = self._blocks.pop((container, name, block_id.strip()), None)
                total = None if size is None or total is None else total + size
        return total
