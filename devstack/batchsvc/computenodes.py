"""Compute node operations: list and get nodes, enable and disable task scheduling on them."""

from __future__ import annotations

import shutil
from typing import Any

from devstack.batchsvc import validation as v
from devstack.batchsvc.account import Account
from devstack.batchsvc.errors import Conflict, NotFound
from devstack.batchsvc.messages import Request, Response
from devstack.batchsvc.odata import ListQuery, page, select
from devstack.batchsvc.registry import Node, PoolRecord, public, transition
from devstack.batchsvc.scheduler import KILL_REQUEUE, KILL_TERMINATE

_INTERNAL = ("eTag", "lastModified", "previousState", "previousStateTransitionTime")


def render(account: Account, pool: PoolRecord, node: Node) -> dict[str, Any]:
    """The node as Batch shows it; idle/running follows what runs on it right now."""
    doc = {k: v for k, v in public(node.doc).items() if k not in _INTERNAL}
    if doc.get("state") in ("idle", "running"):
        doc["state"] = "running" if node.running else "idle"
    doc["runningTasksCount"] = len(node.running)
    doc["runningTaskSlotsCount"] = node.used_slots
    doc["recentTasks"] = [
        {
            "taskUrl": account.registry.url(f"/jobs/{job_id}/tasks/{task_id}"),
            "jobId": job_id,
            "taskId": task_id,
            "taskState": "running",
        }
        for job_id, task_id in node.running
    ]
    return doc


def find_node(account: Account, request: Request) -> tuple[PoolRecord, Node]:
    pool = account.pool(request.path_args["poolId"])
    node = pool.nodes.get(request.path_args["nodeId"])
    if node is None:
        raise NotFound(
            "The specified node does not exist.",
            code="NodeNotFound",
            values={"NodeId": request.path_args["nodeId"]},
        )
    return pool, node


def list_nodes(account: Account, request: Request) -> Response:
    query = ListQuery.from_params(request.params)
    pool_id = request.path_args["poolId"]
    with account.registry.lock:
        pool = account.pool(pool_id)
        items = [(n.seq, render(account, pool, n)) for n in pool.nodes.values()]
    items.sort(key=lambda item: item[0])
    body = page(items, query, account.registry.url(f"/pools/{pool_id}/nodes"))
    body["odata.metadata"] = f"{account.base_url}/$metadata#nodes"
    return Response(200, body)


def get_node(account: Account, request: Request) -> Response:
    with account.registry.lock:
        pool, node = find_node(account, request)
        doc = render(account, pool, node)
    doc["odata.metadata"] = f"{account.base_url}/$metadata#nodes/@Element"
    fields = request.params.get("$select")
    return Response(200, select(doc, fields.split(",") if fields else None))


def disable_scheduling(account: Account, request: Request) -> Response:
    body = request.json(required=False)
    option = str(body.get("nodeDisableSchedulingOption") or "requeue")
    with account.registry.lock:
        _, node = find_node(account, request)
        if node.doc.get("schedulingState") == "disabled":
            raise Conflict(
                "The node is already in the target scheduling state.",
                code="NodeAlreadyInTargetSchedulingState",
            )
        node.doc["schedulingState"] = "disabled"
        if option in ("requeue", "terminate"):
            reason = KILL_REQUEUE if option == "requeue" else KILL_TERMINATE
            for job_id, task_id in list(node.running):
                account.scheduler.kill_task(job_id, task_id, reason)
        account.registry.save_node(node)
    return Response(200, None, {"DataServiceId": str(node.doc["url"])})


def enable_scheduling(account: Account, request: Request) -> Response:
    with account.registry.lock:
        _, node = find_node(account, request)
        node.doc["schedulingState"] = "enabled"
        account.registry.save_node(node)
    account.scheduler.wake()
    return Response(200, None, {"DataServiceId": str(node.doc["url"])})


_COUNTED = (
    "creating",
    "idle",
    "offline",
    "preempted",
    "rebooting",
    "reimaging",
    "running",
    "starting",
    "startTaskFailed",
    "leavingPool",
    "unknown",
    "unusable",
    "waitingForStartTask",
    "deallocated",
    "deallocating",
    "upgradingOS",
)


def node_counts(account: Account, request: Request) -> Response:
    """Per pool, how many dedicated and spot nodes are in each state."""
    query = ListQuery.from_params(request.params)
    items: list[tuple[int, dict[str, Any]]] = []
    with account.registry.lock:
        for pool in account.registry.pools.values():
            kinds: dict[bool, dict[str, int]] = {
                dedicated: {name: 0 for name in (*_COUNTED, "total")} for dedicated in (True, False)
            }
            for node in pool.nodes.values():
                state = str(render(account, pool, node)["state"])
                counts = kinds[bool(node.doc.get("isDedicated"))]
                name = next((c for c in _COUNTED if c.lower() == state), "unknown")
                counts[name] += 1
                counts["total"] += 1
            entry = {"poolId": pool.id, "dedicated": kinds[True], "lowPriority": kinds[False]}
            items.append((pool.seq, entry))
    items.sort(key=lambda item: item[0])
    body = page(items, query, account.registry.url("/nodecounts"))
    body["odata.metadata"] = f"{account.base_url}/$metadata#poolnodecounts"
    return Response(200, body)


def _restart_node(account: Account, request: Request, option_key: str, state: str) -> Response:
    """Reboot or reimage: the node's tasks are handled per the option, then it starts again."""
    body = request.json(required=False)
    option = str(body.get(option_key) or "requeue").lower()
    if option not in ("requeue", "terminate", "taskcompletion", "retaineddata"):
        raise v.invalid(option_key, option, "requeue, terminate, taskcompletion or retaineddata")
    with account.registry.lock:
        pool, node = find_node(account, request)
        if node.doc.get("state") in ("rebooting", "reimaging"):
            raise Conflict(
                f"The node is already {node.doc.get('state')}.",
                code="NodeBeingRebooted" if state == "rebooting" else "NodeBeingReimaged",
            )
        # Waiting for running tasks is not modelled: they are requeued like `requeue`.
        reason = KILL_TERMINATE if option == "terminate" else KILL_REQUEUE
        for job_id, task_id in list(node.running):
            account.scheduler.kill_task(job_id, task_id, reason)
        transition(node.doc, state)
        account.registry.save_node(node)
        if state == "reimaging":
            shutil.rmtree(node.root / "workitems", ignore_errors=True)
    account.scheduler.restart_node_later(pool, node)
    return Response(202, None, {"DataServiceId": str(node.doc["url"])})


def reboot_node(account: Account, request: Request) -> Response:
    return _restart_node(account, request, "nodeRebootOption", "rebooting")


def reimage_node(account: Account, request: Request) -> Response:
    return _restart_node(account, request, "nodeReimageOption", "reimaging")
