"""Memory and CPU of a server process and its children, read from /proc.

A server's figure is its whole process tree: the Functions host's language worker, Azurite
behind its launcher, the task processes the Batch service runs. CPU is cumulative: every
live process's own time plus the time of the children it has already reaped."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROC = Path("/proc")
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")
MiB = 1024 * 1024


@dataclass(frozen=True)
class ProcStat:
    """The fields of /proc/<pid>/stat the sampler needs."""

    pid: int
    ppid: int
    cpu_ticks: int  # utime + stime + cutime + cstime
    rss_bytes: int


def read_stat(pid: int, proc: Path = PROC) -> ProcStat | None:
    """One process's figures, or None if it is gone (or not readable)."""
    try:
        raw = (proc / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces or parentheses: split after it.
    fields = raw[raw.rindex(")") + 2 :].split()
    return ProcStat(
        pid=pid,
        ppid=int(fields[1]),
        cpu_ticks=sum(int(f) for f in fields[11:15]),
        rss_bytes=int(fields[21]) * PAGE_BYTES,
    )


def all_stats(proc: Path = PROC) -> dict[int, ProcStat]:
    found: dict[int, ProcStat] = {}
    for entry in proc.iterdir():
        if entry.name.isdigit() and (stat := read_stat(int(entry.name), proc)) is not None:
            found[stat.pid] = stat
    return found


def tree(root: int, stats: Mapping[int, ProcStat]) -> list[ProcStat]:
    """`root` and every live descendant of it (empty if `root` is gone)."""
    children: dict[int, list[int]] = {}
    for s in stats.values():
        children.setdefault(s.ppid, []).append(s.pid)
    if root not in stats:
        return []
    out: list[ProcStat] = []
    todo = [root]
    while todo:
        pid = todo.pop()
        out.append(stats[pid])
        todo.extend(children.get(pid, []))
    return out


@dataclass(frozen=True)
class Usage:
    """One server's process tree at one moment."""

    rss_bytes: int
    leader_rss_bytes: int
    cpu_seconds: float
    processes: int

    @property
    def rss_mib(self) -> float:
        return round(self.rss_bytes / MiB, 1)


def usage(root: int, stats: Mapping[int, ProcStat]) -> Usage | None:
    found = tree(root, stats)
    if not found:
        return None
    return Usage(
        rss_bytes=sum(s.rss_bytes for s in found),
        leader_rss_bytes=found[0].rss_bytes,
        cpu_seconds=sum(s.cpu_ticks for s in found) / TICKS,
        processes=len(found),
    )


@dataclass(frozen=True)
class Sample:
    at: float  # seconds since the sampler started
    servers: dict[str, Usage]


class Sampler:
    """Samples every server's tree every `interval` seconds on a thread of its own, and on
    demand (`sample`). `pids` is asked each time: a restarted server has a new pid."""

    def __init__(self, pids: Callable[[], Mapping[str, int]], interval: float = 5.0) -> None:
        self._pids = pids
        self._interval = interval
        self._started = time.monotonic()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.samples: list[Sample] = []

    def sample(self) -> Sample:
        stats = all_stats()
        servers = {
            name: found
            for name, pid in self._pids().items()
            if (found := usage(pid, stats)) is not None
        }
        taken = Sample(round(time.monotonic() - self._started, 2), servers)
        with self._lock:
            self.samples.append(taken)
        return taken

    def start(self) -> Sampler:
        self._thread = threading.Thread(target=self._loop, name="soak-sampler", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self.sample()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def summary(self) -> dict[str, Any]:
        """Per server: RSS at start, peak (and when) and end, CPU seconds over the run and
        the largest number of processes in its tree."""
        with self._lock:
            samples = list(self.samples)
        out: dict[str, Any] = {"samples": len(samples)}
        names = sorted({n for s in samples for n in s.servers})
        for name in names:
            seen = [(s.at, s.servers[name]) for s in samples if name in s.servers]
            peak_at, peak = max(seen, key=lambda p: p[1].rss_bytes)
            first, last = seen[0][1], seen[-1][1]
            span = seen[-1][0] - seen[0][0]
            cpu = last.cpu_seconds - first.cpu_seconds
            out[name] = {
                "rss_mib_start": round(first.rss_bytes / MiB, 1),
                "rss_mib_peak": round(peak.rss_bytes / MiB, 1),
                "rss_mib_peak_at_seconds": peak_at,
                "rss_mib_end": round(last.rss_bytes / MiB, 1),
                "leader_rss_mib_start": round(first.leader_rss_bytes / MiB, 1),
                "leader_rss_mib_end": round(last.leader_rss_bytes / MiB, 1),
                "cpu_seconds": round(cpu, 1),
                "cpu_percent_of_one_core": round(100 * cpu / span, 1) if span > 0 else None,
                "max_processes": max(u.processes for _, u in seen),
            }
        return out
