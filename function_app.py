"""dropbatch's Azure Functions app. Each trigger parses its binding into a typed value, calls
one batch_core function and returns; the pipeline is built once, on first use."""

# No `from __future__ import annotations` here: the Functions worker reads the parameter
# annotations to choose bindings (an SDK BlobClient instead of the blob's content).

import datetime as dt
import functools
import logging
import threading
from pathlib import Path

import azure.functions as func
import azurefunctions.extensions.bindings.blob as blob

from batch_core import intake, phases, reconcile, telemetry
from batch_core.bindings import blob_ref
from batch_core.clock import utcnow
from batch_core.pipeline import Pipeline, routes_for
from batch_core.settings import Settings
from batch_core.statuspage import responses

app = func.FunctionApp()
log = logging.getLogger("dropbatch.functions")
# Read at import so that a missing or malformed setting, or a bad routes file, stops the
# host at start-up with what to fix, instead of failing the first file that lands.
SETTINGS = Settings.from_env()
telemetry.configure(SETTINGS)
ROUTES = routes_for(SETTINGS, Path(__file__).resolve().parent)
SWEEP = reconcile.SweepGate(every=dt.timedelta(seconds=SETTINGS.sweep_seconds))


_BUILDING = threading.Lock()


@functools.cache
def _built() -> Pipeline:
    return Pipeline.build(SETTINGS, ROUTES)


def pipeline() -> Pipeline:
    """The one pipeline of this process: the first files of a burst arrive together, and
    each would build its own (its own Batch client, job and pool checks) without the lock."""
    with _BUILDING:
        return _built()


@app.blob_trigger(
    arg_name="client",
    path="%DROPBATCH_CONTAINER_INCOMING%/{name}",
    connection="AzureWebJobsStorage",
    source=func.BlobSource.EVENT_GRID,
)
def on_blob(client: blob.BlobClient) -> None:
    """A file landed in `incoming`: record it and submit its task. The binding is an SDK
    client, so the host never downloads the file; only its properties are read."""
    blob_path = f"{client.container_name}/{client.blob_name}"
    with phases.invocation("on_blob"), telemetry.span("function.on_blob", blob=blob_path):
        with phases.timed("properties"):
            ref = blob_ref(client, pipeline().blobs)
        if ref is not None:
            intake.receive(pipeline(), ref, utcnow())


@app.timer_trigger(
    arg_name="timer", schedule="%DROPBATCH_RECONCILE_SCHEDULE%", run_on_startup=False
)
def reconcile_timer(timer: func.TimerRequest) -> None:
    """Move runs forward from their Batch tasks, retry, quarantine, alert, sweep, clean up."""
    with telemetry.span("function.reconcile_timer", past_due=timer.past_due):
        if timer.past_due:
            log.info("reconcile timer is past due; running now")
        reconcile.tick(pipeline(), utcnow(), SWEEP)


@app.route(route="status", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def status_page(req: func.HttpRequest) -> func.HttpResponse:
    """The operators' status page (HTML)."""
    with telemetry.span("function.status_page", http_route="status"):
        response = responses.status_page(pipeline(), utcnow())
        telemetry.annotate(status=response.status_code)
        return response


@app.route(route="status.json", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def status_json(req: func.HttpRequest) -> func.HttpResponse:
    """The runs as JSON (as `dropbatch status --json`), with ?state=, ?route=, ?q= and paging."""
    with telemetry.span("function.status_json", http_route="status.json"):
        response = responses.status_json(pipeline(), dict(req.params))
        telemetry.annotate(status=response.status_code)
        return response


# Anonymous on purpose: these are the page's stylesheet, script and the vendored chart
# library, no data; with a key the page would have to write the key into its markup.
@app.route(route="static/{file}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def status_static(req: func.HttpRequest) -> func.HttpResponse:
    """The status page's static files."""
    return responses.static(req.route_params.get("file", ""))
