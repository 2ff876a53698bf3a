"""Task operations: create one, create a collection, get, list, delete, terminate, reactivate."""

from __future__ import annotations

import json
from typing import Any

from devstack.batchsvc import conditions, taskspecs
from devstack.batchsvc import validation as v
from devstack.batchsvc.account import Account
from devstack.batchsvc.errors import BadRequest, BatchServiceError, Conflict, NotFound
from devstack.batchsvc.jobs import find_job
from devstack.batchsvc.messages import Request, Response, created, entity_headers, error_body
from devstack.batchsvc.odata import ListQuery, page, select
from devstack.batchsvc.registry import Job, TaskRecord, public, touch, transition
from devstack.batchsvc.scheduler import KILL_DELETE, KILL_TERMINATE
from devstack.batchsvc.timestamps import UNBOUNDED, iso, now

MAX_TASKS_PER_COLLECTION = 100
MAX_COLLECTION_BYTES = 1024 * 1024


def task_not_found(task_id: str) -> NotFound:
    return NotFound(
        "The specified task does not exist.", code="TaskNotFound", values={"TaskId": task_id}
    )


def find_task(job: Job, task_id: str) -> TaskRecord:
    task = job.tasks.get(task_id)
    if task is None:
        raise task_not_found(task_id)
    return task


def task_of(account: Account, request: Request) -> TaskRecord:
    """The task the request's path names (registry lock held)."""
    return find_task(find_job(account, request.path_args["jobId"]), request.path_args["taskId"])


def render(account: Account, task: TaskRecord) -> dict[str, Any]:
    doc = public(task.doc)
    doc["odata.metadata"] = f"{account.base_url}/$metadata#tasks/@Element"
    return doc


def _job_accepting_tasks(account: Account, job_id: str) -> Job:
    job = find_job(account, job_id)
    if job.state == "deleting":
        raise Conflict(
            "The specified job has been marked for deletion and is being garbage collected.",
            code="JobBeingDeleted",
        )
    if job.state == "terminating":
        raise Conflict("The specified job is being terminated.", code="JobBeingTerminated")
    if job.state == "completed":
        raise Conflict("The specified job is already in a completed state.", code="JobCompleted")
    return job


def _add(account: Account, job: Job, doc: dict[str, Any]) -> TaskRecord:
    task = TaskRecord(job.id, account.registry.next_seq(), doc)
    job.add_task(task)
    job.pending[task.id] = None
    return task


def task_exists(task_id: str) -> Conflict:
    return Conflict(
        "The specified task already exists.", code="TaskExists", values={"TaskId": task_id}
    )


def create_task(account: Account, request: Request) -> Response:
    body = request.json()
    with account.registry.lock:
        job = _job_accepting_tasks(account, request.path_args["jobId"])
        doc = taskspecs.build_task(account, job, body)
        if doc["id"] in job.tasks:
            raise task_exists(doc["id"])
        task = _add(account, job, doc)
        account.registry.save_task(task)
    account.scheduler.wake()
    return created(doc)


def create_task_collection(account: Account, request: Request) -> Response:
    if len(request.raw_body) > MAX_COLLECTION_BYTES:
        raise BatchServiceError(
            "The request body is too large and exceeds the maximum permissible limit.",
            code="RequestBodyTooLarge",
            status=413,
            values={"MaxLimit": str(MAX_COLLECTION_BYTES)},
        )
    body = request.json()
    values = body.get("value")
    if not isinstance(values, list) or not values:
        raise v.missing("value")
    if len(values) > MAX_TASKS_PER_COLLECTION:
        raise BadRequest(
            "The number of tasks in the collection exceeds the maximum of 100.",
            code="TooManyTasks",
            values={"MaxTasks": str(MAX_TASKS_PER_COLLECTION)},
        )
    results: list[dict[str, Any]] = []
    added: list[TaskRecord] = []
    with account.registry.lock:
        job = _job_accepting_tasks(account, request.path_args["jobId"])
        for item in values:
            task_id = str(item.get("id") or "") if isinstance(item, dict) else ""
            try:
                if not isinstance(item, dict):
                    raise v.invalid("value", json.dumps(item), "Each task must be an object.")
                doc = taskspecs.build_task(account, job, item)
                if doc["id"] in job.tasks:
                    raise task_exists(doc["id"])
            except BatchServiceError as e:
                results.append(
                    {"status": "clienterror", "taskId": task_id, "error": _task_error(account, e)}
                )
                continue
            added.append(_add(account, job, doc))
            results.append(
                {
                    "status": "success",
                    "taskId": doc["id"],
                    "eTag": doc["eTag"],
                    "lastModified": doc["lastModified"],
                    "location": doc["url"],
                }
            )
        if added:
            account.registry.save_tasks(job.id, added)
    account.scheduler.wake()
    return Response(
        200,
        {
            "odata.metadata": f"{account.base_url}/$metadata#taskaddresult",
            "value": results,
        },
    )


