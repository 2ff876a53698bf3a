"""The host: loads settings and the app, starts the listeners, stops them gracefully.

Start-up follows the real host's order: host.json, then the settings file into the
environment, then the app import, then every trigger resolved against the settings.
Any failure there is a :class:`StartupError` naming its cause. Stopping stops polling
and waits for running invocations, bounded by ``functionTimeout``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from azure.core.exceptions import AzureError

from devstack.funchost import logs
from devstack.funchost.appsettings import AppSettings, LocalSettingsFile, install
from devstack.funchost.blobqueue import BlobTriggerProcessor, BlobWorkQueue
from devstack.funchost.blobscanner import BlobScanner
from devstack.funchost.blobstream import DownloadCounter
from devstack.funchost.blobwebhook import EXTENSION, SYSTEM_KEY, BlobWebhook
from devstack.funchost.catalog import BlobFunction, Catalog, build_catalog, import_app
from devstack.funchost.errors import StartupError
from devstack.funchost.hostconfig import HostConfig
from devstack.funchost.httpkeys import FunctionKeys
from devstack.funchost.httpserver import HttpListener
from devstack.funchost.invoker import THREAD_COUNT_SETTING, Invoker, thread_count
from devstack.funchost.listenerlock import ListenerLock
from devstack.funchost.receipts import ReceiptStore
from devstack.funchost.schedulemonitor import ScheduleMonitor
from devstack.funchost.storage import (
    HOSTS_CONTAINER,
    IdentityConnection,
    MessageCodec,
    StorageAccount,
    default_host_id,
    validate_host_id,
)
from devstack.funchost.timerlistener import TimerListener, utc_now

log = logging.getLogger(__name__)

HOST_ID_SETTING = "AzureFunctionsWebHost__hostid"
KEYS = "function-keys.json"  # the HTTP triggers' keys, beside the settings file by default
# Bookkeeping after the last invocation (deleting its message, writing timer status).
_SHUTDOWN_EXTRA_SECONDS = 15.0


@dataclass(frozen=True)
class HostOptions:
    """What the command line decides."""

    app_dir: Path
    settings_file: Path | None = None
    host_id: str | None = None
    poll_seconds: float = 1.0
    http_port: int = 7071  # as Core Tools' `func start`; 0 picks a free port
    keys_file: Path | None = None  # default: beside the settings file
    # An event subscription delivers blob events to the blobs webhook: EventGrid-source blob
    # triggers are served from it and not polled (without it they are polled).
    event_grid: bool = False


class FunctionsHost:
    """One running host: its threads, its invoker and its stop signal."""

    def __init__(self, options: HostOptions) -> None:
        self._options = options
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._processor: BlobTriggerProcessor | None = None
        self._invoker: Invoker | None = None
        self.http: HttpListener | None = None
        self._webhook: BlobWebhook | None = None
        self.downloads = DownloadCounter()
        self.host_id = ""

    def start(self) -> list[str]:
        """Start serving; returns the names of the functions served."""
        options = self._options
        app_dir = options.app_dir.resolve()
        if not app_dir.is_dir():
            raise StartupError(f"app directory {app_dir} does not exist")
        config = HostConfig.read(app_dir / "host.json")
        logs.configure(config.log_levels)
        settings_path = options.settings_file or app_dir / "local.settings.json"
        settings = install(
            LocalSettingsFile.read(settings_path, required=options.settings_file is not None)
        )
        self.host_id = validate_host_id(
            options.host_id or settings.get(HOST_ID_SETTING) or default_host_id(str(app_dir))
        )
        # The real host runs the app with its root as the working directory, so relative
        # paths in settings mean the same here as in Azure.
        os.chdir(app_dir)
        app = import_app(app_dir, settings)
        catalog = build_catalog(app, settings, utc_now(), config.functions)
        threads = thread_count(os.environ.get(THREAD_COUNT_SETTING))
        self._invoker = Invoker(config.function_timeout, str(app_dir), threads)
        if catalog.blob_functions or catalog.timer_functions:
            try:
                self._start_listeners(catalog, config, settings)
            except AzureError as e:
                raise StartupError(f"storage is not reachable: {type(e).__name__}: {e}") from e
        if catalog.http_functions or self._webhook is not None:
            self._start_http(catalog, config, options.keys_file or settings_path.parent / KEYS)
        log.info(
            "host %s started with %s",
            self.host_id,
            catalog.names,
            extra={
                "fields": {
                    "event": "host_started",
                    "host_id": self.host_id,
                    "functions": catalog.names,
                    "function_timeout": str(config.function_timeout),
                    "max_dequeue_count": config.max_dequeue_count,
                    "max_degree_of_parallelism": config.max_degree_of_parallelism,
                    "worker_threads": threads,
                    "http": self.http.url if self.http else None,
                }
            },
        )
        return catalog.names

    def _start_listeners(self, catalog: Catalog, config: HostConfig, settings: AppSettings) -> None:
        assert self._invoker is not None
        host_account = StorageAccount(
            settings.connection_string(None, "the host (receipts, queues, timer status)")
        )
        host_account.ensure_container(HOSTS_CONTAINER)
        by_connection: dict[str | IdentityConnection, StorageAccount] = {}
        accounts = {
            f.function_id: by_connection.setdefault(
                f.connection_string, StorageAccount(f.connection_string)
            )
            for f in catalog.blob_functions
        }
        if catalog.blob_functions:
            queue = BlobWorkQueue(
                host_account, self.host_id, MessageCodec(config.base64_queue_messages)
            )
            queue.ensure()
            self._processor = BlobTriggerProcessor(
                queue,
                {f.function_id: f for f in catalog.blob_functions},
                accounts,
                self._invoker,
                self.downloads,
                max_dequeue_count=config.max_dequeue_count,
                parallelism=config.max_degree_of_parallelism,
                poll_seconds=self._options.poll_seconds,
            )
            pushed = [f for f in catalog.blob_functions if self._served_by_events(f)]
            polled = [f for f in catalog.blob_functions if f not in pushed]
            if pushed:
                self._webhook = BlobWebhook(pushed, queue)
            self._spawn("blob-queue", self._processor.run, self._stop)
            if polled:
                receipts = ReceiptStore(host_account, self.host_id)
                scanner = BlobScanner(polled, accounts, receipts, queue)
                self._spawn("blob-scan", scanner.run, self._stop, self._options.poll_seconds)
        monitor = ScheduleMonitor(host_account, self.host_id)
        for function in catalog.timer_functions:
            lock = ListenerLock(host_account, self.host_id, f"{function.function_id}.Listener")
            listener = TimerListener(function, monitor, self._invoker, lock)
            self._spawn(f"timer-{function.name}", listener.run, self._stop)

    def _served_by_events(self, function: BlobFunction) -> bool:
        served = function.event_grid and self._options.event_grid
        if function.event_grid:
            log.info(
                "function %s: blob trigger source EventGrid is served by %s",
                function.name,
                "the blobs webhook" if served else "polling",
            )
        return served

    @property
    def blob_webhooks(self) -> dict[str, str]:
        """Function name -> container, for the blob triggers served by the webhook."""
        if self._webhook is None:
            return {}
        return {f.name: f.path.container for f in self._webhook.functions}

    def _start_http(self, catalog: Catalog, config: HostConfig, keys_file: Path) -> None:
        assert self._invoker is not None
        keys = FunctionKeys.load_or_create(keys_file)
        webhooks = {}
        if self._webhook is not None:
            keys = keys.with_system_key(SYSTEM_KEY, keys_file)
            webhooks[EXTENSION] = self._webhook.handle
        try:
            self.http = HttpListener(
                catalog.http_functions,
                keys,
                self._invoker,
                config.http_route_prefix,
                self._options.http_port,
                webhooks,
            )
        except OSError as e:
            raise StartupError(
                f"cannot listen for HTTP on port {self._options.http_port}: {e}"
            ) from e
        self.http.start()

    def _spawn(self, name: str, target: Callable[..., None], *args: object) -> None:
        def guarded() -> None:
            try:
                target(*args)
            except Exception:
                log.exception("listener %s stopped on an error", name)

        thread = threading.Thread(target=guarded, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> bool:
        """Stop polling and drain; False if invocations were still running at the deadline."""
        self._stop.set()
        if self.http is not None:
            self.http.stop()  # no new requests; those being answered finish below
        log.info("host %s stopping", self.host_id, extra={"fields": {"event": "host_stopping"}})
        timeout = self._invoker.timeout_seconds if self._invoker is not None else None
        deadline = None if timeout is None else time.monotonic() + timeout
        drained = self._invoker.wait_idle(timeout) if self._invoker is not None else True
        extra = _SHUTDOWN_EXTRA_SECONDS
        if self._processor is not None:
            drained = self._processor.wait_idle(extra) and drained
        for thread in self._threads:
            remaining = extra if deadline is None else max(deadline - time.monotonic(), 0) + extra
            thread.join(remaining)
        log.info(
            "host %s stopped",
            self.host_id,
            extra={
                "fields": {
                    "event": "host_stopped",
                    "drained": drained,
                    "downloads_total": self.downloads.total,
                }
            },
        )
        return drained
