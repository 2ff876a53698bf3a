"""Pool plans from the routes file, without servers: the SDK models each field becomes, the
request body checked against Batch's REST description, and today's pool when there is no
routes file."""

from __future__ import annotations

import datetime as dt
import io
import json
import shlex
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from azure.batch import models

from batch_core.pools import (
    AUTOSCALE_INTERVAL,
    autoscale_formula,
    default_plan,
    plan_pools,
    worker_command_for,
)
from batch_core.poolstate import PoolUse, idle_pools_to_delete
from batch_core.routebook import builtin_routebook, parse_routes
from batch_core.settings import Settings
from batch_core.workerwheel import REQUIREMENTS, build_wheel, worker_wheel
from devstack.batchsvc.autoscale import evaluate
from tests.devstack.batchsvc.contract import validate

ROOT = Path(__file__).resolve().parents[2]
IDENTITY = (
    "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.ManagedIdentity/"
    "userAssignedIdentities/w"
)


def settings(**overrides: str) -> Settings:
    values = json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]
    return Settings.from_env({**values, "DROPBATCH_WORKER_IDENTITY_ID": IDENTITY, **overrides})


def todays_spec(s: Settings) -> models.BatchPoolCreateOptions:
    """The pool dropbatch created from its settings before there were routes files."""
    publisher, offer, sku, version = (s.batch_vm_image.split(":") + ["latest"] * 4)[:4]
    return models.BatchPoolCreateOptions(
        id=s.batch_pool_id,
        vm_size=s.batch_vm_size,
        virtual_machine_configuration=models.VirtualMachineConfiguration(
            image_reference=models.BatchVmImageReference(
                publisher=publisher, offer=offer, sku=sku, version=version
            ),
            node_agent_sku_id=s.batch_node_agent_sku,
        ),
        task_slots_per_node=s.batch_task_slots_per_node,
        target_dedicated_nodes=None if s.batch_autoscale else s.batch_max_nodes,
        enable_auto_scale=s.batch_autoscale,
        auto_scale_formula=(
            autoscale_formula(s.batch_max_nodes, s.batch_task_slots_per_node)
            if s.batch_autoscale
            else None
        ),
        auto_scale_evaluation_interval=AUTOSCALE_INTERVAL if s.batch_autoscale else None,
    )


def body(options: models.BatchPoolCreateOptions | None) -> dict[str, Any]:
    """The JSON the SDK sends for these options, checked against the REST description."""
    assert options is not None
    doc: dict[str, Any] = json.loads(json.dumps(options.as_dict(), default=str))
    interval = options.auto_scale_evaluation_interval
    if interval is not None:
        doc["autoScaleEvaluationInterval"] = f"PT{int(interval.total_seconds())}S"
    validate("BatchPoolCreateOptions", doc)
    return doc


@pytest.mark.parametrize("autoscale", ["true", "false"])
def test_without_a_routes_file_the_default_pool_is_todays_pool(autoscale: str) -> None:
    s = settings(DROPBATCH_BATCH_AUTOSCALE=autoscale, DROPBATCH_BATCH_MAX_NODES="3")
    plans = plan_pools(builtin_routebook(), s)
    assert list(plans) == ["default"]
    plan = plans["default"]
    assert plan.create is not None
    assert plan.create.as_dict() == todays_spec(s).as_dict()
    default = default_plan(s).create
    assert default is not None and default.as_dict() == todays_spec(s).as_dict()
    assert plan.managed == "data" and plan.installs_worker and plan.worker_wheel is None
    assert worker_command_for(plan, s) == s.worker_command
    body(plan.create)


def test_a_declared_default_pool_changes_only_the_fields_it_sets() -> None:
    s = settings()
    book = parse_routes("version = 1\n[pool.default]\nvm_size = 'standard_e4s_v5'\n", "r.toml")
    create = plan_pools(book, s)["default"].create
    assert create is not None
    expected = todays_spec(s)
    expected.vm_size = "standard_e4s_v5"
    assert create.as_dict() == expected.as_dict()


FULL = """
version = 1
[pool.render]
id = "dropbatch-render"
vm_size = "standard_d4s_v5"
image = "microsoft-dsvm:ubuntu-hpc:2204:latest"
node_agent_sku = "batch.node.ubuntu 22.04"
task_slots_per_node = 4
node_fill = "pack"
dedicated_max = 1
spot_max = 8
autoscale = true
delete_when_idle = "30m"
install_worker = true
[pool.render.start_task]
command = '''/bin/sh -c 'echo ready' '''
resource_files = [
  { source = "config:render/v1/setup.sh", path = "setup.sh" },
  { source = "config:render/v1/lib/", path = "lib/" },
  { source = "https://example.org/tools/probe.tar.gz", path = "probe.tar.gz" },
]
env = { MODE = "fast" }
max_retries = 3
[pool.render.containers]
images = ["myregistry.azurecr.io/render:1.4"]
registry = { server = "myregistry.azurecr.io" }

[[route]]
name = "render-jobs"
match = ["render/**/*.zip"]
kind = "command"
pool = "render"
[route.task]
command = "render"
required_slots = 2
"""


