"""The Cosmos server's request counters (`GET|DELETE /_devstack/stats`), and the function
app's ledger writes per file read from them.

The counters hold one row per request kind (`query`, `batch`, or the HTTP method), resource
type (`docs`, `colls`, ...), container and caller (the User-Agent). The app's requests are
the ones whose caller carries its tag (`devstack.stack.APP_CALLER`: start the stack with
`tag_callers`); a write is a POST, PUT or PATCH of a document, or a transactional batch (one
request however many documents it holds).
"""

from __future__ import annotations

import json
import ssl
import urllib.request
from dataclasses import dataclass
from typing import Any

from batch_core.cosmosdb import RUNS
from devstack.stack import APP_CALLER, Stack

WRITES = ("POST", "PUT", "PATCH", "batch")


@dataclass(frozen=True)
class CosmosStats:
    """The local Cosmos server's admin endpoint: requests counted by kind and caller."""

    url: str
    ca_cert: str

    def _open(self, method: str) -> list[dict[str, Any]]:
        tls = ssl.create_default_context(cafile=self.ca_cert)
        request = urllib.request.Request(self.url, method=method)
        with urllib.request.urlopen(request, timeout=30, context=tls) as response:
            rows: list[dict[str, Any]] = json.loads(response.read())["requests"]
        return rows

    def snapshot(self) -> list[dict[str, Any]]:
        """Every row counted since the last reset."""
        return self._open("GET")

    def reset(self) -> None:
        self._open("DELETE")

    @classmethod
    def of(cls, stack: Stack) -> CosmosStats:
        assert stack.cosmos is not None, "the stack has no Cosmos server"
        url = stack.cosmos.endpoint.rstrip("/") + "/_devstack/stats"
        return cls(url, str(stack.cosmos.ca_cert))


def app_requests(rows: list[dict[str, Any]], files: int) -> dict[str, Any]:
    """The app's requests: ledger (runs container) document writes per file, and every
    request of the app by kind, resource and container."""
    mine = [r for r in rows if APP_CALLER in str(r.get("caller", ""))]
    writes = sum(
        int(r["count"])
        for r in mine
        if r.get("kind") in WRITES and r.get("resource") == "docs" and r.get("collection") == RUNS
    )
    by: dict[str, int] = {}
    for r in mine:
        key = f"{r.get('kind')} {r.get('collection') or '-'}/{r.get('resource') or '-'}"
        by[key] = by.get(key, 0) + int(r["count"])
    return {
        "writes_per_file": round(writes / files, 3) if files else None,
        "ledger_writes": writes,
        "app_requests": sum(by.values()),
        "app_by_kind": dict(sorted(by.items())),
        "untagged_requests": sum(int(r["count"]) for r in rows) - sum(by.values()),
    }
