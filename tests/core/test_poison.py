"""A poisoned blob trigger becomes one alert, and the file is still processed."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json

import pytest
from azure.core.exceptions import ResourceExistsError
from azure.storage.queue import QueueClient

from batch_core import reconcile
from batch_core.clock import utcnow
from batch_core.keys import file_key
from batch_core.poison import POISON_QUEUE, decode
from batch_core.states import RunState
from devstack.stack import Stack
from tests.core.pipeline_helpers import CSV_HEADER, drain, drop, pipeline_with, unique

pytestmark = pytest.mark.stack


def test_poison_messages_are_read_plain_or_base64() -> None:
    body = {"BlobName": "a.csv", "ContainerName": "incoming"}
    text = json.dumps(body)
    assert decode(text) == body
    assert decode(base64.b64encode(text.encode()).decode()) == body
    assert decode("not json at all") is None


def test_a_poisoned_trigger_raises_one_alert_and_the_sweep_still_submits_the_file(
    stack: Stack,
) -> None:
    # Given a file whose trigger failed every try, as the host reports it
    p = pipeline_with(stack, DROPBATCH_WORKER_COMMAND="/bin/true")
    blob = drop(p, unique("poisoned.csv"), CSV_HEADER)
    queue = QueueClient.from_connection_string(stack.values["AzureWebJobsStorage"], POISON_QUEUE)
    with contextlib.suppress(ResourceExistsError):
        queue.create_queue()
    message = {
        "Type": "BlobTrigger",
        "FunctionId": "Host.Functions.on_blob",
        "BlobType": "BlockBlob",
        "ContainerName": blob.container,
        "BlobName": blob.name,
        "ETag": f'"{blob.etag}"',
    }
    queue.send_message(base64.b64encode(json.dumps(message).encode()).decode())

    # When the reconciler runs (past the trigger's grace)
    later = utcnow() + dt.timedelta(minutes=2)
    report = reconcile.tick(p, later)

    # Then one poison alert names the file, the message is gone, and the file is processed
    alerts = [a for a in p.alerts.recent(500) if a["subject"] == f"incoming/{blob.name}"]
    assert [a["kind"] for a in alerts] == ["poison"]
    assert report.alerts >= 1
    assert list(queue.peek_messages(max_messages=32)) == []
    key = file_key(p.blobs.account, blob.container, blob.name, blob.etag)
    assert drain(p, key, now=later).state is RunState.SUCCEEDED
