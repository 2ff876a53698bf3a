"""Fan-out decisions on the twins: admission, the creation watermark, retries in place,
preemption, `tolerate`, the merge, the counters; the plan task is played by the test (it
writes plan.json and ends the plan task as the worker would)."""

from __future__ import annotations

import datetime as dt
import json

from batch_core import intake, reconcile
from batch_core.errors import TransientError
from batch_core.fanoutend import state_of
from batch_core.routebook import parse_routes
from batch_core.run import Run
from batch_core.states import RunState
from batch_core.testing import MemoryPipeline, memory_pipeline
from worker.contract import PLAN_FILE, WorkerExit, output_prefix

ROUTES = """
version = 1
[defaults]
max_attempts = 2
backoff = "0s"

[[route]]
name = "sweep"
match = ["sweeps/*.json"]
kind = "command"
[route.fanout]
source = "items"
tolerate = {tolerate}
fields = {{ n = {{ type = "int", min = 0 }} }}
[route.task]
command = "python3 member.py {{item.n}}"
resource_files = [{{ source = "member:params", path = "params.json" }}]
outputs = [{{ pattern = "out.json", to = "results:{{results}}/{{member}}/out.json" }}]
{merge}
"""
MERGE = """[route.merge]
command = "python3 merge.py members"
resource_files = [{ source = "results:{results}/members/", path = "members/" }]
"""


def pipeline(tolerate: str = "0", merge: bool = True, **settings: str) -> MemoryPipeline:
    text = ROUTES.format(tolerate=tolerate, merge=MERGE if merge else "")
    return memory_pipeline(settings, routes=parse_routes(text))


def drop(p: MemoryPipeline, name: str = "sweeps/a.json") -> Run:
    run = intake.receive(p, p.blobs.upload("incoming", name, b"{}"), p.clock.now())
    assert run is not None
    return run


def plan(p: MemoryPipeline, run: Run, count: int, exit_code: int = 0) -> None:
    """What the plan task does on its node."""
    assert run.job_id and run.task_id
    doc = {"count": count, "values": {"item.n": [str(i) for i in range(count)]}}
    name = f"{output_prefix(run.name, run.key)}/{PLAN_FILE}"
    p.blobs.put("results", name, json.dumps(doc).encode())
    p.batch.complete(run.job_id, run.task_id, exit_code=exit_code)


def stored(p: MemoryPipeline, run: Run) -> Run:
    found = p.ledger.get(run.key)
    assert found is not None
    return found


def members(p: MemoryPipeline, run: Run) -> list[str]:
    assert run.job_id
    return sorted((t for t in p.batch.jobs_by_id[run.job_id].tasks if t.isdigit()), key=int)


def finish_all(p: MemoryPipeline, run: Run, fail: dict[int, int] | None = None) -> None:
    assert run.job_id
    for tid in members(p, run):
        task = p.batch.task(run.job_id, tid)
        if task.state != "completed":
            p.batch.complete(run.job_id, tid, exit_code=(fail or {}).get(int(tid), 0))


def test_a_sweep_plans_creates_members_in_chunks_then_the_merge_last() -> None:
    p = pipeline()
    run = drop(p)
    assert run.state is RunState.SUBMITTED and run.task_id == "plan"
    assert run.job_id and run.job_id.startswith("dropbatch-fan-")
    plan(p, run, 250)

    reconcile.tick(p, p.clock.advance(seconds=1))

    run = stored(p, run)
    assert members(p, run) == [str(i) for i in range(250)]
    assert p.batch.requests["CreateTaskCollection"] == 3
    merge = p.batch.task(run.job_id or "", "merge").spec
    assert merge.depends_on is not None and merge.depends_on.task_id_ranges is not None
    assert [(r.start, r.end) for r in merge.depends_on.task_id_ranges] == [(0, 249)]
    assert merge.depends_on.task_ids is None
    assert p.batch.fanout_options[run.job_id or ""].end_when_done
    command = p.batch.task(run.job_id or "", "7").spec.command_line
    assert command == "python3 member.py 7"
    assert state_of(run).created == 250 and run.state is RunState.RUNNING

    finish_all(p, run)
    reconcile.tick(p, p.clock.advance(seconds=1))
    assert state_of(stored(p, run)).succeeded == 250
    p.batch.complete(run.job_id or "", "merge", exit_code=0)
    reconcile.tick(p, p.clock.advance(seconds=1))

    done = stored(p, run)
    assert done.state is RunState.SUCCEEDED, done.reason
    summary = p.blobs.read_json("results", f"{output_prefix(run.name, run.key)}/summary.json")
    assert summary is not None and summary["members"]["planned"] == 250


