"""Submission: one Batch task per file version, on the job of the day."""

from __future__ import annotations

import datetime as dt

from azure.batch import models

from batch_core.keys import task_id
from batch_core.run import Run
from batch_core.settings import Settings
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
)


def job_id_for(settings: Settings, day: dt.date) -> str:
    return f"{settings.batch_job_prefix}-{day:%Y%m%d}"


def task_for(run: Run, attempt: int, settings: Settings) -> models.BatchTaskCreateOptions:
    """The task that processes `run`. Its command line and environment hold names and
    endpoints only: the worker gets credentials from the node (identity or node file). The
    environment's names are the task contract's (`worker.contract`)."""
    env = {
        ROUTE: run.route,
        FILE_KEY: run.key,
        INPUT_CONTAINER: run.container,
        INPUT_BLOB: run.name,
        INPUT_ETAG: run.etag,
        ATTEMPT: str(attempt),
        BLOB_ENDPOINT: settings.blob_endpoint,
        COSMOS_ENDPOINT: settings.cosmos_endpoint,
        COSMOS_DATABASE: settings.cosmos_database,
        CONTAINER_INCOMING: settings.container_incoming,
        CONTAINER_RESULTS: settings.container_results,
        CONTAINER_LOGS: settings.container_logs,
        **dict(settings.worker_settings),
    }
    if settings.worker_identity_client_id:
        env[IDENTITY_CLIENT_ID] = settings.worker_identity_client_id
    return models.BatchTaskCreateOptions(
        id=task_id(run.name, run.key, attempt),
        display_name=f"{run.route} {run.name}"[:1024],
        command_line=settings.worker_command,
        environment_settings=[
            models.EnvironmentSetting(name=k, value=v) for k, v in sorted(env.items())
        ],
        constraints=models.BatchTaskConstraints(
            max_wall_clock_time=dt.timedelta(seconds=settings.task_max_seconds),
            # Retries are the reconciler's: it knows which exit codes are worth another try.
            max_task_retry_count=0,
        ),
    )
