"""`dropbatch replay` on the twins: a file goes back into incoming as a new version linked
to its old run, from wherever it still is, and the same replay id never does it twice."""

from __future__ import annotations

import pytest

from batch_core import intake, replay
from batch_core.blobstore import REPLAY_ID_METADATA, REPLAY_OF_METADATA
from batch_core.errors import SettingError, TransientError
from batch_core.run import Run
from batch_core.states import RunState
from batch_core.testing import MemoryPipeline
from tests.core.specs.steps import pipeline, received, stored, task_ends, tick
from worker.contract import output_prefix


def failed(p: MemoryPipeline, name: str) -> Run:
    run = received(p, name)
    task_ends(p, run, exit_code=2, stderr=b"SettingError: bad\n")  # a config error: no retry
    tick(p, seconds=5)
    done = stored(p, run)
    assert done.state is RunState.FAILED
    return done


def replays(p: MemoryPipeline, prefix: str, rid: str, state: RunState | None = None) -> list[str]:
    runs = replay.chosen(p, prefix, state)
    return [d.outcome for d in replay.replay(p, runs, rid, p.clock.now())]


def test_a_quarantined_file_comes_back_as_a_new_run_that_names_the_old_one() -> None:
    # Given a failed run whose file was quarantined, and so left incoming
    p = pipeline()
    old = failed(p, "in/a.csv")
    assert p.blobs.data("incoming", "in/a.csv") is None

    # When it is replayed
    (done,) = replay.replay(p, replay.chosen(p, "in/", RunState.FAILED), "fix-1", p.clock.now())

    # Then incoming has the file again, as a new version that names the old run and the replay
    (blob,) = [b for b in p.blobs.list("incoming") if b.name == "in/a.csv"]
    assert done.outcome == "replayed" and done.detail.startswith("copied from failed/")
    assert blob.etag != old.etag and p.blobs.data("incoming", "in/a.csv") == p.blobs.data(
        "failed", f"{output_prefix(old.name, old.key)}/a.csv"
    )
    assert blob.metadata == {REPLAY_OF_METADATA: old.key, REPLAY_ID_METADATA: "fix-1"}
    # And its trigger records a new run linked to the old one, under the key replay announced
    new = intake.receive(p, blob, p.clock.now())
    assert new is not None and new.key == done.new_key != old.key
    assert new.replay_of == old.key and new.state is RunState.SUBMITTED
    marker = p.blobs.read_json("results", f"_replays/fix-1/{old.key}")
    assert marker is not None and marker["new_key"] == new.key


def test_replaying_again_with_the_same_id_creates_nothing_new() -> None:
    # Given a replay of a failed run, whose new run failed as well
    p = pipeline()
    old = failed(p, "b.csv")
    assert replays(p, "b", "again", RunState.FAILED) == ["replayed"]
    (blob,) = p.blobs.list("incoming", "b.csv")
    new = intake.receive(p, blob, p.clock.now())
    assert new is not None
    task_ends(p, new, exit_code=2)
    tick(p, seconds=5)
    copies = p.blobs.requests["copy"]

    # When the same replay runs again: both the old run and the run it made are failed
    outcomes = replays(p, "b", "again", RunState.FAILED)

    # Then nothing is copied: the old run was done, the new one is this replay's own
    assert outcomes == ["already"]
    assert p.blobs.requests["copy"] == copies
    assert list(p.blobs.list("incoming", "b.csv")) == []  # the new run's file left as it ended
    # But another replay id is another replay: the newest failed run of the name goes again
    assert replays(p, "b", "later", RunState.FAILED) == ["replayed", "skipped"]
    assert stored(p, old).state is RunState.FAILED


def test_a_replay_that_stopped_before_its_marker_is_finished_without_a_second_copy() -> None:
    p = pipeline()
    old = failed(p, "c.csv")
    p.blobs.fail("upload", TransientError("storage away"), when=lambda c, n: "_replays" in n)
    with pytest.raises(TransientError):
        replays(p, "c.csv", "r1")
    copies = p.blobs.requests["copy"]

    assert replays(p, "c.csv", "r1") == ["already"]

    assert p.blobs.requests["copy"] == copies
    assert [n for n in p.blobs.names("results") if n.startswith("_replays/")] == [
        f"_replays/r1/{old.key}"
    ]


