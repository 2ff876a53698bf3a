"""The storage front: a proxy in front of Azurite's blob endpoint that forwards every request,
injects the stack's faults on the way when asked (`devstack.faultrules`: `operation` a glob
over "METHOD /path", `caller` a glob over the User-Agent; throttling answers 503 ServerBusy
with Retry-After, as Azure Storage throttles), and publishes blob storage events to Event
Grid subscriptions (`devstack.blobevents`, `devstack.eventdelivery`), as a storage account
with an Event Grid system topic does.
Admin: GET|POST|DELETE /_devstack/faults; GET|POST /_devstack/eventgrid/subscriptions.

    python -m devstack.faultproxy --upstream 127.0.0.1:10000 [--port 0]
                                  [--cert CERT --key KEY [--upstream-tls]]

serves HTTPS with CERT (and reaches an HTTPS upstream trusting CERT with --upstream-tls);
prints one JSON line {"event": "ready", "url": ...} once listening."""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import logging
import socket
import ssl
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from devstack.blobevents import TOPIC_PREFIX, BlobEventSource, Exchange
from devstack.eventdelivery import EventDelivery, Subscription
from devstack.faultrules import BEFORE, FaultPlan, FaultRule

log = logging.getLogger(__name__)
ADMIN = "/_devstack/faults"
SUBSCRIPTIONS = "/_devstack/eventgrid/subscriptions"
ACCOUNT = "devstoreaccount1"
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}
ERROR_XML = (
    '<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code>'
    "<Message>{message}</Message></Error>"
)