def test_a_lost_answer_mid_creation_resumes_at_the_watermark_without_a_gap() -> None:
    p = pipeline()
    run = drop(p)
    plan(p, run, 250)
    p.batch.fail(
        "CreateTaskCollection", TransientError("answer lost"), when=lambda job, ids: ids[0] == "100"
    )

    reconcile.tick(p, p.clock.advance(seconds=1))
    assert state_of(stored(p, run)).created == 100
    reconcile.tick(p, p.clock.advance(seconds=1))

    assert members(p, stored(p, run)) == [str(i) for i in range(250)]
    assert state_of(stored(p, run)).created == 250


def test_a_failed_member_is_reactivated_in_place_and_the_merge_waits() -> None:
    p = pipeline()
    run = drop(p)
    plan(p, run, 3)
    reconcile.tick(p, p.clock.advance(seconds=1))
    run = stored(p, run)
    finish_all(p, run, fail={1: 1})

    reconcile.tick(p, p.clock.advance(seconds=1))

    assert p.batch.requests["ReactivateTask"] == 1
    assert p.batch.task(run.job_id or "", "1").state == "active"
    assert state_of(stored(p, run)).retrying["1"].attempts == 1
    p.batch.complete(run.job_id or "", "1", exit_code=0)
    reconcile.tick(p, p.clock.advance(seconds=1))
    assert state_of(stored(p, run)).retrying == {}


def test_a_preempted_member_costs_no_attempt() -> None:
    p = pipeline()
    run = drop(p)
    plan(p, run, 2)
    reconcile.tick(p, p.clock.advance(seconds=1))
    run = stored(p, run)
    p.batch.start(run.job_id or "", "0")
    p.batch.preempt(run.job_id or "", "0")

    reconcile.tick(p, p.clock.advance(seconds=1))

    assert state_of(stored(p, run)).retrying == {}
    assert p.batch.requests["ReactivateTask"] == 0


def test_beyond_tolerate_the_job_ends_and_the_file_fails_naming_the_member() -> None:
    p = pipeline(tolerate="1")
    run = drop(p)
    plan(p, run, 4)
    reconcile.tick(p, p.clock.advance(seconds=1))
    run = stored(p, run)
    finish_all(p, run, fail={1: 2, 2: 2})  # exit 2: retried once, then spent (2 attempts)
    for _ in range(3):
        reconcile.tick(p, p.clock.advance(seconds=1))
        finish_all(p, stored(p, run), fail={1: 2, 2: 2})

    done = stored(p, run)
    assert done.state is RunState.FAILED
    assert "2 of 4 members" in done.reason and "member 1" in done.reason
    assert p.batch.jobs_by_id[run.job_id or ""].state == "completed"
    assert p.alerts.kinds(run.key) == ["failed"]


def test_within_tolerate_the_failed_member_leaves_the_job_so_the_merge_runs() -> None:
    p = pipeline(tolerate="1")
    run = drop(p)
    plan(p, run, 3)
    reconcile.tick(p, p.clock.advance(seconds=1))
    run = stored(p, run)
    job = run.job_id or ""
    finish_all(p, run, fail={2: 1})
    reconcile.tick(p, p.clock.advance(seconds=1))  # attempt 2 of member 2
    p.batch.complete(job, "2", exit_code=1)

    reconcile.tick(p, p.clock.advance(seconds=1))

    assert p.batch.fanout_options[job].deleted_tasks == ["2"]
    progress = state_of(stored(p, run))
    assert (progress.failed, progress.failures[0].index) == (1, 2)
    p.batch.complete(job, "merge", exit_code=0)
    reconcile.tick(p, p.clock.advance(seconds=1))
    done = stored(p, run)
    assert done.state is RunState.SUCCEEDED, done.reason
    assert done.reason.startswith("2 of 3 members succeeded")


