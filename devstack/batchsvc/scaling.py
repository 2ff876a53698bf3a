"""Pool size: resize, stop resize, remove nodes, and autoscale (enable, disable, evaluate)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from devstack.batchsvc import conditions, dependencies
from devstack.batchsvc import validation as v
from devstack.batchsvc.account import Account
from devstack.batchsvc.autoscale import FormulaError, Result, evaluate, targets_from
from devstack.batchsvc.errors import BadRequest, BatchServiceError, Conflict
from devstack.batchsvc.messages import Request, Response, accepted, entity_headers
from devstack.batchsvc.registry import PoolRecord, touch
from devstack.batchsvc.timestamps import iso, now, parse_duration, parse_iso

log = logging.getLogger(__name__)

DEALLOCATION_OPTIONS = ("requeue", "terminate", "taskcompletion", "retaineddata")
MIN_INTERVAL = timedelta(minutes=5)
MAX_INTERVAL = timedelta(hours=168)
MAX_FORMULA_LENGTH = 8192


def _active_pool(account: Account, pool_id: str) -> PoolRecord:
    pool = account.pool(pool_id)
    if pool.doc.get("state") == "deleting":
        raise Conflict(
            "The specified pool has been marked for deletion and is being reclaimed.",
            code="PoolBeingDeleted",
        )
    return pool


def _option(body: dict[str, Any]) -> str:
    option = str(body.get("nodeDeallocationOption") or "requeue")
    if option not in DEALLOCATION_OPTIONS:
        raise v.invalid("nodeDeallocationOption", option, ", ".join(DEALLOCATION_OPTIONS))
    return option


def _mark_steady(pool: PoolRecord) -> None:
    moment = iso(now())
    pool.doc["allocationState"] = "steady"
    pool.doc["allocationStateTransitionTime"] = moment
    touch(pool.doc)


def resize_pool(account: Account, request: Request) -> Response:
    body = request.json()
    dedicated = v.integer(body, "targetDedicatedNodes", 0, 0, 1000)
    low = v.integer(body, "targetLowPriorityNodes", 0, 0, 1000)
    v.duration(body, "resizeTimeout")
    option = _option(body)
    with account.registry.lock:
        pool = _active_pool(account, request.path_args["poolId"])
        conditions.check(request, pool.doc)
        if pool.doc.get("enableAutoScale"):
            raise Conflict(
                "The pool has autoscale enabled; disable autoscale before resizing it.",
                code="OperationInvalidForCurrentState",
            )
        pool.doc["targetDedicatedNodes"] = dedicated
        pool.doc["targetLowPriorityNodes"] = low
        if body.get("resizeTimeout"):
            pool.doc["resizeTimeout"] = body["resizeTimeout"]
        # Nodes are allocated at once here, so the resize is over when the call returns.
        account.grow(pool, dedicated, low, option)
        _mark_steady(pool)
        account.registry.save_pool(pool)
        return accepted(pool.doc)


def stop_resize(account: Account, request: Request) -> Response:
    with account.registry.lock:
        pool = _active_pool(account, request.path_args["poolId"])
        _mark_steady(pool)
        account.registry.save_pool(pool)
        return accepted(pool.doc)


def remove_nodes(account: Account, request: Request) -> Response:
    body = request.json()
    node_ids = body.get("nodeList")
    if not isinstance(node_ids, list) or not node_ids:
        raise v.missing("nodeList")
    if len(node_ids) > 100:
        raise v.invalid("nodeList", len(node_ids), "At most 100 nodes can be removed per request.")
    option = _option(body)
    with account.registry.lock:
        pool = _active_pool(account, request.path_args["poolId"])
        missing = [n for n in node_ids if n not in pool.nodes]
        if missing:
            raise BatchServiceError(
                "The specified node does not exist.",
                code="NodeNotFound",
                status=404,
                values={"NodeId": str(missing[0])},
            )
        for node_id in node_ids:
            node = pool.nodes[node_id]
            key = (
                "targetDedicatedNodes" if node.doc.get("isDedicated") else "targetLowPriorityNodes"
            )
            pool.doc[key] = max(int(pool.doc.get(key) or 0) - 1, 0)
            account.remove_node(pool, node, option)
        account.count_nodes(pool)
        _mark_steady(pool)
        account.registry.save_pool(pool)
    account.scheduler.wake()
    return accepted(pool.doc)


# autoscale ------------------------------------------------------------------------------------


def _inputs(account: Account, pool: PoolRecord) -> dict[str, float]:
    """Current values of the service variables a formula can read.

    `$ActiveTasks` counts the active tasks whose dependencies are met; `$PendingTasks` is
    `$ActiveTasks + $RunningTasks`, as Batch defines them.
    """
    active = running = succeeded = failed = 0
    for job in account.registry.jobs.values():
        if job.pool_id != pool.id or job.state not in ("active", "terminating"):
            continue
        for task in job.tasks.values():
            state = task.state
            if state == "active":
                # Tasks blocked on dependencies are not "ready to execute" ($ActiveTasks).
                if dependencies.met(job, task):
                    active += 1
            elif state == "running":
                running += 1
            elif state == "completed":
                result = (task.doc.get("executionInfo") or {}).get("result")
                succeeded += result == "success"
                failed += result != "success"
    nodes = list(pool.nodes.values())
    return {
        "$PendingTasks": float(active + running),
        "$ActiveTasks": float(active),
        "$RunningTasks": float(running),
        "$SucceededTasks": float(succeeded),
        "$FailedTasks": float(failed),
        "$CurrentDedicatedNodes": float(sum(1 for n in nodes if n.doc.get("isDedicated"))),
        "$CurrentLowPriorityNodes": float(sum(1 for n in nodes if not n.doc.get("isDedicated"))),
        "$PreemptedNodeCount": float(sum(1 for n in nodes if n.doc.get("state") == "preempted")),
        "$UsableNodeCount": float(
            sum(1 for n in nodes if n.doc.get("state") in ("idle", "running"))
        ),
        "$TargetDedicatedNodes": float(pool.doc.get("targetDedicatedNodes") or 0),
        "$TargetLowPriorityNodes": float(pool.doc.get("targetLowPriorityNodes") or 0),
    }


def _run_record(result: Result | None, error: FormulaError | None) -> dict[str, Any]:
    record: dict[str, Any] = {"timestamp": iso(now())}
    if result is not None:
        record["results"] = result.text()
    if error is not None:
        record["error"] = {
            "code": error.code,
            "message": error.message,
            "values": [{"name": "Message", "value": error.message}],
        }
    return record


def _formula(body: dict[str, Any]) -> str:
    formula = v.require(body, "autoScaleFormula")
    if not isinstance(formula, str):
        raise v.invalid("autoScaleFormula", formula, "The formula must be a string.")
    if len(formula) > MAX_FORMULA_LENGTH:
        raise BadRequest(
            "The specified auto-scaling formula exceeds lengths limit.",
            code="AutoScalingFormulaTooLong",
        )
    return formula


def _interval(body: dict[str, Any], default: str) -> str:
    text = v.duration(body, "autoScaleEvaluationInterval") or default
    if not MIN_INTERVAL <= parse_duration(text) <= MAX_INTERVAL:
        raise BadRequest(
            "The specified auto-scaling settings are not valid.",
            code="InvalidAutoScalingSettings",
            values={
                "PropertyName": "autoScaleEvaluationInterval",
                "Reason": "The interval must be between 5 minutes and 168 hours.",
            },
        )
    return text


def _check(formula: str, inputs: dict[str, float]) -> Result:
    try:
        return evaluate(formula, inputs)
    except FormulaError as e:
        raise BadRequest(
            f"The specified auto-scaling formula cannot be evaluated: {e.message}",
            code="AutoScalingFormulaSyntaxError",
            values={"Code": e.code, "Message": e.message},
        ) from e


def apply_autoscale(account: Account, pool: PoolRecord) -> None:
    """Evaluate the pool's formula now and resize to its targets (registry lock held)."""
    formula = str(pool.doc.get("autoScaleFormula") or "")
    inputs = _inputs(account, pool)
    try:
        result = evaluate(formula, inputs)
    except FormulaError as e:
        pool.doc["autoScaleRun"] = _run_record(None, e)
        log.warning("autoscale of pool %s failed: %s", pool.id, e.message)
    else:
        pool.doc["autoScaleRun"] = _run_record(result, None)
        dedicated, low, option = targets_from(result, inputs)
        pool.doc["targetDedicatedNodes"] = dedicated
        pool.doc["targetLowPriorityNodes"] = low
        account.grow(pool, dedicated, low, option)
        _mark_steady(pool)
    pool.doc["_nextAutoScale"] = iso(now() + account.autoscale_period(pool))
    account.registry.save_pool(pool)


