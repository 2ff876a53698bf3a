"""The zip route: check the whole archive, then upload each CSV entry as a child blob.

Children go to the incoming container as `<zip name>.parts/<first 12 of the zip's file
key>/<entry>` (see `worker.contract`), each picked up by the trigger and processed by its own
task. Uploads use
If-None-Match: * so a re-run never replaces a child; an existing child counts as done.
"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import quote

from worker.archive import Archive
from worker.context import TaskContext, WorkerOutcome
from worker.contract import ENTRY_METADATA, PARENT_METADATA, SUMMARY_FILE, child_blob_name
from worker.errors import RejectedInput
from worker.summary import REJECTED, SUCCEEDED, Child, Skipped, encode_json, zip_summary

log = logging.getLogger(__name__)

MAX_BLOB_NAME_CHARS = 1024


def metadata_value(text: str) -> str:
    """Blob metadata travels in HTTP headers: printable ASCII as is, anything else %-encoded."""
    if text.isascii() and text.isprintable():
        return text
    return quote(text, safe="/ !$&'()*+,;=:@~")


def run_zip(context: TaskContext, path: Path, rejection: RejectedInput | None) -> WorkerOutcome:
    """Verify and extract the zip at `path` into one child blob per entry (or reject it); the
    outcome."""
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
            with context.tasklog.phase("verify"):
                sizes = archive.verify()
            if not archive.plan.csv:
                raise RejectedInput("the archive holds no CSV entries")
            for info in archive.plan.csv:
                blob = child_blob_name(s.input_blob, s.file_key, info.orig_filename)
                if len(blob) > MAX_BLOB_NAME_CHARS:
                    raise RejectedInput(
                        f"child blob name would pass {MAX_BLOB_NAME_CHARS} characters",
                        f"entry {info.orig_filename!r}",
                    )
            with context.tasklog.phase("upload"):
                for info in archive.plan.csv:
                    entry = info.orig_filename
                    blob = child_blob_name(s.input_blob, s.file_key, entry)
                    if context.storage.exists(s.container_incoming, blob):
                        done = False
                    else:
                        with archive.open(info) as reader:
                            done = context.storage.put_new(
                                s.container_incoming,
                                blob,
                                reader,  # type: ignore[arg-type]
                                {
                                    PARENT_METADATA: s.file_key,
                                    ENTRY_METADATA: metadata_value(entry),
                                },
                                "text/csv",
                            )
                    created += done
                    existing += not done
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
