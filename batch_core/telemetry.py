"""Telemetry: OpenTelemetry spans, metrics and log records, exported to Application Insights.

The call sites use a small API: `span("intake", file_key=..., route=...)`, `annotate(...)`,
`count("runs_ended", state=..., route=...)`, `record("submit_latency", seconds, ...)`. Until
`configure` has set providers, these go to OpenTelemetry's no-op API: nothing is built,
kept or sent. `configure` does so only when the settings hold a connection string.

In Azure the Functions Python worker sets the providers itself before it imports the app
(`PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY=true`, which the settings read); `configure` then
only filters the Azure SDKs' per-request logs out of what goes to Application Insights.
Elsewhere (the local host, the command line) it sets the providers with the Azure Monitor
exporters.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import SansIOHTTPPolicy
from opentelemetry import metrics, trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from batch_core.credentials import Identity
from batch_core.errors import SettingError
from batch_core.settings import APPINSIGHTS_CONNECTION_STRING, Settings
from worker.contract import TRACEPARENT

log = logging.getLogger(__name__)

PREFIX = "dropbatch"
_tracer = trace.get_tracer(PREFIX)
_meter = metrics.get_meter(PREFIX)

Counted = Literal["files_received", "runs_ended", "batch_requests"]
Measured = Literal["submit_latency", "tick_duration"]
# Created on the API's proxy meter: they start counting once a provider is set.
_COUNTERS = {
    "files_received": _meter.create_counter(
        f"{PREFIX}.files_received", unit="{file}", description="files recorded by intake"
    ),
    "runs_ended": _meter.create_counter(
        f"{PREFIX}.runs_ended", unit="{run}", description="runs that took a terminal state"
    ),
    "batch_requests": _meter.create_counter(
        f"{PREFIX}.batch_requests", unit="{request}", description="requests to Azure Batch"
    ),
}
_HISTOGRAMS = {
    "submit_latency": _meter.create_histogram(
        f"{PREFIX}.submit_latency",
        unit="s",
        description="from the blob's last modification to its task's creation",
    ),
    "tick_duration": _meter.create_histogram(
        f"{PREFIX}.tick_duration", unit="s", description="one reconcile tick"
    ),
}
# Loggers whose records below WARNING stay out of Application Insights unless asked for:
# the Azure SDKs (one record per HTTP request, with headers) and the exporter itself.
SDK_LOGGERS = ("azure.", "opentelemetry.", "urllib3.")


def _attributes(values: dict[str, Any]) -> dict[str, str | int | float | bool]:
    return {
        f"{PREFIX}.{k}": v if isinstance(v, str | int | float | bool) else str(v)
        for k, v in values.items()
        if v is not None
    }


@contextmanager
def span(name: str, **attributes: Any) -> Iterator[trace.Span]:
    """A span named `dropbatch.<name>` around the block, the current one inside it (log
    records and child spans join it); an exception leaving the block is recorded on it."""
    with _tracer.start_as_current_span(f"{PREFIX}.{name}", attributes=_attributes(attributes)) as s:
        yield s


def annotate(**attributes: Any) -> None:
    """Add attributes (as `dropbatch.<name>`) to the current span, e.g. the state it ended."""
    trace.get_current_span().set_attributes(_attributes(attributes))


def count(name: Counted, n: int = 1, **attributes: Any) -> None:
    """Add `n` to the counter `dropbatch.<name>`, per attributes."""
    _COUNTERS[name].add(n, _attributes(attributes))


def record(name: Measured, value: float | None, **attributes: Any) -> None:
    """Record one measurement of the histogram `dropbatch.<name>` (None: nothing to record)."""
    if value is not None:
        _HISTOGRAMS[name].record(value, _attributes(attributes))


def transition(file_key: str, route: str, before: str, after: str, terminal: bool) -> None:
    """A run moved: an event on the current span (one record per transition, with the run's
    file key, route and states), counted in `runs_ended` when it is terminal."""
    attributes = _attributes({"file_key": file_key, "route": route, "from": before, "state": after})
    trace.get_current_span().add_event(f"{PREFIX}.transition", attributes)
    if terminal:
        count("runs_ended", route=route, state=after)


def since(start: dt.datetime | None) -> float | None:
    """Seconds from `start` to now (None without a start): a latency for `record`."""
    if start is None:
        return None
    return max(0.0, (dt.datetime.now(dt.UTC) - start).total_seconds())


def task_environment() -> dict[str, str]:
    """The current span's W3C `traceparent` for a Batch task's environment, so that the
    worker's spans are its children (empty when nothing is traced)."""
    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    parent = carrier.get("traceparent")
    return {TRACEPARENT: parent} if parent else {}


