"""The soak's figures: trigger latency per wave and overall, when each wave's tasks ended, and
the servers' memory as one point per wave."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bench.harness import percentile, rounded
from devstack.soak.plan import Planned
from devstack.soak.sampler import Sample


@dataclass(frozen=True)
class TaskTimes:
    """A file's first Batch task: when it was created and when it ended."""

    created: dt.datetime | None
    ended: dt.datetime | None


@dataclass(frozen=True)
class WaveDrop:
    """When a wave's uploads started (epoch seconds) and when each file's upload returned."""

    started_at: float
    uploaded_at: Mapping[str, float]  # file name -> epoch seconds


def latency_stats(values: Sequence[float]) -> dict[str, float | int | None]:
    return {
        "count": len(values),
        "p50": rounded(percentile(values, 50)),
        "p95": rounded(percentile(values, 95)),
        "max": rounded(max(values) if values else None),
    }


def wave_figures(
    waves: Sequence[Sequence[Planned]],
    drops: Sequence[WaveDrop],
    keys: Mapping[str, str],
    first_tasks: Mapping[str, TaskTimes],
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Per wave and overall: trigger latency (a file's upload returned -> its first task's
    creationTime) and, per wave, seconds from its first upload to its last task's end.
    `first_tasks` is keyed by the first 32 characters of the file key."""
    per_wave: list[dict[str, Any]] = []
    everything: list[float] = []
    for planned, drop in zip(waves, drops, strict=True):
        latencies: list[float] = []
        ends: list[float] = []
        for f in planned:
            times = first_tasks.get(keys[f.name][:32])
            if times is None:
                continue
            if times.created is not None:
                latencies.append(times.created.timestamp() - drop.uploaded_at[f.name])
            if times.ended is not None:
                ends.append(times.ended.timestamp())
        everything.extend(latencies)
        per_wave.append(
            {
                "wave": planned[0].wave if planned else len(per_wave),
                "files": len(planned),
                "trigger_latency_seconds": latency_stats(latencies),
                "seconds_until_tasks_ended": rounded(
                    max(ends) - drop.started_at if ends else None, 2
                ),
            }
        )
    return per_wave, latency_stats(everything)


def memory_series(points: Sequence[tuple[str, Sample]]) -> list[dict[str, Any]]:
    """One labelled point per wave (and the end): each server's RSS in MiB, its CPU seconds
    so far and since the point before (does a wave cost more as the stack fills?)."""
    series: list[dict[str, Any]] = []
    before: Sample | None = None
    for label, sample in points:
        series.append(
            {
                "at": label,
                "seconds": sample.at,
                "rss_mib": {n: u.rss_mib for n, u in sample.servers.items()},
                "cpu_seconds": {n: round(u.cpu_seconds, 1) for n, u in sample.servers.items()},
                "cpu_seconds_since_previous": {
                    n: round(u.cpu_seconds - before.servers[n].cpu_seconds, 1)
                    for n, u in sample.servers.items()
                    if before is not None and n in before.servers
                },
            }
        )
        before = sample
    return series