def _task_error(account: Account, error: BatchServiceError) -> dict[str, Any]:
    body = error_body(error, account.base_url)
    body.pop("odata.metadata", None)
    return body


def get_task(account: Account, request: Request) -> Response:
    with account.registry.lock:
        job = find_job(account, request.path_args["jobId"])
        task = find_task(job, request.path_args["taskId"])
        conditions.check(request, task.doc)
        doc = render(account, task)
    fields = request.params.get("$select")
    return Response(200, select(doc, fields.split(",") if fields else None), entity_headers(doc))


def list_tasks(account: Account, request: Request) -> Response:
    query = ListQuery.from_params(request.params)
    job_id = request.path_args["jobId"]
    with account.registry.lock:
        job = find_job(account, job_id)
        items = [(t.seq, public(t.doc)) for t in job.tasks.values()]
    items.sort(key=lambda item: item[0])
    body = page(items, query, account.registry.url(f"/jobs/{job_id}/tasks"))
    body["odata.metadata"] = f"{account.base_url}/$metadata#tasks"
    return Response(200, body)


def delete_task(account: Account, request: Request) -> Response:
    with account.registry.lock:
        job = find_job(account, request.path_args["jobId"])
        task = find_task(job, request.path_args["taskId"])
        conditions.check(request, task.doc)
        account.scheduler.kill_task(job.id, task.id, KILL_DELETE)
        job.remove_task(task.id)
        account.registry.store.delete_task(job.id, task.id)
    account.scheduler.wake()
    return Response(200)


def terminate_task(account: Account, request: Request) -> Response:
    with account.registry.lock:
        job = find_job(account, request.path_args["jobId"])
        task = find_task(job, request.path_args["taskId"])
        conditions.check(request, task.doc)
        if task.state == "completed":
            raise Conflict("The specified task is already completed.", code="TaskCompleted")
        if not account.scheduler.kill_task(job.id, task.id, KILL_TERMINATE):
            job.pending.pop(task.id, None)
            info = task.doc.setdefault("executionInfo", {"retryCount": 0, "requeueCount": 0})
            info["endTime"] = iso(now())
            info["result"] = "failure"
            info["failureInfo"] = {
                "category": "usererror",
                "code": "TaskEnded",
                "message": "Task Was Ended by User Request",
            }
            transition(task.doc, "completed")
            account.registry.save_task(task)
        headers = entity_headers(task.doc)
    account.scheduler.wake()
    return Response(204, None, headers)


def reactivate_task(account: Account, request: Request) -> Response:
    """A task that completed with a failure becomes active again, its retry count reset."""
    with account.registry.lock:
        job = _job_accepting_tasks(account, request.path_args["jobId"])
        task = find_task(job, request.path_args["taskId"])
        conditions.check(request, task.doc)
        info = task.doc.get("executionInfo") or {}
        if task.state != "completed":
            raise Conflict(
                "The specified task is not in a completed state, and the requested operation "
                "can be performed only on completed tasks.",
                code="TaskNotCompleted",
                values={"TaskId": task.id},
            )
        if info.get("result") != "failure":
            raise Conflict(
                "The specified task has already completed successfully, and the requested "
                "operation cannot be performed on successful tasks.",
                code="TaskSucceeded",
                values={"TaskId": task.id},
            )
        task.doc["executionInfo"] = {
            "retryCount": 0,
            "requeueCount": int(info.get("requeueCount") or 0),
        }
        task.doc.pop("_dependencyAction", None)
        transition(task.doc, "active")
        job.pending[task.id] = None
        account.registry.save_task(task)
        headers = entity_headers(task.doc)
    account.scheduler.wake()
    return Response(204, None, headers)


def replace_task(account: Account, request: Request) -> Response:
    """PUT: the task's constraints are the only updatable properties."""
    body = request.json()
    given = body.get("constraints") or {}
    v.duration(given, "maxWallClockTime")
    v.duration(given, "retentionTime")
    with account.registry.lock:
        job = find_job(account, request.path_args["jobId"])
        task = find_task(job, request.path_args["taskId"])
        conditions.check(request, task.doc)
        constraints = task.doc.setdefault("constraints", {})
        constraints["maxWallClockTime"] = given.get("maxWallClockTime") or UNBOUNDED
        constraints["retentionTime"] = given.get("retentionTime") or "P7D"
        constraints["maxTaskRetryCount"] = v.integer(given, "maxTaskRetryCount", 0, -1, 100)
        touch(task.doc)
        account.registry.save_task(task)
        headers = entity_headers(task.doc)
        headers["DataServiceId"] = str(task.doc["url"])
    return Response(200, None, headers)
