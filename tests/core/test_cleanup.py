"""Cleanup of past days' jobs against the local Batch service."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from batch_core import cleanup
from batch_core.batch_service import enum_text
from batch_core.clock import utcnow
from batch_core.submission import job_id_for
from devstack.stack import Stack
from tests.core.pipeline_helpers import pipeline_with

pytestmark = pytest.mark.stack


def job_state(p: object, job_id: str) -> str | None:
    from azure.core.exceptions import ResourceNotFoundError

    try:
        return enum_text(p.batch._c.get_job(job_id).state, "?")  # type: ignore[attr-defined]
    except ResourceNotFoundError:
        return None


def wait_for(p: object, job_id: str, states: set[str | None]) -> str | None:
    deadline = time.monotonic() + 30
    while (state := job_state(p, job_id)) not in states and time.monotonic() < deadline:
        time.sleep(0.2)
    return state


def test_a_drained_job_of_a_past_day_is_terminated_then_deleted(stack: Stack) -> None:
    # Given an empty job of an earlier day and no retention
    p = pipeline_with(stack, DROPBATCH_JOB_RETENTION_DAYS="0", DROPBATCH_BATCH_JOB_PREFIX="clean")
    old = job_id_for(p.settings, dt.date(2020, 1, 1))
    p.batch.ensure_pool()
    p.batch.ensure_job(old)
    today = job_id_for(p.settings, utcnow().date())
    p.batch.ensure_job(today)

    # When cleanup runs, the past job is terminated, and on a later run deleted
    assert cleanup.sweep(p, utcnow())["terminated"] == 1
    assert wait_for(p, old, {"completed"}) == "completed"
    assert cleanup.sweep(p, utcnow() + dt.timedelta(seconds=1))["deleted"] == 1
    assert wait_for(p, old, {None}) is None

    # Today's job is left alone
    assert job_state(p, today) == "active"
