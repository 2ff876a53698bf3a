"""Start a local server as a child process, wait until it answers, stop it and its children."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)


class StartError(RuntimeError):
    """A local server did not become ready; the message says which and where its log is."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


class ManagedProcess:
    """One server process in its own process group; its output goes to a log file.

    Readiness is either a JSON line `{"event": "ready", ...}` on stdout (our own servers) or a
    predicate such as "the port accepts connections" (third-party servers).
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        *,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        ready_line: bool = True,
        ready_check: Callable[[], bool] | None = None,
        new_session: bool = True,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.cwd = cwd
        self.env = env
        self.ready_line = ready_line
        self.ready_check = ready_check
        self.new_session = new_session
        self.ready_info: dict[str, Any] = {}
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._ready = threading.Event()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 60.0) -> ManagedProcess:
        """Start the process (again, after `stop`) and wait until it is ready."""
        self._ready.clear()
        self.ready_info = {}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            self.argv,
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log,
            start_new_session=self.new_session,
        )
        threading.Thread(target=self._pump, name=f"{self.name}-stdout", daemon=True).start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise StartError(
                    f"{self.name} exited with code {self.proc.returncode} during start-up; "
                    f"see its log {self.log_path}"
                )
            if self.ready_line and self._ready.wait(0.1):
                return self
            if not self.ready_line and self.ready_check is not None and self.ready_check():
                return self
            if not self.ready_line:
                time.sleep(0.1)
        self.stop()
        raise StartError(f"{self.name} did not answer within {timeout:.0f}s; see {self.log_path}")

    def _pump(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for raw in self.proc.stdout:
            if self._log is not None and not self._log.closed:
                with contextlib.suppress(ValueError):
                    self._log.write(raw)
                    self._log.flush()
            if not self._ready.is_set() and raw.lstrip().startswith(b"{"):
                with contextlib.suppress(ValueError):
                    info = json.loads(raw)
                    if isinstance(info, dict) and info.get("event") == "ready":
                        self.ready_info = info
                        self._ready.set()

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM the process group, then SIGKILL what is left after `grace` seconds."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                log.warning("%s ignored SIGTERM for %.0fs; killing it", self.name, grace)
        # Whatever the leader left behind in its group goes too.
        self._signal(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        if self._log is not None:
            self._log.close()

    def _signal(self, sig: int) -> None:
        assert self.proc is not None
        try:
            if self.new_session:
                os.killpg(self.proc.pid, sig)
            else:
                self.proc.send_signal(sig)
        except (ProcessLookupError, PermissionError):
            pass
