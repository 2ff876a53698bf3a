"""The real Azure CLI (`az batch`, api-version 2024-02-01.19.0) against the local service.

Opt-in: the CLI lives in its own virtual environment (`.venv-azcli`, its pinned dependencies
clash with the project's), made and used by `make azcli-test`. Without that venv these tests
are skipped, in CI too: installing the CLI takes minutes, and the api-version shapes it relies
on are covered on every run by test_apiversions.py.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.devstack.batchsvc.blobstore import REPO_ROOT
from tests.devstack.batchsvc.conftest import RunningService, wait_until

AZ = REPO_ROOT / ".venv-azcli" / "bin" / "az"

pytestmark = [
    pytest.mark.azcli,
    pytest.mark.stack,
    pytest.mark.skipif(
        not AZ.exists(), reason="the Azure CLI venv is absent: run `make azcli-test`"
    ),
]


class AzureCli:
    """`az batch ...` with the service's SharedKey account; the key goes by environment only,
    so that it is neither in the process list nor in the CLI's command log."""

    def __init__(self, service: RunningService, config_dir: Path) -> None:
        self.service = service
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(config_dir),
            "AZURE_CONFIG_DIR": str(config_dir),
            "AZURE_CORE_COLLECT_TELEMETRY": "no",
            "AZURE_CORE_NO_COLOR": "true",
            "AZURE_BATCH_ACCESS_KEY": service.key,
        }

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(AZ), "batch", *args]
        command += ["--account-name", self.service.account]
        command += ["--account-endpoint", self.service.url, "--output", "json"]
        return subprocess.run(
            command, env=self.env, capture_output=True, text=True, timeout=120, check=False
        )

    def json(self, *args: str) -> Any:
        done = self.run(*args)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if done.stdout.strip() else None


@pytest.fixture(scope="module")
def az(service: RunningService, tmp_path_factory: pytest.TempPathFactory) -> AzureCli:
    return AzureCli(service, tmp_path_factory.mktemp("azure-cli-config"))


def test_the_cli_creates_a_pool_job_and_task_and_lists_and_shows_them(
    az: AzureCli, ids: Callable[[str], str]
) -> None:
    pool_id, job_id = ids("pool"), ids("job")

    az.json(
        "pool", "create", "--id", pool_id, "--vm-size", "standard_d2s_v3",
        "--target-dedicated-nodes", "1",
        "--image", "canonical:0001-com-ubuntu-server-jammy:22_04-lts",
        "--node-agent-sku-id", "batch.node.ubuntu 22.04",
    )  # fmt: skip
    az.json("job", "create", "--id", job_id, "--pool-id", pool_id)
    az.json(
        "task", "create", "--job-id", job_id, "--task-id", "hello",
        "--command-line", "/bin/sh -c 'echo hello from az'",
    )  # fmt: skip

    pools = az.json("pool", "list")
    shown = az.json("pool", "show", "--pool-id", pool_id)
    jobs = az.json("job", "list")
    task = wait_until(
        lambda: (
            (t := az.json("task", "show", "--job-id", job_id, "--task-id", "hello"))["state"]
            == "completed"
            and t
        ),
        timeout=60,
        interval=0.2,
    )
    tasks = az.json("task", "list", "--job-id", job_id)
    nodes = az.json("node", "list", "--pool-id", pool_id)

    assert pool_id in [p["id"] for p in pools]
    assert shown["targetDedicatedNodes"] == 1
    assert shown["virtualMachineConfiguration"]["nodeAgentSkuId"] == "batch.node.ubuntu 22.04"
    assert job_id in [j["id"] for j in jobs]
    assert task["executionInfo"]["exitCode"] == 0
    assert [t["id"] for t in tasks] == ["hello"]
    assert len(nodes) == 1


def test_the_cli_reports_batch_errors_by_their_code(
    az: AzureCli, ids: Callable[[str], str]
) -> None:
    done = az.run("pool", "show", "--pool-id", ids("missing"))

    assert done.returncode != 0
    assert "PoolNotFound" in done.stderr
