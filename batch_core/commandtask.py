"""A `command` route's task: the user's command line, environment, resource files and
output files rendered from the route for one dropped file. The dropped file reaches the task
pinned to the version the trigger saw (a snapshot taken with If-Match on its etag); every
file transfer is authorized by the pool identity, never by a SAS or a key."""

from __future__ import annotations

import datetime as dt
import posixpath
from collections.abc import Mapping

from azure.batch import models

from batch_core.errors import PermanentError
from batch_core.keys import task_id
from batch_core.pipeline import Pipeline
from batch_core.routebook import Route, Task, render
from batch_core.routebook.sources import split_destination, split_source
from batch_core.run import Run
from batch_core.taskfiles import blob_resource, blob_url, log_outputs, output
from worker.contract import (
    ATTEMPT,
    FILE_KEY,
    INPUT_BLOB,
    INPUT_CONTAINER,
    ROUTE,
    attempt_log_prefix,
    output_prefix,
)

# A prefix source becomes one resource file per blob: more than this is a mistake in the
# routes file (a task definition has a size limit), reported instead of submitted.
MAX_PREFIX_FILES = 1000


def placeholder_values(run: Run, route: Route) -> dict[str, str]:
    """The values every task of `run` may use (see docs/ROUTES.md, Placeholders)."""
    base = run.name.rsplit("/", 1)[-1]
    stem, ext = posixpath.splitext(base)
    values = {
        "name": run.name,
        "base": base,
        "stem": stem,
        "ext": ext,
        "dir": posixpath.dirname(run.name),
        "container": run.container,
        "file_key": run.key,
        "key12": run.key[:12],
        "route": route.name,
        "results": output_prefix(run.name, run.key),
    }
    values.update({f"var.{k}": v for k, v in route.vars.items()})
    return values


def command_task(
    p: Pipeline, run: Run, route: Route, attempt: int
) -> models.BatchTaskCreateOptions:
    """The Batch task of attempt `attempt` of `run` on command route `route`. Raises
    UnsafeValueError when the blob name cannot go into the command line, VanishedError-like
    NotFound when the file changed since its trigger."""
    task = route.task
    if task is None:
        raise PermanentError(f"route {route.name!r} has no [route.task]")
    return render_task(
        p,
        run,
        route,
        task,
        placeholder_values(run, route),
        task_id(run.name, run.key, attempt),
        attempt_log_prefix(run.name, run.key, attempt),
        Resources(p, run),
        attempt=attempt,
    )


class Resources:
    """Where a task's resource sources come from: the dropped file pinned by a snapshot,
    `config:` and `results:` blobs (a prefix: one file per blob), `https://` as it is."""

    def __init__(self, p: Pipeline, run: Run) -> None:
        self.p = p
        self.run = run

    def resolve(self, kind: str, rest: str, path: str) -> list[models.ResourceFile]:
        """The resource files one source of the task stands for, placed at `path`."""
        p, run = self.p, self.run
        if kind == "input":
            url = blob_url(p.settings, run.container, run.name, self.snapshot())
            return [blob_resource(p.settings, url, path)]
        if kind == "https":
            return [models.ResourceFile(http_url=rest, file_path=path)]
        if kind in ("config", "results"):
            container = (
                p.settings.container_config if kind == "config" else p.settings.container_results
            )
            return _from_container(p, container, rest, path)
        raise PermanentError(f"resource source {kind}:{rest} is for fan-out members only")

    def snapshot(self) -> str:
        """A snapshot of the dropped file at the run's etag (VanishedError if it changed)."""
        return self.p.blobs.snapshot(self.run.container, self.run.name, self.run.etag)


