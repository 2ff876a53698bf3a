"""Peak memory while extracting a 1 GiB (uncompressed) archive stays under 150 MB.

Opt-in (slow): DROPBATCH_SLOW_TESTS=1 pytest tests/worker -m slow -s
The worker runs as a subprocess and reports its own peak RSS (VmHWM) in the task log; the
kernel's ru_maxrss would also count the test process it was forked from.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
import zipfile
from pathlib import Path

import pytest

from tests.worker.node import INCOMING, LOGS, WorkerStack, file_key, unique
from worker.contract import worker_log_path

pytestmark = [pytest.mark.stack, pytest.mark.slow]

GiB = 1024**3
LIMIT_BYTES = 150 * 1000 * 1000


def write_big_zip(path: Path, total: int, entries: int) -> None:
    """CSV entries of realistic-looking rows, streamed into the archive (never in memory)."""
    per_entry = total // entries
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for n in range(entries):
            with archive.open(f"part{n}.csv", "w", force_zip64=True) as out:
                written = 0
                header = b"id,postal_cd,country_cd,city_name,state_abbrv,latitude,longitude\n"
                out.write(header)
                written += len(header)
                row = 0
                while written < per_entry:
                    lines = []
                    for _ in range(10_000):
                        row += 1
                        lines.append(
                            f"{row},{row % 99999:05d},US,City{row % 7919},NC,"
                            f"{30 + (row * 7919 % 10_000_000) / 1e6:.6f},"
                            f"{-80 - (row * 104729 % 10_000_000) / 1e6:.6f}\n"
                        )
                    chunk = "".join(lines).encode()
                    out.write(chunk)
                    written += len(chunk)


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("size", [GiB // 8, GiB], ids=["128MiB", "1GiB"])
def test_extracting_an_archive_keeps_peak_rss_under_150mb_whatever_its_size(
    worker_stack: WorkerStack, tmp_path: Path, size: int
) -> None:
    zip_path = tmp_path / "big.zip"
    write_big_zip(zip_path, size, entries=4)
    uncompressed = sum(i.file_size for i in zipfile.ZipFile(zip_path).infolist())
    assert uncompressed >= size
    name = unique("big.zip")
    client = worker_stack.blobs.get_blob_client(INCOMING, name)
    with open(zip_path, "rb") as data:
        etag = str(client.upload_blob(data, overwrite=True, max_concurrency=4)["etag"])
    key = file_key(INCOMING, name, etag)
    env = worker_stack.task_env("zip", name, etag, key)
    workdir = worker_stack.root / "tasks" / uuid.uuid4().hex
    workdir.mkdir(parents=True)
    env["AZ_BATCH_TASK_WORKING_DIR"] = str(workdir)

    started = time.monotonic()
    with open(tmp_path / "stderr.txt", "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "worker"], cwd=workdir, env=env, stderr=err)
        proc.wait()
    elapsed = time.monotonic() - started

    log = json.loads(worker_stack.read(LOGS, worker_log_path(name, key)))
    peak = int(log["peak_rss_bytes"])
    print(
        f"\npeak RSS {peak / 1e6:.1f} MB extracting {uncompressed / 1e9:.2f} GB"
        f" ({zip_path.stat().st_size / 1e6:.0f} MB compressed) in {elapsed:.0f}s"
    )
    assert proc.returncode == 0, (tmp_path / "stderr.txt").read_text()
    assert peak < LIMIT_BYTES
    assert list(workdir.iterdir()) == []
