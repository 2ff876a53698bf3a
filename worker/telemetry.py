"""The worker's telemetry: one span for the task and one per phase of its task log, children of
the span that created the task (`DROPBATCH_TRACEPARENT`), so that they appear under the file's
operation in Application Insights; log records go along, each joined to its span.

It is on when the node's credentials file holds `APPLICATIONINSIGHTS_CONNECTION_STRING`
(`Authorization=AAD` in `APPLICATIONINSIGHTS_AUTHENTICATION_STRING` sends with the pool's
identity). Off, nothing is imported and every call does nothing. `end` flushes: a worker's
process ends right after, and what the exporters hold then would be lost.
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from worker.credentials import APPINSIGHTS_CONNECTION_STRING, Credentials
from worker.errors import WorkerConfigError
from worker.settings import WorkerSettings

log = logging.getLogger(__name__)

PREFIX = "dropbatch.worker"
FLUSH_MILLIS = 10_000
# The exporter's and the SDKs' own records below WARNING are not telemetry of the task.
QUIET_LOGGERS = ("azure.", "opentelemetry.", "urllib3.")
# Exit codes that are outcomes, not errors (the worker's contract: 0 processed, 3 rejected).
OUTCOME_CODES = (0, 3)


class Tracing:
    """Telemetry off: phases and the end do nothing."""

    def phase(self, name: str) -> AbstractContextManager[object]:
        """A span for one phase of the task (download, parse, write, summary)."""
        """A span around one phase of the task (`download`, `check`, `write`, `outputs`...)."""
        return nullcontext()

    def end(self, exit_code: int) -> None:
        """End the task's span with its exit code, and send what is buffered."""
        """End the task's span with the worker's exit code and export everything now."""


class _QuietSdk(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        quiet = any(f"{record.name}.".startswith(p) for p in QUIET_LOGGERS)
        return record.levelno >= logging.WARNING or not quiet


class ExportedTracing(Tracing):
    """Spans and log records to Application Insights, under the task's parent span."""

    def __init__(self, settings: WorkerSettings, credentials: Credentials) -> None:
        from azure.monitor.opentelemetry.exporter import (
            AzureMonitorLogExporter,
            AzureMonitorTraceExporter,
        )
        from opentelemetry import _logs, context, trace
        from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
        from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        options: dict[str, Any] = {
            "connection_string": credentials.appinsights_connection_string,
            "credential": _credential(credentials.appinsights_authentication, settings),
        }
        resource = Resource.create({"service.name": "dropbatch-worker"})
        self._traces = TracerProvider(resource=resource)
        self._traces.add_span_processor(BatchSpanProcessor(AzureMonitorTraceExporter(**options)))
        trace.set_tracer_provider(self._traces)
        self._logs = LoggerProvider(resource=resource)
        self._logs.add_log_record_processor(
            BatchLogRecordProcessor(AzureMonitorLogExporter(**options))
        )
        _logs.set_logger_provider(self._logs)
        handler = LoggingHandler(level=logging.INFO, logger_provider=self._logs)
        handler.addFilter(_QuietSdk())
        logging.getLogger().addHandler(handler)

        self._tracer = self._traces.get_tracer(PREFIX)
        carrier = {"traceparent": settings.traceparent} if settings.traceparent else {}
        parent = TraceContextTextMapPropagator().extract(carrier)
        self._span = self._tracer.start_span(
            f"{PREFIX}.task",
            context=parent,
            attributes={
                "dropbatch.file_key": settings.file_key,
                "dropbatch.route": settings.route.value,
                "dropbatch.blob": f"{settings.input_container}/{settings.input_blob}",
                "dropbatch.attempt": settings.attempt or "",
                "dropbatch.task_id": settings.task_id or "",
            },
        )
        self._token = context.attach(trace.set_span_in_context(self._span, parent))

    def phase(self, name: str) -> AbstractContextManager[object]:
        """A span for one phase of the task, a child of the task's span."""
        return self._tracer.start_as_current_span(f"{PREFIX}.{name}")

    def end(self, exit_code: int) -> None:
        """End the task's span with its exit code (an error status unless it is an outcome)."""
        from opentelemetry import context
        from opentelemetry.trace import Status, StatusCode

        self._span.set_attribute("dropbatch.exit_code", exit_code)
        if exit_code not in OUTCOME_CODES:
            self._span.set_status(Status(StatusCode.ERROR, f"exit {exit_code}"))
        self._span.end()
        context.detach(self._token)
        self._traces.force_flush(FLUSH_MILLIS)
        self._logs.force_flush(FLUSH_MILLIS)


def _credential(authentication: str | None, settings: WorkerSettings) -> Any:
    """The pool's identity when the authentication string says `Authorization=AAD` (its
    `ClientId`, else the task's identity client id); None otherwise."""
    parts = {
        k.strip().lower(): v.strip()
        for k, _, v in (p.partition("=") for p in (authentication or "").split(";"))
    }
    if parts.get("authorization", "").upper() != "AAD":
        return None
    from azure.identity import ManagedIdentityCredential

    return ManagedIdentityCredential(client_id=parts.get("clientid") or settings.identity_client_id)


def start(settings: WorkerSettings, credentials: Credentials) -> Tracing:
    """The task's telemetry: exported when the credentials file says where to, else off."""
    if not credentials.appinsights_connection_string:
        return Tracing()
    try:
        return ExportedTracing(settings, credentials)
    except ValueError as e:  # the exporter's words on a malformed connection string
        where = f"credentials file: {APPINSIGHTS_CONNECTION_STRING}"
        raise WorkerConfigError(where, str(e)) from None
