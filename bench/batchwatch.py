"""A Batch client for the benchmarks' own look-ups, counting its requests per operation so they
can be taken out of the service's totals (the pipeline's requests are what is measured)."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from azure.batch import BatchClient
from azure.core.credentials import AzureNamedKeyCredential

from devstack.batchsvc import routes
from devstack.stack import Stack


@dataclass(frozen=True)
class TaskView:
    id: str
    state: str
    created: dt.datetime | None
    ended: dt.datetime | None
    exit_code: int | None


class BatchWatch:
    """Lists jobs and tasks; `own` counts every request it sent, by Batch operation."""

    def __init__(self, stack: Stack) -> None:
        values = stack.values
        self.own: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._client = BatchClient(
            values["DROPBATCH_BATCH_URL"],
            AzureNamedKeyCredential(
                values["DROPBATCH_BATCH_ACCOUNT"], values["DROPBATCH_BATCH_KEY"]
            ),
            raw_request_hook=self._count,
        )

    def _count(self, pipeline_request: Any) -> None:
        request = pipeline_request.http_request
        found = routes.match(request.method, urlsplit(request.url).path)
        with self._lock:
            self.own[found[0].operation if found else "Unknown"] += 1

    @property
    def client(self) -> BatchClient:
        return self._client

    def job_ids(self, prefix: str) -> list[str]:
        return [
            str(j.id)
            for j in self._client.list_jobs(select=["id"])
            if j.id and j.id.startswith(prefix)
        ]

    def task_ids(self, job_id: str) -> list[str]:
        return [str(t.id) for t in self._client.list_tasks(job_id, select=["id"])]

    def tasks(self, job_id: str) -> list[TaskView]:
        views = []
        for t in self._client.list_tasks(
            job_id, select=["id", "state", "creationTime", "executionInfo"]
        ):
            info = t.execution_info
            views.append(
                TaskView(
                    id=str(t.id),
                    state=str(getattr(t.state, "value", t.state)),
                    created=t.creation_time,
                    ended=info.end_time if info is not None else None,
                    exit_code=info.exit_code if info is not None else None,
                )
            )
        return views

    def close(self) -> None:
        self._client.close()
