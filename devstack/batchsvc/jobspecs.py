"""What a job's create, update and replace bodies may say, with Batch's defaults filled in."""

from __future__ import annotations

from typing import Any

from devstack.batchsvc import validation as v
from devstack.batchsvc.account import Account
from devstack.batchsvc.errors import Conflict
from devstack.batchsvc.timestamps import UNBOUNDED, parse_duration

UNSUPPORTED = ("jobManagerTask", "networkConfiguration")
# Job states that no longer count against the account's active job and job schedule quota.
_DONE = ("completed", "deleting")


def max_parallel(body: dict[str, Any]) -> int:
    """maxParallelTasks: -1 (no limit, the default) or more than 0."""
    value = v.integer(body, "maxParallelTasks", -1, -1, None)
    if value == 0:
        raise v.invalid("maxParallelTasks", 0, "The value must be -1 or greater than 0.")
    return value


def check_quota(account: Account) -> None:
    """ActiveJobAndScheduleQuotaReached once the account has its quota of unfinished jobs."""
    active = sum(1 for j in account.registry.jobs.values() if j.state not in _DONE)
    if active >= account.active_job_quota:
        raise Conflict(
            "Active job and schedule quota for the account has been reached.",
            code="ActiveJobAndScheduleQuotaReached",
            values={"Quota": str(account.active_job_quota)},
        )


def job_constraints(body: dict[str, Any]) -> dict[str, Any]:
    """The job's constraints: maxWallClockTime unbounded and no task retries by default."""
    given = body.get("constraints") or {}
    v.duration(given, "maxWallClockTime")
    return {
        "maxWallClockTime": given.get("maxWallClockTime") or UNBOUNDED,
        "maxTaskRetryCount": v.integer(given, "maxTaskRetryCount", 0, -1, 100),
    }


def pool_info(body: dict[str, Any]) -> dict[str, Any]:
    """poolInfo with a poolId (auto pools are not supported here)."""
    info = v.require(body, "poolInfo")
    if not isinstance(info, dict):
        raise v.invalid("poolInfo", info, "The value must be an object.")
    if info.get("autoPoolSpecification"):
        raise v.unsupported(
            "poolInfo.autoPoolSpecification", "Create the pool first and name it in poolId."
        )
    if not info.get("poolId"):
        raise v.missing("poolInfo.poolId")
    return {"poolId": str(info["poolId"])}


def modes(body: dict[str, Any], doc: dict[str, Any]) -> None:
    """onAllTasksComplete and onTaskFailure, when the body sets them."""
    if body.get("onAllTasksComplete") is not None:
        if body["onAllTasksComplete"] not in ("noaction", "terminatejob"):
            raise v.invalid(
                "onAllTasksComplete", body["onAllTasksComplete"], "noaction or terminatejob"
            )
        doc["onAllTasksComplete"] = body["onAllTasksComplete"]
    if body.get("onTaskFailure") is not None:
        if body["onTaskFailure"] not in ("noaction", "performexitoptionsjobaction"):
            raise v.invalid(
                "onTaskFailure", body["onTaskFailure"], "noaction or performexitoptionsjobaction"
            )
        doc["onTaskFailure"] = body["onTaskFailure"]


def job_tasks(body: dict[str, Any], doc: dict[str, Any]) -> None:
    """jobPreparationTask / jobReleaseTask with Batch's defaults filled in."""
    prep, release = body.get("jobPreparationTask"), body.get("jobReleaseTask")
    if release and not prep:
        raise v.invalid("jobReleaseTask", "set", "A job release task needs a job preparation task.")
    if prep:
        v.require(prep, "commandLine")
        constraints = prep.get("constraints") or {}
        v.duration(constraints, "maxWallClockTime")
        doc["jobPreparationTask"] = {
            **prep,
            "id": prep.get("id") or "jobpreparation",
            "waitForSuccess": prep.get("waitForSuccess", True) is not False,
            "rerunOnNodeRebootAfterSuccess": prep.get("rerunOnNodeRebootAfterSuccess", True),
            "constraints": {
                "maxWallClockTime": constraints.get("maxWallClockTime") or UNBOUNDED,
                "retentionTime": constraints.get("retentionTime") or "P7D",
                "maxTaskRetryCount": v.integer(constraints, "maxTaskRetryCount", 0, -1, 100),
            },
        }
    if release:
        v.require(release, "commandLine")
        limit = v.duration(release, "maxWallClockTime") or "PT15M"
        if parse_duration(limit) > parse_duration("PT15M"):
            raise v.invalid("jobReleaseTask.maxWallClockTime", limit, "At most 15 minutes.")
        doc["jobReleaseTask"] = {
            **release,
            "id": release.get("id") or "jobrelease",
            "maxWallClockTime": limit,
            "retentionTime": release.get("retentionTime") or "P7D",
        }
