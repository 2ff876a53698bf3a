"""Fixtures for the local Functions host: Azurite on free ports and the host as a process.

Azurite runs once per session in a temporary folder. Each test writes its own small
function app, picks its own host id and container names, and runs the host as a real
subprocess whose stdout (the ready line) and stderr (JSON log lines) are collected.
Every process started here is stopped at teardown, its whole process group included.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
AZURITE = ROOT / "node_modules" / ".bin" / "azurite"
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
WAIT_SECONDS = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _stop_group(process: subprocess.Popen[Any], grace: float = 10.0) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream is not None:
            stream.close()


@dataclass(frozen=True)
class Azurite:
    """A running Azurite: its ports and the well-known development connection string."""

    blob_port: int
    queue_port: int

    @property
    def connection_string(self) -> str:
        return (
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
            f"AccountKey={DEV_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{self.blob_port}/devstoreaccount1;"
            f"QueueEndpoint=http://127.0.0.1:{self.queue_port}/devstoreaccount1;"
        )


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    if not AZURITE.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"azurite is not installed at {AZURITE}")
        pytest.skip("azurite is not installed (npm install)")
    location = tmp_path_factory.mktemp("azurite")
    ports = [free_port() for _ in range(3)]
    process = subprocess.Popen(
        [
            str(AZURITE),
            "--silent",
            "--disableTelemetry",
            "--skipApiVersionCheck",
            "--location",
            str(location),
            "--blobPort",
            str(ports[0]),
            "--queuePort",
            str(ports[1]),
            "--tablePort",
            str(ports[2]),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + WAIT_SECONDS
        while not (_port_open(ports[0]) and _port_open(ports[1])):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"azurite did not start (exit code {process.poll()})")
            time.sleep(0.1)
        yield Azurite(ports[0], ports[1])
    finally:
        _stop_group(process)


class HostProcess:
    """The host running as a subprocess, with its output collected line by line."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devstack.funchost", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            start_new_session=True,
            cwd=ROOT,
        )
        self.stdout: list[str] = []
        self.logs: list[dict[str, Any]] = []
        self.raw_stderr: list[str] = []
        self._changed = threading.Condition()
        self._readers = [
            threading.Thread(
                target=self._read, args=(self.process.stdout, self.stdout), daemon=True
            ),
            threading.Thread(target=self._read, args=(self.process.stderr, None), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream: Any, sink: list[str] | None) -> None:
        for line in stream:
            with self._changed:
                if sink is not None:
                    sink.append(line.rstrip("\n"))
                else:
                    self.raw_stderr.append(line.rstrip("\n"))
                    try:
                        self.logs.append(json.loads(line))
                    except ValueError:
                        self.logs.append({"unparsed": line.rstrip("\n")})
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_until(
        self, condition: Callable[[], bool], what: str, timeout: float = WAIT_SECONDS
    ) -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not condition():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"timed out waiting for {what}; stderr tail:\n"
                        + "\n".join(self.raw_stderr[-30:])
                    )
                self._changed.wait(min(remaining, 0.5))

    def ready_line(self) -> dict[str, Any]:
        def ready() -> bool:
            return bool(self.stdout) or self.process.poll() is not None

        self.wait_until(ready, "the ready line")
        assert self.stdout, "host exited before it was ready:\n" + "\n".join(self.raw_stderr)
        document: dict[str, Any] = json.loads(self.stdout[0])
        return document

    def events(self, event: str, **fields: Any) -> list[dict[str, Any]]:
        with self._changed:
            return [
                entry
                for entry in self.logs
                if entry.get("event") == event and all(entry.get(k) == v for k, v in fields.items())
            ]

    def wait_for_events(self, event: str, count: int = 1, **fields: Any) -> list[dict[str, Any]]:
        self.wait_until(
            lambda: len(self.events(event, **fields)) >= count, f"{count} x {event} {fields}"
        )
        return self.events(event, **fields)

    def stop(self, timeout: float = WAIT_SECONDS, sig: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        code = self.process.wait(timeout)
        for reader in self._readers:
            reader.join(10)
        return code

    def wait_exit(self, timeout: float = WAIT_SECONDS) -> int:
        code = self.process.wait(timeout)
        for reader in self._readers:
            reader.join(10)
        return code

    def kill(self) -> None:
        _stop_group(self.process)


@dataclass
class FunctionApp:
    """A function app written into a temporary directory by a test."""

    directory: Path
    host_id: str
    suffix: str

    @property
    def record_file(self) -> Path:
        return self.directory / "record.jsonl"

    def records(self) -> list[dict[str, Any]]:
        if not self.record_file.exists():
            return []
        lines = self.record_file.read_text().splitlines()
        return [json.loads(line) for line in lines if line.strip()]


class AppFactory:
    """Writes function apps and starts hosts for them; stops every host at teardown."""

    def __init__(self, tmp_path: Path) -> None:
        self._tmp = tmp_path
        self._hosts: list[HostProcess] = []

    def write(
        self,
        source: str,
        values: dict[str, str],
        host_json: dict[str, Any] | None = None,
        name: str = "app",
    ) -> FunctionApp:
        suffix = uuid.uuid4().hex[:8]
        directory = self._tmp / name
        directory.mkdir()
        app = FunctionApp(directory, f"test-{suffix}", suffix)
        (directory / "function_app.py").write_text(
            textwrap.dedent(source).replace("SUFFIX", suffix)
        )
        all_values = {"FUNCHOST_TEST_RECORD": str(app.record_file), **values}
        (directory / "local.settings.json").write_text(
            json.dumps({"IsEncrypted": False, "Values": all_values})
        )
        (directory / "host.json").write_text(json.dumps(host_json or {"version": "2.0"}))
        return app

    def start(self, app: FunctionApp, *extra: str, poll_seconds: float = 0.2) -> HostProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AzureWebJobs")}
        host = HostProcess(
            [
                "--app-dir",
                str(app.directory),
                "--host-id",
                app.host_id,
                "--poll-seconds",
                str(poll_seconds),
                *extra,
            ],
            env,
        )
        self._hosts.append(host)
        return host

    def close(self) -> None:
        for host in self._hosts:
            host.kill()


@pytest.fixture
def apps(tmp_path: Path) -> Iterator[AppFactory]:
    factory = AppFactory(tmp_path)
    yield factory
    factory.close()
