"""Reaching into the running stack from outside: fault rules over the servers' admin
endpoints (Batch service, Cosmos server, storage fault proxy), and SIGKILL for the Functions
host, the Batch service, a running task's process and the reconciler mid-tick."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import ssl
import time
import urllib.request
from pathlib import Path
from typing import Any

from devstack.restarts import restart_batch, restart_functions
from devstack.stack import Stack

ADMIN = "/_devstack/faults"
TARGETS = ("batch", "cosmos", "storage")
EXECUTING = re.compile(r"Executing 'Functions\.reconcile_timer' \(Id=([^)]+)\)")


class Faults:
    """The fault rules of the stack's three HTTP servers."""

    def __init__(self, stack: Stack) -> None:
        assert stack.batch and stack.cosmos and stack.storage_proxy, "a chaos stack is needed"
        self._urls = {
            "batch": stack.batch.url.rstrip("/") + ADMIN,
            "cosmos": stack.cosmos.endpoint.rstrip("/") + ADMIN,
            "storage": str(stack.storage_proxy.ready_info["url"]).rstrip("/") + ADMIN,
        }
        self._tls = ssl.create_default_context(cafile=str(stack.cosmos.ca_cert))

    def _call(self, target: str, method: str, rule: dict[str, Any] | None = None) -> Any:
        data = json.dumps(rule).encode() if rule is not None else None
        request = urllib.request.Request(self._urls[target], data=data, method=method)
        request.add_header("Content-Type", "application/json")
        tls = self._tls if target == "cosmos" else None
        with urllib.request.urlopen(request, timeout=10, context=tls) as response:
            return json.loads(response.read() or b"null")

    def add(self, target: str, **rule: Any) -> None:
        """Add one rule (see `devstack.faultrules`) on `target` (batch, cosmos, storage)."""
        self._call(target, "POST", rule)

    def fired(self) -> int:
        """How often the active rules have fired, over every server."""
        return sum(r["fired"] for t in TARGETS for r in self._call(t, "GET")["faults"])

    def clear(self) -> None:
        for target in TARGETS:
            self._call(target, "DELETE")


def kill_functions(stack: Stack, down: float = 1.0) -> None:
    """SIGKILL the Functions host (its whole process group), then start it again."""
    assert stack.functions is not None
    with contextlib.suppress(ProcessLookupError):
        os.killpg(stack.functions.pid, signal.SIGKILL)
    restart_functions(stack, down)


def kill_batch(stack: Stack, down: float = 1.0) -> None:
    """SIGKILL the Batch service's process (its tasks are left running, orphaned, as a crash
    would leave them), then start it again on its port and state folder."""
    assert stack.batch is not None
    with contextlib.suppress(ProcessLookupError):
        os.kill(stack.batch.process.pid, signal.SIGKILL)
    restart_batch(stack, down)


def task_processes(stack: Stack) -> list[int]:
    """The pids of the task processes running on the stack's nodes (found by the
    AZ_BATCH_TASK_DIR the service gives each task, under its nodes' folder)."""
    nodes = f"AZ_BATCH_TASK_DIR={stack.state_dir / 'batch-nodes'}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(v.startswith(nodes) and b"/startup" not in v for v in environ):
            found.append(int(proc.name))
    return found


def kill_tasks(stack: Stack, most: int, wait: float = 30.0) -> int:
    """SIGKILL the process groups of up to `most` running tasks, once one runs; how many."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        groups = {os.getpgid(pid) for pid in task_processes(stack) if _alive(pid)}
        if groups:
            for pgid in sorted(groups)[:most]:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pgid, signal.SIGKILL)
            return min(len(groups), most)
        time.sleep(0.05)
    return 0


def _alive(pid: int) -> bool:
    try:
        os.getpgid(pid)
    except ProcessLookupError:
        return False
    return True


def kill_reconciler_mid_tick(stack: Stack, wait: float = 30.0) -> bool:
    """SIGKILL the Functions host while a reconcile tick runs (its log says `Executing` and
    not yet `Executed` for that invocation), then start it again; whether one was caught."""
    assert stack.functions is not None
    log = stack.functions.log_path
    start = log.stat().st_size
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        with open(log, "rb") as f:
            f.seek(start)
            text = f.read().decode("utf-8", "replace")
        if any(not _executed(text, i) for i in EXECUTING.findall(text)):
            kill_functions(stack)
            return True
        time.sleep(0.02)
    return False


def _executed(text: str, invocation: str) -> bool:
    return any(
        "Executed 'Functions.reconcile_timer'" in line and invocation in line
        for line in text.splitlines()
    )
