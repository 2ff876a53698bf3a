"""The sweep: a file that no trigger recorded is submitted once it is older than the grace
its own trigger had; a young file is left to its trigger."""

from __future__ import annotations

from batch_core.keys import file_key
from batch_core.sweep import SWEEP_GRACE
from batch_core.testing import MemoryPipeline
from tests.core.specs.steps import CSV, pipeline, received, tick


def test_an_unrecorded_file_older_than_the_grace_is_submitted_and_a_young_one_is_not(
    p: MemoryPipeline,
) -> None:
    # Given a file whose trigger never came, and the grace almost over
    old = p.blobs.upload(p.settings.container_incoming, "missed.csv", CSV)
    p.clock.advance(seconds=SWEEP_GRACE.total_seconds() - 5)
    young = p.blobs.upload(p.settings.container_incoming, "young.csv", CSV)

    # When the reconciler sweeps past the old file's grace, but within the young one's
    report = tick(p, seconds=10)

    # Then only the old file is submitted
    assert report.swept == 1
    keys = set(p.ledger.docs)
    assert keys == {file_key(p.blobs.account, old.container, old.name, old.etag)}
    assert p.batch.requests["CreateTask"] == 1

    # When the young file's grace has passed too, it is submitted on the next sweep
    assert tick(p, seconds=30).swept == 1
    assert file_key(p.blobs.account, young.container, young.name, young.etag) in (p.ledger.docs)


def test_the_sweep_skips_recorded_files_and_ignored_names() -> None:
    # Given a recorded file and one whose name is ignored
    p = pipeline(DROPBATCH_IGNORE_PREFIXES="_tmp/")
    received(p, "seen.csv")
    p.blobs.upload(p.settings.container_incoming, "_tmp/upload.csv", CSV)

    # When the reconciler sweeps well past the grace
    report = tick(p, minutes=10)

    # Then nothing is submitted again
    assert report.swept == 0
    assert p.batch.requests["CreateTask"] == 1
