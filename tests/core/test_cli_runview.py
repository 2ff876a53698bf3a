"""`dropbatch status NAME_OR_KEY` on the twins: which run a name or key finds, and what the
view of one run shows."""

from __future__ import annotations

import pytest

from batch_core import intake, runview
from batch_core.errors import NotFoundError, PermanentError
from batch_core.states import RunState
from batch_core.testing import MemoryPipeline
from tests.core.specs.steps import pipeline, received, stored, task_ends, tick
from worker.contract import output_prefix


def test_a_run_is_found_by_its_key_the_start_of_it_or_its_blob_name() -> None:
    p = pipeline()
    first = received(p, "in/a.csv")
    tick(p, minutes=1)
    newer = received(p, "in/a.csv", b"id\n2\n")  # a new version: a new run of the same name

    assert runview.find_run(p, first.key).key == first.key
    assert runview.find_run(p, first.key[:8]).key == first.key
    assert runview.find_run(p, "in/a.csv").key == newer.key
    assert runview.find_run(p, "incoming/in/a.csv").key == newer.key


def test_an_unknown_name_or_a_short_ambiguous_key_says_what_to_do() -> None:
    p = pipeline()
    run = received(p, "a.csv")
    with pytest.raises(NotFoundError, match="dropbatch status"):
        runview.find_run(p, "b.csv")
    with pytest.raises(NotFoundError):
        runview.find_run(p, run.key[:7])  # too short to be a key: taken as a name
    p.ledger.put_document({**run.to_doc(), "id": run.key[:8] + "f" * 32})
    with pytest.raises(PermanentError, match="2 or more runs"):
        runview.find_run(p, run.key[:8])


def failed_twice(p: MemoryPipeline, name: str = "x/b.csv") -> str:
    run = received(p, name)
    task_ends(p, run, exit_code=75, stderr=b"connecting\nTransientError: cosmos away\n")
    tick(p, seconds=5)
    tick(p, seconds=1)
    task_ends(p, run, exit_code=1, stderr=b"Traceback\nValueError: boom\n")
    tick(p, seconds=5)
    assert stored(p, run).state is RunState.FAILED
    return run.key


def test_a_failed_run_shows_its_attempts_logs_quarantined_file_and_where_to_look() -> None:
    p = pipeline(DROPBATCH_MAX_ATTEMPTS="2", DROPBATCH_RETRY_BACKOFF_SECONDS="0")
    key = failed_twice(p)
    prefix = output_prefix("x/b.csv", key)

    v = runview.view(p, runview.find_run(p, "x/b.csv"))

    assert [(a.number, a.logs, a.files) for a in v.attempts] == [
        (1, f"logs/{prefix}/attempt-1/", ("stderr.txt",)),
        (2, f"logs/{prefix}/attempt-2/", ("stderr.txt",)),
    ]
    assert v.quarantined == f"failed/{prefix}/b.csv"
    assert [h["state"] for h in v.run.history] == ["received", "submitted", "submitted", "failed"]
    assert v.look[0].startswith("the reason: ") and "ValueError: boom" in v.look[0]
    assert f"logs/{prefix}/attempt-2/stderr.txt" in v.look[1]
    assert any(f"failed/{prefix}/b.csv" in h for h in v.look)
    assert v.look[-1] == "when the cause is fixed: dropbatch replay x/b.csv --state failed"
    shown = runview.text(v)
    assert "where to look" in shown and "attempt-2/" in shown and "quarantined" in shown
    assert v.as_dict()["run"]["id"] == key


def test_a_succeeded_run_lists_its_outputs_and_needs_no_hints() -> None:
    p = pipeline()
    run = received(p, "c.csv")
    prefix = output_prefix("c.csv", run.key)
    p.blobs.put("results", f"{prefix}/summary.json", b'{"rows": 3, "documents": 3}')
    p.blobs.put("results", f"{prefix}/groups.json", b"{}")
    task_ends(p, run, exit_code=0)
    tick(p, seconds=5)

    v = runview.view(p, runview.find_run(p, run.key))

    assert v.run.state is RunState.SUCCEEDED
    assert v.outputs == (f"results/{prefix}/groups.json", f"results/{prefix}/summary.json")
    assert v.look == () and v.quarantined is None
    assert "summary   rows 3, documents 3" in runview.text(v)


def test_a_rejected_run_without_a_route_points_at_the_routes_check() -> None:
    p = pipeline()
    blob = p.blobs.upload("incoming", "notes.txt", b"hello")
    run = intake.receive(p, blob, p.clock.now())
    assert run is not None and run.state is RunState.REJECTED

    v = runview.view(p, runview.find_run(p, "notes.txt"))

    assert any("dropbatch routes check" in h for h in v.look)
    assert v.attempts == ()
