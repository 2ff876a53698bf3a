"""What a cell drops: CSVs, a zip of CSVs, a command route's inputs (one that succeeds, one
its program rejects), a file no route takes and a fan-out sweep; the routes file that runs
them, and what each file must end as."""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

from batch_core.assets import Assets
from batch_core.blobstore import blob_service
from batch_core.pipeline import Pipeline
from devstack.sweepapp import APP_DIR, task_and_merge

ROWS = 3
ZIP_ENTRIES = 2
SWEEP_ITEMS = 3
HEADER = "id,postal_cd,country_cd,city_name,state_abbrv,latitude,longitude\n"
SWEEP_APP = "sweep/chaos/app"

ROUTES = f"""
version = 1

[defaults]
pool = "default"
max_attempts = 5
backoff = "2s"
max_wall_clock = "5m"

[pool.default]

[[route]]
name = "sweep"
match = ["**/sweeps/*.json"]
kind = "command"
[route.fanout]
source = "items"
fields = {{ seed = {{ type = "int", min = 0 }}, start = {{ type = "int", min = 0 }}, stop = {{ type = "int", min = 0 }} }}
{task_and_merge(SWEEP_APP)}

[[route]]
name = "zips"
match = ["**.zip"]
kind = "zip"

[[route]]
name = "csv"
match = ["**.csv"]
kind = "csv"
csv = {{ group_by = "state_abbrv", latitude = "latitude", longitude = "longitude" }}

[[route]]
name = "size"
match = ["**/cmd/*.txt"]
kind = "command"
exit_codes = {{ reject = [3] }}
[route.task]
command = '''/bin/sh -c 'test -s "{{base}}" || exit 3; mkdir -p out; wc -c < "{{base}}" > out/size.txt' '''
resource_files = [{{ source = "input", path = "{{base}}" }}]
outputs = [{{ pattern = "out/size.txt", to = "results:{{results}}/size.txt", upload = "task_success" }}]
"""  # noqa: E501 - TOML inline tables stay on one line


@dataclass(frozen=True)
class Expected:
    """One dropped file and how it must end."""

    name: str  # the blob's name in `incoming`
    data: bytes
    state: str  # succeeded, rejected or failed
    kind: str  # csv, zip, command, fanout, none
    rows: int = 0  # csv: data rows; zip: rows of each entry
    parts: int = 0  # zip: CSV entries; fan-out: members

    @property
    def incident(self) -> bool:
        """Whether the file must raise one alert."""
        return self.state in ("failed", "rejected")


def csv_of(tag: int, rows: int = ROWS) -> bytes:
    body = "".join(f"{r},0600{r},US,Town{tag},CT,41.{tag},-72.{r}\n" for r in range(1, rows + 1))
    return (HEADER + body).encode()


def zip_of(entries: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for e in range(entries):
            archive.writestr(f"part{e}.csv", csv_of(100 + e))
    return buffer.getvalue()


def sweep_of(items: int) -> bytes:
    listed = [{"seed": i, "start": 10 * i, "stop": 10 * i + 10} for i in range(items)]
    return json.dumps({"global": {"power": 2}, "items": listed}).encode()


def mix(prefix: str, csvs: int) -> list[Expected]:
    """The files of one cell, under `prefix` (which ends with '/')."""
    files = [
        Expected(f"{prefix}csv/f{i:03d}.csv", csv_of(i), "succeeded", "csv", rows=ROWS)
        for i in range(csvs)
    ]
    files += [
        Expected(f"{prefix}zip/bundle.zip", zip_of(ZIP_ENTRIES), "succeeded", "zip", ROWS,
                 ZIP_ENTRIES),
        Expected(f"{prefix}cmd/hello.txt", b"hello, chaos\n", "succeeded", "command"),
        Expected(f"{prefix}cmd/empty.txt", b"", "rejected", "command"),
        Expected(f"{prefix}notes.bin", b"no route takes this", "rejected", "none"),
        Expected(f"{prefix}sweeps/sweep.json", sweep_of(SWEEP_ITEMS), "succeeded", "fanout",
                 parts=SWEEP_ITEMS),
    ]  # fmt: skip
    return files


def write_routes(folder: Path) -> Path:
    """The routes file the chaos stack runs with."""
    path = folder / "chaos-routes.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(ROUTES, encoding="utf-8")
    return path


def push_programs(p: Pipeline) -> None:
    """The sweep's member and merge programs, to the assets container."""
    assets = Assets(blob_service(p.settings), p.settings)
    assets.provision()
    assets.push(APP_DIR, SWEEP_APP)
