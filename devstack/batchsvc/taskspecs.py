"""What a task's create body may say: the stored task document, or the property at fault."""

from __future__ import annotations

from typing import Any

from devstack.batchsvc import dependencies, exitconditions
from devstack.batchsvc import validation as v
from devstack.batchsvc.account import Account
from devstack.batchsvc.errors import BadRequest
from devstack.batchsvc.registry import Job, touch
from devstack.batchsvc.timestamps import UNBOUNDED, iso, now

_COPIED = (
    "displayName",
    "exitConditions",
    "resourceFiles",
    "outputFiles",
    "affinityInfo",
    "applicationPackageReferences",
    "authenticationTokenSettings",
    "containerSettings",
)


def _lower_enums(doc: dict[str, Any]) -> None:
    """Batch reads enum values case-insensitively and returns them lower-case."""
    for output in doc.get("outputFiles") or []:
        options = output.get("uploadOptions") or {}
        if isinstance(options.get("uploadCondition"), str):
            options["uploadCondition"] = options["uploadCondition"].lower()
    conditions = doc.get("exitConditions") or {}
    mappings = list(conditions.get("exitCodes") or []) + list(
        conditions.get("exitCodeRanges") or []
    )
    options_list = [m.get("exitOptions") or {} for m in mappings]
    options_list += [
        conditions.get(k) or {} for k in ("preProcessingError", "fileUploadError", "default")
    ]
    for options in options_list:
        for key in ("jobAction", "dependencyAction"):
            if isinstance(options.get(key), str):
                options[key] = options[key].lower()
    auto_user = (doc.get("userIdentity") or {}).get("autoUser") or {}
    for key in ("scope", "elevationLevel"):
        if isinstance(auto_user.get(key), str):
            auto_user[key] = auto_user[key].lower()


def build_task(account: Account, job: Job, body: dict[str, Any]) -> dict[str, Any]:
    """The stored document of a new task, or BadRequest naming the invalid property."""
    task_id = v.entity_id(body)
    command_line = v.require(body, "commandLine")
    if not isinstance(command_line, str):
        raise v.invalid("commandLine", command_line, "The value must be a string.")
    if body.get("multiInstanceSettings"):
        raise v.unsupported(
            "multiInstanceSettings",
            "Multi-instance (MPI) tasks need several nodes; here a task is one process.",
        )
    if body.get("dependsOn") and not job.doc.get("usesTaskDependencies"):
        raise BadRequest(
            "The Task has dependencies but the Job does not allow task dependencies.",
            code="TaskDependenciesNotSpecifiedOnJob",
            values={"TaskId": task_id},
        )
    if exitconditions.job_actions(body.get("exitConditions")) and (
        job.doc.get("onTaskFailure") != "performexitoptionsjobaction"
    ):
        raise v.invalid(
            "exitConditions.jobAction",
            ",".join(exitconditions.job_actions(body.get("exitConditions"))),
            "A jobAction needs a job whose onTaskFailure is performexitoptionsjobaction.",
        )
    given = body.get("constraints") or {}
    v.duration(given, "maxWallClockTime")
    v.duration(given, "retentionTime")
    job_constraints = job.doc.get("constraints") or {}
    constraints = {
        "maxWallClockTime": given.get("maxWallClockTime") or UNBOUNDED,
        "retentionTime": given.get("retentionTime") or "P7D",
        "maxTaskRetryCount": v.integer(
            given, "maxTaskRetryCount", int(job_constraints.get("maxTaskRetryCount") or 0), -1, 100
        ),
    }
    moment = iso(now())
    doc: dict[str, Any] = {
        "id": task_id,
        "url": account.registry.url(f"/jobs/{job.id}/tasks/{task_id}"),
        "creationTime": moment,
        "state": "active",
        "stateTransitionTime": moment,
        "commandLine": command_line,
        "constraints": constraints,
        "requiredSlots": v.integer(body, "requiredSlots", 1, 1, 256),
        "userIdentity": body.get("userIdentity")
        or {"autoUser": {"scope": "pool", "elevationLevel": "nonadmin"}},
        "executionInfo": {"retryCount": 0, "requeueCount": 0},
    }
    if body.get("environmentSettings") is not None:
        doc["environmentSettings"] = v.name_values(body, "environmentSettings")
    if body.get("dependsOn"):
        doc["dependsOn"] = dependencies.checked(task_id, body["dependsOn"])
    for key in _COPIED:
        if body.get(key) is not None:
            doc[key] = body[key]
    _lower_enums(doc)
    touch(doc)
    return doc
