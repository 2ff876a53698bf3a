"""The HTTP front of the service: auth, api-version, routing, errors, admin endpoints."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import socket
import ssl
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from devstack.batchsvc import apiversions, routes, scaling
from devstack.batchsvc.account import Account
from devstack.batchsvc.auth import Authenticator, BearerVerifier, SharedKeyVerifier
from devstack.batchsvc.errors import AuthenticationFailed, BatchServiceError, NotFound
from devstack.batchsvc.faults import FaultPlan, FaultRule
from devstack.batchsvc.messages import Request, Response, error_body
from devstack.batchsvc.nodes import NodeFile
from devstack.batchsvc.stats import RequestStats
from devstack.batchsvc.timestamps import etag, now, rfc1123

log = logging.getLogger(__name__)

ADMIN_PREFIX = "/_devstack/"


class CutConnection(Exception):
    """An injected fault that ends the exchange with no answer: the connection is cut."""


@dataclass(frozen=True)
class ServiceConfig:
    state_dir: Path
    account: str
    key: str | None  # SharedKey; None: the account allows Entra ID tokens only
    host: str = "127.0.0.1"
    port: int = 0
    nodes_root: Path | None = None
    node_files: list[NodeFile] = field(default_factory=list)
    node_env: dict[str, str] = field(default_factory=dict)
    faults: list[FaultRule] = field(default_factory=list)
    # Evaluate autoscale formulas every N seconds instead of each pool's interval.
    autoscale_every: float | None = None
    # Unfinished jobs the account may hold (ActiveJobAndScheduleQuotaReached beyond).
    active_job_quota: int = 100
    # The identity endpoint's public key: bearer tokens are accepted when set.
    token_key: Path | None = None
    # HTTPS with this certificate and key (clients send bearer tokens over HTTPS only).
    tls_cert: Path | None = None
    tls_key: Path | None = None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128
    service: BatchServiceServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that went away mid-response is routine (the stdlib would print a traceback).
        log.debug("connection from %s ended with an error", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "devstack-batch/1.0"
    sys_version = ""
    # Buffered writes: headers and body leave in one segment (no Nagle / delayed-ACK stalls).
    wbufsize = 64 * 1024
    server: _Server

    def setup(self) -> None:
        super().setup()
        if isinstance(self.connection, ssl.SSLSocket):
            # In this thread, not in the accept loop: a slow client stalls no one else.
            self.connection.do_handshake()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http %s", format % args)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_HEAD(self) -> None:
        self._handle("HEAD")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        started = time.monotonic()
        service = self.server.service
        raw_path, _, raw_query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        raw_body = self.rfile.read(length) if length > 0 else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        request_id = str(uuid.uuid4())
        if service.stopping:
            self.close_connection = True
            error = BatchServiceError(
                "The service is shutting down.", code="ServerBusy", status=503
            )
            self._send(method, Response(503, error_body(error, service.url)), request_id, headers)
            return
        if raw_path.startswith(ADMIN_PREFIX):
            response = service.admin(method, raw_path, raw_body, self.client_address[0])
            self._send(method, response, request_id, headers)
            return
        operation = "Unknown"
        scheme, authenticated = Authenticator.scheme(headers), False
        try:
            scheme = service.authenticator.verify(method, raw_path, raw_query, headers)
            authenticated = True
            service.stats.authenticated(scheme, True)
            params = {k: v[0] for k, v in parse_qs(raw_query, keep_blank_values=True).items()}
            version = apiversions.resolve(params)
            found = routes.match(method, raw_path)
            if found is None:
                raise _no_route(method, raw_path)
            route, path_args = found
            operation = route.operation
            caller = headers.get("user-agent", "")
            garbage = service.before(operation, caller)
            if garbage is not None:
                self._send(method, garbage, request_id, headers)
                return
            version.check_request(operation, raw_body)
            request = Request(method, raw_path, params, headers, raw_body, path_args)
            response = route.handler(service.account, request)
            response.body = version.shape(operation, response.body)
            if service.faults.draw(("drop",), operation, caller) is not None:
                # The work is done but the caller never hears of it (a lost response).
                raise CutConnection(f"dropped the response of {operation}")
        except CutConnection as e:
            service.stats.record(operation, 0)
            log.info("fault: %s", e)
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        except BatchServiceError as e:
            if not authenticated and isinstance(e, AuthenticationFailed):
                service.stats.authenticated(scheme, False)
            has_body = method != "HEAD" and e.status != 304
            response = Response(
                e.status, error_body(e, service.url) if has_body else None, e.headers
            )
        except Exception as e:  # a bug here must still answer in Batch's error format
            log.exception("unhandled error in %s %s", method, raw_path)
            error = BatchServiceError(
                f"Server encountered an internal error: {e}", code="InternalError"
            )
            response = Response(500, error_body(error, service.url))
        service.stats.record(operation, response.status)
        self._send(method, response, request_id, headers)
        log.debug(
            "request %s %s -> %s in %.1f ms",
            operation,
            raw_path,
            response.status,
            (time.monotonic() - started) * 1000,
        )

    def _send(
        self, method: str, response: Response, request_id: str, headers: dict[str, str]
    ) -> None:
        if isinstance(response.body, bytes):
            payload = response.body
        elif response.body is None:
            payload = b""
        else:
            payload = json.dumps(response.body, separators=(",", ":")).encode("utf-8")
        # send_response writes Server and Date itself: one Date header, none added here.
        self.send_response(response.status)
        self.send_header("request-id", request_id)
        client_id = headers.get("client-request-id") or headers.get("x-ms-client-request-id")
        if client_id:
            self.send_header("client-request-id", client_id)
        self.send_header("DataServiceVersion", "3.0")
        extra = dict(response.headers)
        if 200 <= response.status < 300:
            # The swagger documents these on nearly every success; lists and counts get fresh ones.
            extra.setdefault("ETag", etag())
            extra.setdefault("Last-Modified", rfc1123(now()))
            extra.setdefault(
                "DataServiceId", f"{self.server.service.url}{self.path.partition('?')[0]}"
            )
        for name, value in extra.items():
            if name.lower() != "content-length":
                self.send_header(name, value)
        length = response.headers.get("Content-Length")
        if payload or response.body is not None or (method == "HEAD" and length):
            self.send_header("Content-Type", response.content_type)
        self.send_header(
            "Content-Length", length if (method == "HEAD" and length) else str(len(payload))
        )
        self.end_headers()
        if method != "HEAD" and payload:
            self.wfile.write(payload)


def _no_route(method: str, raw_path: str) -> BatchServiceError:
    if routes.path_exists(raw_path):
        return BatchServiceError(
            f"The requested operation {method} is not supported on this resource.",
            code="UnsupportedOperation",
            status=405,
        )
    return NotFound(
        "The requested URI does not represent any resource on the server.",
        code="InvalidUri",
        values={"Uri": raw_path},
    )


class BatchServiceServer:
    """A running service: `start()`, then `url`; `stop()` kills tasks, persists and closes."""

    def __init__(self, config: ServiceConfig) -> None:
        if not ipaddress.ip_address(socket.gethostbyname(config.host)).is_loopback:
            raise ValueError(f"the service binds to loopback only (got {config.host})")
        self.config = config
        self.authenticator = Authenticator(
            SharedKeyVerifier(config.account, config.key) if config.key else None,
            BearerVerifier.from_file(config.token_key) if config.token_key else None,
        )
        self.stats = RequestStats()
        self.faults = FaultPlan(list(config.faults))
        self._httpd = _Server((config.host, config.port), _Handler)
        self._httpd.service = self
        host, port = self._httpd.server_address[:2]
        scheme = "http"
        if config.tls_cert is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            try:
                context.load_cert_chain(config.tls_cert, config.tls_key)
            except BaseException:
                self._httpd.server_close()
                raise
            self._httpd.socket = context.wrap_socket(
                self._httpd.socket, server_side=True, do_handshake_on_connect=False
            )
            scheme = "https"
        self.url = f"{scheme}://{host!s}:{port}"
        nodes_root = config.nodes_root or (config.state_dir / "nodes")
        try:
            self.account = Account.open(
                config.account,
                self.url,
                config.state_dir,
                nodes_root.resolve(),
                list(config.node_files),
                dict(config.node_env),
                self.faults,
            )
        except BaseException:
            self._httpd.server_close()
            raise
        self.account.autoscale_every = config.autoscale_every
        self.account.active_job_quota = config.active_job_quota
        account = self.account
        self.account.scheduler.periodic.append(lambda: scaling.autoscale_due(account))
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="batch-http", daemon=True
        )
        self._stopped = False
        self.stopping = False

    def start(self) -> BatchServiceServer:
        self.account.scheduler.start()
        self._thread.start()
        log.info("batch service listening on %s for account %s", self.url, self.config.account)
        return self

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.stopping = True
        self._httpd.shutdown()
        self._httpd.server_close()
        self.account.scheduler.stop()
        with self.account.registry.lock:
            self.account.registry.store.close()
        log.info("batch service stopped")

    def __enter__(self) -> BatchServiceServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def before(self, operation: str, caller: str = "") -> Response | None:
        """Injected faults that happen before the work: latency, a timeout (the connection
        cut, nothing done), throttling, server errors, a 4xx, or a body that is not JSON
        (returned: the caller sends it as is)."""
        delay = self.faults.draw(("latency",), operation, caller)
        if delay is not None:
            time.sleep(delay.latency_ms / 1000)
        timeout = self.faults.draw(("timeout",), operation, caller)
        if timeout is not None:
            time.sleep(timeout.latency_ms / 1000)
            raise CutConnection(f"timed out {operation} (not applied)")
        throttle = self.faults.draw(("throttle",), operation, caller)
        if throttle is not None:
            raise BatchServiceError(
                "The server is busy: too many requests. Retry after the indicated time.",
                code="TooManyRequests",
                status=429,
                headers={"Retry-After": str(throttle.retry_after)},
            )
        error = self.faults.draw(("error",), operation, caller)
        if error is not None:
            raise BatchServiceError(
                "The server encountered an injected error.",
                code="ServerBusy" if error.status == 503 else "InternalError",
                status=error.status,
            )
        reject = self.faults.draw(("reject",), operation, caller)
        if reject is not None:
            raise BatchServiceError(
                "The request was refused by an injected fault.",
                code="Conflict" if reject.status == 409 else "InvalidRequest",
                status=reject.status,
            )
        if self.faults.draw(("garbage",), operation, caller) is not None:
            return Response(200, b"<html>not json", content_type="text/html")
        return None

    # admin endpoints (no auth, loopback only) ------------------------------------------------

    def admin(self, method: str, raw_path: str, raw_body: bytes, client: str) -> Response:
        if not ipaddress.ip_address(client).is_loopback:
            return Response(403, {"error": "admin endpoints answer loopback clients only"})
        path = raw_path[len(ADMIN_PREFIX) :].rstrip("/")
        if method == "GET" and path == "stats":
            return Response(200, self.stats.snapshot(), content_type="application/json")
        if method == "POST" and path == "stats/reset":
            self.stats.reset()
            return Response(200, {"reset": True}, content_type="application/json")
        if path == "faults":
            return self._admin_faults(method, raw_body)
        if method == "POST" and path == "preempt":
            return self._admin_preempt(raw_body)
        if method == "GET" and path == "health":
            return Response(
                200,
                {"status": "ok", "running": self.account.scheduler.running_count()},
                content_type="application/json",
            )
        return Response(
            404,
            {"error": f"no admin endpoint {method} {raw_path}"},
            content_type="application/json",
        )

    def _admin_faults(self, method: str, raw_body: bytes) -> Response:
        status, body = self.faults.admin(method, raw_body)
        if method == "POST" and status == 201:
            log.info("fault added: %s", body)
        return Response(status, body, content_type="application/json")

    def _admin_preempt(self, raw_body: bytes) -> Response:
        """Evict a node like a spot preemption: `{"poolId", "nodeId"}` or `{"jobId", "taskId"}`."""
        try:
            spec = json.loads(raw_body or b"{}")
        except ValueError as e:
            return Response(400, {"error": str(e)}, content_type="application/json")
        registry = self.account.registry
        with registry.lock:
            node = None
            if spec.get("jobId") and spec.get("taskId"):
                job = registry.jobs.get(str(spec["jobId"]))
                task = job.tasks.get(str(spec["taskId"])) if job else None
                info = (task.doc.get("nodeInfo") or {}) if task and task.state == "running" else {}
                pool = registry.pools.get(str(info.get("poolId") or ""))
                node = pool.nodes.get(str(info.get("nodeId") or "")) if pool else None
            elif spec.get("poolId") and spec.get("nodeId"):
                pool = registry.pools.get(str(spec["poolId"]))
                node = pool.nodes.get(str(spec["nodeId"])) if pool else None
            if node is None:
                return Response(
                    404, {"error": "no such running task or node"}, content_type="application/json"
                )
            requeued = self.account.scheduler.preempt_node(node)
        return Response(
            200, {"nodeId": node.id, "requeued": requeued}, content_type="application/json"
        )