def test_every_field_of_a_data_pool_maps_to_the_batch_model() -> None:
    s = settings()
    plan = plan_pools(parse_routes(FULL, "routes.toml"), s)["render"]
    c = plan.create
    assert c is not None and plan.managed == "data"
    assert (c.id, c.vm_size, c.task_slots_per_node) == ("dropbatch-render", "standard_d4s_v5", 4)
    vmc = c.virtual_machine_configuration
    assert vmc is not None and vmc.node_agent_sku_id == "batch.node.ubuntu 22.04"
    image = vmc.image_reference
    assert (image.publisher, image.offer, image.sku, image.version) == (
        "microsoft-dsvm",
        "ubuntu-hpc",
        "2204",
        "latest",
    )
    # autoscale: dedicated first, then spot; 2 slots a task (the route's), 4 a node
    assert c.enable_auto_scale and c.target_dedicated_nodes is None
    assert c.auto_scale_formula == autoscale_formula(1, 4, spot_max=8, slots_per_task=2)
    assert c.auto_scale_evaluation_interval == AUTOSCALE_INTERVAL
    assert c.task_scheduling_policy is not None
    assert c.task_scheduling_policy.node_fill_type == models.BatchNodeFillType.PACK
    # containers: pulled with the worker identity, never a password
    cc = vmc.container_configuration
    assert cc is not None and cc.type == models.ContainerType.DOCKER_COMPATIBLE
    assert cc.container_image_names == ["myregistry.azurecr.io/render:1.4"]
    registry = (cc.container_registries or [])[0]
    assert registry.registry_server == "myregistry.azurecr.io" and registry.password is None
    assert registry.identity_reference is not None
    assert registry.identity_reference.resource_id == IDENTITY
    # start task: the wheel first, then the pool's own files; waits; admin (installs)
    st = c.start_task
    assert st is not None and st.wait_for_success is True and st.max_task_retry_count == 3
    assert st.user_identity is not None and st.user_identity.auto_user is not None
    assert st.user_identity.auto_user.elevation_level == models.ElevationLevel.ADMIN
    assert st.user_identity.auto_user.scope == models.AutoUserScope.POOL
    assert [(e.name, e.value) for e in st.environment_settings or []] == [("MODE", "fast")]
    wheel, setup, lib, probe = st.resource_files or []
    config = f"{s.blob_endpoint}/config"
    assert wheel.http_url == f"{config}/_dropbatch/{worker_wheel().name}".replace("+", "%2B")
    assert wheel.file_path == worker_wheel().name
    assert (setup.http_url, setup.file_path) == (f"{config}/render/v1/setup.sh", "setup.sh")
    assert (lib.storage_container_url, lib.blob_prefix, lib.file_path) == (
        config,
        "render/v1/lib/",
        "lib/",
    )
    for f in (wheel, setup, lib):
        assert f.identity_reference is not None and f.identity_reference.resource_id == IDENTITY
    assert (probe.http_url, probe.identity_reference) == (
        "https://example.org/tools/probe.tar.gz",
        None,
    )
    words = shlex.split(st.command_line)
    assert words[:2] == ["/bin/sh", "-c"] and words[-4:] == [
        "dropbatch-start",
        "/bin/sh",
        "-c",
        "echo ready",
    ]
    assert worker_wheel().name in words[2] and "?" not in st.command_line
    # what cleanup and the built-in routes need
    assert plan.delete_when_idle == dt.timedelta(minutes=30)
    assert plan.worker_wheel == worker_wheel().blob_name
    assert "dropbatch-venv/bin/python" in worker_command_for(plan, s)
    body(c)


def test_a_fixed_pool_gets_its_node_counts_and_no_identity_when_none_is_set() -> None:
    s = settings(DROPBATCH_WORKER_IDENTITY_ID="")
    book = parse_routes(
        "version = 1\n[pool.fixed]\nid = 'f'\nautoscale = false\ndedicated_max = 2\nspot_max = 3\n"
        "[pool.fixed.start_task]\ncommand = 'true'\n"
        "resource_files = [{ source = 'config:a.txt', path = 'a.txt' }]\n",
        "routes.toml",
    )
    c = plan_pools(book, s)["fixed"].create
    assert c is not None
    assert (c.enable_auto_scale, c.auto_scale_formula) == (False, None)
    assert (c.target_dedicated_nodes, c.target_low_priority_nodes) == (2, 3)
    assert c.start_task is not None and c.start_task.command_line == "true"
    assert (c.start_task.resource_files or [])[0].identity_reference is None
    user = c.start_task.user_identity
    assert user is not None and user.auto_user is not None
    assert user.auto_user.elevation_level == "nonadmin"
    body(c)


