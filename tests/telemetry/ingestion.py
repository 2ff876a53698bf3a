"""A local Application Insights ingestion endpoint: a loopback HTTP server that takes what the
Azure Monitor exporters POST to `/v2.1/track` (JSON arrays of envelopes, gzip'd or not), keeps
the raw bodies and the envelopes, and answers as the service does."""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Envelope = dict[str, Any]


@dataclass
class Ingestion:
    """What the endpoint received, and where it listens."""

    port: int
    bodies: list[bytes] = field(default_factory=list)
    envelopes: list[Envelope] = field(default_factory=list)
    other_paths: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def connection_string(self) -> str:
        return (
            "InstrumentationKey=00000000-0000-4000-8000-000000000001;"
            f"IngestionEndpoint=http://127.0.0.1:{self.port}/"
        )

    def of_type(self, base_type: str) -> list[Envelope]:
        with self.lock:
            return [e for e in self.envelopes if e["data"]["baseType"] == base_type]

    def wait_for(self, found: Callable[[], bool], timeout: float = 15.0) -> None:
        """Exporters send from their own threads: wait until `found()` holds."""
        deadline = time.monotonic() + timeout
        while not found():
            if time.monotonic() > deadline:
                raise AssertionError(f"not received within {timeout}s")
            time.sleep(0.1)


def data(envelope: Envelope) -> dict[str, Any]:
    """An envelope's baseData."""
    base: dict[str, Any] = envelope["data"]["baseData"]
    return base


def properties(envelope: Envelope) -> dict[str, Any]:
    props: dict[str, Any] = data(envelope).get("properties") or {}
    return props


def _handler(sink: Ingestion) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path.rstrip("/") != "/v2.1/track":
                with sink.lock:
                    sink.other_paths.append(self.path)
                self.send_error(404)
                return
            body = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
            items = json.loads(body)
            items = items if isinstance(items, list) else [items]
            with sink.lock:
                sink.bodies.append(body)
                sink.envelopes.extend(items)
            answer = json.dumps(
                {"itemsReceived": len(items), "itemsAccepted": len(items), "errors": []}
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: the test reads the envelopes

    return Handler


@contextmanager
def ingestion_endpoint() -> Iterator[Ingestion]:
    """The endpoint on a free loopback port, stopped on the way out."""
    sink = Ingestion(port=0)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(sink))
    sink.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield sink
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