def autoscale_due(account: Account) -> None:
    """Re-evaluate every autoscale pool whose interval has passed (run by the scheduler)."""
    moment = now()
    for pool in list(account.registry.pools.values()):
        if not pool.doc.get("enableAutoScale") or pool.doc.get("state") != "active":
            continue
        due = pool.doc.get("_nextAutoScale")
        if due is None or parse_iso(str(due)) <= moment:
            apply_autoscale(account, pool)


def enable_autoscale(account: Account, request: Request) -> Response:
    body = request.json(required=False)
    with account.registry.lock:
        pool = _active_pool(account, request.path_args["poolId"])
        conditions.check(request, pool.doc)
        formula = (
            _formula(body)
            if body.get("autoScaleFormula") is not None
            else str(pool.doc.get("autoScaleFormula") or "")
        )
        if not formula:
            raise v.missing("autoScaleFormula")
        interval = _interval(body, str(pool.doc.get("autoScaleEvaluationInterval") or "PT15M"))
        _check(formula, _inputs(account, pool))
        pool.doc["enableAutoScale"] = True
        pool.doc["autoScaleFormula"] = formula
        pool.doc["autoScaleEvaluationInterval"] = interval
        apply_autoscale(account, pool)
        touch(pool.doc)
        account.registry.save_pool(pool)
        headers = entity_headers(pool.doc)
        headers["DataServiceId"] = str(pool.doc["url"])
        return Response(200, None, headers)


