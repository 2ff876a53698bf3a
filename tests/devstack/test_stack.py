"""The local stack starts every server, answers, and stops leaving nothing behind."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest

from devstack.process import port_open
from devstack.stack import Stack

pytestmark = pytest.mark.stack


def ports_of(stack: Stack) -> list[int]:
    assert stack.azurite and stack.cosmos and stack.batch
    cosmos_port = int(stack.cosmos.endpoint.rstrip("/").rsplit(":", 1)[1])
    batch_port = int(stack.batch.url.rsplit(":", 1)[1])
    return [stack.azurite.blob_port, stack.azurite.queue_port, cosmos_port, batch_port]


def test_stopping_the_stack_leaves_no_process_and_no_bound_port(tmp_path: Path) -> None:
    stack = Stack(tmp_path, persist_cosmos=True).start(with_functions=True)
    pids = [p.pid for p in stack.processes()]
    family = {c.pid for pid in pids for c in psutil.Process(pid).children(recursive=True)}
    ports = ports_of(stack)
    assert all(port_open(port) for port in ports)

    stack.stop()

    alive = [pid for pid in [*pids, *family] if psutil.pid_exists(pid)
             and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]  # fmt: skip
    assert alive == []
    assert [port for port in ports if port_open(port)] == []


def test_cosmos_data_survives_a_restart_of_the_stack(tmp_path: Path) -> None:
    from batch_core.cosmosdb import RUNS, cosmos_client
    from batch_core.settings import Settings

    first = Stack(tmp_path, persist_cosmos=True).start(with_functions=False)
    runs = (
        cosmos_client(Settings.from_env(first.values))
        .get_database_client("dropbatch")
        .get_container_client(RUNS)
    )
    runs.upsert_item({"id": "kept", "state": "succeeded"})
    first.stop()

    second = Stack(tmp_path, persist_cosmos=True).start(with_functions=False)
    try:
        again = (
            cosmos_client(Settings.from_env(second.values))
            .get_database_client("dropbatch")
            .get_container_client(RUNS)
        )
        assert again.read_item("kept", partition_key="kept")["state"] == "succeeded"
    finally:
        second.stop()
