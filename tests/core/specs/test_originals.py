"""Where a dropped file goes once its run has ended (DROPBATCH_TERMINAL_ORIGINALS): to the
archive container by default, nowhere with `delete`, nowhere else with `keep`; a failed file
to its quarantine. Always the version the run processed, and never before an extracted
file's zip or a fan-out file's merge is done."""

from __future__ import annotations

from batch_core import intake
from batch_core.errors import TransientError
from batch_core.originals import kept_name
from batch_core.routebook import parse_routes
from batch_core.run import Run
from batch_core.states import RunState
from batch_core.testing import MemoryPipeline, memory_pipeline
from tests.core.specs.steps import CSV, pipeline, received, stored, task_ends, tick
from worker.contract import PARENT_METADATA, PLAN_FILE, output_prefix

ZIP = b"PK\x05\x06" + b"\0" * 18


def archived(p: MemoryPipeline, run: Run) -> bytes | None:
    return p.blobs.data(p.settings.container_archive, kept_name(run))


def test_a_processed_file_moves_to_the_archive_and_its_run_says_where() -> None:
    # Given a file whose task succeeded
    p = pipeline()
    run = received(p, "in/a.csv")
    task_ends(p, run, exit_code=0)

    # When the reconciler ends its run
    tick(p, seconds=5)

    # Then the file is in the archive, under its name and key, and no longer in incoming
    done = stored(p, run)
    assert done.state is RunState.SUCCEEDED
    assert archived(p, run) == CSV
    assert p.blobs.names("incoming") == ()
    assert done.original == f"archive/in/a.csv/{run.key}/a.csv" and done.input_removed


def test_a_rejected_file_is_archived_too_even_when_intake_rejected_it() -> None:
    # Given a file its worker rejected, and one no route takes (rejected at intake)
    p = pipeline()
    run = received(p, "bad.csv")
    task_ends(p, run, exit_code=3)
    blob = p.blobs.upload("incoming", "notes.txt", b"hello")
    unrouted = intake.receive(p, blob, p.clock.now())
    assert unrouted is not None and unrouted.state is RunState.REJECTED

    # When the reconciler ticks
    tick(p, seconds=5)

    # Then both files are in the archive and incoming is empty
    assert stored(p, run).state is RunState.REJECTED
    assert archived(p, run) == CSV and archived(p, unrouted) == b"hello"
    assert stored(p, unrouted).original == f"archive/{kept_name(unrouted)}"
    assert p.blobs.names("incoming") == ()


def test_a_file_rejected_for_its_name_stays_where_it_is_for_its_owner_to_rename() -> None:
    # Given a file whose name storage would resolve to another (rejected at intake)
    p = pipeline()
    blob = p.blobs.upload("incoming", "dots/../a.csv", CSV)
    run = intake.receive(p, blob, p.clock.now())
    assert run is not None and run.state is RunState.REJECTED

    # When the reconciler ticks, twice
    tick(p, seconds=5)
    copies = p.blobs.requests["copy"]
    tick(p, seconds=5)

    # Then the file is neither copied nor deleted, and its run is settled once, in place
    assert copies == p.blobs.requests["copy"] == 0 and p.blobs.requests["delete"] == 0
    assert p.blobs.names("incoming") == ("dots/../a.csv",)
    assert stored(p, run).original == "incoming/dots/../a.csv"
    assert p.ledger.unsettled() == []


def test_keep_leaves_the_file_in_incoming_and_delete_deletes_it() -> None:
    kept, deleted = (
        pipeline(DROPBATCH_TERMINAL_ORIGINALS="keep"),
        pipeline(DROPBATCH_TERMINAL_ORIGINALS="delete"),
    )
    runs = {}
    for p in (kept, deleted):
        runs[id(p)] = received(p, "a.csv")
        task_ends(p, runs[id(p)], exit_code=0)
        tick(p, seconds=5)

    assert kept.blobs.names("incoming") == ("a.csv",) and kept.blobs.names("archive") == ()
    assert not stored(kept, runs[id(kept)]).input_removed
    assert deleted.blobs.names("incoming") == () and deleted.blobs.names("archive") == ()
    gone = stored(deleted, runs[id(deleted)])
    assert gone.input_removed and gone.original is None


def test_a_failed_file_is_quarantined_as_before_and_leaves_incoming_unless_kept() -> None:
    for policy, left in (("archive", ()), ("delete", ()), ("keep", ("a.csv",))):
        p = pipeline(DROPBATCH_TERMINAL_ORIGINALS=policy)
        run = received(p, "a.csv")
        task_ends(p, run, exit_code=2)  # a configuration error: no retry
        tick(p, seconds=5)

        done = stored(p, run)
        assert done.state is RunState.FAILED and "quarantined in failed" in done.reason
        assert p.blobs.data("failed", f"{output_prefix(run.name, run.key)}/a.csv") == CSV
        assert p.blobs.names("incoming") == left and p.blobs.names("archive") == ()


def test_a_crash_between_the_copy_and_the_delete_is_finished_by_the_next_tick() -> None:
    # Given a run whose end copied its file, then could not delete it from incoming
    p = pipeline()
    run = received(p, "a.csv")
    task_ends(p, run, exit_code=0)
    p.blobs.fail("delete", TransientError("storage away"))
    report = tick(p, seconds=5)
    assert report.errors and stored(p, run).state is RunState.SUBMITTED
    assert archived(p, run) == CSV and p.blobs.names("incoming") == ("a.csv",)

    # When the next tick comes, the run ends with its file archived once and incoming empty
    assert tick(p, seconds=5).errors == []
    assert stored(p, run).state is RunState.SUCCEEDED
    assert archived(p, run) == CSV and p.blobs.names("incoming") == ()


