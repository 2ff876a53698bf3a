"""Pool plans: for each `[pool.<alias>]` of the routebook, the pool dropbatch creates (a
`data` pool) or expects to find (an `external` one), and the properties it compares with the
pool Batch has. A field the routes file leaves out takes the app's `DROPBATCH_BATCH_*`
setting, so the `default` pool with no routes file is exactly the pool of those settings."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from azure.batch import models

from batch_core.poolstate import PoolUse as PoolUse  # cleanup finds both here
from batch_core.poolstate import idle_pools_to_delete as idle_pools_to_delete
from batch_core.poolstate import pool_properties
from batch_core.routebook import Pool, Routebook
from batch_core.routebook.pools import DEFAULT_POOL, StartResourceFile
from batch_core.routebook.sources import split_source
from batch_core.settings import Settings
from batch_core.startscript import install_worker_command, venv_python_command
from batch_core.workerwheel import worker_wheel

AUTOSCALE_INTERVAL = dt.timedelta(minutes=5)  # the shortest Batch allows
_SAFE_WORD = re.compile(r"[A-Za-z0-9._/+-]+")


def autoscale_formula(
    max_nodes: int, slots_per_node: int, spot_max: int = 0, slots_per_task: int = 1
) -> str:
    """Nodes follow the queue: enough for the pending tasks (active and running), dedicated
    nodes first up to `max_nodes`, then spot nodes up to `spot_max`; none when there is no
    work, so an idle pool costs nothing. Nodes finish their running tasks before they go.
    (Batch's documented pattern: the last sample, or the recent average when enough samples
    exist.) Batch's formulas count tasks, not slots (there is no pending-slots variable), so
    each task is taken to need `slots_per_task` slots: the most any route on the pool asks."""
    demand = "$tasks" if slots_per_task == 1 else f"$tasks * {slots_per_task}"
    head = [
        "$samples = $PendingTasks.GetSamplePercent(TimeInterval_Minute * 5);",
        "$recent = max(0, $PendingTasks.GetSample(1));",
        "$tasks = $samples < 70 ? $recent : "
        "max($recent, avg($PendingTasks.GetSample(TimeInterval_Minute * 5)));",
    ]
    if spot_max == 0:
        targets = [f"$TargetDedicatedNodes = min({max_nodes}, ceil({demand} / {slots_per_node}));"]
    else:
        targets = [
            f"$nodes = ceil({demand} / {slots_per_node});",
            f"$TargetDedicatedNodes = min({max_nodes}, $nodes);",
            f"$TargetLowPriorityNodes = min({spot_max}, max(0, $nodes - {max_nodes}));",
        ]
    return "\n".join([*head, *targets, "$NodeDeallocationOption = taskcompletion;"])


@dataclass(frozen=True)
class PoolPlan:
    """One pool of the routebook. `create` is what dropbatch sends to create a data pool
    (None for an external pool); `expected` are the properties compared with the pool Batch
    has (see `pool_properties`)."""

    alias: str
    pool_id: str
    managed: Literal["data", "external"]
    create: models.BatchPoolCreateOptions | None = field(compare=False, repr=False)
    expected: Mapping[str, object]
    installs_worker: bool
    # The worker wheel's blob name in the assets container when the start task installs it.
    worker_wheel: str | None = None
    delete_when_idle: dt.timedelta | None = None


def plan_pools(book: Routebook, settings: Settings) -> dict[str, PoolPlan]:
    """A plan per pool alias; `default` is always there, declared or not."""
    pools = {DEFAULT_POOL: Pool(), **book.pools}
    return {
        alias: plan_pool(alias, pool, settings, _slots_per_task(book, alias))
        for alias, pool in pools.items()
    }


def default_plan(settings: Settings) -> PoolPlan:
    """The pool of the `DROPBATCH_BATCH_*` settings (no routes file)."""
    return plan_pool(DEFAULT_POOL, Pool(), settings)


def _slots_per_task(book: Routebook, alias: str) -> int:
    tasks = [
        t
        for r in book.routes
        if book.pool_alias(r) == alias
        for t in (r.task, r.merge)
        if t is not None
    ]
    return max((t.required_slots for t in tasks), default=1)


def plan_pool(alias: str, pool: Pool, settings: Settings, slots_per_task: int = 1) -> PoolPlan:
    """The plan of one pool; fields left out take the app's `DROPBATCH_BATCH_*` settings."""
    pool_id = pool.id or settings.batch_pool_id
    if pool.id is None and alias != DEFAULT_POOL:
        raise ValueError(f"pool '{alias}' has no id")  # the routes file checks forbid it
    if pool.managed == "external":
        expected = (
            {}
            if pool.task_slots_per_node is None
            else {"task_slots_per_node": pool.task_slots_per_node}
        )
        return PoolPlan(alias, pool_id, "external", None, expected, pool.installs_worker(alias))
    wheel = worker_wheel().blob_name if pool.install_worker is True else None
    create = _create_options(pool_id, pool, settings, slots_per_task, wheel)
    return PoolPlan(
        alias=alias,
        pool_id=pool_id,
        managed="data",
        create=create,
        expected=pool_properties(create),
        installs_worker=pool.installs_worker(alias),
        worker_wheel=wheel,
        delete_when_idle=pool.delete_when_idle,
    )


