"""The REST routes: method + path template -> operation name and handler."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote

from devstack.batchsvc import jobs, pools, tasks
from devstack.batchsvc.account import Account
from devstack.batchsvc.messages import Request, Response

Handler = Callable[[Account, Request], Response]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    operation: str  # the swagger operationId, used for request statistics
    handler: Handler


def _compile(template: str) -> re.Pattern[str]:
    regex = re.sub(r"\{(\w+)\}", lambda m: f"(?P<{m.group(1)}>[^/]+)", template)
    regex = regex.replace("(?P<filePath>[^/]+)", "(?P<filePath>.+)")
    return re.compile(f"^{regex}$")


_TABLE: list[tuple[str, str, str, Handler]] = [
    ("POST", "/pools", "Pools_CreatePool", pools.create_pool),
    ("GET", "/pools", "Pools_ListPools", pools.list_pools),
    ("GET", "/pools/{poolId}", "Pools_GetPool", pools.get_pool),
    ("HEAD", "/pools/{poolId}", "Pools_PoolExists", pools.pool_exists),
    ("DELETE", "/pools/{poolId}", "Pools_DeletePool", pools.delete_pool),
    ("POST", "/jobs", "Jobs_CreateJob", jobs.create_job),
    ("GET", "/jobs", "Jobs_ListJobs", jobs.list_jobs),
    ("GET", "/jobs/{jobId}", "Jobs_GetJob", jobs.get_job),
    ("PATCH", "/jobs/{jobId}", "Jobs_UpdateJob", jobs.update_job),
    ("PUT", "/jobs/{jobId}", "Jobs_ReplaceJob", jobs.replace_job),
    ("DELETE", "/jobs/{jobId}", "Jobs_DeleteJob", jobs.delete_job),
    ("POST", "/jobs/{jobId}/terminate", "Jobs_TerminateJob", jobs.terminate_job),
    ("GET", "/jobs/{jobId}/taskcounts", "Jobs_GetJobTaskCounts", jobs.task_counts),
    ("POST", "/jobs/{jobId}/tasks", "Tasks_CreateTask", tasks.create_task),
    ("GET", "/jobs/{jobId}/tasks", "Tasks_ListTasks", tasks.list_tasks),
    (
        "POST",
        "/jobs/{jobId}/addtaskcollection",
        "Tasks_CreateTaskCollection",
        tasks.create_task_collection,
    ),
    ("GET", "/jobs/{jobId}/tasks/{taskId}", "Tasks_GetTask", tasks.get_task),
    ("DELETE", "/jobs/{jobId}/tasks/{taskId}", "Tasks_DeleteTask", tasks.delete_task),
    ("POST", "/jobs/{jobId}/tasks/{taskId}/terminate", "Tasks_TerminateTask", tasks.terminate_task),
    (
        "POST",
        "/jobs/{jobId}/tasks/{taskId}/reactivate",
        "Tasks_ReactivateTask",
        tasks.reactivate_task,
    ),
]

ROUTES = [Route(method, _compile(path), op, handler) for method, path, op, handler in _TABLE]


def match(method: str, raw_path: str) -> tuple[Route, dict[str, str]] | None:
    """The route for a request, with its path arguments decoded; None when nothing matches."""
    path = raw_path.rstrip("/") or "/"
    for route in ROUTES:
        if route.method != method:
            continue
        found = route.pattern.match(path)
        if found:
            return route, {k: unquote(val) for k, val in found.groupdict().items()}
    return None


def path_exists(raw_path: str) -> bool:
    path = raw_path.rstrip("/") or "/"
    return any(route.pattern.match(path) for route in ROUTES)
