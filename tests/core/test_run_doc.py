import datetime as dt

import pytest

from batch_core.errors import InvalidDocumentError
from batch_core.run import Run
from batch_core.states import RunState

NOW = dt.datetime(2026, 11, 22, 8, 0, tzinfo=dt.UTC)


def make_run() -> Run:
    return Run(
        key="k" * 40,
        container="incoming",
        name="a.csv",
        etag="0x1",
        size=10,
        route="csv",
        state=RunState.RECEIVED,
        reason="received",
        created_at=NOW,
        updated_at=NOW,
    )


def test_a_run_survives_a_round_trip_through_its_document() -> None:
    run = make_run().moved(RunState.SUBMITTED, "task t on job j", NOW, attempt=1, task_id="t")
    back = Run.from_doc(run.to_doc())
    assert back.to_doc() == run.to_doc()
    assert back.history[-1]["state"] == "submitted"


def test_a_document_of_another_schema_version_is_refused_by_name() -> None:
    doc = make_run().to_doc() | {"schema_version": 99}
    with pytest.raises(InvalidDocumentError, match="schema_version 99"):
        Run.from_doc(doc)


def test_a_document_with_an_unknown_state_is_refused() -> None:
    with pytest.raises(InvalidDocumentError):
        Run.from_doc(make_run().to_doc() | {"state": "teleported"})
