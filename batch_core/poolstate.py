"""What Batch has: a pool's properties as dropbatch compares them with its plan, and how
busy a pool has been (for deleting idle pools)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from azure.batch import models

if TYPE_CHECKING:
    from batch_core.pools import PoolPlan


def _file_text(f: models.ResourceFile) -> str:
    source = f.http_url or f.storage_container_url or ""
    if f.blob_prefix:
        source += "/" + f.blob_prefix
    return f"{source} -> {f.file_path or ''}"


def _text(value: object) -> str | None:
    return None if value is None else str(getattr(value, "value", value))


def pool_properties(pool: models.BatchPool | models.BatchPoolCreateOptions) -> dict[str, object]:
    """What dropbatch compares between its plan and the pool Batch has, by property name;
    the same function reads both, so a difference is a real one."""
    vmc = pool.virtual_machine_configuration
    img = vmc.image_reference if vmc else None
    props: dict[str, object] = {
        "vm_size": (pool.vm_size or "").lower(),
        "image": ":".join(
            str(getattr(img, k, None) or "") for k in ("publisher", "offer", "sku", "version")
        ),
        "node_agent_sku": vmc.node_agent_sku_id if vmc else None,
        "task_slots_per_node": pool.task_slots_per_node or 1,
        "enable_auto_scale": bool(pool.enable_auto_scale),
    }
    if pool.enable_auto_scale:
        props["auto_scale_formula"] = pool.auto_scale_formula
    else:
        props["target_dedicated_nodes"] = pool.target_dedicated_nodes or 0
        props["target_low_priority_nodes"] = pool.target_low_priority_nodes or 0
    policy = pool.task_scheduling_policy
    props["node_fill"] = _text(policy.node_fill_type) if policy else "spread"
    cc = vmc.container_configuration if vmc else None
    props["container_images"] = sorted(cc.container_image_names or []) if cc else []
    props["container_registries"] = (
        sorted(r.registry_server or "" for r in cc.container_registries or []) if cc else []
    )
    start = pool.start_task
    props["start_task.command_line"] = start.command_line if start else None
    if start is not None:
        props["start_task.resource_files"] = sorted(
            _file_text(f) for f in start.resource_files or []
        )
        props["start_task.environment"] = sorted(
            f"{e.name}={e.value or ''}" for e in start.environment_settings or []
        )
        auto = start.user_identity.auto_user if start.user_identity else None
        props["start_task.elevation"] = _text(auto.elevation_level if auto else None) or "nonadmin"
        props["start_task.max_retries"] = start.max_task_retry_count or 0
    return props


@dataclass(frozen=True)
class PoolUse:
    """What cleanup knows of a pool: tasks not finished on it, and when it last did work
    (its creation, a resize, or a task ending there)."""

    pool_id: str
    unfinished_tasks: int
    last_activity: dt.datetime


def idle_pools_to_delete(
    plans: Iterable[PoolPlan], uses: Iterable[PoolUse], now: dt.datetime
) -> list[str]:
    """Pools dropbatch created with `delete_when_idle` that have had nothing to do for that
    long. External pools and pools no plan names are never deleted."""
    idle_for = {
        p.pool_id: p.delete_when_idle
        for p in plans
        if p.managed == "data" and p.delete_when_idle is not None
    }
    return sorted(
        u.pool_id
        for u in uses
        if u.pool_id in idle_for
        and u.unfinished_tasks == 0
        and now - u.last_activity >= idle_for[u.pool_id]
    )
