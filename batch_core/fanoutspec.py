"""What a fan-out file's plan task is told (`python -m worker plan`, environment variable
`DROPBATCH_FANOUT_SPEC`): its route's `[route.fanout]` as JSON, with the entries glob as a
regular expression and the member placeholders whose values the plan must collect and check.
Names and limits only: no secret, no file content."""

from __future__ import annotations

import json
from typing import Any

from batch_core.routebook import Route, Task
from batch_core.routebook.globs import compile_glob
from batch_core.routebook.placeholders import is_untrusted, names_in
from batch_core.routebook.sources import split_source
from batch_core.routebook.tasks import Fanout

# Placeholders whose values come from the file's content, one per member.
_CONTENT_PREFIXES = ("item.", "row.")


def fanout_of(route: Route) -> Fanout:
    """The route's [route.fanout] (ValueError on a route without one)."""
    if route.fanout is None:
        raise ValueError(f"route {route.name!r} has no [route.fanout]")
    return route.fanout


def member_task(route: Route) -> Task:
    """The task every member of the route runs (ValueError without [route.task])."""
    if route.task is None:
        raise ValueError(f"route {route.name!r} has no [route.task]")
    return route.task


def _templates(task: Task) -> list[str]:
    found = [task.command, *task.env.values()]
    for f in task.resource_files:
        found += [f.source, f.path]
    for o in task.outputs:
        found += [o.pattern, o.to]
    return found


def content_names(route: Route) -> list[str]:
    """The member placeholders taken from the file's content ({item.x}, {row.x}, {entry})
    that the member task uses anywhere: their values go into plan.json."""
    names = {n for t in _templates(member_task(route)) for n in names_in(t)}
    return sorted(n for n in names if _is_content(n))


def _is_content(name: str) -> bool:
    return is_untrusted(name) and (name == "entry" or name.startswith(_CONTENT_PREFIXES))


def command_line_names(route: Route) -> list[str]:
    """Those of `content_names` in the command line: each value must be safe there."""
    return sorted(n for n in names_in(member_task(route).command) if _is_content(n))


def member_sources(route: Route) -> set[str]:
    """Which member:<what> sources the member task stages (input, params, global)."""
    found = set()
    for f in member_task(route).resource_files:
        kind, what = split_source(f.source)
        if kind == "member":
            found.add(what)
    return found


def needs_plan(route: Route) -> bool:
    """A range without member:params needs no plan task: its members are known already."""
    return fanout_of(route).source != "range" or "params" in member_sources(route)


def plan_spec(route: Route) -> dict[str, Any]:
    """The JSON the plan task reads (see worker/plan.py)."""
    fanout = fanout_of(route)
    sources = member_sources(route)
    return {
        "route": route.name,
        "source": fanout.source,
        "entries": compile_glob(fanout.entries).pattern if fanout.entries else None,
        "range": [fanout.range.start, fanout.range.stop] if fanout.range else None,
        "max_members": fanout.max_members,
        "allow_empty": fanout.allow_empty,
        "fields": {
            name: field.model_dump(exclude_none=True) for name, field in fanout.fields.items()
        },
        "values": content_names(route),
        "command_line": command_line_names(route),
        "write_params": "params" in sources,
        "write_global": "global" in sources,
        "write_input": "input" in sources,
    }


def plan_spec_json(route: Route) -> str:
    """The plan task's spec as the compact JSON its environment carries."""
    return json.dumps(plan_spec(route), sort_keys=True, separators=(",", ":"))
