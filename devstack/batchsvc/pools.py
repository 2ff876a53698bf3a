"""Pool operations: create, get, exists, list, delete (and, through `account.grow`, nodes)."""

from __future__ import annotations

from typing import Any

from devstack.batchsvc import conditions, scaling
from devstack.batchsvc import validation as v
from devstack.batchsvc.account import Account
from devstack.batchsvc.errors import Conflict
from devstack.batchsvc.messages import Request, Response, accepted, created, entity_headers
from devstack.batchsvc.odata import ListQuery, page, select
from devstack.batchsvc.registry import PoolRecord, public, touch, transition
from devstack.batchsvc.scheduler import KILL_REQUEUE
from devstack.batchsvc.timestamps import iso, now

_COPIED = (
    "displayName",
    "virtualMachineConfiguration",
    "networkConfiguration",
    "startTask",
    "applicationPackageReferences",
    "userAccounts",
    "metadata",
    "mountConfiguration",
    "upgradePolicy",
    # Only api-versions before 2025-06-01 define these; responses drop them for newer ones.
    "resourceTags",
    "targetNodeCommunicationMode",
    "applicationLicenses",
)


def render(account: Account, pool: PoolRecord) -> dict[str, Any]:
    doc = public(pool.doc)
    doc["odata.metadata"] = f"{account.base_url}/$metadata#pools/@Element"
    return doc


def create_pool(account: Account, request: Request) -> Response:
    body = request.json()
    pool_id = v.entity_id(body)
    vm_size = v.require(body, "vmSize")
    slots = v.integer(body, "taskSlotsPerNode", 1, 1, 256)
    dedicated = v.integer(body, "targetDedicatedNodes", 0, 0, 1000)
    low = v.integer(body, "targetLowPriorityNodes", 0, 0, 1000)
    policy = body.get("taskSchedulingPolicy") or {"nodeFillType": "spread"}
    if policy.get("nodeFillType") not in ("spread", "pack"):
        raise v.invalid(
            "taskSchedulingPolicy.nodeFillType", policy.get("nodeFillType"), "spread or pack"
        )
    v.duration(body, "resizeTimeout")
    _start_task(body)
    with account.registry.lock:
        existing = account.registry.pools.get(pool_id)
        if existing is not None:
            if existing.doc.get("state") == "deleting":
                raise Conflict(
                    "The specified pool has been marked for deletion and is being reclaimed.",
                    code="PoolBeingDeleted",
                )
            raise Conflict("The specified pool already exists.", code="PoolExists")
        moment = iso(now())
        doc: dict[str, Any] = {
            "id": pool_id,
            "url": account.registry.url(f"/pools/{pool_id}"),
            "creationTime": moment,
            "state": "active",
            "stateTransitionTime": moment,
            "allocationState": "steady",
            "allocationStateTransitionTime": moment,
            "vmSize": str(vm_size).lower(),
            "resizeTimeout": body.get("resizeTimeout") or "PT15M",
            "currentDedicatedNodes": 0,
            "currentLowPriorityNodes": 0,
            "targetDedicatedNodes": dedicated,
            "targetLowPriorityNodes": low,
            "enableAutoScale": False,
            "enableInterNodeCommunication": bool(body.get("enableInterNodeCommunication", False)),
            "taskSlotsPerNode": slots,
            "taskSchedulingPolicy": policy,
        }
        for key in _COPIED:
            if body.get(key) is not None:
                doc[key] = body[key]
        touch(doc)
        pool = PoolRecord(account.registry.next_seq(), doc)
        if body.get("enableAutoScale"):
            scaling.enable_at_creation(account, pool, body)
        else:
            account.grow(pool, dedicated, low)
        account.registry.pools[pool_id] = pool
        account.registry.save_pool(pool)
        return created(doc)


def get_pool(account: Account, request: Request) -> Response:
    with account.registry.lock:
        pool = account.pool(request.path_args["poolId"])
        conditions.check(request, pool.doc)
        doc = render(account, pool)
    fields = request.params.get("$select")
    return Response(200, select(doc, fields.split(",") if fields else None), entity_headers(doc))


def pool_exists(account: Account, request: Request) -> Response:
    with account.registry.lock:
        pool = account.registry.pools.get(request.path_args["poolId"])
        if pool is None:
            return Response(404)
        conditions.check(request, pool.doc)
        return Response(200, None, entity_headers(pool.doc))


def list_pools(account: Account, request: Request) -> Response:
    query = ListQuery.from_params(request.params)
    with account.registry.lock:
        items = [(p.seq, render(account, p)) for p in account.registry.pools.values()]
    for _, doc in items:
        doc.pop("odata.metadata", None)
    items.sort(key=lambda item: item[0])
    body = page(items, query, account.registry.url("/pools"))
    body["odata.metadata"] = f"{account.base_url}/$metadata#pools"
    return Response(200, body)


def delete_pool(account: Account, request: Request) -> Response:
    with account.registry.lock:
        pool = account.pool(request.path_args["poolId"])
        conditions.check(request, pool.doc)
        if pool.doc.get("state") == "deleting":
            raise Conflict(
                "The specified pool has been marked for deletion and is being reclaimed.",
                code="PoolBeingDeleted",
            )
        transition(pool.doc, "deleting")
        account.registry.save_pool(pool)
        account.scheduler.kill_pool(pool.id, KILL_REQUEUE)
        account.scheduler.wake()
        return accepted()


def _start_task(body: dict[str, Any]) -> dict[str, Any] | None:
    start = body.get("startTask")
    if start is None:
        return None
    if not isinstance(start, dict) or not start.get("commandLine"):
        raise v.missing("startTask.commandLine")
    return start


def update_pool(account: Account, request: Request) -> Response:
    """PATCH: only the properties in the body change; a new start task runs on new nodes."""
    body = request.json()
    start = _start_task(body)
    with account.registry.lock:
        pool = account.pool(request.path_args["poolId"])
        conditions.check(request, pool.doc)
        if start is not None:
            pool.doc["startTask"] = start
        for key in (
            "metadata",
            "applicationPackageReferences",
            "displayName",
            "targetNodeCommunicationMode",
            "resourceTags",
        ):
            if key in body:
                pool.doc[key] = body[key]
        touch(pool.doc)
        account.registry.save_pool(pool)
        headers = entity_headers(pool.doc)
        headers["DataServiceId"] = str(pool.doc["url"])
    return Response(200, None, headers)


def replace_pool_properties(account: Account, request: Request) -> Response:
    """updateproperties: start task, metadata and packages replaced; absent ones cleared."""
    body = request.json()
    start = _start_task(body)
    with account.registry.lock:
        pool = account.pool(request.path_args["poolId"])
        if start is None:
            pool.doc.pop("startTask", None)
        else:
            pool.doc["startTask"] = start
        pool.doc["metadata"] = v.name_values(body, "metadata")
        pool.doc["applicationPackageReferences"] = body.get("applicationPackageReferences") or []
        touch(pool.doc)
        account.registry.save_pool(pool)
        headers = entity_headers(pool.doc)
        headers["DataServiceId"] = str(pool.doc["url"])
    return Response(204, None, headers)
