"""`python -m worker plan`: the plan task of a fan-out file, on a Batch node. The function
app never reads a dropped file; this task does: it downloads the file at the etag its
trigger saw, reads its members (`worker.planread`) and writes, under the file's results
folder, each member's `members/<i>/params.json` (or its zip entry as `members/<i>/input`),
the shared `global.json`, and last `plan.json`: the count and the placeholder values the
function app renders into the member tasks. A bad file exits REJECTED (3) with the item,
row or entry and the reason in summary.json and on stderr; nothing of it is planned."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from worker.archive import Archive
from worker.contract import (
    FANOUT_SPEC,
    GLOBAL_FILE,
    MEMBER_INPUT_FILE,
    PARAMS_FILE,
    PLAN_FILE,
    ROUTE,
    SUMMARY_FILE,
    TaskRoute,
    WorkerExit,
    member_prefix,
    output_prefix,
)
from worker.credentials import Credentials, identity_for
from worker.errors import RejectedInput, WorkerConfigError, WorkerError
from worker.planread import Member, Members, PlanSpec, entry_members, read_members
from worker.settings import WorkerSettings
from worker.storage import Storage

log = logging.getLogger("worker.plan")

UPLOAD_THREADS = 8
PLAN_SCHEMA_VERSION = 1


def main(environ: Mapping[str, str] | None = None) -> int:
    """Plan the fan-out file the task environment names; return the exit code."""
    env = os.environ if environ is None else environ
    try:
        # The input is read as the zip program reads it: same settings, caps and identity.
        settings = WorkerSettings.from_environ({**env, ROUTE: TaskRoute.ZIP.value})
        raw = env.get(FANOUT_SPEC)
        if not raw:
            raise WorkerConfigError(FANOUT_SPEC, "missing (required)")
        try:
            spec = PlanSpec.from_json(raw)
        except (ValueError, KeyError, TypeError) as e:
            raise WorkerConfigError(FANOUT_SPEC, f"not a fan-out spec ({e!r})") from None
    except WorkerConfigError as e:
        log.error("configuration error: %s", e)
        return e.exit_code
    storage: Storage | None = None
    try:
        credentials = Credentials.load(settings.credentials_path)
        storage = Storage.connect(settings, credentials, identity_for(settings, credentials))
        count = plan(settings, spec, storage)
        log.info("planned %d members of %s", count, settings.input_blob)
        return WorkerExit.OK
    except RejectedInput as e:
        reason = f"{settings.input_container}/{settings.input_blob}: {e}"
        if storage is not None:
            _write_json(storage, settings, SUMMARY_FILE, _rejected_summary(spec, reason))
        log.error("rejected: %s", reason)
        return WorkerExit.REJECTED
    except WorkerError as e:
        log.error("%s (exit %s): %s", type(e).__name__, e.exit_code, e)
        return e.exit_code
    except Exception:
        log.exception("crashed")
        return WorkerExit.CRASH
    finally:
        if storage is not None:
            storage.close()


def plan(settings: WorkerSettings, spec: PlanSpec, storage: Storage) -> int:
    """Download, read and write the plan; return the member count."""
    with tempfile.TemporaryDirectory(dir=settings.working_dir, prefix="dropbatch-plan-") as tmp:
        path = Path(tmp) / "input"
        with open(path, "wb") as out:
            storage.download(
                settings.input_container,
                settings.input_blob,
                settings.input_etag,
                out,
                settings.max_input_bytes,
            )
        if spec.source == "entries":
            with Archive(path, settings.zip) as archive:
                found = entry_members(spec, archive, path)
                _write_members(settings, spec, storage, found, archive)
        else:
            found = read_members(spec, path, settings.csv)
            _write_members(settings, spec, storage, found, None)
    _write_json(storage, settings, PLAN_FILE, plan_document(spec, found.members))
    return len(found.members)


def plan_document(spec: PlanSpec, members: list[Member]) -> dict[str, Any]:
    """plan.json: the count, and per placeholder the value of each member (column-wise)."""
    return {
        "schema_version": PLAN_SCHEMA_VERSION,
        "route": spec.route,
        "source": spec.source,
        "count": len(members),
        "values": {name: [m.values.get(name, "") for m in members] for name in spec.values},
    }


def _write_members(
    settings: WorkerSettings,
    spec: PlanSpec,
    storage: Storage,
    found: Members,
    archive: Archive | None,
) -> None:
    if spec.write_global:
        _write_json(storage, settings, GLOBAL_FILE, found.global_doc or {})
    results = settings.container_results
    jobs: list[Callable[[], None]] = []
    for n, member in enumerate(found.members):
        folder = member_prefix(settings.input_blob, settings.file_key, n)
        if spec.write_params and member.params is not None:
            body = json.dumps(member.params, indent=2).encode()
            jobs.append(_put(storage, results, f"{folder}/{PARAMS_FILE}", body, "application/json"))
        if spec.write_input and member.entry is not None and archive is not None:
            # Streamed one after another from the one archive, under the zip caps.
            name = f"{folder}/{MEMBER_INPUT_FILE}"
            with archive.open_entry(member.entry) as reader:
                staged = storage.stage(results, name)
                while block := reader.read():
                    staged.write(block)
                staged.commit({}, "application/octet-stream")
    with ThreadPoolExecutor(UPLOAD_THREADS) as pool:
        for future in [pool.submit(job) for job in jobs]:
            future.result()


def _put(storage: Storage, container: str, name: str, data: bytes, kind: str) -> Callable[[], None]:
    return lambda: storage.put(container, name, data, kind)


def _write_json(storage: Storage, settings: WorkerSettings, leaf: str, doc: object) -> None:
    name = f"{output_prefix(settings.input_blob, settings.file_key)}/{leaf}"
    storage.put(
        settings.container_results, name, json.dumps(doc, indent=2).encode(), "application/json"
    )


def _rejected_summary(spec: PlanSpec, reason: str) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "route": spec.route,
        "kind": "command",
        "outcome": "rejected",
        "reason": reason,
        "members": {"planned": 0},
    }
