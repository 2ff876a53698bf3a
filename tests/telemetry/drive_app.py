"""The function app's triggers driven as the Functions host drives them, in a process of its
own (telemetry's providers are process-wide): `python -m tests.telemetry.drive_app CONTAINER
NAME` runs the blob trigger on that blob, one timer tick and the status JSON, flushes the
telemetry and prints the run's key, job and task as JSON."""

from __future__ import annotations

import json
import logging
import sys

import azure.functions as func
from azure.functions.timer import TimerRequest
from azure.storage.blob import BlobClient


def main(container: str, name: str) -> None:
    logging.basicConfig(level=logging.INFO)  # as the Functions host's logLevel Information
    import function_app as app
    from batch_core import telemetry
    from batch_core.keys import file_key

    client = BlobClient.from_connection_string(
        app.SETTINGS.storage_connection_string or "", container, name
    )
    app.on_blob(client)  # the binding's type wraps this same client
    app.reconcile_timer(TimerRequest(past_due=False))
    page = app.status_json(func.HttpRequest("GET", "/api/status.json", params={}, body=b""))
    etag = str(client.get_blob_properties().etag)
    key = file_key(app.pipeline().blobs.account, container, name, etag.strip('"'))
    run = app.pipeline().ledger.get(key)
    telemetry.flush()
    assert run is not None, key
    print(
        json.dumps({"key": key, "job": run.job_id, "task": run.task_id, "page": page.status_code})
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