def test_a_crash_after_the_delete_ends_the_run_with_its_archived_copy() -> None:
    # Given a run whose end moved its file, then could not store the run
    p = pipeline()
    run = received(p, "a.csv")
    task_ends(p, run, exit_code=0)
    p.ledger.fail("save", TransientError("Cosmos away"), when=lambda key: key == run.key)
    assert tick(p, seconds=5).errors
    assert p.blobs.names("incoming") == ()

    # When the next tick ends it: the source is gone, the copy made is found
    assert tick(p, seconds=5).errors == []
    done = stored(p, run)
    assert done.state is RunState.SUCCEEDED and done.original == f"archive/{kept_name(run)}"


def test_a_newer_upload_under_the_same_name_is_never_moved_for_the_older_run() -> None:
    # Given a file being processed, replaced by a newer version under the same name
    p = pipeline()
    old = received(p, "a.csv")
    newer = received(p, "a.csv", CSV + b"2,06002,US,B,CT,41.8,-72.8\n")
    assert newer.key != old.key

    # When the old run ends
    task_ends(p, old, exit_code=0)
    tick(p, seconds=5)

    # Then nothing is archived for it (its version is gone) and the newer one stays
    assert archived(p, old) is None and stored(p, old).original is None
    (blob,) = p.blobs.list("incoming")
    assert blob.etag == newer.etag

    # And once the newer run ends, that version is archived under its own key
    task_ends(p, newer, exit_code=0)
    tick(p, seconds=5)
    assert archived(p, newer) is not None and p.blobs.names("incoming") == ()


def test_a_newer_upload_after_a_crash_mid_move_stays_in_incoming() -> None:
    # Given a run whose end copied its file but could not delete it, and a newer version
    # uploaded in between (a run of its own)
    p = pipeline()
    old = received(p, "a.csv")
    task_ends(p, old, exit_code=0)
    p.blobs.fail("delete", TransientError("storage away"))
    tick(p, seconds=5)
    newer = received(p, "a.csv", b"id\n9\n")

    # When the next tick ends the old run
    tick(p, seconds=5)

    # Then the old run ends with its archived copy, and the newer version is still there
    assert stored(p, old).original == f"archive/{kept_name(old)}" and archived(p, old) == CSV
    (blob,) = p.blobs.list("incoming")
    assert blob.etag == newer.etag and stored(p, newer).state is RunState.SUBMITTED


def test_an_extracted_file_waits_for_its_zip_then_both_are_archived() -> None:
    # Given a zip being processed, and a CSV extracted from it that was processed
    p = pipeline()
    zipped = received(p, "NC1.zip", ZIP)
    part = p.blobs.put("incoming", "NC1/part-1.csv", CSV, {PARENT_METADATA: zipped.key})
    part_run = intake.receive(p, part, p.clock.now())
    assert part_run is not None
    task_ends(p, part_run, exit_code=0)

    # When the part's run ends while its zip's runs on, the part stays (a zip task that runs
    # again would extract it again)
    tick(p, seconds=5)
    assert stored(p, part_run).state is RunState.SUCCEEDED
    assert p.blobs.names("incoming") == ("NC1.zip", "NC1/part-1.csv")

    # When the zip's run ends, the zip and then its part move to the archive in that tick
    task_ends(p, zipped, exit_code=0)
    tick(p, seconds=5)
    assert p.blobs.names("incoming") == ()
    assert archived(p, zipped) == ZIP and archived(p, part_run) == CSV
    assert stored(p, part_run).original == f"archive/{kept_name(part_run)}"
    assert stored(p, zipped).original == f"archive/{kept_name(zipped)}"


FANOUT = """
version = 1
[[route]]
name = "sweep"
match = ["sweeps/*.json"]
kind = "command"
[route.fanout]
source = "items"
fields = { n = { type = "int", min = 0 } }
[route.task]
command = "python3 member.py {item.n}"
resource_files = [{ source = "input", path = "sweep.json" }]
[route.merge]
command = "python3 merge.py"
"""


def test_a_fanout_file_stays_until_its_merge_is_done() -> None:
    # Given a fan-out file whose members were planned and have all succeeded
    p = memory_pipeline(routes=parse_routes(FANOUT))
    run = intake.receive(p, p.blobs.upload("incoming", "sweeps/a.json", b"{}"), p.clock.now())
    assert run is not None and run.job_id and run.task_id
    plan = b'{"count": 2, "values": {"item.n": ["0", "1"]}}'
    p.blobs.put("results", f"{output_prefix(run.name, run.key)}/{PLAN_FILE}", plan)
    p.batch.complete(run.job_id, run.task_id, exit_code=0)
    tick(p, seconds=1)
    for member in ("0", "1"):
        p.batch.complete(run.job_id, member, exit_code=0)
    tick(p, seconds=1)

    # Then the file stays in incoming while the merge has not run
    assert stored(p, run).state is RunState.RUNNING
    assert p.blobs.names("incoming") == ("sweeps/a.json",)

    # When the merge is done, the file's run ends and the file moves to the archive
    p.batch.complete(run.job_id, "merge", exit_code=0)
    tick(p, seconds=1)
    done = stored(p, run)
    assert done.state is RunState.SUCCEEDED, done.reason
    assert p.blobs.names("incoming") == () and archived(p, run) == b"{}"
