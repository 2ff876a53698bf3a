"""Pools: nodes, task slots and scheduling policy, start tasks, resize and autoscale."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
from azure.batch import BatchClient
from azure.batch import models as m
from azure.batch.models._models import BatchNodeRebootOptions  # named by the SDK, not exported
from azure.core.exceptions import HttpResponseError, ResourceExistsError

from tests.devstack.batchsvc.conftest import (
    QUICK_POLL,
    RunningService,
    execution,
    node_of,
    odata_code,
    placement,
    pool_of,
    start_service,
    terminating,
    wait_task_completed,
    wait_until,
)
from tests.devstack.batchsvc.contract import raw, validate

pytestmark = pytest.mark.stack


def test_a_pool_gets_dedicated_and_spot_nodes_listed_with_their_states(
    client: BatchClient, pool: Callable[..., str]
) -> None:
    pool_id = pool(nodes=2, low_priority=1)

    nodes = list(client.list_nodes(pool_id))
    status, listed, _ = raw(client, "GET", f"/pools/{pool_id}/nodes")

    assert sorted(bool(n.is_dedicated) for n in nodes) == [False, True, True]
    assert {n.state for n in nodes} == {m.BatchNodeState.IDLE}
    assert all(n.scheduling_state == m.SchedulingState.ENABLED for n in nodes)
    assert client.get_pool(pool_id).current_low_priority_nodes == 1
    assert status == 200
    validate("BatchNodeListResult", listed)
    assert client.get_node(pool_id, nodes[0].id).id == nodes[0].id


def test_a_node_reports_the_tasks_it_runs(client: BatchClient, job: Callable[..., str]) -> None:
    job_id = job(nodes=1, slots=2)
    client.create_task(job_id, m.BatchTaskCreateOptions(id="busy", command_line="sleep 20"))
    task = wait_until(
        lambda: (t := client.get_task(job_id, "busy")).state == m.BatchTaskState.RUNNING and t
    )

    pool_id, node_id = placement(task)
    node = client.get_node(pool_id, node_id)
    _, body, _ = raw(client, "GET", f"/pools/{pool_id}/nodes/{node.id}")

    assert node.state == m.BatchNodeState.RUNNING
    assert node.running_tasks_count == 1 and node.running_task_slots_count == 1
    assert [t.task_id for t in node.recent_tasks or []] == ["busy"]
    validate("BatchNode", body)
    client.terminate_task(job_id, "busy")


@pytest.mark.parametrize(("fill", "expected_nodes"), [("pack", 1), ("spread", 2)])
def test_the_scheduling_policy_packs_or_spreads_tasks(
    client: BatchClient,
    ids: Callable[[str], str],
    fill: str,
    expected_nodes: int,
) -> None:
    pool_id = ids("pool")
    client.create_pool(
        m.BatchPoolCreateOptions(
            id=pool_id,
            vm_size="standard_d2s_v3",
            target_dedicated_nodes=2,
            task_slots_per_node=2,
            task_scheduling_policy=m.BatchTaskSchedulingPolicy(node_fill_type=fill),
        )
    )
    job_id = ids("job")
    client.create_job(
        m.BatchJobCreateOptions(id=job_id, pool_info=m.BatchPoolInfo(pool_id=pool_id))
    )
    client.create_tasks(
        job_id, [m.BatchTaskCreateOptions(id=f"t{i}", command_line="sleep 20") for i in range(2)]
    )

    wait_until(lambda: client.get_job_task_counts(job_id).task_counts.running == 2)
    used = {node_of(t).node_id for t in client.list_tasks(job_id)}

    assert len(used) == expected_nodes
    client.begin_terminate_job(
        job_id, options=terminating("done"), polling_interval=QUICK_POLL
    ).result()


def test_a_task_needing_more_slots_than_a_node_has_stays_active(
    client: BatchClient, job: Callable[..., str]
) -> None:
    job_id = job(nodes=2, slots=2)
    client.create_task(
        job_id, m.BatchTaskCreateOptions(id="big", command_line="true", required_slots=3)
    )
    client.create_task(job_id, m.BatchTaskCreateOptions(id="small", command_line="true"))

    wait_task_completed(client, job_id, "small")

    assert client.get_task(job_id, "big").state == m.BatchTaskState.ACTIVE


def test_the_start_task_runs_on_each_node_before_any_task(
    client: BatchClient, service: RunningService, ids: Callable[[str], str]
) -> None:
    pool_id, job_id = ids("pool"), ids("job")
    client.create_pool(
        m.BatchPoolCreateOptions(
            id=pool_id,
            vm_size="standard_d2s_v3",
            target_dedicated_nodes=2,
            start_task=m.BatchStartTask(
                command_line="/bin/sh -c 'sleep 0.5; echo ready > $AZ_BATCH_NODE_SHARED_DIR/ready'",
                wait_for_success=True,
            ),
        )
    )
    client.create_job(
        m.BatchJobCreateOptions(id=job_id, pool_info=m.BatchPoolInfo(pool_id=pool_id))
    )
    client.create_task(
        job_id,
        m.BatchTaskCreateOptions(id="after", command_line="cat $AZ_BATCH_NODE_SHARED_DIR/ready"),
    )
    client.create_task(
        job_id,
        m.BatchTaskCreateOptions(
            id="reader", command_line="/bin/sh -c 'cat $AZ_BATCH_NODE_SHARED_DIR/ready'"
        ),
    )

    task = wait_task_completed(client, job_id, "reader")
    nodes = wait_until(
        lambda: (
            all(n.start_task_info and n.start_task_info.state == "completed" for n in ns) and ns
            if (ns := list(client.list_nodes(pool_id)))
            else None
        )
    )

    assert execution(task).exit_code == 0
    assert all(n.start_task_info.result == m.BatchTaskExecutionResult.SUCCESS for n in nodes)
    assert all(n.start_task_info.exit_code == 0 for n in nodes)
    out = b"".join(client.download_node_file(pool_id, nodes[0].id, "startup/stdout.txt"))
    assert out == b""
    assert (service.nodes_root / pool_id / nodes[0].id / "startup" / "stdout.txt").exists()


def test_a_failing_start_task_leaves_the_node_unusable_and_tasks_waiting(
    client: BatchClient, ids: Callable[[str], str]
) -> None:
    pool_id, job_id = ids("pool"), ids("job")
    client.create_pool(
        m.BatchPoolCreateOptions(
            id=pool_id,
            vm_size="standard_d2s_v3",
            target_dedicated_nodes=1,
            start_task=m.BatchStartTask(
                command_line="false", max_task_retry_count=1, wait_for_success=True
            ),
        )
    )
    client.create_job(
        m.BatchJobCreateOptions(id=job_id, pool_info=m.BatchPoolInfo(pool_id=pool_id))
    )
    client.create_task(job_id, m.BatchTaskCreateOptions(id="waits", command_line="true"))

    node = wait_until(
        lambda: (
            (n := next(iter(client.list_nodes(pool_id)))).state
            == m.BatchNodeState.START_TASK_FAILED
            and n
        )
    )

    assert node.start_task_info.result == m.BatchTaskExecutionResult.FAILURE
    assert node.start_task_info.retry_count == 1
    assert node.start_task_info.failure_info.code == "FailureExitCode"
    assert client.get_task(job_id, "waits").state == m.BatchTaskState.ACTIVE


def test_resize_is_a_long_running_operation_that_adds_and_removes_nodes(
    client: BatchClient, pool: Callable[..., str]
) -> None:
    pool_id = pool(nodes=1)

    client.begin_resize_pool(
        pool_id, m.BatchPoolResizeOptions(target_dedicated_nodes=3), polling_interval=QUICK_POLL
    ).result()
    grown = client.get_pool(pool_id)
    client.begin_resize_pool(
        pool_id, m.BatchPoolResizeOptions(target_dedicated_nodes=0), polling_interval=QUICK_POLL
    ).result()
    shrunk = client.get_pool(pool_id)

    assert grown.current_dedicated_nodes == 3 and grown.allocation_state == m.AllocationState.STEADY
    assert shrunk.current_dedicated_nodes == 0 and list(client.list_nodes(pool_id)) == []


def test_shrinking_requeues_the_tasks_of_removed_nodes(
    client: BatchClient, job: Callable[..., str]
) -> None:
    job_id = job(nodes=1)
    client.create_task(job_id, m.BatchTaskCreateOptions(id="displaced", command_line="sleep 30"))
    task = wait_until(
        lambda: (t := client.get_task(job_id, "displaced")).state == m.BatchTaskState.RUNNING and t
    )

    client.begin_resize_pool(
        placement(task)[0],
        m.BatchPoolResizeOptions(target_dedicated_nodes=0, node_deallocation_option="requeue"),
        polling_interval=QUICK_POLL,
    ).result()
    after = wait_until(
        lambda: (t := client.get_task(job_id, "displaced")).state == m.BatchTaskState.ACTIVE and t
    )

    assert execution(after).requeue_count == 1


def test_removing_a_named_node_lowers_the_target(
    client: BatchClient, pool: Callable[..., str]
) -> None:
    pool_id = pool(nodes=2)
    victim = next(iter(client.list_nodes(pool_id))).id

    client.begin_remove_nodes(
        pool_id, m.BatchNodeRemoveOptions(node_ids=[victim]), polling_interval=QUICK_POLL
    ).result()

    remaining = [n.id for n in client.list_nodes(pool_id)]
    assert victim not in remaining and len(remaining) == 1
    assert client.get_pool(pool_id).target_dedicated_nodes == 1


FORMULA = "$tasks = max(0, $PendingTasks.GetSample(1)); $TargetDedicatedNodes = min(3, $tasks);"


def test_autoscale_sizes_the_pool_from_pending_tasks(
    client: BatchClient, job: Callable[..., str], pool: Callable[..., str]
) -> None:
    pool_id = pool(nodes=0)
    job_id = job(pool_id=pool_id)
    client.create_tasks(
        job_id, [m.BatchTaskCreateOptions(id=f"w{i}", command_line="true") for i in range(5)]
    )

    client.enable_pool_auto_scale(
        pool_id,
        m.BatchPoolEnableAutoScaleOptions(
            auto_scale_formula=FORMULA, auto_scale_evaluation_interval=dt.timedelta(minutes=5)
        ),
    )
    scaled = client.get_pool(pool_id)
    assert scaled.auto_scale_run is not None and scaled.auto_scale_run.results is not None

    assert scaled.enable_auto_scale is True
    assert scaled.target_dedicated_nodes == 3
    assert "$TargetDedicatedNodes=3" in scaled.auto_scale_run.results
    assert "$tasks=5" in scaled.auto_scale_run.results
    wait_until(lambda: client.get_job_task_counts(job_id).task_counts.succeeded == 5)
    with pytest.raises(ResourceExistsError):
        client.begin_resize_pool(pool_id, m.BatchPoolResizeOptions(target_dedicated_nodes=1))
    client.disable_pool_auto_scale(pool_id)
    assert client.get_pool(pool_id).enable_auto_scale is False


def test_evaluate_autoscale_reports_results_and_errors_without_applying(
    client: BatchClient, pool: Callable[..., str]
) -> None:
    pool_id = pool(nodes=0)
    client.enable_pool_auto_scale(
        pool_id, m.BatchPoolEnableAutoScaleOptions(auto_scale_formula="$TargetDedicatedNodes = 0;")
    )

    good = client.evaluate_pool_auto_scale(
        pool_id,
        m.BatchPoolEvaluateAutoScaleOptions(auto_scale_formula="$TargetDedicatedNodes = 2 + 1;"),
    )
    bad = client.evaluate_pool_auto_scale(
        pool_id,
        m.BatchPoolEvaluateAutoScaleOptions(
            auto_scale_formula="$TargetDedicatedNodes = $CPUPercent;"
        ),
    )
    status, body, _ = raw(
        client, "POST", f"/pools/{pool_id}/evaluateautoscale", body={"autoScaleFormula": "$x = 1;"}
    )

    assert str(good.results).startswith("$TargetDedicatedNodes=3")
    assert good.error is None
    assert bad.error is not None and bad.error.code == "UnsupportedVariable"
    assert "$CPUPercent" in str(bad.error.message)
    assert client.get_pool(pool_id).target_dedicated_nodes == 0
    assert status == 200
    validate("AutoScaleRun", body)


def test_an_autoscale_formula_with_unknown_variables_is_refused(
    client: BatchClient, pool: Callable[..., str]
) -> None:
    pool_id = pool(nodes=0)

    with pytest.raises(HttpResponseError) as raised:
        client.enable_pool_auto_scale(
            pool_id,
            m.BatchPoolEnableAutoScaleOptions(
                auto_scale_formula="$TargetDedicatedNodes = $MemoryBytes;"
            ),
        )

    assert raised.value.status_code == 400
    assert odata_code(raised.value) == "AutoScalingFormulaSyntaxError"


def test_an_autoscale_interval_under_five_minutes_is_refused(
    client: BatchClient, pool: Callable[..., str]
) -> None:
    pool_id = pool(nodes=0)

    with pytest.raises(HttpResponseError) as raised:
        client.enable_pool_auto_scale(
            pool_id,
            m.BatchPoolEnableAutoScaleOptions(
                auto_scale_formula="$TargetDedicatedNodes = 1;",
                auto_scale_evaluation_interval=dt.timedelta(minutes=1),
            ),
        )

    assert odata_code(raised.value) == "InvalidAutoScalingSettings"


def test_autoscale_reevaluates_on_its_interval_and_scales_to_zero_when_idle(tmp_path: Path) -> None:
    running = start_service(tmp_path / "state", "--autoscale-interval", "0.2")
    try:
        client = running.client()
        client.create_pool(
            m.BatchPoolCreateOptions(
                id="auto",
                vm_size="standard_d2s_v3",
                enable_auto_scale=True,
                auto_scale_formula=FORMULA + " $NodeDeallocationOption = taskcompletion;",
                auto_scale_evaluation_interval=dt.timedelta(minutes=5),
            )
        )
        client.create_job(
            m.BatchJobCreateOptions(id="j", pool_info=m.BatchPoolInfo(pool_id="auto"))
        )
        assert client.get_pool("auto").current_dedicated_nodes == 0

        client.create_tasks(
            "j", [m.BatchTaskCreateOptions(id=f"t{i}", command_line="sleep 0.3") for i in range(4)]
        )
        wait_until(lambda: client.get_pool("auto").current_dedicated_nodes == 3)
        wait_until(lambda: client.get_job_task_counts("j").task_counts.succeeded == 4)
        client.begin_terminate_job(
            "j", options=terminating("done"), polling_interval=QUICK_POLL
        ).result()
        wait_until(lambda: client.get_pool("auto").current_dedicated_nodes == 0)
    finally:
        assert running.stop() == 0


def test_pool_properties_can_be_updated_and_replaced(
    client: BatchClient, pool: Callable[..., str]
) -> None:
    pool_id = pool(nodes=0)

    client.update_pool(
        pool_id, m.BatchPoolUpdateOptions(metadata=[m.BatchMetadataItem(name="a", value="1")])
    )
    updated = client.get_pool(pool_id)
    client.replace_pool_properties(
        pool_id,
        m.BatchPoolReplaceOptions(
            start_task=m.BatchStartTask(command_line="true"),
            application_package_references=[],
            metadata=[],
        ),
    )
    replaced = client.get_pool(pool_id)

    assert updated.metadata and updated.metadata[0].name == "a"
    assert replaced.start_task is not None and replaced.start_task.command_line == "true"
    assert replaced.metadata == []


def test_a_rebooted_node_requeues_its_task_and_runs_its_start_task_again(
    client: BatchClient, ids: Callable[[str], str]
) -> None:
    pool_id, job_id = ids("pool"), ids("job")
    client.create_pool(
        m.BatchPoolCreateOptions(
            id=pool_id,
            vm_size="standard_d2s_v3",
            target_dedicated_nodes=1,
            start_task=m.BatchStartTask(command_line="/bin/sh -c 'echo boot >> ../boots'"),
        )
    )
    client.create_job(
        m.BatchJobCreateOptions(id=job_id, pool_info=m.BatchPoolInfo(pool_id=pool_id))
    )
    client.create_task(job_id, m.BatchTaskCreateOptions(id="t", command_line="sleep 30"))
    task = wait_until(
        lambda: (t := client.get_task(job_id, "t")).state == m.BatchTaskState.RUNNING and t
    )

    # Like terminate, the SDK cannot send this request without its options.
    node_id = placement(task)[1]
    client.begin_reboot_node(
        pool_id,
        node_id,
        BatchNodeRebootOptions({"nodeRebootOption": "requeue"}),
        polling_interval=QUICK_POLL,
    ).result()
    node = wait_until(
        lambda: (
            (n := client.get_node(pool_id, node_id)).start_task_info is not None
            and n.start_task_info.state == m.BatchStartTaskState.COMPLETED
            and n
        )
    )
    boots = b"".join(client.download_node_file(pool_id, node.id, "startup/boots"))

    assert boots == b"boot\nboot\n"
    requeued = wait_until(
        lambda: execution(t := client.get_task(job_id, "t")).requeue_count == 1 and t
    )
    assert requeued.state in (m.BatchTaskState.ACTIVE, m.BatchTaskState.RUNNING)
    client.terminate_task(job_id, "t")


def test_account_lists_answer_in_batch_shapes(client: BatchClient) -> None:
    images = list(client.list_supported_images())

    assert any(i.node_agent_sku_id == "batch.node.ubuntu 22.04" for i in images)
    assert list(client.list_applications()) == []
    assert list(client.list_pool_usage_metrics()) == []


def test_node_scheduling_can_be_disabled_and_enabled(
    client: BatchClient, job: Callable[..., str]
) -> None:
    job_id = job(nodes=1)
    pool_id = pool_of(client, job_id)
    node_id = str(next(iter(client.list_nodes(pool_id))).id)

    # The SDK cannot send this request without its (optional) body either.
    client.disable_node_scheduling(
        pool_id,
        node_id,
        m.BatchNodeDisableSchedulingOptions({"nodeDisableSchedulingOption": "requeue"}),
    )
    client.create_task(job_id, m.BatchTaskCreateOptions(id="held", command_line="true"))
    held = client.get_task(job_id, "held")
    node = client.get_node(pool_id, node_id)
    client.enable_node_scheduling(pool_id, node_id)

    assert node.scheduling_state == m.SchedulingState.DISABLED
    assert held.state == m.BatchTaskState.ACTIVE
    assert execution(wait_task_completed(client, job_id, "held")).exit_code == 0


def test_stop_resize_leaves_the_pool_steady(client: BatchClient, pool: Callable[..., str]) -> None:
    pool_id = pool(nodes=1)

    client.begin_stop_pool_resize(pool_id, polling_interval=QUICK_POLL).result()

    assert client.get_pool(pool_id).allocation_state == m.AllocationState.STEADY


def test_node_files_can_be_listed_read_and_deleted(
    client: BatchClient, pool: Callable[..., str]
) -> None:
    pool_id = pool(nodes=1)
    node_id = next(iter(client.list_nodes(pool_id))).id

    listed = {f.name for f in client.list_node_files(pool_id, node_id, recursive=True)}
    props = client.get_node_file_properties(pool_id, node_id, "shared/tools/hello.sh")
    content = b"".join(client.download_node_file(pool_id, node_id, "shared/tools/hello.sh"))
    client.delete_node_file(pool_id, node_id, "shared/tools/hello.sh")

    assert "shared/tools/hello.sh" in listed
    assert int(props.content_length) == len(content) and content.startswith(b"#!/bin/sh")
    assert "shared/tools/hello.sh" not in {
        f.name for f in client.list_node_files(pool_id, node_id, recursive=True)
    }


def test_a_task_with_affinity_runs_on_the_node_it_names(
    client: BatchClient, job: Callable[..., str]
) -> None:
    job_id = job(nodes=3)
    pool_id = pool_of(client, job_id)
    target = sorted(str(n.affinity_id) for n in client.list_nodes(pool_id))[-1]

    client.create_task(
        job_id,
        m.BatchTaskCreateOptions(
            id="near-data",
            command_line="true",
            affinity_info=m.BatchAffinityInfo(affinity_id=target),
        ),
    )

    assert node_of(wait_task_completed(client, job_id, "near-data")).affinity_id == target
