"""The zip route: one pass over the archive stages each CSV entry as a child blob's blocks;
the children are committed only once the whole archive has passed.

Children go to the incoming container as `<zip name>.parts/<first 12 of the zip's file
key>/<entry>` (see `worker.contract`), each picked up by the trigger and processed by its own
task. Staged blocks are no blob yet (no listing, so no trigger, sees them): a rejected
archive commits nothing, and what it staged expires on its own. Commits use If-None-Match: *
so a re-run never replaces a child; a child that already exists is read (every cap still
applies to it) but not staged again, and counts as done.
"""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path
from urllib.parse import quote

from worker.archive import DISCARD, Archive, EntrySink
from worker.context import TaskContext, WorkerOutcome
from worker.contract import (
    ENTRY_METADATA,
    MAX_DROPPED_NAME_CHARS,
    PARENT_METADATA,
    SUMMARY_FILE,
    child_blob_name,
)
from worker.errors import RejectedInput
from worker.storage import StagedBlob
from worker.summary import REJECTED, SUCCEEDED, Child, Skipped, encode_json, zip_summary

log = logging.getLogger(__name__)


def metadata_value(text: str) -> str:
    """Blob metadata travels in HTTP headers: printable ASCII as is, anything else %-encoded."""
    if text.isascii() and text.isprintable():
        return text
    return quote(text, safe="/ !$&'()*+,;=:@~")


def run_zip(context: TaskContext, path: Path, rejection: RejectedInput | None) -> WorkerOutcome:
    """Check and extract the downloaded archive at `path`; write the summary."""
    s = context.settings
    children: list[Child] = []
    skipped: list[Skipped] = []
    entries = 0
    created = existing = 0
    try:
        if rejection is not None:
            raise rejection
        with Archive(path, s.zip) as archive:
            entries = archive.plan.entries
            skipped = archive.plan.skipped
            staged: dict[str, StagedBlob] = {}
            with context.tasklog.phase("extract"):
                sizes = archive.extract(lambda info: _sink_for(context, info, staged))
            if not archive.plan.csv:
                raise RejectedInput("the archive holds no CSV entries")
            for info in archive.plan.csv:
                blob = child_blob_name(s.input_blob, s.file_key, info.orig_filename)
                if len(blob) > MAX_DROPPED_NAME_CHARS:
                    raise RejectedInput(
                        f"child blob name would pass {MAX_DROPPED_NAME_CHARS} characters,"
                        " the longest a file's results and logs can be named under",
                        f"entry {info.orig_filename!r}",
                    )
            # Only now, with every entry read to its end under the caps, does any child appear.
            with context.tasklog.phase("commit"):
                for info in archive.plan.csv:
                    entry = info.orig_filename
                    child = staged.get(entry)
                    done = child is not None and child.commit(
                        {PARENT_METADATA: s.file_key, ENTRY_METADATA: metadata_value(entry)},
                        "text/csv",
                    )
                    created += done
                    existing += not done
                    blob = child_blob_name(s.input_blob, s.file_key, entry)
                    children.append(Child(entry, blob, sizes[entry]))
    except RejectedInput as e:
        reason = context.reason(e)
        log.warning("rejected: %s", reason)
        _write_summary(context, REJECTED, reason, entries, [], skipped)
        return WorkerOutcome(REJECTED, reason)
    context.tasklog.counts.update(
        {
            "entries": entries,
            "children": len(children),
            "children_uploaded": created,
            "children_already_there": existing,
            "skipped": len(skipped),
            "bytes_extracted": sum(c.bytes for c in children),
        }
    )
    log.info(
        "extracted %s CSV entries (%s uploaded, %s already there), skipped %s",
        len(children), created, existing, len(skipped),
    )  # fmt: skip
    _write_summary(context, SUCCEEDED, None, entries, children, skipped)
    return WorkerOutcome(SUCCEEDED, None)


def _sink_for(
    context: TaskContext, info: zipfile.ZipInfo, staged: dict[str, StagedBlob]
) -> EntrySink:
    """Where an entry's blocks go: a staged child, or nowhere when the child already exists
    (a re-run) or its name is too long to be one (refused once the pass is over)."""
    s = context.settings
    blob = child_blob_name(s.input_blob, s.file_key, info.orig_filename)
    if len(blob) > MAX_DROPPED_NAME_CHARS or context.storage.exists(s.container_incoming, blob):
        return DISCARD
    staged[info.orig_filename] = context.storage.stage(s.container_incoming, blob)
    return staged[info.orig_filename]


def _write_summary(
    context: TaskContext,
    outcome: str,
    reason: str | None,
    entries: int,
    children: list[Child],
    skipped: list[Skipped],
) -> None:
    summary = zip_summary(
        file_key=context.settings.file_key,
        source=context.source,
        outcome=outcome,
        reason=reason,
        entries=entries,
        children=children,
        skipped=skipped,
    )
    context.tasklog.outcome = outcome
    context.tasklog.reason = reason
    with context.tasklog.phase("outputs"):
        context.put_result(SUMMARY_FILE, encode_json(summary), "application/json")
