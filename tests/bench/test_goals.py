"""The suite's goals read the submit and reconcile figures of the runs they name, and say
whether each was met (None when the run was not made or lacks the figure)."""

from __future__ import annotations

from typing import Any

from bench import goals


def submit(files: int, nodes: int, one_at_a_time: bool = False, **measured: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"files": files, "pool_nodes": nodes}
    if one_at_a_time:
        params["one_at_a_time"] = True
    return {"benchmark": "submit", "parameters": params, "measurements": measured}


def rows_of(results: list[dict[str, Any]], benchmark: str) -> dict[str, list[dict[str, Any]]]:
    by: dict[str, list[dict[str, Any]]] = {}
    for row in goals.evaluate(results):
        if row["benchmark"] == benchmark:
            by.setdefault(row["goal"], []).append(row)
    return by


def only(rows: dict[str, list[dict[str, Any]]], words: str) -> dict[str, Any]:
    found = [r for name, rs in rows.items() if words in name for r in rs]
    assert len(found) == 1, (words, found)
    return found[0]


def test_submit_goals_read_each_run_they_name() -> None:
    burst = submit(
        1000, 0,
        seconds_after_last_upload_until_all_submitted=9.5,
        batch_requests={"per_file_until_all_submitted": 0.2},
        cosmos_requests={"writes_per_file": 1.0},
    )  # fmt: skip
    latency = submit(
        200, 0, trigger_latency_seconds={"p95": 2.5}, cosmos_requests={"writes_per_file": 2.0}
    )
    single = submit(
        30, 0, one_at_a_time=True,
        batch_requests={"add_task_per_file_until_all_submitted": 1.0,
                        "per_file_until_all_submitted": 1.4},
    )  # fmt: skip
    end_to_end = submit(200, 4, batch_requests={"get_task_file": 3})
    rows = rows_of([burst, latency, single, end_to_end], "submit")

    assert only(rows, "1,000 files at once")["met"] is True
    assert only(rows, "1,000-file burst")["met"] is False
    assert only(rows, "trigger latency p95")["value"] == 2.5
    assert only(rows, "trigger latency p95")["met"] is False
    one_by_one = only(rows, "one at a time")
    assert (one_by_one["value"], one_by_one["met"]) == (1.0, True)
    assert one_by_one["beside"] == {"batch_requests.per_file_until_all_submitted": 1.4}
    # GetTaskFile is read where tasks run (and the reconciler ticks): the end-to-end run.
    get_file = only(rows, "no GetTaskFile")
    assert (get_file["parameters"]["pool_nodes"], get_file["met"]) == (4, False)
    intake = [r for name, rs in rows.items() if "Cosmos" in name for r in rs]
    # Every run with no nodes is read; this one-at-a-time run lacks the figure: unanswered.
    assert sorted((r["parameters"]["files"], r["met"]) for r in intake) == [
        (30, None),
        (200, False),
        (1000, True),
    ]


def test_a_run_without_a_figure_or_not_made_is_unanswered() -> None:
    single = submit(30, 0, one_at_a_time=True, batch_requests={})
    rows = rows_of([single], "submit")
    assert only(rows, "one at a time")["met"] is None
    assert only(rows, "1,000 files at once") == {
        **only(rows, "1,000 files at once"),
        "met": None,
        "note": "not run",
    }


def test_reconcile_goals_ratio_and_same_batch_requests() -> None:
    def run(ratio: float, extra: int) -> dict[str, Any]:
        return {
            "benchmark": "reconcile",
            "parameters": {"history": 10000, "ticks": 3},
            "measurements": {
                "steady_seconds_ratio": ratio,
                "steady_batch_requests": {"extra_with_history": extra},
            },
        }

    kept = rows_of([run(1.7, 0)], "reconcile")
    assert only(kept, "<= 2x seconds")["met"] is True
    assert only(kept, "same Batch requests")["met"] is True
    broke = rows_of([run(2.01, 1)], "reconcile")
    assert only(broke, "<= 2x seconds")["met"] is False
    assert only(broke, "same Batch requests")["met"] is False
    assert all(r["met"] is None for rs in rows_of([], "reconcile").values() for r in rs)
