"""The function app's triggers parse their bindings into typed values."""

from __future__ import annotations

import json
import subprocess
import sys

import azure.functions as func
import pytest

from batch_core.bindings import blob_ref
from devstack.servers import ROOT
from devstack.stack import Stack

LIST_TRIGGERS = (
    "import json, function_app as f; print(json.dumps(default=str, obj={x.get_function_name(): "
    "x.get_trigger().get_dict_repr() for x in f.app.get_functions()}))"
)


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


@pytest.mark.stack
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


@pytest.mark.stack
def test_the_app_does_not_start_without_a_required_setting_and_names_it(stack: Stack) -> None:
    env = {k: v for k, v in stack.values.items() if k != "DROPBATCH_COSMOS_ENDPOINT"}
    result = import_app(env)
    assert result.returncode != 0
    assert "DROPBATCH_COSMOS_ENDPOINT" in result.stderr and "missing" in result.stderr


def test_a_blob_binding_becomes_a_ref_without_reading_the_content() -> None:
    class Unreadable(func.blob.InputStream):
        def read(self, size: int = -1) -> bytes:
            raise AssertionError("the trigger must not read the file")

    blob = Unreadable(
        data=b"",
        name="incoming/folder/a.csv",
        length=42,
        blob_properties={"ETag": '"0x8DC"', "Length": 42},
        metadata={"dropbatch_parent": "abc"},
    )
    ref = blob_ref(blob)
    assert (ref.container, ref.name, ref.etag, ref.size, ref.parent) == (
        "incoming",
        "folder/a.csv",
        "0x8DC",
        42,
        "abc",
    )


def test_a_blob_binding_without_an_etag_is_refused_by_name() -> None:
    blob = func.blob.InputStream(data=b"", name="incoming/a.csv", length=1, blob_properties={})
    with pytest.raises(ValueError, match=r"incoming/a\.csv"):
        blob_ref(blob)
