"""The function app's triggers parse their bindings into typed values."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from azure.storage.blob import BlobServiceClient

from batch_core.bindings import blob_ref
from devstack.servers import ROOT
from devstack.stack import Stack
from tests.core.pipeline_helpers import pipeline_with, unique

LIST_TRIGGERS = (
    "import json, function_app as f; print(json.dumps(default=str, obj={x.get_function_name(): "
    "x.get_trigger().get_dict_repr() for x in f.app.get_functions()}))"
)

pytestmark = pytest.mark.stack


def import_app(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", LIST_TRIGGERS],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_app_declares_a_blob_trigger_on_incoming_and_a_reconcile_timer(
    stack: Stack,
) -> None:
    result = import_app(stack.values)
    assert result.returncode == 0, result.stderr
    triggers = json.loads(result.stdout)
    assert triggers["on_blob"]["type"] == "blobTrigger"
    assert triggers["on_blob"]["path"] == "%DROPBATCH_CONTAINER_INCOMING%/{name}"
    assert triggers["reconcile_timer"]["type"] == "timerTrigger"
    assert triggers["reconcile_timer"]["schedule"] == "%DROPBATCH_RECONCILE_SCHEDULE%"


def test_the_app_does_not_start_without_a_required_setting_and_names_it(stack: Stack) -> None:
    env = {k: v for k, v in stack.values.items() if k != "DROPBATCH_COSMOS_ENDPOINT"}
    result = import_app(env)
    assert result.returncode != 0
    assert "DROPBATCH_COSMOS_ENDPOINT" in result.stderr and "missing" in result.stderr


def test_a_blob_client_binding_becomes_a_ref_from_properties_alone(stack: Stack) -> None:
    p = pipeline_with(stack)
    name = unique("props.csv")
    dropped = p.blobs.upload(p.settings.container_incoming, name, b"id\n1\n")
    client = BlobServiceClient.from_connection_string(
        stack.values["AzureWebJobsStorage"]
    ).get_blob_client(p.settings.container_incoming, name)

    ref = blob_ref(client, p.blobs)

    assert ref is not None
    assert (ref.container, ref.name, ref.etag, ref.size) == (
        dropped.container,
        dropped.name,
        dropped.etag,
        len(b"id\n1\n"),
    )


def test_a_blob_deleted_before_its_trigger_ran_gives_no_ref(stack: Stack) -> None:
    p = pipeline_with(stack)
    name = unique("gone-before.csv")
    dropped = p.blobs.upload(p.settings.container_incoming, name, b"id\n")
    assert p.blobs.delete(dropped.container, dropped.name, dropped.etag)
    client = BlobServiceClient.from_connection_string(
        stack.values["AzureWebJobsStorage"]
    ).get_blob_client(p.settings.container_incoming, name)
    assert blob_ref(client, p.blobs) is None
