"""The REST routes: method + path template -> operation name and handler."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote

from devstack.batchsvc import catalog, computenodes, files, jobs, pools, scaling, tasks
from devstack.batchsvc.account import Account
from devstack.batchsvc.messages import Request, Response

Handler = Callable[[Account, Request], Response]


@dataclass(frozen=True)
class ApiRoute:
    method: str
    pattern: re.Pattern[str]
    operation: str  # the swagger operationId, used for request statistics
    handler: Handler


def _compile(template: str) -> re.Pattern[str]:
    regex = re.sub(r"\{(\w+)\}", lambda m: f"(?P<{m.group(1)}>[^/]+)", template)
    regex = regex.replace("(?P<filePath>[^/]+)", "(?P<filePath>.+)")
    return re.compile(f"^{regex}$")


_J = "/jobs/{jobId}"
_T = "/jobs/{jobId}/tasks/{taskId}"
_P = "/pools/{poolId}"
_N = "/pools/{poolId}/nodes/{nodeId}"

# (operationId, method, path template, handler)
_TABLE: list[tuple[str, str, str, Handler]] = [
    ("Pools_ListSupportedImages", "GET", "/supportedimages", catalog.list_supported_images),
    ("Applications_ListApplications", "GET", "/applications", catalog.list_applications),
    (
        "Applications_GetApplication",
        "GET",
        "/applications/{applicationId}",
        catalog.get_application,
    ),
    ("Pools_ListPoolUsageMetrics", "GET", "/poolusagemetrics", catalog.list_usage_metrics),
    ("Pools_CreatePool", "POST", "/pools", pools.create_pool),
    ("Pools_ListPools", "GET", "/pools", pools.list_pools),
    ("Pools_GetPool", "GET", _P, pools.get_pool),
    ("Pools_PoolExists", "HEAD", _P, pools.pool_exists),
    ("Pools_DeletePool", "DELETE", _P, pools.delete_pool),
    ("Pools_UpdatePool", "PATCH", _P, pools.update_pool),
    (
        "Pools_ReplacePoolProperties",
        "POST",
        f"{_P}/updateproperties",
        pools.replace_pool_properties,
    ),
    ("Pools_ResizePool", "POST", f"{_P}/resize", scaling.resize_pool),
    ("Pools_StopPoolResize", "POST", f"{_P}/stopresize", scaling.stop_resize),
    ("Pools_RemoveNodes", "POST", f"{_P}/removenodes", scaling.remove_nodes),
    ("Pools_EnablePoolAutoScale", "POST", f"{_P}/enableautoscale", scaling.enable_autoscale),
    ("Pools_DisablePoolAutoScale", "POST", f"{_P}/disableautoscale", scaling.disable_autoscale),
    ("Pools_EvaluatePoolAutoScale", "POST", f"{_P}/evaluateautoscale", scaling.evaluate_autoscale),
    ("Nodes_ListNodes", "GET", f"{_P}/nodes", computenodes.list_nodes),
    ("Pools_ListPoolNodeCounts", "GET", "/nodecounts", computenodes.node_counts),
    ("Nodes_GetNode", "GET", _N, computenodes.get_node),
    (
        "Nodes_DisableNodeScheduling",
        "POST",
        f"{_N}/disablescheduling",
        computenodes.disable_scheduling,
    ),
    (
        "Nodes_EnableNodeScheduling",
        "POST",
        f"{_N}/enablescheduling",
        computenodes.enable_scheduling,
    ),
    ("Nodes_RebootNode", "POST", f"{_N}/reboot", computenodes.reboot_node),
    ("Nodes_ReimageNode", "POST", f"{_N}/reimage", computenodes.reimage_node),
    ("Jobs_CreateJob", "POST", "/jobs", jobs.create_job),
    ("Jobs_ListJobs", "GET", "/jobs", jobs.list_jobs),
    ("Jobs_GetJob", "GET", _J, jobs.get_job),
    ("Jobs_UpdateJob", "PATCH", _J, jobs.update_job),
    ("Jobs_ReplaceJob", "PUT", _J, jobs.replace_job),
    ("Jobs_DeleteJob", "DELETE", _J, jobs.delete_job),
    ("Jobs_TerminateJob", "POST", f"{_J}/terminate", jobs.terminate_job),
    ("Jobs_DisableJob", "POST", f"{_J}/disable", jobs.disable_job),
    ("Jobs_EnableJob", "POST", f"{_J}/enable", jobs.enable_job),
    ("Jobs_GetJobTaskCounts", "GET", f"{_J}/taskcounts", jobs.task_counts),
    ("Tasks_CreateTask", "POST", f"{_J}/tasks", tasks.create_task),
    ("Tasks_ListTasks", "GET", f"{_J}/tasks", tasks.list_tasks),
    ("Tasks_CreateTaskCollection", "POST", f"{_J}/addtaskcollection", tasks.create_task_collection),
    ("Tasks_GetTask", "GET", _T, tasks.get_task),
    ("Tasks_DeleteTask", "DELETE", _T, tasks.delete_task),
    ("Tasks_ReplaceTask", "PUT", _T, tasks.replace_task),
    ("Tasks_TerminateTask", "POST", f"{_T}/terminate", tasks.terminate_task),
    ("Tasks_ReactivateTask", "POST", f"{_T}/reactivate", tasks.reactivate_task),
    ("Tasks_ListTaskFiles", "GET", f"{_T}/files", files.list_task_files),
    ("Tasks_GetTaskFile", "GET", f"{_T}/files/{{filePath}}", files.get_task_file),
    ("Tasks_GetTaskFileProperties", "HEAD", f"{_T}/files/{{filePath}}", files.task_file_properties),
    ("Tasks_DeleteTaskFile", "DELETE", f"{_T}/files/{{filePath}}", files.delete_task_file),
    ("Nodes_ListNodeFiles", "GET", f"{_N}/files", files.list_node_files),
    ("Nodes_GetNodeFile", "GET", f"{_N}/files/{{filePath}}", files.get_node_file),
    ("Nodes_GetNodeFileProperties", "HEAD", f"{_N}/files/{{filePath}}", files.node_file_properties),
]

_JS = "/jobschedules"
_SCHEDULES = catalog.not_supported("Job schedules")
_NODE_USERS = catalog.not_supported("Node user accounts")
_NODE_POWER = catalog.not_supported("Node start, deallocate and log upload")
_TABLE += [
    (
        "Jobs_ListJobPreparationAndReleaseTaskStatus",
        "GET",
        f"{_J}/jobpreparationandreleasetaskstatus",
        jobs.preparation_and_release_status,
    ),
    ("Tasks_ListSubTasks", "GET", f"{_T}/subtasksinfo", catalog.empty_list(tasks.task_of)),
    (
        "Nodes_ListNodeExtensions",
        "GET",
        f"{_N}/extensions",
        catalog.empty_list(computenodes.find_node),
    ),
    (
        "Nodes_GetNodeExtension",
        "GET",
        f"{_N}/extensions/{{extensionName}}",
        catalog.not_supported("VM extensions"),
    ),
    ("Nodes_DeleteNodeFile", "DELETE", f"{_N}/files/{{filePath}}", files.delete_node_file),
    (
        "Nodes_GetNodeRemoteLoginSettings",
        "GET",
        f"{_N}/remoteloginsettings",
        catalog.not_supported("Remote login settings"),
    ),
    ("Nodes_StartNode", "POST", f"{_N}/start", _NODE_POWER),
    ("Nodes_DeallocateNode", "POST", f"{_N}/deallocate", _NODE_POWER),
    ("Nodes_UploadNodeLogs", "POST", f"{_N}/uploadbatchservicelogs", _NODE_POWER),
    ("Nodes_CreateNodeUser", "POST", f"{_N}/users", _NODE_USERS),
    ("Nodes_ReplaceNodeUser", "PUT", f"{_N}/users/{{userName}}", _NODE_USERS),
    ("Nodes_DeleteNodeUser", "DELETE", f"{_N}/users/{{userName}}", _NODE_USERS),
    ("JobSchedules_ListJobSchedules", "GET", _JS, _SCHEDULES),
    ("JobSchedules_CreateJobSchedule", "POST", _JS, _SCHEDULES),
    ("JobSchedules_GetJobSchedule", "GET", f"{_JS}/{{jobScheduleId}}", _SCHEDULES),
    ("JobSchedules_ReplaceJobSchedule", "PUT", f"{_JS}/{{jobScheduleId}}", _SCHEDULES),
    ("JobSchedules_UpdateJobSchedule", "PATCH", f"{_JS}/{{jobScheduleId}}", _SCHEDULES),
    ("JobSchedules_DeleteJobSchedule", "DELETE", f"{_JS}/{{jobScheduleId}}", _SCHEDULES),
    ("JobSchedules_JobScheduleExists", "HEAD", f"{_JS}/{{jobScheduleId}}", _SCHEDULES),
    ("JobSchedules_DisableJobSchedule", "POST", f"{_JS}/{{jobScheduleId}}/disable", _SCHEDULES),
    ("JobSchedules_EnableJobSchedule", "POST", f"{_JS}/{{jobScheduleId}}/enable", _SCHEDULES),
    ("Jobs_ListJobsFromSchedule", "GET", f"{_JS}/{{jobScheduleId}}/jobs", _SCHEDULES),
    ("JobSchedules_TerminateJobSchedule", "POST", f"{_JS}/{{jobScheduleId}}/terminate", _SCHEDULES),
]

ROUTES = [ApiRoute(method, _compile(path), op, handler) for op, method, path, handler in _TABLE]


def match(method: str, raw_path: str) -> tuple[ApiRoute, dict[str, str]] | None:
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
