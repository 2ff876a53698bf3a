"""The pool dropbatch creates: its autoscale formula, evaluated by the Batch service."""

from __future__ import annotations

import uuid

import pytest
from azure.batch import models

from batch_core.batch_service import autoscale_formula
from batch_core.clock import utcnow
from batch_core.submission import job_id_for
from devstack.stack import Stack
from tests.core.pipeline_helpers import batch_of, pipeline_with, service_of

pytestmark = pytest.mark.stack


def targets(result: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in result.split(";") if "=" in part)


def test_the_autoscale_formula_follows_pending_tasks_up_to_the_maximum(stack: Stack) -> None:
    # Given a pool of dropbatch's own making, with room for 3 nodes of 2 slots
    pool = f"formula-{uuid.uuid4().hex[:6]}"
    p = pipeline_with(
        stack,
        DROPBATCH_BATCH_POOL_ID=pool,
        DROPBATCH_BATCH_MAX_NODES="3",
        DROPBATCH_BATCH_TASK_SLOTS_PER_NODE="2",
        DROPBATCH_BATCH_JOB_PREFIX=pool,
    )
    service_of(p).ensure_pool()
    client = batch_of(p)
    formula = autoscale_formula(3, 2)
    assert client.get_pool(pool).auto_scale_formula == formula

    def evaluate() -> dict[str, str]:
        run = client.evaluate_pool_auto_scale(
            pool, models.BatchPoolEvaluateAutoScaleOptions(auto_scale_formula=formula)
        )
        assert run.error is None, run.error
        return targets(run.results or "")

    # When there is no work, no nodes
    assert evaluate()["$TargetDedicatedNodes"] == "0"
    assert evaluate()["$NodeDeallocationOption"] == "taskcompletion"

    # When 3 tasks wait, two nodes; when 9 wait, the maximum of three
    job = job_id_for(p.settings, utcnow().date())
    service_of(p).ensure_job(job)
    # (tasks that outlast the test, so pending work cannot drain while it looks)
    tasks = [models.BatchTaskCreateOptions(id=f"t{i}", command_line="sleep 120") for i in range(9)]
    try:
        client.create_tasks(job, tasks[:3])
        assert evaluate()["$TargetDedicatedNodes"] == "2"
        client.create_tasks(job, tasks[3:])
        assert evaluate()["$TargetDedicatedNodes"] == "3"
    finally:
        p.batch.terminate_job(job)