def test_a_file_still_in_incoming_is_copied_onto_itself_as_a_new_version() -> None:
    p = pipeline()
    blob = p.blobs.upload("incoming", "notes.txt", b"hello")
    old = intake.receive(p, blob, p.clock.now())
    assert old is not None and old.state is RunState.REJECTED

    assert replays(p, "notes", "r", RunState.REJECTED) == ["replayed"]

    (again,) = p.blobs.list("incoming", "notes.txt")
    assert again.etag != blob.etag and again.replay_of == old.key
    assert p.blobs.data("incoming", "notes.txt") == b"hello"


def test_an_archived_file_comes_back_from_the_archive() -> None:
    # Given a run that succeeded, whose file moved to the archive
    p = pipeline()
    old = received(p, "arch/a.csv")
    task_ends(p, old, exit_code=0)
    tick(p, seconds=5)
    done = stored(p, old)
    assert done.original == f"archive/{output_prefix(old.name, old.key)}/a.csv"
    assert p.blobs.data("incoming", "arch/a.csv") is None

    # When it is replayed
    (outcome,) = replay.replay(p, replay.chosen(p, "arch/", None), "r", p.clock.now())

    # Then incoming has it again, copied from the archive, as a new version
    assert outcome.outcome == "replayed" and outcome.detail == f"copied from {done.original}"
    (blob,) = p.blobs.list("incoming", "arch/a.csv")
    assert blob.etag != old.etag and blob.replay_of == old.key
    assert p.blobs.data("incoming", "arch/a.csv") == p.blobs.data(*done.original.split("/", 1))


def test_files_that_cannot_be_replayed_are_skipped_with_the_reason() -> None:
    p = pipeline(DROPBATCH_TERMINAL_ORIGINALS="keep")
    gone = received(p, "d/gone.csv")
    task_ends(p, gone, exit_code=0)
    replaced = received(p, "d/replaced.csv")
    task_ends(p, replaced, exit_code=0)
    tick(p, seconds=5)
    p.blobs.delete("incoming", "d/gone.csv", gone.etag)
    p.blobs.put("incoming", "d/replaced.csv", b"id\n9\n")  # a newer version, not received yet
    active = received(p, "d/active.csv")

    done = replay.replay(p, replay.chosen(p, "d/", None), "r", p.clock.now())

    why = {d.old.name: (d.outcome, d.detail) for d in done}
    assert why["d/gone.csv"] == (
        "skipped",
        "the file is gone: not in incoming, and not quarantined in failed",
    )
    assert why["d/replaced.csv"][0] == "skipped" and "newer version" in why["d/replaced.csv"][1]
    assert why["d/active.csv"] == ("skipped", "still submitted: replay it once it has ended")
    assert active.key not in {r.replay_of for r in p.ledger.recent()}


def test_of_several_runs_of_one_name_the_newest_is_replayed() -> None:
    p = pipeline()
    failed(p, "e.csv")
    tick(p, minutes=1)
    newest = failed(p, "e.csv")

    done = replay.replay(p, replay.chosen(p, "e.csv", RunState.FAILED), "r", p.clock.now())

    assert [(d.old.key == newest.key, d.outcome) for d in done] == [
        (True, "replayed"),
        (False, "skipped"),
    ]
    assert done[1].detail == "a newer run of this name is replayed"


def test_only_names_that_start_with_the_prefix_are_chosen() -> None:
    p = pipeline()
    received(p, "x/in.csv")
    received(p, "y/x/in.csv")
    assert [r.name for r in replay.chosen(p, "x/", None)] == ["x/in.csv"]


def test_a_replay_id_must_be_a_plain_word() -> None:
    with pytest.raises(SettingError, match="--replay-id"):
        replay.check_replay_id("a/b")
