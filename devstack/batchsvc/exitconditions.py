"""Exit conditions: what a task's ending means for its job and for the tasks that depend on it."""

from __future__ import annotations

from typing import Any

# Which way a task ended, in the terms of the exitConditions properties.
EXIT = "exit"  # the process ran and exited with a code
PRE_PROCESSING = "preProcessingError"  # it never started (resource files, command not found)
FILE_UPLOAD = "fileUploadError"  # it ran but its output files could not be uploaded


def exit_options(
    conditions: dict[str, Any] | None, kind: str, exit_code: int | None
) -> dict[str, str]:
    """The exitOptions that apply, with Batch's defaults filled in.

    Defaults: none / satisfy for exit code 0; terminate / block for every other ending. The
    jobAction only matters when the job's onTaskFailure is performexitoptionsjobaction.
    """
    succeeded = kind == EXIT and exit_code == 0
    chosen: dict[str, Any] | None = None
    conditions = conditions or {}
    if kind == PRE_PROCESSING:
        chosen = conditions.get("preProcessingError") or conditions.get("default")
    elif kind == FILE_UPLOAD:
        chosen = conditions.get("fileUploadError") or conditions.get("default")
    elif exit_code is not None:
        for mapping in conditions.get("exitCodes") or []:
            if int(mapping.get("code", -(10**9))) == exit_code:
                chosen = mapping.get("exitOptions")
                break
        else:
            for span in conditions.get("exitCodeRanges") or []:
                if int(span["start"]) <= exit_code <= int(span["end"]):
                    chosen = span.get("exitOptions")
                    break
            else:
                if not succeeded:
                    chosen = conditions.get("default")
    chosen = chosen or {}
    return {
        "jobAction": str(chosen.get("jobAction") or ("none" if succeeded else "terminate")),
        "dependencyAction": str(
            chosen.get("dependencyAction") or ("satisfy" if succeeded else "block")
        ),
    }


def job_actions(conditions: dict[str, Any] | None) -> list[str]:
    """Every jobAction the exit conditions name (to refuse them on a `noaction` job)."""
    conditions = conditions or {}
    mappings = list(conditions.get("exitCodes") or []) + list(
        conditions.get("exitCodeRanges") or []
    )
    options = [m.get("exitOptions") or {} for m in mappings]
    options += [
        conditions.get(k) or {} for k in ("preProcessingError", "fileUploadError", "default")
    ]
    return [str(o["jobAction"]) for o in options if o.get("jobAction")]
