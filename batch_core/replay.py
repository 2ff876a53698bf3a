"""`dropbatch replay`: run chosen files again. Each file goes back into `incoming` under its
own name — copied from where it still is: `incoming` itself, where its run's end moved it
(the run's `original`, in `archive` or `failed`), or its quarantined copy — so it gets a new
etag and is a new run, as any re-uploaded file is. Its blob metadata names the run it
replays (the new run keeps that as `replay_of`) and the replay's id; a marker
`results/_replays/<replay id>/<old file key>` records it, so replaying again with the same
id creates nothing new."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from batch_core.blobstore import REPLAY_ID_METADATA, REPLAY_OF_METADATA, BlobRef
from batch_core.clock import iso
from batch_core.errors import SettingError
from batch_core.keys import file_key
from batch_core.ledger import RunFilter
from batch_core.pipeline import Pipeline
from batch_core.run import Run
from batch_core.runview import REPLAYS_FOLDER
from batch_core.states import RunState
from worker.contract import output_prefix

REPLAY_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
SCAN_LIMIT = 10_000  # runs whose name contains the prefix, newest first


@dataclass(frozen=True)
class Replayed:
    """What became of one chosen run: `replayed` (now), `already` (by an earlier call with
    the same replay id) or `skipped` (the detail says why)."""

    old: Run
    outcome: str
    detail: str
    new_key: str | None = None

    def line(self) -> str:
        """The file's line of `dropbatch replay`'s progress."""
        new = f" -> {self.new_key}" if self.new_key else ""
        return f"{self.outcome:<8} {self.old.name} ({self.old.key}{new}): {self.detail}"


def new_replay_id(now: dt.datetime) -> str:
    """A replay id for a call that names none: each such call is a replay of its own."""
    return f"r{now:%Y%m%d-%H%M%S}"


def check_replay_id(replay_id: str) -> str:
    """The replay id as given; SettingError unless it is 1 to 64 of letters, digits, - and _."""
    if not REPLAY_ID.fullmatch(replay_id):
        raise SettingError("--replay-id", f"{replay_id!r}: letters, digits, - or _ (64 at most)")
    return replay_id


def chosen(p: Pipeline, prefix: str, state: RunState | None) -> list[Run]:
    """The runs of `incoming` files whose name starts with `prefix` (in `state`), newest
    first."""
    incoming = p.settings.container_incoming
    match = RunFilter(state=state, name_contains=prefix or None)
    return [
        r
        for r in p.ledger.newest(match, SCAN_LIMIT)
        if r.container == incoming and r.name.startswith(prefix)
    ]


def replay(
    p: Pipeline,
    runs: Iterable[Run],
    replay_id: str,
    now: dt.datetime,
    progress: Callable[[Replayed], None] = lambda _: None,
) -> list[Replayed]:
    """Replay each run (runs newest first: of several runs of one name, the newest is
    replayed, since the name holds one file at a time); `progress` hears of each. The runs
    this replay made are left out: replaying again with its id changes nothing."""
    check_replay_id(replay_id)
    recorded = markers(p, replay_id)
    made = {str(doc.get("new_key")) for doc in recorded.values()}
    done: list[Replayed] = []
    names: set[str] = set()
    for run in runs:
        if run.key in made:
            continue
        if run.name in names:
            outcome = Replayed(run, "skipped", "a newer run of this name is replayed")
        else:
            names.add(run.name)
            outcome = replay_one(p, run, replay_id, now, recorded.get(run.key))
        progress(outcome)
        done.append(outcome)
    return done


def markers(p: Pipeline, replay_id: str) -> dict[str, dict[str, object]]:
    """The runs replay `replay_id` replayed: their marker documents by old file key."""
    results = p.settings.container_results
    found: dict[str, dict[str, object]] = {}
    for b in p.blobs.list(results, f"{REPLAYS_FOLDER}/{replay_id}/"):
        found[b.name.rsplit("/", 1)[-1]] = p.blobs.read_json(results, b.name) or {}
    return found


def replay_one(
    p: Pipeline,
    run: Run,
    replay_id: str,
    now: dt.datetime,
    recorded: dict[str, object] | None = None,
) -> Replayed:
    """Put `run`'s file back into `incoming` as a new version linked to `run`, unless
    `recorded` (its marker of this replay) says that was done."""
    s = p.settings
    marker = f"{REPLAYS_FOLDER}/{replay_id}/{run.key}"
    if recorded is not None:
        new_key = recorded.get("new_key")
        return Replayed(run, "already", f"replay {replay_id} did it", str(new_key or "?"))
    if not run.state.terminal:
        return Replayed(run, "skipped", f"still {run.state.value}: replay it once it has ended")
    current = _blob(p, s.container_incoming, run.name)
    ours = current is not None and current.metadata.get(REPLAY_ID_METADATA) == replay_id
    if current is not None and ours and current.replay_of == run.key:
        # Copied by this replay before, but its marker was not written.
        return _record(p, run, replay_id, current, marker, now, "already")
    source = _source(p, run, current)
    if isinstance(source, str):
        return Replayed(run, "skipped", source)
    metadata = {REPLAY_OF_METADATA: run.key, REPLAY_ID_METADATA: replay_id}
    if not p.blobs.copy(*source, s.container_incoming, run.name, metadata):
        return Replayed(run, "skipped", f"{'/'.join(source)} went away while being copied")
    copied = _blob(p, s.container_incoming, run.name)
    if copied is None:
        return Replayed(run, "skipped", "the copy in incoming went away at once")
    return _record(p, run, replay_id, copied, marker, now, "replayed", "/".join(source))


def _source(p: Pipeline, run: Run, current: BlobRef | None) -> tuple[str, str] | str:
    """Where the file of `run` still is (container, name), or why it cannot be replayed."""
    s = p.settings
    if current is not None and current.etag == run.etag:
        return s.container_incoming, run.name
    if run.original:
        container, _, name = run.original.partition("/")
        if _blob(p, container, name) is not None:
            return container, name
    quarantined = f"{output_prefix(run.name, run.key)}/{run.name.rsplit('/', 1)[-1]}"
    if _blob(p, s.container_failed, quarantined) is not None:
        return s.container_failed, quarantined
    if current is None:
        kept = f", not in {run.original}" if run.original else ""
        return f"the file is gone: not in incoming{kept}, and not quarantined in failed"
    return (
        f"{s.container_incoming}/{run.name} is a newer version now (a run of its own); this "
        "version was not kept"
    )


def _record(
    p: Pipeline,
    run: Run,
    replay_id: str,
    blob: BlobRef,
    marker: str,
    now: dt.datetime,
    outcome: str,
    source: str | None = None,
) -> Replayed:
    s = p.settings
    new_key = file_key(p.blobs.account, s.container_incoming, run.name, blob.etag)
    doc = {
        "replay_id": replay_id,
        "replay_of": run.key,
        "new_key": new_key,
        "name": run.name,
        "source": source,
        "at": iso(now),
    }
    p.blobs.write(s.container_results, marker, json.dumps(doc, indent=2), "application/json")
    detail = f"copied from {source}" if source else f"replay {replay_id} did it"
    return Replayed(run, outcome, detail, new_key)


def _blob(p: Pipeline, container: str, name: str) -> BlobRef | None:
    return next((b for b in p.blobs.list(container, name) if b.name == name), None)


def summary(done: list[Replayed], replay_id: str) -> str:
    """The closing line of a replay: how many runs were chosen, replayed, already done, skipped."""
    counts = {o: sum(d.outcome == o for d in done) for o in ("replayed", "already", "skipped")}
    said = ", ".join(f"{n} {o}" for o, n in counts.items())
    return f"replay {replay_id}: {len(done)} runs chosen, {said}"
