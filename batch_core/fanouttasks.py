"""The tasks of a fan-out file's job: the plan task (`python -m worker plan` on the route's
pool), member tasks `0`…`N-1` (the route's `[route.task]` with member placeholders and
`member:*` sources) and the `merge` task (after every member, through one `taskIdRanges`
dependency). Members share one listing of each `config:` prefix and one snapshot of the
input per tick; the merge's `results:` prefixes are staged by Batch when it starts."""

from __future__ import annotations

from collections.abc import Mapping

from azure.batch import models

from batch_core.commandtask import Resources, placeholder_values, render_task
from batch_core.fanoutspec import plan_spec_json
from batch_core.fanoutstate import FanoutState
from batch_core.pipeline import Pipeline
from batch_core.pools import PoolPlan
from batch_core.routebook import Route
from batch_core.run import Run
from batch_core.startscript import venv_python_command
from batch_core.submission import builtin_task
from batch_core.taskfiles import container_url, identity
from worker.contract import (
    FANOUT_SPEC,
    GLOBAL_FILE,
    MEMBER_INPUT_FILE,
    MEMBERS_FOLDER,
    PARAMS_FILE,
    member_prefix,
    output_prefix,
)

MERGE_TASK = "merge"
MEMBER_FILES = {"params": PARAMS_FILE, "input": MEMBER_INPUT_FILE}


def plan_task_id(attempt: int) -> str:
    """The id of the plan task of `attempt` in the file's job."""
    return "plan" if attempt <= 1 else f"plan-a{attempt}"


def plan_command(pool: PoolPlan, worker_command: str) -> str:
    """`python -m worker plan`, as the route's pool runs the worker (its venv, else the
    image's command)."""
    if pool.worker_wheel:
        return venv_python_command("-m worker plan")
    return f"{worker_command} plan"


def plan_task(
    p: Pipeline, run: Run, route: Route, pool: PoolPlan, attempt: int
) -> models.BatchTaskCreateOptions:
    """The worker reading the file at its etag and writing the members' files and
    plan.json; its environment holds names, endpoints and the fan-out spec only."""
    task = builtin_task(p, run, route, attempt)
    task.id = plan_task_id(attempt)
    task.display_name = f"{route.name} plan {run.name}"[:1024]
    task.command_line = plan_command(pool, p.settings.worker_command)
    task.environment_settings = [
        *(task.environment_settings or []),
        models.EnvironmentSetting(name=FANOUT_SPEC, value=plan_spec_json(route)),
    ]
    return task


class MemberResources(Resources):
    """Sources of member and merge tasks: `member:*` blobs the plan wrote, a shared input
    snapshot, `config:` prefixes listed once; in the merge, `results:` prefixes staged at
    run time (storageContainerUrl + blobPrefix: each blob keeps its full name under the
    folder)."""

    def __init__(self, p: Pipeline, run: Run, snapshot: str | None, merge: bool) -> None:
        super().__init__(p, run)
        self.index = 0
        self.merge = merge
        self._snapshot = snapshot
        self._listed: dict[tuple[str, str, str], list[models.ResourceFile]] = {}

    def snapshot(self) -> str:
        """One snapshot of the dropped file for every member of the tick (taken once)."""
        if self._snapshot is None:
            self._snapshot = super().snapshot()
        return self._snapshot

    @property
    def taken(self) -> str | None:
        """The snapshot taken, if any (saved with the watermark)."""
        return self._snapshot

    def resolve(self, kind: str, rest: str, path: str) -> list[models.ResourceFile]:
        """A source of a member task: `member:*` from what the plan wrote, else as any task."""
        s = self.p.settings
        if kind == "member":
            results = output_prefix(self.run.name, self.run.key)
            if rest == "global":
                blob = f"{results}/{GLOBAL_FILE}"
            else:
                blob = (
                    f"{member_prefix(self.run.name, self.run.key, self.index)}/{MEMBER_FILES[rest]}"
                )
            return super().resolve("results", blob, path)
        if self.merge and kind == "results" and rest.endswith("/"):
            return [
                models.ResourceFile(
                    storage_container_url=container_url(s, s.container_results),
                    blob_prefix=rest,
                    file_path=path.rstrip("/") or None,
                    identity_reference=identity(s),
                )
            ]
        if kind in ("config", "results") and rest.endswith("/"):
            key = (kind, rest, path)
            if key not in self._listed:
                self._listed[key] = super().resolve(kind, rest, path)
            return self._listed[key]
        return super().resolve(kind, rest, path)


def member_values(
    run: Run, route: Route, count: int, index: int, values: Mapping[str, list[str]]
) -> dict[str, str]:
    """The placeholder values of member `index` of `count`: the file's, plus {index},
    {count}, {member} and the member's declared {item.x}/{row.x}/{entry} values."""
    found = placeholder_values(run, route)
    found.update({"index": str(index), "count": str(count), "member": f"{MEMBERS_FOLDER}/{index}"})
    found.update({name: column[index] for name, column in values.items()})
    return found


def member_task(
    p: Pipeline,
    run: Run,
    route: Route,
    state: FanoutState,
    index: int,
    values: Mapping[str, list[str]],
    resources: MemberResources,
) -> models.BatchTaskCreateOptions:
    """Member `index`: task id `<index>`; stdout/stderr of its latest attempt go to
    `logs/<name>/<file key>/members/<index>/` (failed attempts are kept in attempt-N/)."""
    assert route.task is not None and state.count is not None
    resources.index = index
    task = render_task(
        p,
        run,
        route,
        route.task,
        member_values(run, route, state.count, index, values),
        str(index),
        member_prefix(run.name, run.key, index),
        resources,
    )
    if route.exit_codes.success:
        # Batch blocks dependants of any exit code but 0: the route's own success codes
        # must let the merge run too.
        task.exit_conditions = models.ExitConditions(
            exit_codes=[
                models.ExitCodeMapping(
                    code=code, exit_options=models.ExitOptions(dependency_action="satisfy")
                )
                for code in route.exit_codes.success
            ]
        )
    return task


def merge_task(
    p: Pipeline, run: Run, route: Route, count: int, resources: MemberResources
) -> models.BatchTaskCreateOptions:
    """The merge: runs once every member in 0..count-1 has succeeded (or, tolerated, was
    taken out of the job)."""
    assert route.merge is not None
    values = placeholder_values(run, route) | {"count": str(count)}
    task = render_task(
        p,
        run,
        route,
        route.merge,
        values,
        MERGE_TASK,
        f"{output_prefix(run.name, run.key)}/{MERGE_TASK}",
        resources,
    )
    task.depends_on = models.BatchTaskDependencies(
        task_id_ranges=[models.BatchTaskIdRange(start=0, end=count - 1)]
    )
    return task
