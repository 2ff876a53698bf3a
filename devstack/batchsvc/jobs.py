"""Job operations: create, get, list, update, replace, terminate, delete, task counts."""

from __future__ import annotations

from typing import Any

from devstack.batchsvc import conditions, jobspecs
from devstack.batchsvc import validation as v
from devstack.batchsvc.account import Account
from devstack.batchsvc.errors import Conflict, NotFound
from devstack.batchsvc.messages import Request, Response, accepted, created, entity_headers
from devstack.batchsvc.odata import ListQuery, page, select
from devstack.batchsvc.registry import Job, public, touch, transition
from devstack.batchsvc.scheduler import KILL_DELETE, KILL_REQUEUE, KILL_TERMINATE
from devstack.batchsvc.timestamps import iso, now


def job_not_found(job_id: str) -> NotFound:
    return NotFound(
        "The specified job does not exist.", code="JobNotFound", values={"JobId": job_id}
    )


def find_job(account: Account, job_id: str) -> Job:
    job = account.registry.jobs.get(job_id)
    if job is None:
        raise job_not_found(job_id)
    return job


def job_of(account: Account, request: Request) -> Job:
    """The job the request's path names (registry lock held)."""
    return find_job(account, request.path_args["jobId"])


def render(account: Account, job: Job) -> dict[str, Any]:
    doc = public(job.doc)
    doc["odata.metadata"] = f"{account.base_url}/$metadata#jobs/@Element"
    return doc


def create_job(account: Account, request: Request) -> Response:
    body = request.json()
    job_id = v.entity_id(body)
    pool_info = jobspecs.pool_info(body)
    for name in jobspecs.UNSUPPORTED:
        if body.get(name):
            raise v.unsupported(name, "Run the work as ordinary tasks.")
    moment = iso(now())
    doc: dict[str, Any] = {
        "id": job_id,
        "usesTaskDependencies": bool(body.get("usesTaskDependencies", False)),
        "url": account.registry.url(f"/jobs/{job_id}"),
        "creationTime": moment,
        "state": "active",
        "stateTransitionTime": moment,
        "priority": v.integer(body, "priority", 0, -1000, 1000),
        "allowTaskPreemption": bool(body.get("allowTaskPreemption", False)),
        "maxParallelTasks": jobspecs.max_parallel(body),
        "constraints": jobspecs.job_constraints(body),
        "poolInfo": pool_info,
        "onAllTasksComplete": "noaction",
        "onTaskFailure": "noaction",
        "executionInfo": {"startTime": moment, "poolId": pool_info["poolId"]},
    }
    if body.get("displayName") is not None:
        doc["displayName"] = body["displayName"]
    jobspecs.job_tasks(body, doc)
    if body.get("commonEnvironmentSettings") is not None:
        doc["commonEnvironmentSettings"] = v.name_values(body, "commonEnvironmentSettings")
    if body.get("metadata") is not None:
        doc["metadata"] = v.name_values(body, "metadata")
    jobspecs.modes(body, doc)
    touch(doc)
    with account.registry.lock:
        if job_id in account.registry.jobs:
            raise Conflict("The specified job already exists.", code="JobExists")
        jobspecs.check_quota(account)
        job = Job(account.registry.next_seq(), doc)
        account.registry.jobs[job_id] = job
        account.registry.save_job(job)
    account.scheduler.wake()
    return created(doc)


def get_job(account: Account, request: Request) -> Response:
    with account.registry.lock:
        job = find_job(account, request.path_args["jobId"])
        conditions.check(request, job.doc)
        doc = render(account, job)
    fields = request.params.get("$select")
    return Response(200, select(doc, fields.split(",") if fields else None), entity_headers(doc))


def list_jobs(account: Account, request: Request) -> Response:
    query = ListQuery.from_params(request.params)
    with account.registry.lock:
        items = [(j.seq, public(j.doc)) for j in account.registry.jobs.values()]
    items.sort(key=lambda item: item[0])
    body = page(items, query, account.registry.url("/jobs"))
    body["odata.metadata"] = f"{account.base_url}/$metadata#jobs"
    return Response(200, body)


def _apply_update(job: Job, body: dict[str, Any], replace: bool) -> None:
    doc = job.doc
    if replace or "priority" in body:
        doc["priority"] = v.integer(body, "priority", 0, -1000, 1000)
    if replace or "maxParallelTasks" in body:
        doc["maxParallelTasks"] = jobspecs.max_parallel(body)
    if replace or "allowTaskPreemption" in body:
        doc["allowTaskPreemption"] = bool(body.get("allowTaskPreemption", False))
    if replace or body.get("constraints") is not None:
        doc["constraints"] = jobspecs.job_constraints(body)
    if body.get("poolInfo") is not None:
        new_pool = jobspecs.pool_info(body)["poolId"]
        if new_pool != job.pool_id:
            if job.state != "disabled":
                raise Conflict(
                    "The pool of a job can only be changed while the job is disabled.",
                    code="JobNotDisabled",
                )
            doc["poolInfo"] = {"poolId": new_pool}
    if replace or "metadata" in body:
        doc["metadata"] = v.name_values(body, "metadata")
    if replace:
        doc["onAllTasksComplete"] = "noaction"
    jobspecs.modes(body, doc)


