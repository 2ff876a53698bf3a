"""The worker's records in memory: documents by partition and id."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from batch_core.testing.twin import Twin


class MemoryRecords(Twin):
    """A `RecordsPort`; `add` is the worker writing a document."""

    def __init__(self) -> None:
        super().__init__()
        self.docs: dict[tuple[str, str], dict[str, Any]] = {}

    def purge(self, file_key: str) -> int:
        self._request("query", file_key)
        found = [k for k, d in self.docs.items() if d.get("file_key") == file_key]
        for k in found:
            self._request("delete", *k)
            del self.docs[k]
        return len(found)

    def add(self, doc: Mapping[str, Any]) -> None:
        """Store (or replace) a document, as the worker writes one."""
        self.docs[(str(doc["pk"]), str(doc["id"]))] = dict(doc)

    def of(self, file_key: str) -> list[dict[str, Any]]:
        """The documents of one file version."""
        return [d for d in self.docs.values() if d.get("file_key") == file_key]