def disable_autoscale(account: Account, request: Request) -> Response:
    with account.registry.lock:
        pool = _active_pool(account, request.path_args["poolId"])
        pool.doc["enableAutoScale"] = False
        for key in (
            "autoScaleFormula",
            "autoScaleEvaluationInterval",
            "autoScaleRun",
            "_nextAutoScale",
        ):
            pool.doc.pop(key, None)
        touch(pool.doc)
        account.registry.save_pool(pool)
        headers = entity_headers(pool.doc)
        headers["DataServiceId"] = str(pool.doc["url"])
        return Response(200, None, headers)


def evaluate_autoscale(account: Account, request: Request) -> Response:
    body = request.json()
    formula = _formula(body)
    with account.registry.lock:
        pool = _active_pool(account, request.path_args["poolId"])
        if not pool.doc.get("enableAutoScale"):
            raise Conflict(
                "Autoscale must be enabled on the pool to evaluate a formula.",
                code="AutoScaleNotEnabled",
            )
        try:
            record = _run_record(evaluate(formula, _inputs(account, pool)), None)
        except FormulaError as e:
            record = _run_record(None, e)
        headers = entity_headers(pool.doc)
        headers["DataServiceId"] = str(pool.doc["url"])
    record["odata.metadata"] = (
        f"{account.base_url}/$metadata#Microsoft.Azure.Batch.Protocol.Entities.AutoScaleRun"
    )
    return Response(200, record, headers)


def enable_at_creation(account: Account, pool: PoolRecord, body: dict[str, Any]) -> None:
    """`enableAutoScale` in a create-pool body: validate, then size the pool by the formula."""
    if (
        body.get("targetDedicatedNodes") is not None
        or body.get("targetLowPriorityNodes") is not None
    ):
        raise BadRequest(
            "The specified auto-scaling settings are not valid.",
            code="InvalidAutoScalingSettings",
            values={"Reason": "target node counts cannot be set together with enableAutoScale"},
        )
    formula = _formula(body)
    interval = _interval(body, "PT15M")
    _check(formula, _inputs(account, pool))
    pool.doc["enableAutoScale"] = True
    pool.doc["autoScaleFormula"] = formula
    pool.doc["autoScaleEvaluationInterval"] = interval
    apply_autoscale(account, pool)
