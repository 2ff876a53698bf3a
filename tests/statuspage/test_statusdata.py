"""What the status page gathers, read from a ledger of its own (a Cosmos database no
reconciler watches) on the live stack, so every run stays as written."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid

import pytest

from batch_core.clock import utcnow
from batch_core.fanoutstate import Failure, FanoutState
from batch_core.pipeline import Pipeline
from batch_core.run import Run
from batch_core.settings import Settings
from batch_core.states import RunState
from batch_core.statusdata import BUCKET_SECONDS, gather
from batch_core.statuspage.render import status_html
from batch_core.testing import memory_pipeline
from devstack.process import free_port
from devstack.stack import Stack
from tests.statuspage.conftest import Site

pytestmark = pytest.mark.stack


def isolated(live_stack: Stack, **overrides: str) -> Site:
    values = {**live_stack.values, "DROPBATCH_COSMOS_DATABASE": f"sp-{uuid.uuid4().hex[:8]}"}
    p = Pipeline.build(Settings.from_env({**values, **overrides}))
    p.provision()
    return Site(live_stack, p, "", "")


def test_the_page_counts_the_last_day_and_every_active_run_and_finds_the_stuck_ones(
    live_stack: Stack,
) -> None:
    # Given runs from two days ago, from this morning, and one running for three hours
    site = isolated(live_stack)
    now = utcnow()
    long_ago = now - dt.timedelta(days=2)
    site.write_run("old-ok.csv", RunState.SUCCEEDED, updated_at=long_ago)
    old_failed = site.write_run("old-bad.csv", RunState.FAILED, "crashed", updated_at=long_ago)
    stuck = site.write_run("hung.csv", RunState.RUNNING, updated_at=now - dt.timedelta(hours=3))
    site.write_run("ok.csv", RunState.SUCCEEDED, updated_at=now - dt.timedelta(minutes=5))
    failed = site.write_run("bad.csv", RunState.FAILED, "crashed", updated_at=now)
    rejected = site.write_run(
        "a.pdf", RunState.REJECTED, "no route", route="none", updated_at=now, attempt=0
    )
    site.write_run("new.csv", RunState.RECEIVED, updated_at=now)

    # When the page's data is gathered
    data = gather(site.pipeline, now)

    # Then the counts hold the day's runs and the active ones, not the older ended ones
    assert dict(data.counts) == {
        "received": 1, "submitted": 0, "running": 1, "succeeded": 1,
        "rejected": 1, "failed": 1, "vanished": 0,
    }  # fmt: skip
    # and the problems are every newest failed and rejected run, newest first
    assert [p.run.key for p in data.problems][-1] == old_failed.key
    assert {p.run.key for p in data.problems[:2]} == {failed.key, rejected.key}
    by_key = {p.run.key: p.places for p in data.problems}
    assert by_key[rejected.key] == ()  # never ran: no logs to look at
    assert by_key[failed.key] == (f"logs/{failed.name}/{failed.key}/attempt-1/",)
    # and only the run that has not moved for longer than the stuck rule is stuck
    assert [r.key for r in data.stuck] == [stuck.key]
    # and the chart has a bar every 10 minutes of the day, with the day's 3 ended runs
    assert len(data.ended) == 24 * 3600 // BUCKET_SECONDS + 1
    starts = [t for t, _, _ in data.ended]
    assert all(b - a == BUCKET_SECONDS for a, b in itertools.pairwise(starts))
    assert sum(n for _, n, _ in data.ended) == 3
    assert sum(bad for _, _, bad in data.ended) == 2
    # and each route has its files, success rate and median duration
    routes = {r.route: r for r in data.routes}
    assert (routes["csv"].files, routes["csv"].ended, routes["csv"].succeeded) == (4, 2, 1)
    assert routes["csv"].success_rate == 0.5
    assert routes["csv"].median_seconds == 30.0
    assert (routes["none"].files, routes["none"].success_rate) == (1, 0.0)
    assert data.pool.error is None and data.pool.nodes is not None
    assert data.alerts == []


def test_a_failed_run_that_was_quarantined_points_at_the_failed_container(
    live_stack: Stack,
) -> None:
    site = isolated(live_stack)
    run = site.write_run(
        "bad.csv", RunState.FAILED, "crashed after 3 attempts; quarantined in failed", attempt=3
    )

    (problem,) = gather(site.pipeline, utcnow()).problems

    assert problem.places == (
        f"failed/{run.name}/{run.key}/",
        f"logs/{run.name}/{run.key}/attempt-3/",
    )


def test_when_batch_cannot_be_read_the_page_still_shows_the_rest_and_says_so(
    live_stack: Stack,
) -> None:
    site = isolated(live_stack, DROPBATCH_BATCH_URL=f"http://127.0.0.1:{free_port()}")
    site.write_run("ok.csv", RunState.SUCCEEDED)

    data = gather(site.pipeline, utcnow())
    html = status_html(data)

    assert data.pool.nodes is None and data.pool.error is not None
    assert "Batch unreachable" in data.pool.error
    assert "Batch could not be read" in html
    assert data.counts["succeeded"] == 1


def test_markup_in_a_reason_is_escaped_in_the_html(live_stack: Stack) -> None:
    site = isolated(live_stack)
    site.write_run("x.csv", RunState.FAILED, "<img src=x onerror=alert(1)> & more")

    html = status_html(gather(site.pipeline, utcnow()))

    assert "&lt;img src=x onerror=alert(1)&gt; &amp; more" in html
    assert "<img" not in html


def test_a_fan_out_file_shows_its_members_done_of_the_total() -> None:
    # Given a fan-out file with 7 of its 20 members ended (one failed), 2 running
    p = memory_pipeline()
    now = p.clock.now()
    state = FanoutState(
        phase="running", count=20, created=20, succeeded=6, running=2, ended=(4,),
        failures=(Failure(4, "failed", "exit 1"),),
    )  # fmt: skip
    run = Run(
        key="f" * 40, container="incoming", name="sweeps/s.json", etag="0x1", size=10,
        route="sum-of-powers", state=RunState.RUNNING, reason="members running",
        created_at=now, updated_at=now, fanout=state.to_dict(),
    )  # fmt: skip
    p.ledger.create(run)

    # When the page is gathered and drawn
    data = gather(p, now)
    page = status_html(data)

    # Then the file is listed with 7/20 members done and 1 failed
    (figures,) = data.fanouts
    assert (figures.done, figures.members, figures.failed, figures.running) == (7, 20, 1, 2)
    assert "sweeps/s.json" in page and ">7/20<" in page