def _updatable(account: Account, job_id: str) -> Job:
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


def update_job(account: Account, request: Request) -> Response:
    body = request.json()
    with account.registry.lock:
        job = _updatable(account, request.path_args["jobId"])
        conditions.check(request, job.doc)
        _apply_update(job, body, replace=False)
        touch(job.doc)
        account.registry.save_job(job)
        headers = entity_headers(job.doc)
        headers["DataServiceId"] = str(job.doc["url"])
    account.scheduler.wake()
    return Response(200, None, headers)


def replace_job(account: Account, request: Request) -> Response:
    body = request.json()
    jobspecs.pool_info(body)
    with account.registry.lock:
        job = _updatable(account, request.path_args["jobId"])
        conditions.check(request, job.doc)
        _apply_update(job, body, replace=True)
        touch(job.doc)
        account.registry.save_job(job)
        headers = entity_headers(job.doc)
        headers["DataServiceId"] = str(job.doc["url"])
    account.scheduler.wake()
    return Response(200, None, headers)


def terminate_job(account: Account, request: Request) -> Response:
    body = request.json(required=False)
    reason = str(body.get("terminateReason") or "UserTerminate")
    with account.registry.lock:
        job = find_job(account, request.path_args["jobId"])
        conditions.check(request, job.doc)
        if job.state == "deleting":
            raise Conflict(
                "The specified job has been marked for deletion and is being garbage collected.",
                code="JobBeingDeleted",
            )
        if job.state == "completed":
            raise Conflict(
                "The specified job is already in a completed state.", code="JobCompleted"
            )
        if job.state != "terminating":
            account.scheduler.terminate_job(job, reason)
        return accepted(job.doc)


def delete_job(account: Account, request: Request) -> Response:
    with account.registry.lock:
        job = find_job(account, request.path_args["jobId"])
        conditions.check(request, job.doc)
        if job.state == "deleting":
            raise Conflict(
                "The specified job has been marked for deletion and is being garbage collected.",
                code="JobBeingDeleted",
            )
        transition(job.doc, "deleting")
        account.registry.save_job(job)
        job.pending.clear()
        account.scheduler.kill_job(job.id, KILL_DELETE)
    account.scheduler.wake()
    return accepted()


def task_counts(account: Account, request: Request) -> Response:
    counts = {"active": 0, "running": 0, "completed": 0, "succeeded": 0, "failed": 0}
    slots = dict(counts)
    with account.registry.lock:
        job = find_job(account, request.path_args["jobId"])
        for task in job.tasks.values():
            state = task.state
            bucket = "active" if state in ("active", "preparing") else state
            counts[bucket] += 1
            slots[bucket] += task.slots
            if state == "completed":
                result = (task.doc.get("executionInfo") or {}).get("result")
                outcome = "succeeded" if result == "success" else "failed"
                counts[outcome] += 1
                slots[outcome] += task.slots
    return Response(
        200,
        {
            "odata.metadata": f"{account.base_url}/$metadata#taskcounts/@Element",
            "taskCounts": counts,
            "taskSlotCounts": slots,
        },
    )


def disable_job(account: Account, request: Request) -> Response:
    """Stop scheduling the job's tasks; running ones are requeued, terminated or left to finish."""
    body = request.json()
    option = str(v.require(body, "disableTasks")).lower()
    if option not in ("requeue", "terminate", "wait"):
        raise v.invalid("disableTasks", option, "requeue, terminate or wait")
    with account.registry.lock:
        job = find_job(account, request.path_args["jobId"])
        conditions.check(request, job.doc)
        if job.state != "active":
            raise Conflict("The job is not active, so it cannot be disabled.", code="JobNotActive")
        job.doc["_disableTasks"] = option
        transition(job.doc, "disabling")
        account.registry.save_job(job)
        if option != "wait":
            account.scheduler.kill_job(
                job.id, KILL_REQUEUE if option == "requeue" else KILL_TERMINATE
            )
    account.scheduler.wake()
    return accepted(job.doc)


def enable_job(account: Account, request: Request) -> Response:
    with account.registry.lock:
        job = find_job(account, request.path_args["jobId"])
        conditions.check(request, job.doc)
        if job.state not in ("disabled", "disabling"):
            raise Conflict(
                "The job is not disabled, so it cannot be enabled.", code="JobNotDisabled"
            )
        transition(job.doc, "enabling")
        account.registry.save_job(job)
    account.scheduler.wake()
    return accepted(job.doc)


def preparation_and_release_status(account: Account, request: Request) -> Response:
    query = ListQuery.from_params(request.params)
    with account.registry.lock:
        job = find_job(account, request.path_args["jobId"])
        entries = account.scheduler.job_tasks.statuses(job.id)
    body = page(
        list(enumerate(entries)),
        query,
        account.registry.url(f"/jobs/{job.id}/jobpreparationandreleasetaskstatus"),
    )
    body["odata.metadata"] = f"{account.base_url}/$metadata#jobpreparationandreleasetaskstatuslist"
    return Response(200, body)
