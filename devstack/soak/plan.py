"""What the soak drops: the file mix, the waves it comes in, and the routes file it runs on.

Most files take a light command route (a shell one-liner counting the file's lines into an
output blob): they soak the trigger, the ledger, the submitter, the Batch service and the
reconciler at a few milliseconds of task CPU each. A share are real CSV files on the built-in
`csv` route, so the worker and the Cosmos path are soaked too (about half a second of CPU per
task on a small machine), and a smaller share match no route and must end `rejected` without
a Batch task. The mix is deterministic: the same arguments give the same files."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bench.data import csv_bytes

CSV_ROWS = 20
LIGHT_POOL_ID = "soak-light"
LIGHT_NODES = 2
LIGHT_SLOTS = 8
OUTPUT_NAME = "lines.txt"


class Kind(StrEnum):
    """Which route a soak file takes, and so what it must end as."""

    LIGHT = "light"  # the command route: succeeded, one output blob
    CSV = "csv"  # the csv route: succeeded, CSV_ROWS Cosmos records
    UNROUTED = "unrouted"  # no route matches: rejected, no Batch task

    @property
    def expected_state(self) -> str:
        return "rejected" if self is Kind.UNROUTED else "succeeded"

    @property
    def has_task(self) -> bool:
        return self is not Kind.UNROUTED


EXTENSIONS = {Kind.LIGHT: "txt", Kind.CSV: "csv", Kind.UNROUTED: "bin"}


@dataclass(frozen=True)
class Mix:
    """Shares of the files that are CSV and unrouted; the rest take the light route."""

    csv: float = 0.06
    unrouted: float = 0.01

    def __post_init__(self) -> None:
        if self.csv < 0 or self.unrouted < 0 or self.csv + self.unrouted > 1:
            raise ValueError(
                f"file mix: csv share {self.csv} and unrouted share {self.unrouted} must be "
                "non-negative and add up to at most 1"
            )

    def kinds(self, files: int) -> list[Kind]:
        """The kinds of `files` files, each share spread evenly so every wave has its own. An
        unrouted file due where a CSV falls takes the next light file's place
        (at the end, the last light file's)."""
        out: list[Kind] = []
        owed = 0
        for index in range(files):
            owed += _crosses(index, self.unrouted)
            if _crosses(index, self.csv):
                out.append(Kind.CSV)
            elif owed:
                out.append(Kind.UNROUTED)
                owed -= 1
            else:
                out.append(Kind.LIGHT)
        for index in range(files - 1, -1, -1):  # due at the very end: the last light files
            if owed and out[index] is Kind.LIGHT:
                out[index] = Kind.UNROUTED
                owed -= 1
        return out

    def as_json(self) -> dict[str, float]:
        return {
            "light_command": round(1 - self.csv - self.unrouted, 4),
            "csv": self.csv,
            "unrouted": self.unrouted,
        }


def _crosses(index: int, share: float) -> bool:
    """True for about `share` of all indexes, evenly spaced (a Bresenham step)."""
    return int((index + 1) * share) > int(index * share)


@dataclass(frozen=True)
class Planned:
    """One file the soak drops."""

    index: int
    wave: int
    name: str
    kind: Kind

    @property
    def data(self) -> bytes:
        if self.kind is Kind.CSV:
            return csv_bytes(CSV_ROWS, first=self.index * CSV_ROWS)
        lines = self.index % 7 + 1
        return "".join(f"soak file {self.index} line {n}\n" for n in range(lines)).encode()

    @property
    def line_count(self) -> int:
        return self.data.count(b"\n")


def plan_waves(files: int, wave: int, prefix: str, mix: Mix | None = None) -> list[list[Planned]]:
    """`files` files in waves of `wave` (the last one may be smaller), named under `prefix`."""
    if files < 1 or wave < 1:
        raise ValueError(f"files ({files}) and wave size ({wave}) must be at least 1")
    mix = mix or Mix()
    waves: list[list[Planned]] = []
    for index, kind in enumerate(mix.kinds(files)):
        number = index // wave
        if number == len(waves):
            waves.append([])
        name = f"{prefix}w{number:03d}/{kind.value}-{index:06d}.{EXTENSIONS[kind]}"
        waves[number].append(Planned(index, number, name, kind))
    return waves


ROUTES = f"""\
# Written by the soak: a light command route on a pool of its own, the built-in csv route.
version = 1

[pool.light]
id = "{LIGHT_POOL_ID}"
autoscale = false
dedicated_max = {LIGHT_NODES}
task_slots_per_node = {LIGHT_SLOTS}

[[route]]
name = "soak-csv"
match = ["**.csv"]
kind = "csv"

[[route]]
name = "soak-lines"
match = ["**.txt"]
kind = "command"
pool = "light"
[route.task]
command = '''/bin/sh -c 'wc -l < "{{base}}" > {OUTPUT_NAME}' '''
resource_files = [{{ source = "input", path = "{{base}}" }}]
outputs = [{{ pattern = "{OUTPUT_NAME}", to = "results:{{results}}/{OUTPUT_NAME}", \
upload = "task_success" }}]
"""
