"""Documents grouped into Cosmos DB transactional batches.

A transactional batch holds operations on one partition key value only, at most 100 of them,
in one request of at most 2 MB. Documents are grouped by their `pk` as they come: a group
becomes a batch when it is full, and every group left is flushed at the end. With many
partition key values (DROPBATCH_PARTITION_BY) groups may stay small for a long time, so the
documents held back are bounded too: past the bound the oldest group goes out as it is.

A document is measured as the SDK will send it only when it could matter: the worker's
documents come with a cheap upper bound of their size (`sized_batches`), and a hundred
documents under `SMALL_DOCUMENT_BYTES` each fit in one request whatever they are.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

# Cosmos DB's limits on one transactional batch (the request limit is 2 MiB; this leaves
# room for the array around the operations).
MAX_OPERATIONS = 100
MAX_REQUEST_BYTES = 2_000_000
# What the SDK wraps around each document, as it sends it: {"operationType":"Upsert",
# "resourceBody":<document>}, and the comma between operations.
_WRAPPING_BYTES = len('{"operationType":"Upsert","resourceBody":},')
# One encoder for every document (json.dumps with options builds one a call).
_COMPACT = json.JSONEncoder(separators=(",", ":"))
# Documents held back in partial groups, at most.
MAX_PENDING_DOCUMENTS = 4000
MAX_PENDING_BYTES = 16_000_000
# Documents no bigger than this as sent fill a batch of MAX_OPERATIONS within the request
# limit, so they need not be measured exactly.
SMALL_DOCUMENT_BYTES = (MAX_REQUEST_BYTES - 1) // MAX_OPERATIONS


def request_bytes(document: dict[str, Any]) -> int:
    """The bytes this document's upsert adds to a batch request.

    The SDK sends compact JSON with non-ASCII characters escaped, so the text is all ASCII
    and its length is its size in bytes.
    """
    return len(_COMPACT.encode(document)) + _WRAPPING_BYTES


@dataclass
class Batch:
    """Upserts of documents that share one partition key value."""

    partition_key: Any
    documents: list[dict[str, Any]] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    bytes: int = 0

    def __len__(self) -> int:
        return len(self.documents)

    @property
    def request_bytes(self) -> int:
        """The request body's size (at most; small documents count with their size bound):
        the operations, and the array's brackets less the comma after the last one."""
        return self.bytes + 1

    @property
    def full(self) -> bool:
        """It holds as many operations as one batch may."""
        return len(self.documents) >= MAX_OPERATIONS

    def add(self, document: dict[str, Any], size: int) -> None:
        """Add a document of `size` bytes as sent."""
        self.documents.append(document)
        self.sizes.append(size)
        self.bytes += size

    def operations(self) -> list[tuple[str, tuple[Any, ...]]]:
        """The operations as `ContainerProxy.execute_item_batch` takes them."""
        return [("upsert", (document,)) for document in self.documents]

    def halves(self) -> tuple[Batch, Batch]:
        """Two batches of half the documents each (for a request the service found too large)."""
        middle = len(self.documents) // 2
        first, second = Batch(self.partition_key), Batch(self.partition_key)
        for i, (document, size) in enumerate(zip(self.documents, self.sizes, strict=True)):
            (first if i < middle else second).add(document, size)
        return first, second

    def describe(self) -> str:
        """The rows it holds, for an error message ("row 7", "rows 1-100")."""
        rows = [int(d["row"]) for d in self.documents]
        if len(rows) == 1:
            return f"row {rows[0]}"
        return f"{len(rows)} rows ({min(rows)}-{max(rows)})"


class _Groups:
    """Partial batches by partition key value, with how much they hold in all."""

    def __init__(self) -> None:
        self.by_key: dict[Any, Batch] = {}
        self.documents = 0
        self.bytes = 0

    def add(self, document: dict[str, Any], size: int) -> Batch:
        key = document["pk"]
        group = self.by_key.get(key)
        if group is None:
            group = self.by_key[key] = Batch(key)
        group.add(document, size)
        self.documents += 1
        self.bytes += size
        return group

    def take(self, key: Any) -> Batch:
        group = self.by_key.pop(key)
        self.documents -= len(group)
        self.bytes -= group.bytes
        return group

    def too_many(self) -> bool:
        return self.documents > MAX_PENDING_DOCUMENTS or self.bytes > MAX_PENDING_BYTES


def batches(documents: Iterable[dict[str, Any]]) -> Iterator[Batch]:
    """The documents as batches, grouped by `pk`, each document in exactly one batch, in
    file order within a partition; every document is measured as sent."""
    return sized_batches((document, None) for document in documents)


def sized_batches(items: Iterable[tuple[dict[str, Any], int | None]]) -> Iterator[Batch]:
    """Like `batches`, for documents with an upper bound of their size as sent (or None):
    one bound under SMALL_DOCUMENT_BYTES stands for the size, any other is measured."""
    groups = _Groups()
    for document, bound in items:
        size = bound if bound is not None and bound <= SMALL_DOCUMENT_BYTES else None
        if size is None:
            size = request_bytes(document)
        waiting = groups.by_key.get(document["pk"])
        if waiting is not None and waiting.request_bytes + size > MAX_REQUEST_BYTES:
            yield groups.take(waiting.partition_key)
        group = groups.add(document, size)
        if group.full:
            yield groups.take(group.partition_key)
        while groups.too_many():
            # Dicts keep insertion order: the first group is the one waiting longest.
            yield groups.take(next(iter(groups.by_key)))
    yield from groups.by_key.values()
