"""The function app's triggers parse their bindings into typed values."""

from __future__ import annotations

import azure.functions as func
import pytest

from function_app import app, blob_ref


def test_the_app_declares_a_blob_trigger_on_incoming_and_a_reconcile_timer() -> None:
    triggers = {f.get_function_name(): f.get_trigger() for f in app.get_functions()}
    assert triggers["on_blob"].get_binding_name() == "blobTrigger"
    assert triggers["on_blob"].path == "incoming/{name}"
    assert triggers["reconcile_timer"].get_binding_name() == "timerTrigger"
    assert triggers["reconcile_timer"].schedule == "%DROPBATCH_RECONCILE_SCHEDULE%"


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
