"""``python -m devstack.funchost --app-dir DIR``: run a function app locally.

Prints one JSON line on stdout when ready,
``{"event": "ready", "service": "functions", "functions": [...]}`` (with ``"http": URL``
when the app has HTTP triggers), logs JSON lines on
stderr, and exits 0 after SIGTERM or SIGINT once running invocations have finished.
Exits 1 when start-up fails, with the cause in the log.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from devstack.funchost import logs
from devstack.funchost.errors import StartupError
from devstack.funchost.host import FunctionsHost, HostOptions

log = logging.getLogger("devstack.funchost")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m devstack.funchost",
        description="Run an Azure Functions Python (v2 model) app's blob, timer and HTTP triggers.",
    )
    parser.add_argument(
        "--app-dir",
        required=True,
        type=Path,
        help="directory holding function_app.py and host.json",
    )
    parser.add_argument(
        "--settings",
        type=Path,
        default=None,
        help="settings file (default: APP_DIR/local.settings.json)",
    )
    parser.add_argument(
        "--host-id",
        default=None,
        help="host id naming receipts, queues and timer status "
        "(default: from the machine and app directory)",
    )
    parser.add_argument(
        "--http-port",
        type=int,
        default=7071,
        help="port for HTTP triggers on 127.0.0.1 (default 7071; 0 picks a free one)",
    )
    parser.add_argument(
        "--keys",
        type=Path,
        default=None,
        help="function keys file, created with fresh keys if missing "
        "(default: function-keys.json beside the settings file)",
    )
    parser.add_argument(
        "--event-grid",
        action="store_true",
        help="an Event Grid subscription delivers blob events to /runtime/webhooks/blobs: "
        "EventGrid-source blob triggers are served from there, not polled",
    )
    parser.add_argument(
        "--poll-seconds",
        type=float,
        default=1.0,
        help="how often containers and the work queue are polled",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.poll_seconds <= 0:
        _parser().error("--poll-seconds must be positive")
    ready_stream = sys.stdout
    sys.stdout = logs.PrintedLines()
    logs.configure({})
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    host = FunctionsHost(
        HostOptions(
            args.app_dir,
            args.settings,
            args.host_id,
            args.poll_seconds,
            http_port=args.http_port,
            keys_file=args.keys,
            event_grid=args.event_grid,
        )
    )
    try:
        names = host.start()
    except StartupError as e:
        log.critical(
            "host start-up failed: %s",
            e,
            extra={
                "fields": {
                    "event": "startup_failed",
                    "cause": str(e),
                    "error_type": type(e).__name__,
                }
            },
        )
        host.stop()
        return 1
    if stop.is_set():  # asked to stop while starting: never claim to be ready
        host.stop()
        return 0
    ready: dict[str, object] = {"event": "ready", "service": "functions", "functions": names}
    if host.http is not None:
        ready["http"] = host.http.url
    if host.blob_webhooks:
        ready["blob_webhooks"] = host.blob_webhooks
    ready_stream.write(json.dumps(ready) + "\n")
    ready_stream.flush()
    while not stop.wait(0.5):
        pass
    host.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
