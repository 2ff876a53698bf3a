"""A fault proxy for plain-HTTP servers of the local stack (Azurite): forwards every request
to the upstream server and injects the stack's faults on the way (`devstack.faultrules`:
`operation` a glob over "METHOD /path", `caller` a glob over the User-Agent). Throttling
answers 503 ServerBusy with Retry-After, as Azure Storage throttles.
Admin: GET|POST|DELETE /_devstack/faults.

    python -m devstack.faultproxy --upstream 127.0.0.1:10000 [--port 0]

prints one JSON line {"event": "ready", "url": ...} once listening."""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import logging
import socket
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from devstack.faultrules import BEFORE, FaultPlan, FaultRule

log = logging.getLogger(__name__)
ADMIN = "/_devstack/faults"
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}
ERROR_XML = (
    '<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code>'
    "<Message>{message}</Message></Error>"
)


class FaultProxy(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, upstream: tuple[str, int]) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.upstream = upstream
        self.faults = FaultPlan()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FaultProxy

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
        operation, caller = f"{self.command} {path}", self.headers.get("User-Agent", "")
        rule = self._before(operation, caller)
        if rule is not None:
            self._fault(rule)
            return
        status, reason, headers, payload = self._forward(body)
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

    def _forward(self, body: bytes) -> tuple[int, str, list[tuple[str, str]], bytes]:
        host, port = self.server.upstream
        conn = http.client.HTTPConnection(host, port, timeout=120)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            conn.request(self.command, self.path, body=body or None, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            return response.status, response.reason, response.getheaders(), payload
        finally:
            conn.close()

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
    args = parser.parse_args(argv)
    host, _, port = args.upstream.rpartition(":")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    server = FaultProxy(args.port, (host or "127.0.0.1", int(port)))
    url = f"http://127.0.0.1:{server.server_address[1]}"
    print(json.dumps({"event": "ready", "service": "faultproxy", "url": url}), flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
