"""A restart mid-job keeps every task and runs no finished task again (issue 3, done-when)."""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

import pytest
from azure.batch import models as m

from tests.devstack.batchsvc.conftest import execution, start_service, task_dir, wait_until

pytestmark = pytest.mark.stack

TASKS = 200


def test_a_restart_mid_job_loses_no_task_and_reruns_none_that_finished(tmp_path: Path) -> None:
    key = base64.b64encode(secrets.token_bytes(32)).decode()
    first = start_service(tmp_path / "state", key=key)
    client = first.client()
    client.create_pool(
        m.BatchPoolCreateOptions(
            id="p", vm_size="standard_d2s_v3", target_dedicated_nodes=2, task_slots_per_node=4
        )
    )
    client.create_job(m.BatchJobCreateOptions(id="j", pool_info=m.BatchPoolInfo(pool_id="p")))
    # Each run leaves a line in a file next to the task's working dir, then works a while.
    client.create_tasks(
        "j",
        [
            m.BatchTaskCreateOptions(
                id=f"t{i:03d}", command_line="/bin/sh -c 'echo run >> ../runs; sleep 0.2'"
            )
            for i in range(TASKS)
        ],
        max_concurrency=4,
    )
    wait_until(lambda: client.get_job_task_counts("j").task_counts.completed >= 40)
    assert first.stop() == 0

    second = start_service(tmp_path / "state", key=key)
    try:
        client = second.client()
        counts = wait_until(
            lambda: (c := client.get_job_task_counts("j")).task_counts.completed == TASKS and c,
            timeout=180,
        )
        tasks = list(client.list_tasks("j"))
    finally:
        assert second.stop() == 0

    assert counts.task_counts.succeeded == TASKS
    assert len(tasks) == TASKS
    requeued = [t for t in tasks if execution(t).requeue_count]
    assert requeued, "some tasks were running at the stop"
    for task in tasks:
        runs_file = task_dir(second, task) / "runs"
        runs = runs_file.read_text().count("run\n")
        assert execution(task).requeue_count in (0, 1)
        # A task that was never interrupted ran exactly once; an interrupted one at most twice.
        assert 1 <= runs <= 1 + execution(task).requeue_count, task.id


def test_a_thousand_task_job_added_with_create_tasks_completes_with_correct_counts(
    tmp_path: Path,
) -> None:
    running = start_service(tmp_path / "state", "--log-level", "WARNING")
    try:
        client = running.client()
        client.create_pool(
            m.BatchPoolCreateOptions(
                id="p", vm_size="standard_d2s_v3", target_dedicated_nodes=4, task_slots_per_node=4
            )
        )
        client.create_job(m.BatchJobCreateOptions(id="j", pool_info=m.BatchPoolInfo(pool_id="p")))
        result = client.create_tasks(
            "j",
            [
                m.BatchTaskCreateOptions(id=f"t{i:04d}", command_line="true" if i % 10 else "false")
                for i in range(1000)
            ],
            max_concurrency=8,
        )
        counts = wait_until(
            lambda: (c := client.get_job_task_counts("j")).task_counts.completed == 1000 and c,
            timeout=240,
        )
    finally:
        assert running.stop() == 0

    assert len(result.result_values or []) == 1000
    assert counts.task_counts.as_dict() == {
        "active": 0,
        "running": 0,
        "completed": 1000,
        "succeeded": 900,
        "failed": 100,
    }
    assert counts.task_slot_counts.completed == 1000


def test_after_a_crash_the_restarted_service_stops_what_the_dead_one_left_running(
    tmp_path: Path,
) -> None:
    import os
    import signal

    key = base64.b64encode(secrets.token_bytes(32)).decode()
    first = start_service(tmp_path / "state", key=key)
    client = first.client()
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
    pid_file = task_dir(first, task) / "wd" / "pid"
    pid = int(wait_until(lambda: pid_file.exists() and pid_file.read_text().strip()))

    first.process.send_signal(signal.SIGKILL)  # a crash: no chance to clean up
    first.process.wait(timeout=30)
    first.close_pipes()
    os.kill(pid, 0)  # the task outlived the service

    second = start_service(tmp_path / "state", key=key)
    try:
        wait_until(lambda: not _alive(pid), timeout=30)
        requeued = second.client().get_task("j", "t")
    finally:
        assert second.stop() == 0

    assert execution(requeued).requeue_count == 1


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False