def test_every_failure_rejected_ends_the_file_rejected() -> None:
    text = ROUTES.format(tolerate="0", merge="").replace(
        'kind = "command"', 'kind = "command"\nexit_codes = { reject = [3] }'
    )
    p = memory_pipeline(routes=parse_routes(text))
    run = drop(p)
    plan(p, run, 2)
    reconcile.tick(p, p.clock.advance(seconds=1))
    finish_all(p, stored(p, run), fail={0: 3})

    reconcile.tick(p, p.clock.advance(seconds=1))

    done = stored(p, run)
    assert done.state is RunState.REJECTED, done.reason


def test_a_rejected_plan_ends_the_file_rejected_with_no_member() -> None:
    p = pipeline()
    run = drop(p)
    name = f"{output_prefix(run.name, run.key)}/summary.json"
    p.blobs.put("results", name, json.dumps({"reason": "items[3]: field 'n': bad"}).encode())
    p.batch.complete(run.job_id or "", "plan", exit_code=WorkerExit.REJECTED)

    reconcile.tick(p, p.clock.advance(seconds=1))

    done = stored(p, run)
    assert done.state is RunState.REJECTED and done.reason == "items[3]: field 'n': bad"
    assert members(p, done) == []


def test_a_duplicate_event_adds_no_task() -> None:
    p = pipeline()
    blob = p.blobs.upload("incoming", "sweeps/a.json", b"{}")
    run = intake.receive(p, blob, p.clock.now())
    assert run is not None
    before = sum(p.batch.requests.values())
    again = intake.receive(p, blob, p.clock.now())
    assert again is not None and again.key == run.key
    assert p.batch.requests["CreateTask"] == 1
    assert sum(p.batch.requests.values()) == before


def test_more_fanouts_than_the_limit_wait_in_arrival_order() -> None:
    p = pipeline(DROPBATCH_MAX_ACTIVE_FANOUTS="2")
    runs = [drop(p, f"sweeps/{n}.json") for n in range(4)]
    assert [r.state for r in runs] == [
        RunState.SUBMITTED, RunState.SUBMITTED, RunState.RECEIVED, RunState.RECEIVED,
    ]  # fmt: skip
    assert "DROPBATCH_MAX_ACTIVE_FANOUTS = 2" in runs[2].reason
    p.batch.complete(runs[0].job_id or "", "plan", exit_code=WorkerExit.REJECTED)

    reconcile.tick(p, p.clock.advance(seconds=1))
    reconcile.tick(p, p.clock.advance(seconds=1))  # the slot is free from this tick

    assert [stored(p, r).state for r in runs] == [
        RunState.REJECTED, RunState.SUBMITTED, RunState.SUBMITTED, RunState.RECEIVED,
    ]  # fmt: skip


def test_cleanup_deletes_completed_fanout_jobs_after_the_retention_and_never_a_day_job() -> None:
    from batch_core.jobs import day_of_job, fanout_job_id

    p = pipeline()
    old = p.clock.now() - dt.timedelta(days=5)
    done = fanout_job_id(p.settings, "a" * 40)
    going = fanout_job_id(p.settings, "b" * 40)
    p.batch.add_job(done, created_at=old, state="completed")
    p.batch.add_job(going, created_at=old, state="active")
    assert day_of_job(p.settings, done) is None

    reconcile.tick(p, p.clock.advance(seconds=1))

    assert done not in p.batch.jobs_by_id
    assert p.batch.jobs_by_id[going].state == "active"
