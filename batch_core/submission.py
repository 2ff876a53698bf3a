"""Submission: the Batch task of a run's attempt, built by its route's kind, on the job of
the day of the route's pool. Every task uploads its stdout and stderr to
`logs/<name>/<file key>/attempt-N/` through Batch output files; no task carries a secret."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from azure.batch import models

from batch_core import telemetry
from batch_core.commandtask import command_task, wall_clock
from batch_core.errors import PermanentError
from batch_core.jobs import job_id_for
from batch_core.keys import task_id
from batch_core.pipeline import Pipeline
from batch_core.pools import PoolPlan, worker_command_for
from batch_core.routebook import Route, builtin_routebook, worker_env
from batch_core.run import Run
from batch_core.taskfiles import log_outputs
from worker.contract import (
    ATTEMPT,
    BLOB_ENDPOINT,
    CONTAINER_INCOMING,
    CONTAINER_LOGS,
    CONTAINER_RESULTS,
    COSMOS_DATABASE,
    COSMOS_ENDPOINT,
    FILE_KEY,
    IDENTITY_CLIENT_ID,
    INPUT_BLOB,
    INPUT_CONTAINER,
    INPUT_ETAG,
    ROUTE,
    attempt_log_prefix,
)

__all__ = ["job_for", "job_id_for", "pool_for", "route_of", "task_for"]


def route_of(p: Pipeline, run: Run) -> Route:
    """The route `run` was received on. A run recorded before the routes file changed keeps
    working when its route is a built-in one; otherwise the error says what to do."""
    try:
        return p.routes.route(run.route)
    except KeyError:
        pass
    try:
        return builtin_routebook(p.settings.worker_settings).route(run.route)
    except KeyError:
        where = p.routes.source or "the built-in routes"
        raise PermanentError(
            f"route {run.route!r} of {run.name} is not in {where} any more; put it back, or "
            "upload the file again to route it anew"
        ) from None


def job_for(p: Pipeline, route: Route, day: dt.date) -> str:
    """The job of `day` on the pool `route` runs on."""
    return job_id_for(p.settings, day, p.routes.pool_alias(route))


def pool_for(p: Pipeline, route: Route) -> PoolPlan:
    """The plan of the pool `route` runs on."""
    return p.pools[p.routes.pool_alias(route)]


def task_for(p: Pipeline, run: Run, attempt: int) -> models.BatchTaskCreateOptions:
    """The task of attempt `attempt` of `run`, as its route's kind builds it."""
    route = route_of(p, run)
    return BUILDERS[route.kind](p, run, route, attempt)


def builtin_task(
    p: Pipeline, run: Run, route: Route, attempt: int
) -> models.BatchTaskCreateOptions:
    """The worker (`python -m worker`) running the built-in zip or csv program. Its command
    line and environment hold names and endpoints only: the worker gets credentials from the
    node (identity or node file). The environment's names are the task contract's."""
    s = p.settings
    options = route.csv if route.kind == "csv" else route.zip
    env = {
        ROUTE: route.kind,
        FILE_KEY: run.key,
        INPUT_CONTAINER: run.container,
        INPUT_BLOB: run.name,
        INPUT_ETAG: run.etag,
        ATTEMPT: str(attempt),
        BLOB_ENDPOINT: s.blob_endpoint,
        COSMOS_ENDPOINT: s.cosmos_endpoint,
        COSMOS_DATABASE: s.cosmos_database,
        CONTAINER_INCOMING: s.container_incoming,
        CONTAINER_RESULTS: s.container_results,
        CONTAINER_LOGS: s.container_logs,
        **dict(s.worker_settings),
        **(worker_env(options) if options is not None else {}),
        **telemetry.task_environment(),
    }
    if s.worker_identity_client_id:
        env[IDENTITY_CLIENT_ID] = s.worker_identity_client_id
    return models.BatchTaskCreateOptions(
        id=task_id(run.name, run.key, attempt),
        display_name=f"{route.name} {run.name}"[:1024],
        command_line=worker_command_for(pool_for(p, route), s),
        environment_settings=[
            models.EnvironmentSetting(name=k, value=v) for k, v in sorted(env.items())
        ],
        output_files=log_outputs(s, attempt_log_prefix(run.name, run.key, attempt)),
        constraints=models.BatchTaskConstraints(
            max_wall_clock_time=wall_clock(p, route),
            # Retries are the reconciler's: it knows which exit codes are worth another try.
            max_task_retry_count=0,
        ),
    )


Builder = Callable[[Pipeline, Run, Route, int], models.BatchTaskCreateOptions]
BUILDERS: dict[str, Builder] = {"zip": builtin_task, "csv": builtin_task, "command": command_task}
