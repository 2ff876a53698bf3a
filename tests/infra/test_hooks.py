"""The postdeploy hooks agree with the app and the template: the webhook names the blob
trigger that function_app.py registers, and every value a hook needs is a template output."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

from devstack.stack import EVENTS_PER_BATCH
from tests.infra.bicep import BicepFile
from tests.infra.conftest import INFRA

HOOKS = INFRA / "hooks"
SH = HOOKS / "postdeploy.sh"
PS1 = HOOKS / "postdeploy.ps1"


def blob_trigger_names(app: ModuleType) -> set[str]:
    return {
        f.get_function_name()
        for f in app.app.get_functions()
        if f.get_trigger() is not None and f.get_trigger().get_binding_name() == "blobTrigger"
    }


def hook_function_names() -> dict[str, str]:
    sh = re.findall(r"^FUNCTION_NAME=(\w+)$", SH.read_text(), re.M)
    ps1 = re.findall(r"^\$FunctionName = '(\w+)'$", PS1.read_text(), re.M)
    assert len(sh) == 1 and len(ps1) == 1, "each hook names the function once"
    return {"sh": sh[0], "pwsh": ps1[0]}


@pytest.fixture(scope="module")
def blob_triggers(function_app: ModuleType) -> set[str]:
    return blob_trigger_names(function_app)


def test_the_webhook_calls_the_blob_trigger_function_app_registers(
    blob_triggers: set[str],
) -> None:
    assert len(blob_triggers) == 1
    assert set(hook_function_names().values()) == blob_triggers
    assert "functionName=Host.Functions.$FUNCTION_NAME&code=" in SH.read_text()
    assert "functionName=Host.Functions.$FunctionName&code=" in PS1.read_text()


def test_the_subscription_filters_on_the_incoming_container() -> None:
    prefix = "/blobServices/default/containers/"
    for hook, incoming in (
        (SH, "$DROPBATCH_CONTAINER_INCOMING/"),
        (PS1, "$($env:DROPBATCH_CONTAINER_INCOMING)/"),
    ):
        text = hook.read_text()
        assert "--included-event-types Microsoft.Storage.BlobCreated" in text
        assert f'--subject-begins-with "{prefix}{incoming}"' in text


def test_the_hooks_batch_events_as_the_local_stack_subscribes() -> None:
    sh = re.findall(r"^EVENTS_PER_BATCH=(\d+)$", SH.read_text(), re.M)
    ps1 = re.findall(r"^\$EventsPerBatch = (\d+)$", PS1.read_text(), re.M)
    assert sh == ps1 == [str(EVENTS_PER_BATCH)]
    assert '--max-events-per-batch "$EVENTS_PER_BATCH"' in SH.read_text()
    assert "--max-events-per-batch $EventsPerBatch" in PS1.read_text()


def test_every_value_a_hook_needs_is_a_template_output() -> None:
    outputs = set(BicepFile.load(INFRA / "main.bicep").outputs)
    sh_needs = set(re.findall(r"\$\{(\w+):\?", SH.read_text()))
    ps1_list = re.search(r"foreach \(\$name in @\(([^)]*)\)\)", PS1.read_text(), re.S)
    assert ps1_list is not None
    ps1_needs = set(re.findall(r"'(\w+)'", ps1_list.group(1)))
    assert sh_needs and sh_needs - outputs == set()
    assert ps1_needs == sh_needs


def test_the_sh_hook_is_valid_sh() -> None:
    subprocess.run(["sh", "-n", str(SH)], check=True)


def test_the_worker_package_holds_the_installable_project(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("worker_package", HOOKS / "worker_package.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "dropbatch.zip"
    module.write(out)
    names = set(zipfile.ZipFile(out).namelist())
    assert {"pyproject.toml", "worker/__main__.py", "batch_core/credentials.py"} <= names
    assert not any("__pycache__" in n or n.startswith(("tests/", "devstack/")) for n in names)


def test_the_pool_installs_the_package_the_hook_uploads() -> None:
    main = (INFRA / "main.bicep").read_text()
    batch = (INFRA / "app" / "batch.bicep").read_text()
    blob = re.search(r"var workerPackageBlob = '([^']+)'", main)
    assert blob is not None and blob.group(1).endswith("/dropbatch.zip")
    assert (
        "filePath: 'dropbatch.zip'" in batch and "install" in batch and "./dropbatch.zip" in batch
    )