def _create_options(
    pool_id: str, pool: Pool, s: Settings, slots_per_task: int, wheel: str | None
) -> models.BatchPoolCreateOptions:
    slots = pool.task_slots_per_node or s.batch_task_slots_per_node
    dedicated = s.batch_max_nodes if pool.dedicated_max is None else pool.dedicated_max
    spot = pool.spot_max or 0
    autoscale = s.batch_autoscale if pool.autoscale is None else pool.autoscale
    formula = (
        autoscale
        if isinstance(autoscale, str)
        else autoscale_formula(dedicated, slots, spot, slots_per_task)
        if autoscale
        else None
    )
    image = pool.image or s.batch_vm_image
    publisher, offer, sku, version = (image.split(":") + ["latest"] * 4)[:4]
    return models.BatchPoolCreateOptions(
        id=pool_id,
        vm_size=pool.vm_size or s.batch_vm_size,
        virtual_machine_configuration=models.VirtualMachineConfiguration(
            image_reference=models.BatchVmImageReference(
                publisher=publisher, offer=offer, sku=sku, version=version
            ),
            node_agent_sku_id=pool.node_agent_sku or s.batch_node_agent_sku,
            container_configuration=_containers(pool, s),
        ),
        task_slots_per_node=slots,
        target_dedicated_nodes=None if formula else dedicated,
        target_low_priority_nodes=None if formula or not spot else spot,
        enable_auto_scale=formula is not None,
        auto_scale_formula=formula,
        auto_scale_evaluation_interval=AUTOSCALE_INTERVAL if formula else None,
        start_task=_start_task(pool, s, wheel),
        task_scheduling_policy=(
            models.BatchTaskSchedulingPolicy(
                node_fill_type=models.BatchNodeFillType(pool.node_fill)
            )
            if pool.node_fill
            else None
        ),
    )


def _identity(s: Settings) -> models.BatchNodeIdentityReference | None:
    if not s.worker_identity_id:
        return None
    return models.BatchNodeIdentityReference(resource_id=s.worker_identity_id)


def _containers(pool: Pool, s: Settings) -> models.BatchContainerConfiguration | None:
    if pool.containers is None:
        return None
    registry = pool.containers.registry
    return models.BatchContainerConfiguration(
        type=models.ContainerType.DOCKER_COMPATIBLE,
        container_image_names=list(pool.containers.images),
        # Pulled as the pool's identity: never a user name and password.
        container_registries=(
            [
                models.ContainerRegistryReference(
                    registry_server=registry.server, identity_reference=_identity(s)
                )
            ]
            if registry
            else None
        ),
    )


def resource_file(source: str, path: str, s: Settings) -> models.ResourceFile:
    """A start task's file: `config:<path>` (a blob or, ending in `/`, every blob under that
    prefix, read as the worker identity) or a plain `https://` URL."""
    kind, rest = split_source(source)
    if kind == "https":
        return models.ResourceFile(http_url=rest, file_path=path)
    if kind != "config":
        raise ValueError(f"{source}: a start task's files come from config: or https:// only")
    container = f"{s.blob_endpoint}/{s.container_config}"
    if rest.endswith("/"):
        return models.ResourceFile(
            storage_container_url=container,
            blob_prefix=rest,
            file_path=path,
            identity_reference=_identity(s),
        )
    from urllib.parse import quote

    return models.ResourceFile(
        http_url=f"{container}/{quote(rest)}", file_path=path, identity_reference=_identity(s)
    )


def base_python(s: Settings) -> str:
    """The node's Python: the first word of `DROPBATCH_WORKER_COMMAND` when it names one
    (locally, the stack's interpreter), else `python3`."""
    first = s.worker_command.split()[0] if s.worker_command.split() else ""
    name = first.rsplit("/", 1)[-1]
    return first if name.startswith("python") and _SAFE_WORD.fullmatch(first) else "python3"


def _start_task(pool: Pool, s: Settings, wheel: str | None) -> models.BatchStartTask | None:
    user = pool.start_task
    if user is None and wheel is None:
        return None
    files: list[StartResourceFile] = list(user.resource_files) if user else []
    command = user.command if user else None
    if wheel is not None:
        name = wheel.rsplit("/", 1)[-1]
        files.insert(0, StartResourceFile(source=f"config:{wheel}", path=name))
        command = install_worker_command(base_python(s), name, then=command)
    assert command is not None
    # Installing the worker may need the system's package manager (python3-venv): admin,
    # unless the pool's own start task says otherwise.
    elevated = user.elevated if user and "elevated" in user.model_fields_set else wheel is not None
    return models.BatchStartTask(
        command_line=command,
        resource_files=[resource_file(f.source, f.path, s) for f in files],
        environment_settings=(
            [models.EnvironmentSetting(name=k, value=v) for k, v in sorted(user.env.items())]
            if user and user.env
            else None
        ),
        user_identity=models.UserIdentity(
            auto_user=models.AutoUserSpecification(
                scope=models.AutoUserScope.POOL,
                elevation_level=(
                    models.ElevationLevel.ADMIN if elevated else models.ElevationLevel.NON_ADMIN
                ),
            )
        ),
        max_task_retry_count=user.max_retries if user else 2,
        wait_for_success=True,
    )


def worker_command_for(plan: PoolPlan, settings: Settings) -> str:
    """How a built-in route's task runs the worker on the plan's pool: the start task's venv
    when the pool installs the worker, else `DROPBATCH_WORKER_COMMAND` (the image has it)."""
    return venv_python_command("-m worker") if plan.worker_wheel else settings.worker_command
