"""Checks across tables of a parsed routes file: pool aliases, route names, children,
placeholders and member sources. Each problem is (location, reason); the first is reported."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from batch_core.routebook import placeholders as ph
from batch_core.routebook.model import Route, RoutesFile
from batch_core.routebook.pools import DEFAULT_POOL
from batch_core.routebook.sources import split_source
from batch_core.routebook.tasks import Task

Loc = tuple[str | int, ...]
Problem = tuple[Loc, str]
# Which fan-out sources give each member:<what> source a value.
MEMBER_SOURCES = {"input": ("entries",), "params": ("items", "rows", "range"), "global": ("items",)}
NO_PLACEHOLDERS = "start tasks run once per node, not per file: no placeholders"


def problems(doc: RoutesFile) -> Iterator[Problem]:
    """Every cross-table problem of `doc`, in file order."""
    aliases = sorted({DEFAULT_POOL, *doc.pool})
    yield from _pools(doc)
    if doc.defaults.pool not in aliases:
        yield ("defaults", "pool"), _unknown_pool(doc.defaults.pool, aliases)
    names: dict[str, int] = {}
    kinds = {r.name: r.kind for r in doc.route}
    for i, route in enumerate(doc.route):
        at: Loc = ("route", i)
        if route.name in names:
            yield (
                (*at, "name"),
                f"duplicate: route #{names[route.name] + 1} is also called '{route.name}'",
            )
        names.setdefault(route.name, i)
        alias = route.pool or doc.defaults.pool
        pool = doc.pool.get(alias)
        if alias not in aliases:
            yield (*at, "pool"), _unknown_pool(alias, aliases)
        elif route.kind != "command" and pool is not None and not pool.installs_worker(alias):
            yield (
                (*at, "pool"),
                (
                    f"pool '{alias}' does not install the worker the built-in {route.kind} "
                    "program needs (set install_worker = true)"
                ),
            )
        if route.children is not None:
            child = kinds.get(route.children)
            if child is None:
                yield (*at, "children"), f"no route is named '{route.children}'"
            elif child == "zip":
                yield (
                    (*at, "children"),
                    f"route '{route.children}' is a zip route; expected csv or command",
                )
        for field in ("task", "merge"):
            task = getattr(route, field)
            if task is None:
                continue
            if task.container is not None and (pool is None or pool.containers is None):
                yield (
                    (*at, field, "container"),
                    (f"pool '{alias}' has no containers table; a container task needs one"),
                )
            yield from _task(route, task, (*at, field), member=field == "task" and route.is_fanout)


def _unknown_pool(alias: str, aliases: list[str]) -> str:
    return f"unknown pool '{alias}'; expected {', '.join(aliases)}"


def _pools(doc: RoutesFile) -> Iterator[Problem]:
    ids: dict[str, str] = {}
    for alias, pool in doc.pool.items():
        at: Loc = ("pool", alias)
        if pool.id is None and alias != DEFAULT_POOL:
            yield (*at, "id"), "required (the Batch pool id); only pool 'default' may leave it out"
        if pool.id is not None:
            if pool.id in ids:
                yield (*at, "id"), f"'{pool.id}' is also the id of pool '{ids[pool.id]}'"
            ids.setdefault(pool.id, alias)
        start = pool.start_task
        if start is not None:
            templates: list[tuple[Loc, str]] = [(("command",), start.command)]
            templates += [(("env", k), v) for k, v in start.env.items()]
            templates += [
                (("resource_files", n, "path"), f.path) for n, f in enumerate(start.resource_files)
            ]
            for loc, template in templates:
                if msg := _placeholder_problem(template, set(), {}, NO_PLACEHOLDERS):
                    yield (*at, "start_task", *loc), msg


def _task(route: Route, task: Task, at: Loc, *, member: bool) -> Iterator[Problem]:
    allowed, hints = _context(route, member=member)
    templates: list[tuple[Loc, str]] = [(("command",), task.command)]
    templates += [(("env", k), v) for k, v in task.env.items()]
    for n, f in enumerate(task.resource_files):
        templates += [
            (("resource_files", n, "source"), f.source),
            (("resource_files", n, "path"), f.path),
        ]
    for n, o in enumerate(task.outputs):
        templates += [(("outputs", n, "pattern"), o.pattern), (("outputs", n, "to"), o.to)]
    for loc, template in templates:
        if msg := _placeholder_problem(template, allowed, hints):
            yield (*at, *loc), msg
    source = route.fanout.source if route.fanout else None
    for n, f in enumerate(task.resource_files):
        kind, what = split_source(f.source)
        if kind != "member":
            continue
        if not member:
            where = "a merge task" if at[-1] == "merge" else "a route without [route.fanout]"
            yield (
                (*at, "resource_files", n, "source"),
                (f"member:{what} is only for fan-out member tasks, not {where}"),
            )
        elif source not in MEMBER_SOURCES[what]:
            yield (
                (*at, "resource_files", n, "source"),
                (f"member:{what} needs fanout.source = {' or '.join(MEMBER_SOURCES[what])}"),
            )


def _context(route: Route, *, member: bool) -> tuple[set[str], dict[str, str]]:
    """The placeholder names a task of `route` may use, and why the others are missing."""
    allowed = set(ph.FILE_NAMES) | {f"var.{k}" for k in route.vars}
    declared = ", ".join(sorted(route.vars))
    hints = {
        "var.": f"not in this route's vars ({declared})" if declared else "this route has no vars"
    }
    fanout = route.fanout
    for name in ph.MEMBER_NAMES:
        hints[name] = "only in the task of a fan-out route"
    if fanout is not None and not member:
        allowed |= set(ph.MERGE_NAMES)
        hints.update(
            {n: "not in a merge task, which runs once for all members" for n in ph.MEMBER_NAMES}
        )
    if member and fanout is not None:
        allowed |= set(ph.MEMBER_NAMES)
        if fanout.source == "entries":
            allowed.add("entry")
        for src, prefix in (("rows", "row."), ("items", "item.")):
            if fanout.source == src:
                allowed |= {prefix + f for f in fanout.fields}
                hints[prefix] = (
                    f"declare the field in [route.fanout.fields] ({prefix[:-1]} fields: "
                    + (", ".join(sorted(fanout.fields)) or "none")
                    + ")"
                )
    hints.setdefault("entry", 'only in fan-out member tasks with source = "entries"')
    hints.setdefault("row.", 'only in fan-out member tasks with source = "rows"')
    hints.setdefault("item.", 'only in fan-out member tasks with source = "items"')
    return allowed, hints


def _placeholder_problem(
    template: str, allowed: set[str], hints: Mapping[str, str], default: str | None = None
) -> str | None:
    try:
        ph.check(template, allowed, hints, default)
    except ValueError as e:
        return str(e)
    return None
