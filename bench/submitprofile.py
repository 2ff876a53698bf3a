"""Where a file's time goes between its upload and its Batch task, read from the local
Functions host's log (one JSON object per line): the scanner's listing and receipt, the wait
in the work queue, the host's check of the blob, and the function's own phases (the blob's
properties, the ledger, planning, the submitter's window, the Batch call).

Per file, in seconds:
- `scan_wait`: its upload returned -> its listing page arrived (the poll interval, mostly);
- `claim`: its receipt and its queue message;
- `queue_wait`: its message was sent -> its invocation started;
- `host_check`: the host reading the message and the blob's properties;
- `invocation`: the function, whole; and its phases (`fn_<phase>`), `fn_other` what no phase
  took (the span, the pipeline's first build, log lines).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil
from azure.storage.blob import ContainerClient

from bench.harness import percentile, rounded
from devstack.stack import Stack

FUNCTION_PHASES = ("properties", "ledger", "plan", "submit_wait", "batch_call", "other", "total")


def read_lines(path: Path) -> list[dict[str, Any]]:
    """The host log's JSON lines (anything else, such as a traceback's tail, is skipped)."""
    entries: list[dict[str, Any]] = []
    with path.open(encoding="utf-8", errors="replace") as f:
        for line in f:
            if not line.startswith("{"):
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and "event" in entry:
                entries.append(entry)
    return entries


def _epoch(ts: object) -> float | None:
    if not isinstance(ts, str):
        return None
    try:
        return dt.datetime.fromisoformat(ts).timestamp()
    except ValueError:
        return None


def _stats(values: list[float]) -> dict[str, Any]:
    return {
        "n": len(values),
        "p50": rounded(percentile(values, 50)),
        "p95": rounded(percentile(values, 95)),
        "max": rounded(max(values) if values else None),
    }


_EVENTS = {"blob_enqueued", "invocation_started", "invocation_phases", "invocation", "blob_scan"}


def _index(entries: Iterable[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """The lines of each event kind: messages by id, invocations by id, scans by position."""
    by: dict[str, dict[str, dict[str, Any]]] = {event: {} for event in _EVENTS}
    for e in entries:
        event = str(e.get("event"))
        if event not in by:
            continue
        if event == "blob_enqueued":
            key = str(e.get("message_id"))
        elif event == "blob_scan":
            key = str(len(by[event]))
        else:
            key = str(e.get("invocation_id"))
        by[event][key] = e
    return by


def _seconds(entry: Mapping[str, Any], field: str) -> float | None:
    return float(entry[field]) / 1000 if field in entry else None


def profile(entries: Iterable[dict[str, Any]], uploaded_at: Mapping[str, float]) -> dict[str, Any]:
    """p50/p95/max seconds per phase over the files of `uploaded_at` (blob path -> epoch
    seconds its upload returned); group sizes and the scanner's passes besides."""
    by = _index(entries)
    series: dict[str, list[float]] = {}

    def add(name: str, value: float | None) -> None:
        if value is not None:
            series.setdefault(name, []).append(max(value, 0.0))

    groups: Counter[int] = Counter()
    for iid, start in by["invocation_started"].items():
        sent = by["blob_enqueued"].get(str(start.get("message_id")))
        if sent is None or sent.get("blob") not in uploaded_at:
            continue  # another file's, or a retry of a message from before the drop
        up = uploaded_at[str(sent["blob"])]
        add("scan_wait", float(sent["listed_at"]) - up if "listed_at" in sent else None)
        # Pushed by Event Grid (the blobs webhook): upload -> delivery, instead of the scan.
        add("event_wait", float(sent["received_at"]) - up if "received_at" in sent else None)
        add("claim", _seconds(sent, "claim_ms"))
        sent_at, started_at = _epoch(sent.get("ts")), _epoch(start.get("ts"))
        if sent_at is not None and started_at is not None:
            add("queue_wait", started_at - sent_at)
        add("host_check", _seconds(start, "check_ms"))
        add("invocation", _seconds(by["invocation"].get(iid, {}), "duration_ms"))
        kept = by["invocation_phases"].get(iid, {})
        for phase in FUNCTION_PHASES:
            add(f"fn_{phase}", _seconds(kept, f"{phase}_ms"))
        if "group_count" in kept:
            groups[int(kept["group_count"])] += 1
    scans = list(by["blob_scan"].values())
    # Each file of a group of n reports n: a group is n files.
    by_group = {size: round(files / size) for size, files in sorted(groups.items())}
    n_groups = sum(by_group.values())
    return {
        "files_traced": len(series.get("queue_wait", [])),
        "seconds": {name: _stats(values) for name, values in series.items()},
        "submit_groups": {
            "groups": n_groups,
            "mean_size": rounded(sum(groups.values()) / n_groups if n_groups else None, 1),
            "sizes": {str(k): v for k, v in by_group.items()},
        },
        "scan_passes": {
            "with_new_blobs": len(scans),
            "list_seconds": _stats([float(s["list_ms"]) / 1000 for s in scans]),
            "claim_seconds": _stats([float(s["claim_ms"]) / 1000 for s in scans]),
        },
    }


def worker_phases(logs: ContainerClient, prefix: str) -> dict[str, Any]:
    """Phase timings from every task's worker log: p50/p95 over all files, and the median
    of the first and the last tenth of the files by start time (does a phase grow as the
    containers fill?)."""
    names = [
        b.name
        for b in logs.list_blobs(name_starts_with=prefix)
        if b.name.endswith("worker-log.json")
    ]

    def read(name: str) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(logs.get_blob_client(name).download_blob().readall())
        return doc

    with ThreadPoolExecutor(max_workers=16, thread_name_prefix="logs") as pool:
        docs = sorted(pool.map(read, names), key=lambda d: str(d.get("started_at")))
    tenth = max(len(docs) // 10, 1)
    out: dict[str, Any] = {"task_logs": len(docs)}
    phase_names = sorted({k for d in docs for k in (d.get("timings_seconds") or {})})
    for phase in phase_names:
        values = [
            float(d["timings_seconds"][phase])
            for d in docs
            if phase in (d.get("timings_seconds") or {})
        ]
        first = values[:tenth]
        last = values[-tenth:]
        out[phase] = {
            "p50": rounded(percentile(values, 50)),
            "p95": rounded(percentile(values, 95)),
            "first_tenth_p50": rounded(percentile(first, 50)),
            "last_tenth_p50": rounded(percentile(last, 50)),
        }
    return out


def cpu_seconds(stack: Stack) -> dict[str, float]:
    """CPU seconds (user + system) each server of the stack, and this process, used so far."""
    out: dict[str, float] = {}
    for proc in [*stack.processes(), None]:
        try:
            p = psutil.Process(proc.pid) if proc is not None else psutil.Process()
            family = [p] if proc is None else [p, *p.children(recursive=True)]
            used = sum(t.user + t.system for t in (q.cpu_times() for q in family))
        except psutil.Error:
            continue
        out[proc.name if proc is not None else "bench"] = used
    return out


def cpu_used(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    """CPU seconds per process between two `cpu_seconds` readings."""
    return {k: round(after[k] - before.get(k, 0.0), 2) for k in after}
