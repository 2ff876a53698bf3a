"""Files of a Batch task as dropbatch writes them: blob URLs with no SAS, authorized by the
pool's identity (`identityReference`), and every attempt's stdout/stderr uploaded to `logs`
through Batch output files. Nothing here puts a key or a token into a task."""

from __future__ import annotations

from typing import Literal
from urllib.parse import quote

from azure.batch import models

from batch_core.settings import Settings
from worker.contract import TASK_LOG_FILES

Upload = Literal["task_success", "task_failure", "task_completion"]
UPLOAD_CONDITIONS = {
    "task_success": models.OutputFileUploadCondition.TASK_SUCCESS,
    "task_failure": models.OutputFileUploadCondition.TASK_FAILURE,
    "task_completion": models.OutputFileUploadCondition.TASK_COMPLETION,
}


def container_url(settings: Settings, container: str) -> str:
    """The URL of a container of the storage account."""
    return f"{settings.blob_endpoint.rstrip('/')}/{container}"


def blob_url(settings: Settings, container: str, name: str, snapshot: str | None = None) -> str:
    """The URL of a blob (of one snapshot of it, when given)."""
    url = f"{container_url(settings, container)}/{quote(name)}"
    return f"{url}?snapshot={quote(snapshot)}" if snapshot else url


def identity(settings: Settings) -> models.BatchNodeIdentityReference | None:
    """The pool identity that authorizes the task's blob transfers (None: unset, so only a
    pool whose files need no authorization works — `dropbatch doctor` says so)."""
    if not settings.worker_identity_id:
        return None
    return models.BatchNodeIdentityReference(resource_id=settings.worker_identity_id)


def blob_resource(settings: Settings, url: str, path: str) -> models.ResourceFile:
    """A task resource file downloaded from `url` to `path` as the worker identity (never with a
    SAS)."""
    return models.ResourceFile(http_url=url, file_path=path, identity_reference=identity(settings))


def output(
    settings: Settings, pattern: str, container: str, path: str, upload: Upload
) -> models.OutputFile:
    """Upload what `pattern` matches to `container/path` (the blob for one file, the folder
    prefix for a wildcard pattern) when `upload` holds."""
    return models.OutputFile(
        file_pattern=pattern,
        destination=models.OutputFileDestination(
            container=models.OutputFileBlobContainerDestination(
                container_url=container_url(settings, container),
                path=path.strip("/"),
                identity_reference=identity(settings),
            )
        ),
        upload_options=models.OutputFileUploadConfiguration(
            upload_condition=UPLOAD_CONDITIONS[upload]
        ),
    )


def log_outputs(settings: Settings, prefix: str) -> list[models.OutputFile]:
    """stdout.txt and stderr.txt of the attempt (they live in the task directory, one level
    above the working directory) to `logs/<prefix>/`, whatever the exit code."""
    return [
        output(
            settings, f"../{name}", settings.container_logs, f"{prefix}/{name}", "task_completion"
        )
        for name in TASK_LOG_FILES
    ]
