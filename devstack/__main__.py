"""`python -m devstack up|down|status|run`: the local stack in the background or foreground.

up      start the stack in the background (a supervisor process) and wait until it answers
run     run the stack in the foreground until Ctrl-C or SIGTERM
down    stop the supervisor and every server it started; check no port is left bound
status  print what is running and where
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from devstack.process import port_open
from devstack.servers import ROOT
from devstack.stack import Ports, Stack

STATE_DIR = ROOT / ".devstack"
STACK_FILE = "stack.json"
UP_TIMEOUT_SECONDS = 120
STANDARD_PORTS = tuple(dataclasses.astuple(Ports.standard()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devstack",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=["up", "run", "down", "status"])
    parser.add_argument("--state-dir", type=Path, default=STATE_DIR)
    args = parser.parse_args(argv)
    state_dir: Path = args.state_dir.resolve()
    return {"up": up, "run": run, "down": down, "status": status}[args.command](state_dir)


def read_stack(state_dir: Path) -> dict[str, Any] | None:
    try:
        info = json.loads((state_dir / STACK_FILE).read_text())
    except (FileNotFoundError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def ours(pid: int) -> bool:
    """Is `pid` still one of the stack's servers?"""
    try:
        cmdline = " ".join(psutil.Process(pid).cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False
    return any(mark in cmdline for mark in ("azurite", "cosmos_server", "devstack."))


EXAMPLE_ROUTES = "examples/routes.toml"


def up(state_dir: Path) -> int:
    info = read_stack(state_dir)
    if info and alive(int(info["pid"])):
        print("the local stack is already running")
        return status(state_dir)
    (state_dir / STACK_FILE).unlink(missing_ok=True)
    busy = [p for p in STANDARD_PORTS if port_open(p)]
    if busy:
        print(
            f"ports {busy} are in use by another program; stop it (or `make down`) first",
            file=sys.stderr,
        )
        return 1
    (state_dir / "logs").mkdir(parents=True, exist_ok=True)
    with open(state_dir / "logs" / "stack.log", "ab") as out:
        supervisor = subprocess.Popen(
            [sys.executable, "-m", "devstack", "run", "--state-dir", str(state_dir)],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    print("starting the local stack (Azurite, Cosmos DB server, Batch service, Functions host)...")
    deadline = time.monotonic() + UP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        info = read_stack(state_dir)
        if info and info.get("status") == "ready":
            return status(state_dir)
        if supervisor.poll() is not None:
            print(
                f"the local stack failed to start (exit {supervisor.returncode}); "
                f"see {state_dir / 'logs'}/stack.log",
                file=sys.stderr,
            )
            return 1
        time.sleep(0.3)
    print(
        f"the local stack did not answer in {UP_TIMEOUT_SECONDS}s; see {state_dir}/logs",
        file=sys.stderr,
    )
    supervisor.terminate()  # it stops whatever it had started
    with contextlib.suppress(subprocess.TimeoutExpired):
        supervisor.wait(30)
    return 1


def run(state_dir: Path) -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stack = Stack(state_dir, persist_cosmos=True)
    try:
        # The local stack runs the example routes: the built-in programs and two of a user's
        # own (examples/routes.toml); set DROPBATCH_ROUTES_FILE in local.settings to change.
        stack.start(Ports.standard(), overrides={"DROPBATCH_ROUTES_FILE": EXAMPLE_ROUTES})
    except Exception as e:
        print(f"start-up failed: {e}", file=sys.stderr)
        return 1
    shutil.copyfile(stack.settings_file, ROOT / "local.settings.json")
    info = {"status": "ready", "pid": os.getpid(), **stack.describe()}
    (state_dir / STACK_FILE).write_text(json.dumps(info, indent=2))
    print(json.dumps({"event": "ready", **info}), flush=True)
    try:
        while not stop.wait(2.0):
            for proc in stack.processes():
                if not proc.running():
                    print(f"{proc.name} exited; see {proc.log_path}", file=sys.stderr, flush=True)
    finally:
        stack.stop()
        (state_dir / STACK_FILE).unlink(missing_ok=True)
    return 0


def down(state_dir: Path) -> int:
    info = read_stack(state_dir)
    if not info:
        print("the local stack is not running")
        return 0
    pid = int(info["pid"])
    if alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
    # A supervisor that stopped cleanly removed the stack file. If it is still there, the
    # supervisor was killed: its servers may be left, and go now, group by group, if they are
    # still ours (a process id may have been reused since).
    if (state_dir / STACK_FILE).exists():
        for child in (info.get("pids") or {}).values():
            if ours(int(child)):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(int(child), signal.SIGKILL)
    (state_dir / STACK_FILE).unlink(missing_ok=True)
    deadline = time.monotonic() + 10  # killed servers take a moment to let go of ports
    while (bound := [p for p in STANDARD_PORTS if port_open(p)]) and time.monotonic() < deadline:
        time.sleep(0.2)
    if bound:
        print(f"stopped, but ports {bound} are still bound by another program", file=sys.stderr)
        return 1
    print("the local stack is stopped; its data stays in .devstack (delete it to start afresh)")
    return 0


def status(state_dir: Path) -> int:
    info = read_stack(state_dir)
    if not info or not alive(int(info["pid"])):
        print("the local stack is not running: `make up` starts it")
        return 1
    print("local stack:")
    for name in ("blob", "queue", "cosmos", "batch", "functions", "settings", "logs"):
        print(f"  {name:<10} {info.get(name)}")
    print("  cosmos data lives in memory; `make down` saves it to .devstack/cosmos-snapshot.json")
    if info.get("status_page"):
        print(f"status page: {info['status_page']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