class FaultProxy(ThreadingHTTPServer):
    daemon_threads = True
    # Room for a burst of new connections: past the backlog (5 by default) the kernel drops
    # them and clients wait a second to retry.
    request_queue_size = 128

    def __init__(
        self,
        port: int,
        upstream: tuple[str, int],
        cert: tuple[Path, Path] | None = None,
        upstream_tls: bool = False,
    ) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.upstream = upstream
        self.faults = FaultPlan()
        self.events = BlobEventSource()
        self.tls: ssl.SSLContext | None = None
        trust: ssl.SSLContext | None = None
        if cert is not None:
            self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls.load_cert_chain(*cert)
            trust = ssl.create_default_context(cafile=str(cert[0]))
        self.upstream_tls = trust if upstream_tls else None
        self.delivery = EventDelivery(trust)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.server_address[1]}"

    def finish_request(self, request: Any, client_address: Any) -> None:
        # On the connection's own thread, so a slow handshake holds up no one else.
        if self.tls is not None:
            try:
                request = self.tls.wrap_socket(request, server_side=True)
            except (OSError, ssl.SSLError) as e:
                log.debug("TLS handshake with %s failed: %s", client_address, e)
                return
        super().finish_request(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FaultProxy
    _upstream: http.client.HTTPConnection | None = None

    def log_message(self, format: str, *args: object) -> None:
        log.debug(format, *args)

    def do_GET(self) -> None:
        self._handle()

    do_PUT = do_POST = do_DELETE = do_HEAD = do_OPTIONS = do_PATCH = do_GET

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        path = self.path.partition("?")[0]
        if path.rstrip("/") == ADMIN:
            status, answer = self.server.faults.admin(self.command, body)
            self._answer(status, json.dumps(answer).encode(), "application/json")
            return
        if path.rstrip("/") == SUBSCRIPTIONS:
            self._subscriptions(body)
            return
        operation, caller = f"{self.command} {path}", self.headers.get("User-Agent", "")
        rule = self._before(operation, caller)
        if rule is not None:
            self._fault(rule)
            return
        status, reason, headers, payload = self._forward(body)
        self._publish(body, status, headers)  # the write happened, even if its answer is lost
        if self.server.faults.draw(("drop",), operation, caller) is not None:
            log.info("fault: dropped the response of %s", operation)
            self._cut()
            return
        self.send_response(status, reason)
        for name, value in headers:
            if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _before(self, operation: str, caller: str) -> FaultRule | None:
        for kind in BEFORE:
            rule = self.server.faults.draw((kind,), operation, caller)
            if rule is not None and kind == "latency":
                time.sleep(rule.latency_ms / 1000)
            elif rule is not None:
                return rule
        return None

    def _fault(self, rule: FaultRule) -> None:
        if rule.kind == "timeout":
            time.sleep(rule.latency_ms / 1000)
            self._cut()
        elif rule.kind == "throttle":
            xml = ERROR_XML.format(code="ServerBusy", message="Injected: the server is busy.")
            busy = {"Retry-After": str(rule.retry_after), "x-ms-error-code": "ServerBusy"}
            self._answer(503, xml.encode(), "application/xml", busy)
        elif rule.kind in ("error", "reject"):
            code = {409: "LeaseIdMissing", 412: "ConditionNotMet", 400: "InvalidInput"}.get(
                rule.status, "InternalError" if rule.kind == "error" else "InvalidInput"
            )
            xml = ERROR_XML.format(code=code, message="Injected fault.")
            self._answer(rule.status, xml.encode(), "application/xml", {"x-ms-error-code": code})
        else:  # garbage: a success whose body is nothing the client can read
            self._answer(200, b"<html>not what was asked for", "text/html")

    def _subscriptions(self, body: bytes) -> None:
        delivery = self.server.delivery
        if self.command == "GET":
            listed = json.dumps(delivery.subscriptions()).encode()
            self._answer(200, listed, "application/json")
            return
        if self.command not in ("POST", "PUT"):
            self._answer(405, b'{"error": "GET or POST"}', "application/json")
            return
        try:
            subscription = Subscription.from_json(json.loads(body))
            delivery.subscribe(subscription, TOPIC_PREFIX + ACCOUNT)
        except (ValueError, TypeError, AttributeError) as e:
            self._answer(400, json.dumps({"error": str(e)}).encode(), "application/json")
            return
        self._answer(201, json.dumps({"name": subscription.name}).encode(), "application/json")

    def _publish(self, body: bytes, status: int, headers: list[tuple[str, str]]) -> None:
        exchange = Exchange(
            method=self.command,
            target=self.path,
            request_headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            status=status,
            response_headers={k.lower(): v for k, v in headers},
            base_url=self.server.url,
        )
        event = self.server.events.observe(exchange)
        if event is not None:
            self.server.delivery.publish(event)

    def _forward(self, body: bytes) -> tuple[int, str, list[tuple[str, str]], bytes]:
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        # One upstream connection per client connection, kept while both stay open; a kept
        # connection the upstream closed while idle is opened again once.
        for attempt in (0, 1):
            reused = self._upstream is not None
            conn = self._upstream or self._connect()
            try:
                conn.request(self.command, self.path, body=body or None, headers=headers)
                response = conn.getresponse()
                payload = response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                conn.close()
                self._upstream = None
                if reused and attempt == 0:
                    continue
                raise
            except BaseException:
                conn.close()
                self._upstream = None
                raise
            if response.will_close:
                conn.close()
                self._upstream = None
            else:
                self._upstream = conn
            return response.status, response.reason, response.getheaders(), payload
        raise AssertionError("unreachable")

    def _connect(self) -> http.client.HTTPConnection:
        host, port = self.server.upstream
        if self.server.upstream_tls is not None:
            return http.client.HTTPSConnection(
                host, port, timeout=120, context=self.server.upstream_tls
            )
        return http.client.HTTPConnection(host, port, timeout=120)

    def finish(self) -> None:
        super().finish()
        if self._upstream is not None:
            self._upstream.close()

    def _answer(
        self, status: int, payload: bytes, content_type: str, extra: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _cut(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


def main(argv: list[str] | None = None) -> int:
    """Run the proxy until it is stopped."""
    parser = argparse.ArgumentParser(prog="python -m devstack.faultproxy", description=__doc__)
    parser.add_argument("--upstream", required=True, help="HOST:PORT of the plain-HTTP server")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cert", type=Path, help="serve HTTPS with this certificate (PEM)")
    parser.add_argument("--key", type=Path, help="the certificate's private key (PEM)")
    parser.add_argument(
        "--upstream-tls", action="store_true", help="the upstream speaks HTTPS with --cert"
    )
    args = parser.parse_args(argv)
    if (args.cert is None) != (args.key is None) or (args.upstream_tls and args.cert is None):
        parser.error("--cert and --key go together, and --upstream-tls needs them")
    host, _, port = args.upstream.rpartition(":")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    cert = (args.cert, args.key) if args.cert is not None else None
    server = FaultProxy(args.port, (host or "127.0.0.1", int(port)), cert, args.upstream_tls)
    print(json.dumps({"event": "ready", "service": "faultproxy", "url": server.url}), flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