def test_an_autoscale_formula_string_is_used_as_given() -> None:
    book = parse_routes(
        "version = 1\n[pool.x]\nid = 'x'\nautoscale = '$TargetDedicatedNodes = 1;'\n", "r.toml"
    )
    c = plan_pools(book, settings())["x"].create
    assert c is not None and c.auto_scale_formula == "$TargetDedicatedNodes = 1;"


def test_an_external_pool_has_no_create_options_and_expects_only_its_slots() -> None:
    book = parse_routes(
        "version = 1\n[pool.ops]\nid = 'ops-pool'\nmanaged = 'external'\ntask_slots_per_node = 4\n",
        "r.toml",
    )
    plan = plan_pools(book, settings())["ops"]
    assert (plan.managed, plan.create, plan.worker_wheel) == ("external", None, None)
    assert plan.expected == {"task_slots_per_node": 4}


@pytest.mark.parametrize(
    ("pending", "dedicated", "spot"),
    [(0, 0, 0), (1, 1, 0), (2, 1, 0), (3, 1, 1), (12, 1, 5), (100, 1, 8)],
)
def test_the_autoscale_formula_fills_dedicated_nodes_then_spot_and_drains_to_zero(
    pending: int, dedicated: int, spot: int
) -> None:
    # 1 dedicated, 8 spot; 4 slots a node, 2 slots a task: 2 tasks a node
    formula = autoscale_formula(1, 4, spot_max=8, slots_per_task=2)
    result = evaluate(formula, {"$PendingTasks": float(pending)})
    assert result.targets["$TargetDedicatedNodes"] == dedicated
    assert result.targets["$TargetLowPriorityNodes"] == spot
    assert result.targets["$NodeDeallocationOption"] == "taskcompletion"


def test_idle_data_pools_with_delete_when_idle_are_the_ones_to_delete() -> None:
    book = parse_routes(
        "version = 1\n[pool.a]\nid = 'a'\ndelete_when_idle = '1h'\n"
        "[pool.b]\nid = 'b'\ndelete_when_idle = '1h'\n[pool.c]\nid = 'c'\n"
        "[pool.e]\nid = 'e'\nmanaged = 'external'\n",
        "r.toml",
    )
    plans = plan_pools(book, settings()).values()
    now = dt.datetime(2025, 1, 1, 12, tzinfo=dt.UTC)
    long_ago, just_now = now - dt.timedelta(hours=2), now - dt.timedelta(minutes=5)
    uses = [
        PoolUse("a", 0, long_ago),  # idle for 2 h: deleted
        PoolUse("b", 0, just_now),  # idle for 5 min: kept
        PoolUse("c", 0, long_ago),  # no delete_when_idle
        PoolUse("e", 0, long_ago),  # external: never
        PoolUse("other", 0, long_ago),  # not a pool of the routes file
    ]
    assert idle_pools_to_delete(plans, uses, now) == ["a"]
    assert idle_pools_to_delete(plans, [PoolUse("a", 1, long_ago)], now) == []


def test_the_worker_wheel_is_a_valid_wheel_named_by_its_sources(tmp_path: Path) -> None:
    wheel = worker_wheel()
    assert wheel.name.startswith("dropbatch_worker-0.1.0+") and wheel.name.endswith(
        "-py3-none-any.whl"
    )
    with zipfile.ZipFile(io.BytesIO(wheel.data)) as z:
        names = z.namelist()
        dist = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        metadata = z.read(f"{dist}/METADATA").decode()
        record = z.read(f"{dist}/RECORD").decode().splitlines()
    assert "worker/__main__.py" in names and not any("__pycache__" in n for n in names)
    assert {line.split(",")[0] for line in record} == set(names)
    assert [
        line[len("Requires-Dist: ") :] for line in metadata.splitlines() if "Requires-Dist" in line
    ] == list(REQUIREMENTS)
    # the same sources make the same file; a change makes another name
    assert build_wheel() == wheel
    copy = tmp_path / "worker"
    copy.mkdir()
    for source in (ROOT / "worker").glob("*.py"):
        (copy / source.name).write_bytes(source.read_bytes())
    (copy / "job.py").write_text((copy / "job.py").read_text() + "\n# changed\n")
    assert build_wheel(copy).name != wheel.name


def test_the_wheel_requires_what_the_project_pins_for_the_worker() -> None:
    pins = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert set(REQUIREMENTS) <= set(pins)


def test_a_pool_request_with_a_wrong_field_fails_the_schema() -> None:
    # the schema check itself can fail: a node fill Batch does not know
    doc = body(plan_pools(parse_routes(FULL, "r.toml"), settings())["render"].create)
    doc["taskSchedulingPolicy"]["nodeFillType"] = "sideways"
    with pytest.raises(jsonschema.ValidationError):
        validate("BatchPoolCreateOptions", doc)