def render_task(
    p: Pipeline,
    run: Run,
    route: Route,
    task: Task,
    values: Mapping[str, str],
    tid: str,
    logs: str,
    resources: Resources,
    attempt: int | None = None,
) -> models.BatchTaskCreateOptions:
    """A task of `route` rendered with `values`; stdout and stderr go to `logs/<logs>/`."""
    env = {k: render(v, values) for k, v in task.env.items()}
    env.update(
        {ROUTE: route.name, FILE_KEY: run.key, INPUT_CONTAINER: run.container, INPUT_BLOB: run.name}
    )
    if attempt is not None:
        env[ATTEMPT] = str(attempt)
    files: list[models.ResourceFile] = []
    for spec in task.resource_files:
        kind, rest = split_source(render(spec.source, values))
        files.extend(resources.resolve(kind, rest, render(spec.path, values)))
    return models.BatchTaskCreateOptions(
        id=tid,
        display_name=f"{route.name} {run.name}"[:1024],
        command_line=render(task.command, values, command_line=True),
        environment_settings=[
            models.EnvironmentSetting(name=k, value=v) for k, v in sorted(env.items())
        ],
        resource_files=files,
        output_files=[*_outputs(p, task, values), *log_outputs(p.settings, logs)],
        constraints=models.BatchTaskConstraints(
            max_wall_clock_time=wall_clock(p, route, task),
            retention_time=task.retention,
            max_task_retry_count=0,  # retries are the reconciler's, by exit code
        ),
        required_slots=task.required_slots,
        container_settings=_container(task),
        user_identity=(
            models.UserIdentity(
                auto_user=models.AutoUserSpecification(
                    scope=models.AutoUserScope.TASK,
                    elevation_level=models.ElevationLevel.ADMIN,
                )
            )
            if task.elevated
            else None
        ),
    )


def wall_clock(p: Pipeline, route: Route, task: Task | None = None) -> dt.timedelta:
    """The task's limit: the task's, else the route's, else `[defaults]`, else the setting."""
    for limit in (
        task.max_wall_clock if task else None,
        route.max_wall_clock,
        p.routes.defaults.max_wall_clock,
    ):
        if limit is not None:
            return limit
    return dt.timedelta(seconds=p.settings.task_max_seconds)


def _from_container(
    p: Pipeline, container: str, source: str, path: str
) -> list[models.ResourceFile]:
    """One file, or every blob under a prefix placed under the folder `path` by its name
    relative to the prefix (what a user means by `config:app/` → `app/`)."""
    if not source.endswith("/"):
        return [blob_resource(p.settings, blob_url(p.settings, container, source), path)]
    names = [b.name for b in p.blobs.list(container, prefix=source)]
    if not names:
        raise PermanentError(
            f"{container}/{source} is empty: push the files with "
            f"`dropbatch assets push DIR {source}`"
        )
    if len(names) > MAX_PREFIX_FILES:
        raise PermanentError(
            f"{container}/{source} holds {len(names)} blobs; at most {MAX_PREFIX_FILES} "
            "may be staged for one task (zip them, or name a narrower prefix)"
        )
    return [
        blob_resource(
            p.settings,
            blob_url(p.settings, container, name),
            path.rstrip("/") + "/" + name[len(source) :],
        )
        for name in names
    ]


def _outputs(p: Pipeline, task: Task, values: Mapping[str, str]) -> list[models.OutputFile]:
    found = []
    for spec in task.outputs:
        kind, rest = split_destination(render(spec.to, values))
        container = p.settings.container_results if kind == "results" else p.settings.container_logs
        found.append(output(p.settings, render(spec.pattern, values), container, rest, spec.upload))
    return found


def _container(task: Task) -> models.BatchTaskContainerSettings | None:
    if task.container is None:
        return None
    return models.BatchTaskContainerSettings(
        image_name=task.container.image,
        container_run_options=task.container.run_options or None,
        working_directory=(
            models.ContainerWorkingDirectory.TASK_WORKING_DIRECTORY
            if task.container.working_directory == "task"
            else models.ContainerWorkingDirectory.CONTAINER_IMAGE_DEFAULT
        ),
    )
