"""The soak's own parts, without a stack: the /proc sampler on processes the test starts, the
wave planner and file mix, the verdict on ledgers that lost, repeated or got a file wrong,
and the latency figures per wave."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from batch_core.keys import task_attempt, task_id
from devstack.soak.checks import expected_record_ids, judge, output_blob
from devstack.soak.plan import CSV_ROWS, Kind, Mix, Planned, plan_waves
from devstack.soak.report import TaskTimes, WaveDrop, memory_series, wave_figures
from devstack.soak.sampler import MiB, Sample, Sampler, Usage, all_stats, read_stat, usage
from devstack.verdict import Verdict

ALLOCATED_MIB = 64
CHILD = (
    f"import time; b = b'x' * ({ALLOCATED_MIB} << 20); print('ready', flush=True); time.sleep(60)"
)
PARENT = "import subprocess, sys; subprocess.run([sys.executable, '-c', sys.argv[1]])"  # waits


@pytest.fixture
def parent_with_child() -> Iterator[subprocess.Popen[str]]:
    """A small Python process whose child holds ALLOCATED_MIB of touched memory."""
    proc = subprocess.Popen(
        [sys.executable, "-c", PARENT, CHILD],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        yield proc
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


# the sampler ------------------------------------------------------------------------------------


def test_a_servers_usage_counts_its_children(parent_with_child: subprocess.Popen[str]) -> None:
    found = usage(parent_with_child.pid, all_stats())

    assert found is not None
    assert found.processes == 2
    assert found.rss_bytes >= ALLOCATED_MIB * MiB
    assert found.leader_rss_bytes < ALLOCATED_MIB * MiB
    assert found.cpu_seconds >= 0


def test_a_process_that_is_gone_has_no_usage() -> None:
    # Above the largest pid Linux hands out (2**22).
    assert usage(2**22 + 1, all_stats()) is None


def test_the_sampler_summarizes_start_peak_and_end_per_server(
    parent_with_child: subprocess.Popen[str],
) -> None:
    sampler = Sampler(lambda: {"server": parent_with_child.pid, "gone": 2**22 + 1})
    sampler.sample()
    sampler.sample()

    summary = sampler.summary()

    assert summary["samples"] == 2
    assert "gone" not in summary
    server = summary["server"]
    assert server["rss_mib_peak"] >= ALLOCATED_MIB
    assert server["rss_mib_start"] <= server["rss_mib_peak"]
    assert server["max_processes"] == 2


def test_a_stat_line_whose_command_name_holds_parentheses_is_read(tmp_path: Path) -> None:
    (tmp_path / "42").mkdir()
    rest = ["S", "7"] + ["0"] * 9 + ["100", "50", "3", "2"] + ["0"] * 6 + ["10"] + ["0"] * 20
    (tmp_path / "42" / "stat").write_text("42 (odd) (name) " + " ".join(rest) + "\n")

    stat = read_stat(42, tmp_path)

    assert stat is not None
    assert (stat.ppid, stat.cpu_ticks) == (7, 155)
    assert stat.rss_bytes == 10 * os.sysconf("SC_PAGE_SIZE")


# the plan ---------------------------------------------------------------------------------------


def test_files_come_in_waves_of_the_size_asked_with_the_mix_spread_over_them() -> None:
    waves = plan_waves(1000, 300, "soak/", Mix(csv=0.06, unrouted=0.01))

    assert [len(w) for w in waves] == [300, 300, 300, 100]
    kinds = [f.kind for w in waves for f in w]
    assert kinds.count(Kind.CSV) == 60
    assert kinds.count(Kind.UNROUTED) == 10
    assert [sum(f.kind is Kind.CSV for f in w) for w in waves] == [18, 18, 18, 6]
    names = [f.name for w in waves for f in w]
    assert len(set(names)) == 1000
    assert all(n.startswith("soak/") for n in names)
    assert {f.name.rsplit(".", 1)[1] for f in waves[0]} == {"txt", "csv", "bin"}


def test_a_mix_over_the_whole_is_refused() -> None:
    with pytest.raises(ValueError, match=r"csv share 0\.7 and unrouted share 0\.5"):
        Mix(csv=0.7, unrouted=0.5)


def test_a_csv_file_has_the_rows_its_records_are_checked_against() -> None:
    csv = plan_waves(20, 20, "p/", Mix(csv=1.0, unrouted=0.0))[0][3]

    assert csv.kind is Kind.CSV
    assert csv.line_count == CSV_ROWS + 1  # the header


# the verdict ------------------------------------------------------------------------------------


def three_files() -> tuple[list[Planned], dict[str, str]]:
    planned = [
        Planned(0, 0, "p/light-0.txt", Kind.LIGHT),
        Planned(1, 0, "p/csv-1.csv", Kind.CSV),
        Planned(2, 0, "p/unrouted-2.bin", Kind.UNROUTED),
    ]
    keys = {f.name: f"{f.index:x}" * 40 for f in planned}
    return planned, keys


def verdict_of(
    planned: list[Planned],
    keys: dict[str, str],
    *,
    drop_run: str | None = None,
    states: dict[str, str] | None = None,
    extra_tasks: list[str] | None = None,
    records_missing: int = 0,
) -> Verdict:
    runs = [
        {"id": keys[f.name], "name": f.name, "state": f.kind.expected_state, "attempt": 1}
        for f in planned
        if f.name != drop_run
    ]
    for run in runs:
        run["state"] = (states or {}).get(str(run["name"]), run["state"])
    tasks = [task_id(f.name, keys[f.name]) for f in planned if f.kind.has_task]
    csv_key = keys["p/csv-1.csv"]
    records = [(csv_key, i) for i in sorted(expected_record_ids(csv_key))][records_missing:]
    outputs = [output_blob("p/light-0.txt", keys["p/light-0.txt"])]
    return judge(planned, keys, runs, tasks + (extra_tasks or []), records, outputs)


def test_a_ledger_holding_every_file_as_expected_is_ok() -> None:
    assert verdict_of(*three_files()).ok


def test_a_file_missing_from_the_ledger_is_lost() -> None:
    verdict = verdict_of(*three_files(), drop_run="p/csv-1.csv")

    assert verdict.lost == ["p/csv-1.csv: no run in the ledger"]
    assert not verdict.ok


def test_a_file_whose_run_never_ended_is_lost() -> None:
    verdict = verdict_of(*three_files(), states={"p/light-0.txt": "running"})

    assert verdict.lost == ["p/light-0.txt: still running"]


def test_a_second_task_for_one_attempt_is_a_duplicate() -> None:
    planned, keys = three_files()
    again = task_id("p/light-0.txt", keys["p/light-0.txt"])

    verdict = verdict_of(planned, keys, extra_tasks=[again])

    assert verdict.duplicated == ["p/light-0.txt: 2 Batch tasks for attempt 1"]


def test_a_task_for_an_attempt_the_run_never_made_is_a_duplicate() -> None:
    planned, keys = three_files()
    second = task_id("p/csv-1.csv", keys["p/csv-1.csv"], attempt=2)

    verdict = verdict_of(planned, keys, extra_tasks=[second])

    assert verdict.duplicated == ["p/csv-1.csv: a Batch task for attempt 2; the run made 1"]


def test_missing_cosmos_records_and_an_unexpected_state_are_wrong() -> None:
    verdict = verdict_of(
        *three_files(), records_missing=1, states={"p/unrouted-2.bin": "succeeded"}
    )

    assert verdict.wrong == [
        "p/csv-1.csv: 1 Cosmos records missing, 0 unexpected",
        "p/unrouted-2.bin: succeeded, expected rejected ()",
    ]


def test_a_task_id_names_its_file_key_and_attempt() -> None:
    key = "ab" * 20

    assert task_attempt(task_id("dir/file-00012.csv", key)) == (key[:32], 1)
    assert task_attempt(task_id("dir/file-00012.csv", key, attempt=3)) == (key[:32], 3)
    assert task_attempt("a-task-of-someone-else") is None


# the figures ------------------------------------------------------------------------------------


def test_trigger_latency_is_per_wave_and_overall() -> None:
    planned, keys = three_files()
    waves = [planned[:2], planned[2:]]
    at = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    base = at.timestamp()
    drops = [
        WaveDrop(base - 5, {"p/light-0.txt": base - 2, "p/csv-1.csv": base - 4}),
        WaveDrop(base, {"p/unrouted-2.bin": base}),
    ]
    tasks = {
        keys["p/light-0.txt"][:32]: TaskTimes(at, at + dt.timedelta(seconds=1)),
        keys["p/csv-1.csv"][:32]: TaskTimes(at, at + dt.timedelta(seconds=3)),
    }

    per_wave, overall = wave_figures(waves, drops, keys, tasks)

    assert per_wave[0]["trigger_latency_seconds"]["max"] == 4.0
    assert per_wave[0]["seconds_until_tasks_ended"] == 8.0
    assert per_wave[1]["trigger_latency_seconds"]["count"] == 0
    assert overall["p50"] == 3.0


def test_the_memory_series_has_a_point_per_wave_with_the_cpu_spent_since_the_last() -> None:
    def at(seconds: float, rss_mib: int, cpu: float) -> Sample:
        return Sample(seconds, {"batch": Usage(rss_mib * MiB, rss_mib * MiB, cpu, 1)})

    series = memory_series([("start", at(0, 40, 1.0)), ("wave 0", at(5, 60, 3.5))])

    assert [p["at"] for p in series] == ["start", "wave 0"]
    assert series[1]["rss_mib"] == {"batch": 60.0}
    assert series[0]["cpu_seconds_since_previous"] == {}
    assert series[1]["cpu_seconds_since_previous"] == {"batch": 2.5}