class RequestCounter(SansIOHTTPPolicy[Any, Any]):
    """An SDK pipeline policy counting each response as `dropbatch.<counter>`."""

    def __init__(self, counter: Counted) -> None:
        self._counter: Counted = counter

    def on_response(
        self, request: PipelineRequest[Any], response: PipelineResponse[Any, Any]
    ) -> None:
        """Count the request once, by method and status."""
        count(
            self._counter,
            method=request.http_request.method,
            status=response.http_response.status_code,
        )

    def on_exception(self, request: PipelineRequest[Any]) -> None:
        """Count a request that raised before an answer came, as status `error`."""
        count(self._counter, method=request.http_request.method, status="error")


class SdkLogFilter(logging.Filter):
    """Keeps the SDKs' records below WARNING away from the exporter's handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep a record unless it is an Azure SDK record below WARNING."""
        if record.levelno >= logging.WARNING:
            return True
        return not any(f"{record.name}.".startswith(p) for p in SDK_LOGGERS)


def configure(settings: Settings, service: str = "dropbatch") -> bool:
    """Send telemetry to Application Insights when the settings hold a connection string;
    the process's first call sets the providers. Returns whether telemetry is on."""
    if not settings.appinsights_connection_string:
        return False
    from opentelemetry.sdk._logs import LoggingHandler
    from opentelemetry.sdk.trace import TracerProvider

    if not settings.platform_telemetry and not isinstance(
        trace.get_tracer_provider(), TracerProvider
    ):
        try:
            _set_providers(settings, service)
        except ValueError as e:  # the exporter's words on a malformed connection string
            raise SettingError(APPINSIGHTS_CONNECTION_STRING, str(e)) from None
    if not settings.telemetry_sdk_logs:
        for handler in logging.getLogger().handlers:
            if isinstance(handler, LoggingHandler) and not any(
                isinstance(f, SdkLogFilter) for f in handler.filters
            ):
                handler.addFilter(SdkLogFilter())
    return True


def _set_providers(settings: Settings, service: str) -> None:
    from azure.monitor.opentelemetry.exporter import (
        AzureMonitorLogExporter,
        AzureMonitorMetricExporter,
        AzureMonitorTraceExporter,
    )
    from opentelemetry import _logs
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    options: dict[str, Any] = {
        "connection_string": settings.appinsights_connection_string,
        # Given even when None: the exporter would otherwise read the environment itself.
        "credential": _credential(settings.appinsights_authentication, settings.identity),
    }
    resource = Resource.create({"service.name": service})
    tracer = TracerProvider(resource=resource)
    tracer.add_span_processor(BatchSpanProcessor(AzureMonitorTraceExporter(**options)))
    trace.set_tracer_provider(tracer)
    reader = PeriodicExportingMetricReader(AzureMonitorMetricExporter(**options))
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader], resource=resource))
    logs = LoggerProvider(resource=resource)
    logs.add_log_record_processor(BatchLogRecordProcessor(AzureMonitorLogExporter(**options)))
    _logs.set_logger_provider(logs)
    logging.getLogger().addHandler(LoggingHandler(level=logging.INFO, logger_provider=logs))
    if settings.telemetry_sdk_logs:
        from azure.core.settings import settings as azure_settings
        from azure.core.tracing.ext.opentelemetry_span import OpenTelemetrySpan

        azure_settings.tracing_implementation = OpenTelemetrySpan
    log.info("telemetry to Application Insights is on (%s)", service)


def _credential(authentication: str | None, identity: Identity) -> Any:
    """The identity's credential when the authentication string says `Authorization=AAD`
    (a `ClientId` in it names a user-assigned identity); None otherwise (the key)."""
    parts = dict(
        (k.strip().lower(), v.strip())
        for k, _, v in (p.partition("=") for p in (authentication or "").split(";"))
    )
    if parts.get("authorization", "").upper() != "AAD":
        return None
    if parts.get("clientid"):
        return Identity(managed=True, client_id=parts["clientid"]).credential()
    return identity.credential()


def flush(timeout_millis: int = 10_000) -> None:
    """Export what the providers hold now (before a process ends, or a test asserts)."""
    from opentelemetry import _logs

    for provider in (trace.get_tracer_provider(), metrics.get_meter_provider()):
        flusher = getattr(provider, "force_flush", None)
        if flusher is not None:
            flusher(timeout_millis)
    flusher = getattr(_logs.get_logger_provider(), "force_flush", None)
    if flusher is not None:
        flusher(timeout_millis)
