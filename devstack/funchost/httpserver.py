"""The HTTP listener: ``/<routePrefix>/<route>`` to HTTP-triggered functions.

Routes are tried in precedence order (see httproute); a path no route matches, or whose
route does not take the method, gets 404, and a missing or wrong key 401, as from the real
host. A function that fails or times out answers 500 with an empty body. Each request is
logged as one ``"event": "http_request"`` line with the method, the path (never the query
string, which may carry the key), the status and the function.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from devstack.funchost.httpfunctions import HttpFunction, Reply, reply, request
from devstack.funchost.httpkeys import FunctionKeys, presented_key
from devstack.funchost.invoker import Invoker

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 100 * 1024 * 1024  # the real host's default request size limit
WEBHOOKS = "runtime/webhooks/"
# An extension's webhook: (query, headers, body) -> reply, once its key was checked.
WebhookHandler = Callable[[Mapping[str, str], Mapping[str, str], bytes], Reply]
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")


class HttpListener:
    """Serves the app's HTTP functions on 127.0.0.1:``port`` (0 picks a free port)."""

    def __init__(
        self,
        functions: Sequence[HttpFunction],
        keys: FunctionKeys,
        invoker: Invoker,
        route_prefix: str,
        port: int,
        webhooks: Mapping[str, WebhookHandler] | None = None,
    ) -> None:
        self.webhooks = dict(webhooks or {})
        self.functions = sorted(functions, key=lambda f: (f.route.precedence, f.route.text))
        self.keys = keys
        self.invoker = invoker
        self.prefix = route_prefix.strip("/")
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.listener = self
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="http", kwargs={"poll_interval": 0.2}
        )
        self._thread.daemon = True
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(10)

    def route(self, method: str, path: str) -> tuple[HttpFunction, dict[str, str]] | None:
        """The function and route values for a request path (still percent-encoded)."""
        rest = path.strip("/")
        if self.prefix:
            head, _, rest = rest.partition("/")
            if head.lower() != self.prefix.lower():
                return None
        for function in self.functions:
            values = function.route.match(rest)
            if values is not None and function.allows_method(method):
                return function, values
        return None

    def answer(
        self, method: str, target: str, headers: dict[str, str], host: str, body: bytes
    ) -> tuple[Reply, str | None]:
        """The reply to one request, and the name of the function that answered it."""
        parts = urlsplit(target)
        query = dict(reversed(parse_qsl(parts.query, keep_blank_values=True)))  # first wins
        path = parts.path.strip("/")
        if path.lower().startswith(WEBHOOKS):  # the host's own routes come before the app's
            extension = path[len(WEBHOOKS) :].lower()
            handler = self.webhooks.get(extension)
            if handler is None:
                return Reply(404, [], b""), None
            if not self.keys.opens_webhook(extension, presented_key(query, headers)):
                return Reply(401, [], b""), None
            return handler(query, headers, body), None
        found = self.route(method, parts.path)
        if found is None:
            return Reply(404, [], b""), None
        function, values = found
        if not self.keys.allows(function.auth_level, function.name, presented_key(query, headers)):
            return Reply(401, [], b""), function.name
        req = request(method, f"http://{host}{target}", headers, query, values, body)
        result = self.invoker.invoke(
            function.name,
            function.call,
            {function.argument: req},
            wants_context=function.wants_context,
            fields={"trigger": "http", "method": method, "path": parts.path},
        )
        if not result.succeeded:
            return Reply(500, [], b""), function.name
        try:
            return reply(result.value), function.name
        except TypeError as e:
            log.error("function %s: %s", function.name, e)
            return Reply(500, [], b""), function.name


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Room for a burst of new connections: past the backlog (5 by default) the kernel drops
    # them and clients wait a second to retry.
    request_queue_size = 128
    listener: HttpListener


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "funchost"

    def _dispatch(self) -> None:
        started = time.monotonic()
        listener = self.server.listener
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._send(Reply(413, [], b""))
            return
        body = self.rfile.read(length) if length else b""
        headers = {k: v for k, v in self.headers.items()}
        host = self.headers.get("Host") or listener.url.split("//", 1)[1]
        try:
            answer, function = listener.answer(self.command, self.path, headers, host, body)
        except Exception:
            log.exception("HTTP request %s %s failed in the host", self.command, self._path())
            answer, function = Reply(500, [], b""), None
        self._send(answer)
        log.info(
            "%s %s -> %d",
            self.command,
            self._path(),
            answer.status,
            extra={
                "category": "Host.Http",
                "fields": {
                    "event": "http_request",
                    "method": self.command,
                    "path": self._path(),
                    "status": answer.status,
                    "function": function,
                    "duration_ms": round((time.monotonic() - started) * 1000, 1),
                },
            },
        )

    def _path(self) -> str:
        return urlsplit(self.path).path

    def _send(self, answer: Reply) -> None:
        self.send_response(answer.status)
        for name, value in answer.headers:
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request line carries the query string (and so the key): logged above


for _method in METHODS:
    setattr(_Handler, f"do_{_method}", _Handler._dispatch)
