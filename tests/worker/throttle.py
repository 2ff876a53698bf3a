"""A TLS proxy in front of the Cosmos DB-compatible server that injects the faults Cosmos DB
can answer with: 429 (throttled, with x-ms-retry-after-ms) for upserts, transactional batches
and queries; 413 for a batch request over a size; and a batch refused on one operation (207
multi-status). Faults are injected at the HTTP layer: the worker runs unchanged and only its
endpoint points here."""

from __future__ import annotations

import http.client
import json
import ssl
import subprocess
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from tests.worker.node import WorkerStack

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


@dataclass
class ThrottlePolicy:
    """Throttle each write's first `times` attempts (forever when None). A write is one
    upsert, keyed by its document id, or one batch, keyed by its first document's id."""

    times: int | None
    retry_after_ms: int = 10
    # Called once, before the first write is forwarded (to change the world mid-run).
    before_first_write: Callable[[], None] | None = None
    # How many queries to throttle first (each once).
    queries: int = 0
    # Batch requests with a body over this many bytes are answered 413 (too large).
    max_batch_bytes: int | None = None
    # Batches holding one of these rows are refused: that operation gets the status, the
    # others 424, and nothing is forwarded.
    refuse_rows: dict[int, int] = field(default_factory=dict)
    attempts: Counter[str] = field(default_factory=Counter)
    throttled: int = 0
    batches: list[list[int]] = field(default_factory=list)
    too_large: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def should_throttle_query(self) -> bool:
        with self.lock:
            if self.queries > 0:
                self.queries -= 1
                self.throttled += 1
                return True
            return False

    def should_throttle(self, document_id: str) -> bool:
        with self.lock:
            if self.before_first_write is not None:
                hook, self.before_first_write = self.before_first_write, None
                hook()
            self.attempts[document_id] += 1
            hit = self.times is None or self.attempts[document_id] <= self.times
            self.throttled += hit
            return hit

    def batch_fault(self, body: bytes) -> tuple[int, dict[str, str], bytes] | None:
        """The answer to give a batch request instead of forwarding it, or None."""
        operations = json.loads(body)
        documents = [op.get("resourceBody") or {} for op in operations]
        with self.lock:
            self.batches.append([int(d.get("row", 0)) for d in documents])
            if self.max_batch_bytes is not None and len(body) > self.max_batch_bytes:
                self.too_large += 1
                refusal = {"code": "RequestEntityTooLarge", "message": "Request size is too large"}
                return 413, {}, json.dumps(refusal).encode()
        first = str(documents[0].get("id") or operations[0].get("id"))
        if self.should_throttle(first):
            return (
                429,
                _THROTTLED_HEADERS | {"x-ms-retry-after-ms": str(self.retry_after_ms)},
                _THROTTLED,
            )
        for index, document in enumerate(documents):
            status = self.refuse_rows.get(int(document.get("row", 0)))
            if status is not None:
                results = [{"statusCode": 424, "requestCharge": 0} for _ in operations]
                results[index] = {"statusCode": status, "requestCharge": 0}
                return 207, {}, json.dumps(results).encode()
        return None


_THROTTLED = b'{"code":"TooManyRequests","message":"Request rate is large."}'
_THROTTLED_HEADERS = {"x-ms-substatus": "3200"}


class ThrottlingProxy:
    # The request handler class is defined inside, to reach this proxy; its branches count here.
    def __init__(  # noqa: C901 - the branches are the nested request handler's
        self, upstream: str, cert: Path, key: Path, policy: ThrottlePolicy
    ) -> None:
        target = urlsplit(upstream)
        self.upstream_host = target.hostname or "127.0.0.1"
        self.upstream_port = target.port or 443
        self.policy = policy
        client_context = ssl.create_default_context(cafile=str(cert))
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _upstream(self) -> http.client.HTTPSConnection:
                connection: http.client.HTTPSConnection | None = getattr(self, "_connection", None)
                if connection is None:
                    connection = http.client.HTTPSConnection(
                        proxy.upstream_host, proxy.upstream_port, context=client_context
                    )
                    self._connection = connection
                return connection

            def finish(self) -> None:
                super().finish()
                connection = getattr(self, "_connection", None)
                if connection is not None:
                    connection.close()

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                is_docs = self.command == "POST" and self.path.rstrip("/").endswith("/docs")
                throttle = False
                if is_docs and self.headers.get("x-ms-cosmos-is-batch-request"):
                    fault = proxy.policy.batch_fault(body)
                    if fault is not None:
                        status, headers, data = fault
                        self._send(status, headers | {"Content-Type": "application/json"}, data)
                        return
                elif is_docs and self.headers.get("x-ms-documentdb-is-upsert"):
                    throttle = proxy.policy.should_throttle(str(json.loads(body).get("id")))
                elif is_docs and self.headers.get("x-ms-documentdb-isquery"):
                    throttle = proxy.policy.should_throttle_query()
                if throttle:
                    after = {"x-ms-retry-after-ms": str(proxy.policy.retry_after_ms)}
                    json_type = {"Content-Type": "application/json"}
                    self._send(429, _THROTTLED_HEADERS | after | json_type, _THROTTLED)
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                headers["Host"] = f"{proxy.upstream_host}:{proxy.upstream_port}"
                connection = self._upstream()
                connection.request(self.command, self.path, body=body or None, headers=headers)
                response = connection.getresponse()
                data = response.read()
                if self.command == "GET" and self.path in ("", "/"):
                    # The account lists its own address; keep the client talking to us.
                    data = data.replace(
                        f":{proxy.upstream_port}/".encode(), f":{proxy.port}/".encode()
                    )
                out = {k: v for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP}
                self._send(response.status, out, data)

            def _send(self, status: int, headers: dict[str, str], data: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_context.load_cert_chain(str(cert), str(key))
        self._server.socket = server_context.wrap_socket(self._server.socket, server_side=True)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"https://127.0.0.1:{self.port}/"

    def __enter__(self) -> ThrottlingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def proxy_for(stack: WorkerStack, policy: ThrottlePolicy) -> ThrottlingProxy:
    """A proxy in front of the stack's Cosmos server (same certificate)."""
    cert = stack.cosmos.ca_cert
    return ThrottlingProxy(stack.cosmos.endpoint, cert, cert.with_name("cosmos-key.pem"), policy)


def run_behind_proxy(
    stack: WorkerStack, policy: ThrottlePolicy, name: str, data: bytes, **settings: str
) -> tuple[subprocess.CompletedProcess[str], str]:
    """Upload `data` as `name` and run the csv worker on it through a proxy with `policy`;
    the run and the file key."""
    etag, key = stack.upload(name, data)
    with proxy_for(stack, policy) as proxy:
        env = stack.task_env(
            "csv", name, etag, key, DROPBATCH_COSMOS_ENDPOINT=proxy.endpoint, **settings
        )
        return stack.run_worker(env), key
