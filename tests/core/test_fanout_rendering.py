"""The plan, member and merge tasks every example fan-out route renders, checked against the
Batch REST description's request schema, as the single-task routes are: what dropbatch sends
for a fan-out is a valid TaskAdd body, with no secret in it. On the twins: no server."""

from __future__ import annotations

import json

import pytest

from batch_core.fanoutspec import content_names, plan_spec
from batch_core.fanoutstate import FanoutState
from batch_core.fanouttasks import MemberResources, member_task, merge_task, plan_task
from batch_core.keys import file_key
from batch_core.routebook import Route, Routebook
from batch_core.run import Run
from batch_core.states import RunState
from batch_core.submission import pool_for
from batch_core.testing import memory_pipeline
from tests.core.test_task_rendering import books, sample_name, validate_task
from worker.contract import FANOUT_SPEC


def fanouts() -> list[tuple[str, Routebook, Route]]:
    return [
        (f"{w}: {r.name}", b, r)
        for w, b, r in ((w, b, r) for w, b in books() for r in b.routes)
        if r.fanout
    ]


@pytest.mark.parametrize(
    ("book", "route"), [(b, r) for _, b, r in fanouts()], ids=[i for i, _, _ in fanouts()]
)
def test_every_example_fanout_renders_valid_plan_member_and_merge_tasks(
    book: Routebook, route: Route
) -> None:
    p = memory_pipeline(routes=book)
    p.blobs.containers.setdefault(p.settings.container_config, {})
    for task in (route.task, route.merge):
        for spec in task.resource_files if task else []:
            if spec.source.startswith("config:"):
                path = spec.source.removeprefix("config:")
                p.blobs.put(
                    p.settings.container_config,
                    path + ("main.py" if path.endswith("/") else ""),
                    b"x",
                )
    name = sample_name(route)
    blob = p.blobs.put(p.settings.container_incoming, name, b"data")
    key = file_key(p.blobs.account, blob.container, name, blob.etag)
    now = p.clock.now()
    run = Run(
        key=key, container=blob.container, name=name, etag=blob.etag, size=4, route=route.name,
        state=RunState.RUNNING, reason="", created_at=now, updated_at=now, attempt=1,
        job_id="dropbatch-fan-0123456789abcdef", fanout={},
    )  # fmt: skip
    values = {n: ["sample-0"] * 3 for n in content_names(route)}
    state = FanoutState(phase="creating", count=3)

    plan = plan_task(p, run, route, pool_for(p, route), 1).as_dict()
    member = member_task(p, run, route, state, 2, values, MemberResources(p, run, None, False))
    bodies = [plan, member.as_dict()]
    if route.merge is not None:
        bodies.append(merge_task(p, run, route, 3, MemberResources(p, run, None, True)).as_dict())

    for body in bodies:
        validate_task(body)
        text = json.dumps(body)
        assert "sig=" not in text and "AccountKey" not in text
    assert bodies[1]["id"] == "2"
    spec = {e["name"]: e["value"] for e in plan["environmentSettings"]}[FANOUT_SPEC]
    assert json.loads(spec) == plan_spec(route)
    if route.merge is not None:
        assert bodies[2]["dependsOn"] == {"taskIdRanges": [{"start": 0, "end": 2}]}


def test_a_member_whose_route_lists_success_codes_satisfies_the_merge_with_them() -> None:
    from batch_core.routebook import parse_routes

    book = parse_routes(
        """
version = 1
[[route]]
name = "r"
match = ["r/*.json"]
kind = "command"
exit_codes = { success = [5] }
[route.fanout]
source = "range"
range = { stop = 3 }
[route.task]
command = "probe {index}"
[route.merge]
command = "merge"
"""
    )
    route = book.routes[0]
    p = memory_pipeline(routes=book)
    now = p.clock.now()
    run = Run(
        key="ab" * 20, container="incoming", name="r/a.json", etag="e", size=1, route="r",
        state=RunState.RUNNING, reason="", created_at=now, updated_at=now, fanout={},
    )  # fmt: skip
    body = member_task(
        p, run, route, FanoutState(count=3), 1, {}, MemberResources(p, run, None, False)
    ).as_dict()
    validate_task(body)
    assert body["commandLine"] == "probe 1"
    assert body["exitConditions"] == {
        "exitCodes": [{"code": 5, "exitOptions": {"dependencyAction": "satisfy"}}]
    }
