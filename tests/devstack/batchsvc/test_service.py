"""The local Batch service, driven by the real azure-batch SDK over HTTP with SharedKey auth."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import secrets
import signal
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from azure.batch import BatchClient
from azure.batch import models as m
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

from tests.devstack.batchsvc import contract
from tests.devstack.batchsvc.conftest import (
    LEAK_CANARY,
    QUICK_POLL,
    RunningService,
    execution,
    failure,
    job_execution,
    node_of,
    odata_code,
    placement,
    span,
    start_service,
    task_dir,
    terminating,
    wait_task_completed,
    wait_until,
)

pytestmark = pytest.mark.stack


def test_a_task_runs_on_a_node_and_completes_with_its_exit_code(
    client: BatchClient, service: RunningService, job: Callable[..., str]
) -> None:
    job_id = job()
    client.create_task(
        job_id,
        m.BatchTaskCreateOptions(
            id="t1", command_line="/bin/sh -c 'echo out; echo err >&2; exit 3'"
        ),
    )

    task = wait_task_completed(client, job_id, "t1")

    info = execution(task)
    assert info.exit_code == 3
    assert info.result == m.BatchTaskExecutionResult.FAILURE
    assert failure(task).category == m.BatchErrorSourceCategory.USER_ERROR
    assert failure(task).code == "FailureExitCode"
    assert info.retry_count == 0 and info.requeue_count == 0
    started, ended = span(task)
    assert started <= ended
    assert task.previous_state == m.BatchTaskState.RUNNING
    folder = task_dir(service, task)
    assert (folder / "stdout.txt").read_text() == "out\n"
    assert (folder / "stderr.txt").read_text() == "err\n"
    assert (folder / "wd").is_dir()
    assert folder.parts[-4:] == ("workitems", job_id, "job-1", "t1")


def test_a_successful_task_reports_success_without_failure_info(
    client: BatchClient, job: Callable[..., str]
) -> None:
    job_id = job()
    client.create_task(job_id, m.BatchTaskCreateOptions(id="ok", command_line="true"))

    task = wait_task_completed(client, job_id, "ok")

    assert execution(task).exit_code == 0
    assert execution(task).result == m.BatchTaskExecutionResult.SUCCESS
    assert execution(task).failure_info is None


def test_the_command_line_is_split_into_words_and_not_run_by_a_shell(
    client: BatchClient, service: RunningService, job: Callable[..., str]
) -> None:
    job_id = job()
    client.create_task(
        job_id,
        m.BatchTaskCreateOptions(id="words", command_line="printf '%s|' \"a b\" $HOME 'c'\"d\" >x"),
    )

    task = wait_task_completed(client, job_id, "words")

    assert (task_dir(service, task) / "stdout.txt").read_text() == "a b|$HOME|cd|>x|"


def test_a_task_sees_only_the_batch_environment_and_its_own_settings(
    client: BatchClient, service: RunningService, job: Callable[..., str]
) -> None:
    job_id = job()
    client.create_task(
        job_id,
        m.BatchTaskCreateOptions(
            id="env",
            command_line="env",
            environment_settings=[m.EnvironmentSetting(name="MY_SETTING", value="42")],
        ),
    )

    task = wait_task_completed(client, job_id, "env")

    env = dict(
        line.split("=", 1)
        for line in (task_dir(service, task) / "stdout.txt").read_text().splitlines()
    )
    assert LEAK_CANARY not in env
    assert "VIRTUAL_ENV" not in env and "PYTEST_CURRENT_TEST" not in env
    assert env["MY_SETTING"] == "42"
    assert env["IMAGE_NAME"] == "devstack-test-image"  # --node-env, as if set in the image
    assert env["AZ_BATCH_JOB_ID"] == job_id
    assert env["AZ_BATCH_TASK_ID"] == "env"
    assert env["AZ_BATCH_ACCOUNT_NAME"] == service.account
    assert env["AZ_BATCH_ACCOUNT_URL"] == service.url
    assert env["AZ_BATCH_POOL_ID"] == node_of(task).pool_id
    assert env["AZ_BATCH_NODE_ID"] == node_of(task).node_id
    node_root = service.nodes_root.joinpath(*placement(task))
    assert env["AZ_BATCH_NODE_ROOT_DIR"] == str(node_root)
    assert env["AZ_BATCH_NODE_SHARED_DIR"] == str(node_root / "shared")
    assert env["AZ_BATCH_NODE_STARTUP_DIR"] == str(node_root / "startup")
    assert env["AZ_BATCH_TASK_DIR"] == str(task_dir(service, task))
    assert env["AZ_BATCH_TASK_WORKING_DIR"] == str(task_dir(service, task) / "wd")
    assert env["AZ_BATCH_TASK_USER"]
    assert env["PATH"] and env["HOME"] and env["LANG"]


def test_node_files_are_baked_into_every_nodes_shared_dir(
    client: BatchClient, service: RunningService, job: Callable[..., str]
) -> None:
    job_id = job(nodes=1)
    client.create_task(
        job_id,
        m.BatchTaskCreateOptions(
            id="baked", command_line="/bin/sh -c '$AZ_BATCH_NODE_SHARED_DIR/tools/hello.sh x'"
        ),
    )

    task = wait_task_completed(client, job_id, "baked")

    assert execution(task).exit_code == 0
    assert (task_dir(service, task) / "stdout.txt").read_text() == "baked-in x\n"


def test_a_missing_program_fails_with_command_program_not_found(
    client: BatchClient, job: Callable[..., str]
) -> None:
    job_id = job()
    client.create_task(
        job_id, m.BatchTaskCreateOptions(id="nope", command_line="no-such-program-here --flag")
    )

    task = wait_task_completed(client, job_id, "nope")

    assert execution(task).result == m.BatchTaskExecutionResult.FAILURE
    assert execution(task).exit_code is None
    assert failure(task).code == "CommandProgramNotFound"


def test_a_failing_task_is_retried_up_to_max_task_retry_count(
    client: BatchClient, service: RunningService, job: Callable[..., str]
) -> None:
    job_id = job()
    client.create_task(
        job_id,
        m.BatchTaskCreateOptions(
            id="flaky",
            command_line="/bin/sh -c 'echo run >> ../runs.txt; exit 1'",
            constraints=m.BatchTaskConstraints(max_task_retry_count=2),
        ),
    )

    task = wait_task_completed(client, job_id, "flaky")

    assert execution(task).retry_count == 2
    assert execution(task).last_retry_time is not None
    assert execution(task).exit_code == 1
    assert (task_dir(service, task) / "runs.txt").read_text() == "run\n" * 3


def test_a_retry_that_succeeds_completes_the_task_as_succeeded(
    client: BatchClient, job: Callable[..., str]
) -> None:
    job_id = job(nodes=1)
    client.create_task(
        job_id,
        m.BatchTaskCreateOptions(
            id="second-time",
            command_line="/bin/sh -c 'test -f ../marker && exit 0; touch ../marker; exit 9'",
            constraints=m.BatchTaskConstraints(max_task_retry_count=3),
        ),
    )

    task = wait_task_completed(client, job_id, "second-time")

    assert execution(task).result == m.BatchTaskExecutionResult.SUCCESS
    assert execution(task).retry_count == 1


def test_max_wall_clock_time_kills_the_whole_process_group(
    client: BatchClient, service: RunningService, job: Callable[..., str]
) -> None:
    job_id = job()
    client.create_task(
        job_id,
        m.BatchTaskCreateOptions(
            id="slow",
            command_line="/bin/sh -c 'sleep 60 & echo $! > child.pid; wait'",
            constraints=m.BatchTaskConstraints(max_wall_clock_time=dt.timedelta(seconds=1)),
        ),
    )

    task = wait_task_completed(client, job_id, "slow", timeout=30)

    assert execution(task).result == m.BatchTaskExecutionResult.FAILURE
    assert failure(task).code == "MaxWallClockTimeExceeded"
    child = int((task_dir(service, task) / "wd" / "child.pid").read_text())
    wait_until(lambda: not _alive(child), timeout=10)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is dead for our purpose.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_adding_a_task_twice_is_task_exists_409(
    client: BatchClient, job: Callable[..., str]
) -> None:
    job_id = job()
    client.create_task(job_id, m.BatchTaskCreateOptions(id="once", command_line="true"))

    with pytest.raises(ResourceExistsError) as raised:
        client.create_task(job_id, m.BatchTaskCreateOptions(id="once", command_line="true"))

    assert raised.value.status_code == 409
    assert odata_code(raised.value) == "TaskExists"


def test_unknown_resources_are_not_found_with_batch_codes(
    client: BatchClient, job: Callable[..., str]
) -> None:
    job_id = job()
    cases: list[tuple[Callable[[], object], str]] = [
        (lambda: client.get_job("no-such-job"), "JobNotFound"),
        (
            lambda: client.create_task(
                "no-such-job", m.BatchTaskCreateOptions(id="t", command_line="true")
            ),
            "JobNotFound",
        ),
        (lambda: client.get_task(job_id, "no-such-task"), "TaskNotFound"),
        (lambda: client.get_pool("no-such-pool"), "PoolNotFound"),
        (lambda: client.get_job_task_counts("no-such-job"), "JobNotFound"),
    ]
    for call, code in cases:
        with pytest.raises(ResourceNotFoundError) as raised:
            call()
        assert raised.value.status_code == 404
        assert odata_code(raised.value) == code


def test_creating_an_existing_job_or_pool_is_a_conflict(
    client: BatchClient, job: Callable[..., str], pool: Callable[..., str]
) -> None:
    pool_id = pool(nodes=0)
    job_id = job(pool_id=pool_id)

    with pytest.raises(ResourceExistsError) as job_raised:
        client.create_job(
            m.BatchJobCreateOptions(id=job_id, pool_info=m.BatchPoolInfo(pool_id=pool_id))
        )
    with pytest.raises(ResourceExistsError) as pool_raised:
        client.create_pool(m.BatchPoolCreateOptions(id=pool_id, vm_size="standard_d2s_v3"))

    assert odata_code(job_raised.value) == "JobExists"
    assert odata_code(pool_raised.value) == "PoolExists"


def test_a_wrong_key_is_refused_with_403_authentication_failed(
    service: RunningService, job: Callable[..., str]
) -> None:
    job_id = job()
    intruder = service.client(key=base64.b64encode(secrets.token_bytes(64)).decode())

    with pytest.raises(HttpResponseError) as raised:
        intruder.get_job(job_id)

    assert raised.value.status_code == 403
    assert odata_code(raised.value) == "AuthenticationFailed"


def test_an_unsigned_request_is_refused(service: RunningService) -> None:
    request = urllib.request.Request(f"{service.url}/jobs?api-version=2025-06-01")
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=10)

    body = json.loads(raised.value.read())
    raised.value.close()
    assert raised.value.code == 403
    assert body["code"] == "AuthenticationFailed"


def test_the_api_version_is_required_and_checked(client: BatchClient) -> None:
    missing_status, missing, _ = contract.raw(client, "GET", "/jobs", api_version=None)
    unknown_status, unknown, _ = contract.raw(client, "GET", "/jobs", api_version="2019-01-01")

    assert missing_status == 400 and missing["code"] == "MissingRequiredQueryParameter"
    assert unknown_status == 400 and unknown["code"] == "InvalidQueryParameterValue"


def test_create_tasks_adds_hundreds_concurrently_and_all_complete(
    client: BatchClient, job: Callable[..., str]
) -> None:
    job_id = job(nodes=2, slots=4)
    tasks = [m.BatchTaskCreateOptions(id=f"bulk-{i:04d}", command_line="true") for i in range(450)]

    result = client.create_tasks(job_id, tasks, max_concurrency=4).result_values or []

    assert len(result) == 450
    assert {r.status for r in result} == {m.BatchTaskAddStatus.SUCCESS}
    counts = wait_until(
        lambda: (c := client.get_job_task_counts(job_id)).task_counts.completed == 450 and c,
        timeout=120,
    )
    assert counts.task_counts.succeeded == 450
    assert counts.task_counts.failed == 0
    assert counts.task_counts.active == 0 and counts.task_counts.running == 0
    assert counts.task_slot_counts.completed == 450


def test_a_task_collection_reports_each_task_and_treats_duplicates_as_client_errors(
    client: BatchClient, job: Callable[..., str]
) -> None:
    job_id = job(nodes=0)
    client.create_task(job_id, m.BatchTaskCreateOptions(id="dup", command_line="true"))

    result = client.create_task_collection(
        job_id,
        m.BatchTaskGroup(
            task_values=[
                m.BatchTaskCreateOptions(id="fresh", command_line="true"),
                m.BatchTaskCreateOptions(id="dup", command_line="true"),
                m.BatchTaskCreateOptions(id="bad id!", command_line="true"),
            ]
        ),
    )

    by_id = {r.task_id: r for r in result.result_values or []}
    assert by_id["fresh"].status == m.BatchTaskAddStatus.SUCCESS
    assert str(by_id["fresh"].location).endswith(f"/jobs/{job_id}/tasks/fresh")
    assert by_id["dup"].status == m.BatchTaskAddStatus.CLIENT_ERROR
    assert by_id["dup"].error is not None and by_id["dup"].error.code == "TaskExists"
    assert by_id["bad id!"].status == m.BatchTaskAddStatus.CLIENT_ERROR
    assert by_id["bad id!"].error is not None
    assert by_id["bad id!"].error.code == "InvalidPropertyValue"


def test_task_counts_separate_active_running_succeeded_and_failed(
    client: BatchClient, job: Callable[..., str]
) -> None:
    job_id = job(nodes=1, slots=3)
    client.create_tasks(
        job_id,
        [
            m.BatchTaskCreateOptions(id="ok", command_line="true"),
            m.BatchTaskCreateOptions(id="bad", command_line="false"),
            m.BatchTaskCreateOptions(id="long", command_line="sleep 30", required_slots=2),
        ],
    )

    wait_until(lambda: client.get_job_task_counts(job_id).task_counts.completed == 2)
    counts = client.get_job_task_counts(job_id)

    assert counts.task_counts.as_dict() == {
        "active": 0,
        "running": 1,
        "completed": 2,
        "succeeded": 1,
        "failed": 1,
    }
    assert counts.task_slot_counts.as_dict() == {
        "active": 0,
        "running": 2,
        "completed": 2,
        "succeeded": 1,
        "failed": 1,
    }
    client.terminate_task(job_id, "long")
    ended = wait_task_completed(client, job_id, "long")
    assert failure(ended).code == "TaskEnded"


def test_a_pool_without_nodes_leaves_tasks_active(
    client: BatchClient, job: Callable[..., str]
) -> None:
    job_id = job(nodes=0)
    client.create_task(job_id, m.BatchTaskCreateOptions(id="waiting", command_line="true"))

    time.sleep(0.5)

    assert client.get_task(job_id, "waiting").state == m.BatchTaskState.ACTIVE
    assert client.get_job_task_counts(job_id).task_counts.active == 1


def test_concurrency_is_nodes_times_task_slots(
    client: BatchClient, job: Callable[..., str]
) -> None:
    job_id = job(nodes=2, slots=2)
    client.create_tasks(
        job_id, [m.BatchTaskCreateOptions(id=f"s{i}", command_line="sleep 0.5") for i in range(10)]
    )

    wait_until(lambda: client.get_job_task_counts(job_id).task_counts.completed == 10, timeout=60)
    spans = [span(t) for t in client.list_tasks(job_id)]

    peak = max(sum(1 for s, e in spans if s <= moment < e) for moment, _ in spans)
    assert 2 <= peak <= 4
    per_node: dict[str, int] = {}
    for task in client.list_tasks(job_id):
        node_id = str(node_of(task).node_id)
        per_node[node_id] = per_node.get(node_id, 0) + 1
    assert len(per_node) == 2


def test_list_tasks_pages_with_maxresults_and_filters_and_selects(
    client: BatchClient, job: Callable[..., str]
) -> None:
    job_id = job(nodes=2, slots=4)
    client.create_tasks(
        job_id,
        [
            m.BatchTaskCreateOptions(id=f"p{i:03d}", command_line="true" if i % 3 else "false")
            for i in range(25)
        ],
    )
    wait_until(lambda: client.get_job_task_counts(job_id).task_counts.completed == 25)

    every = list(client.list_tasks(job_id, max_results=4))
    failed = list(
        client.list_tasks(job_id, max_results=2, filter="executionInfo/result eq 'failure'")
    )
    slim = list(client.list_tasks(job_id, filter="state eq 'completed'", select=["id", "state"]))

    assert sorted(t.id for t in every) == [f"p{i:03d}" for i in range(25)]
    assert sorted(t.id for t in failed) == [f"p{i:03d}" for i in range(0, 25, 3)]
    assert len(slim) == 25
    assert slim[0].command_line is None and slim[0].state == m.BatchTaskState.COMPLETED


def test_list_jobs_and_pools_find_what_was_created(
    client: BatchClient, job: Callable[..., str], pool: Callable[..., str]
) -> None:
    pool_id = pool(nodes=0)
    job_id = job(pool_id=pool_id)

    assert job_id in {j.id for j in client.list_jobs(filter=f"id eq '{job_id}'")}
    assert pool_id in {p.id for p in client.list_pools(max_results=1)}
    assert client.get_pool(pool_id).current_dedicated_nodes == 0


def test_deleting_a_pool_is_a_long_running_operation(
    client: BatchClient, pool: Callable[..., str]
) -> None:
    pool_id = pool(nodes=2)

    client.begin_delete_pool(pool_id, polling_interval=QUICK_POLL).result()

    with pytest.raises(ResourceNotFoundError):
        client.get_pool(pool_id)


def test_terminating_then_deleting_a_job_kills_its_running_tasks(
    client: BatchClient, service: RunningService, job: Callable[..., str]
) -> None:
    job_id = job()
    client.create_task(job_id, m.BatchTaskCreateOptions(id="busy", command_line="sleep 60"))
    wait_until(lambda: client.get_task(job_id, "busy").state == m.BatchTaskState.RUNNING)

    # The SDK cannot send a terminate request without options (it fails building the header).
    client.begin_terminate_job(
        job_id, options=terminating("UserTerminate"), polling_interval=QUICK_POLL
    ).result()
    terminated = client.get_job(job_id)
    task = client.get_task(job_id, "busy")
    with pytest.raises(ResourceExistsError) as late:
        client.create_task(job_id, m.BatchTaskCreateOptions(id="late", command_line="true"))
    client.begin_delete_job(job_id, polling_interval=QUICK_POLL).result()

    assert terminated.state == m.BatchJobState.COMPLETED
    assert job_execution(terminated).termination_reason == "UserTerminate"
    assert task.state == m.BatchTaskState.COMPLETED
    assert failure(task).code == "TaskEnded"
    assert odata_code(late.value) == "JobCompleted"
    with pytest.raises(ResourceNotFoundError):
        client.get_job(job_id)


def test_a_job_that_terminates_on_all_tasks_complete_completes(
    client: BatchClient, job: Callable[..., str]
) -> None:
    job_id = job(all_tasks_complete_mode=m.BatchAllTasksCompleteMode.TERMINATE_JOB)
    client.create_tasks(
        job_id, [m.BatchTaskCreateOptions(id=f"a{i}", command_line="true") for i in range(3)]
    )

    done = wait_until(
        lambda: (j := client.get_job(job_id)).state == m.BatchJobState.COMPLETED and j
    )

    assert job_execution(done).termination_reason == "AllTasksComplete"


def test_request_statistics_count_each_operation(
    service: RunningService, client: BatchClient, job: Callable[..., str]
) -> None:
    job_id = job(nodes=0)
    urllib.request.urlopen(
        urllib.request.Request(f"{service.url}/_devstack/stats/reset", method="POST"), timeout=10
    )

    client.get_job(job_id)
    client.get_job(job_id)
    client.create_task(job_id, m.BatchTaskCreateOptions(id="counted", command_line="true"))
    with urllib.request.urlopen(f"{service.url}/_devstack/stats", timeout=10) as response:
        stats = json.loads(response.read())

    assert stats["operations"]["Jobs_GetJob"] >= 2
    assert stats["operations"]["Tasks_CreateTask"] >= 1
    assert stats["total"] == sum(stats["operations"].values())


def test_sigterm_kills_running_tasks_and_exits_cleanly(tmp_path: Path) -> None:
    running = start_service(tmp_path / "state")
    client = running.client()
    client.create_pool(
        m.BatchPoolCreateOptions(id="p", vm_size="standard_d2s_v3", target_dedicated_nodes=1)
    )
    client.create_job(m.BatchJobCreateOptions(id="j", pool_info=m.BatchPoolInfo(pool_id="p")))
    client.create_task(
        "j", m.BatchTaskCreateOptions(id="t", command_line="/bin/sh -c 'echo $$ > pid; sleep 60'")
    )
    task = wait_until(
        lambda: (t := client.get_task("j", "t")).state == m.BatchTaskState.RUNNING and t
    )
    pid_file = task_dir(running, task) / "wd" / "pid"
    pid = int(wait_until(lambda: pid_file.exists() and pid_file.read_text().strip()))

    assert running.stop() == 0

    wait_until(lambda: not _alive(pid), timeout=10)


def test_a_restart_keeps_state_and_requeues_tasks_that_were_running(tmp_path: Path) -> None:
    key = base64.b64encode(secrets.token_bytes(32)).decode()
    first = start_service(tmp_path / "state", "--port", "0", key=key)
    client = first.client()
    client.create_pool(
        m.BatchPoolCreateOptions(id="p", vm_size="standard_d2s_v3", target_dedicated_nodes=1)
    )
    client.create_job(m.BatchJobCreateOptions(id="j", pool_info=m.BatchPoolInfo(pool_id="p")))
    client.create_task("j", m.BatchTaskCreateOptions(id="done", command_line="true"))
    wait_task_completed(client, "j", "done")
    client.create_task(
        "j",
        m.BatchTaskCreateOptions(
            id="interrupted",
            command_line="/bin/sh -c 'test -f ../again && exit 0; touch ../again; sleep 60'",
        ),
    )
    running = wait_until(
        lambda: (t := client.get_task("j", "interrupted")).state == m.BatchTaskState.RUNNING and t
    )
    wait_until((task_dir(first, running) / "again").exists)  # the first run reached its sleep
    assert first.stop() == 0

    second = start_service(tmp_path / "state", key=key)
    try:
        client = second.client()
        task = wait_task_completed(client, "j", "interrupted")
        done = client.get_task("j", "done")
    finally:
        assert second.stop() == 0

    assert execution(task).requeue_count == 1
    assert execution(task).result == m.BatchTaskExecutionResult.SUCCESS
    assert execution(done).result == m.BatchTaskExecutionResult.SUCCESS
    assert execution(done).requeue_count == 0


def test_pool_exists_answers_200_for_a_pool_and_404_without_body_otherwise(
    client: BatchClient, pool: Callable[..., str]
) -> None:
    pool_id = pool(nodes=0)

    assert client.pool_exists(pool_id) is True
    status, body, _ = contract.raw(client, "HEAD", "/pools/no-such-pool")
    assert status == 404 and body is None


def test_sigint_also_stops_the_service(tmp_path: Path) -> None:
    running = start_service(tmp_path / "state")
    running.process.send_signal(signal.SIGINT)
    try:
        assert running.process.wait(timeout=30) == 0
    finally:
        running.close_pipes()


def test_conditional_headers_guard_reads_and_writes(
    client: BatchClient, job: Callable[..., str]
) -> None:
    from azure.core import MatchConditions
    from azure.core.exceptions import ResourceModifiedError

    job_id = job(nodes=0)
    current = client.get_job(job_id)
    client.update_job(job_id, m.BatchJobUpdateOptions(priority=1))

    with pytest.raises(ResourceModifiedError):
        client.begin_delete_job(
            job_id, etag=current.etag, match_condition=MatchConditions.IfNotModified
        ).result()
    fresh = client.get_job(job_id)
    unchanged, _, _ = contract.raw(
        client, "GET", f"/jobs/{job_id}", headers_if_none_match=fresh.etag
    )
    changed, _, _ = contract.raw(
        client, "GET", f"/jobs/{job_id}", headers_if_none_match=current.etag
    )

    assert unchanged == 304
    assert changed == 200
    client.begin_delete_job(
        job_id,
        etag=fresh.etag,
        match_condition=MatchConditions.IfNotModified,
        polling_interval=QUICK_POLL,
    ).result()


def test_an_oversized_task_collection_is_split_by_the_sdk_after_request_body_too_large(
    client: BatchClient, service: RunningService, job: Callable[..., str]
) -> None:
    job_id = job(nodes=0)
    padding = "x" * 15_000  # 100 such tasks exceed the 1 MiB a collection may carry
    tasks = [
        m.BatchTaskCreateOptions(
            id=f"big-{i:03d}",
            command_line="true",
            environment_settings=[m.EnvironmentSetting(name="PAD", value=padding)],
        )
        for i in range(100)
    ]
    urllib.request.urlopen(
        urllib.request.Request(f"{service.url}/_devstack/stats/reset", method="POST"), timeout=10
    ).close()

    result = client.create_tasks(job_id, tasks)

    with urllib.request.urlopen(f"{service.url}/_devstack/stats", timeout=10) as response:
        stats = json.loads(response.read())
    assert len(result.result_values or []) == 100
    assert stats["statuses"]["413"] >= 1
    assert client.get_job_task_counts(job_id).task_counts.active == 100


def test_a_task_can_be_deleted_while_it_runs(client: BatchClient, job: Callable[..., str]) -> None:
    job_id = job(nodes=1)
    client.create_task(job_id, m.BatchTaskCreateOptions(id="doomed", command_line="sleep 30"))
    wait_until(lambda: client.get_task(job_id, "doomed").state == m.BatchTaskState.RUNNING)

    client.delete_task(job_id, "doomed")

    with pytest.raises(ResourceNotFoundError):
        client.get_task(job_id, "doomed")
    assert client.get_job_task_counts(job_id).task_counts.running == 0


def test_a_request_dated_far_from_the_server_clock_is_refused(
    client: BatchClient, job: Callable[..., str]
) -> None:
    import datetime as dt

    job_id = job(nodes=0)
    stale = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=20)

    with pytest.raises(HttpResponseError) as raised:
        client.get_job(job_id, ocp_date=stale)

    assert raised.value.status_code == 403
    assert odata_code(raised.value) == "AuthenticationFailed"


def test_a_second_service_on_the_same_state_dir_refuses_to_start(service: RunningService) -> None:
    import subprocess
    import sys

    second = subprocess.run(
        [
            sys.executable,
            "-m",
            "devstack.batchsvc",
            "--state-dir",
            str(service.state_dir),
            "--account",
            service.account,
            "--key",
            service.key,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert second.returncode == 2
    assert second.stdout == ""
    assert "in use by another service" in second.stderr
