"""Output files: files matched after a task ran, uploaded to Blob containers.

A destination container is written with the SAS in its URL, or as the pool identity its
`identityReference` names (see `blobaccess`). Each error line starts with Batch's task failure
code (`FileUploadAccessDenied`, ...); the first one becomes the task's failureInfo.
"""

from __future__ import annotations

import glob
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack.batchsvc.blobaccess import (
    BLOB_API_VERSION,
    IdentityError,
    NodeIdentity,
    authorize,
    without_query,
)

TIMEOUT_SECONDS = 120
_CODES = {
    401: "FileUploadAccessDenied",
    403: "FileUploadAccessDenied",
    404: "FileUploadContainerNotFound",
    409: "FileUploadConflict",
}
MISC = "FileUploadMiscError"
MESSAGES = {
    "FileUploadAccessDenied": "Access to one of the specified file upload destinations was denied",
    "FileUploadContainerNotFound": "One of the specified file upload destination containers "
    "was not found",
    "FileUploadConflict": "A conflict was encountered while uploading one of the output files",
    MISC: "Miscellaneous error encountered while uploading one of the output files",
}
_WILDCARD = re.compile(r"[*?\[]")


@dataclass
class UploadReport:
    uploaded: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.errors)


def _wanted(condition: str | None, succeeded: bool) -> bool:
    condition = (condition or "taskCompletion").lower()
    if condition == "tasksuccess":
        return succeeded
    if condition == "taskfailure":
        return not succeeded
    return True


def _matches(pattern: str, working_dir: Path) -> list[tuple[Path, str]]:
    """(file, name relative to the pattern's fixed prefix) for every file the pattern matches."""
    pattern = pattern.replace("\\", "/")
    absolute = pattern if os.path.isabs(pattern) else str(working_dir / pattern)
    fixed_parts: list[str] = []
    for part in pattern.split("/"):
        if _WILDCARD.search(part):
            break
        fixed_parts.append(part)
    has_wildcard = _WILDCARD.search(pattern) is not None
    base = (
        Path(absolute).parent
        if not has_wildcard
        else Path(
            "/".join(fixed_parts)
            if os.path.isabs(pattern)
            else str(working_dir / "/".join(fixed_parts))
        )
    )
    found: list[tuple[Path, str]] = []
    for name in sorted(glob.glob(absolute, recursive=True)):
        path = Path(name)
        if path.is_file():
            relative = (
                path.name if not has_wildcard else os.path.relpath(path, base).replace(os.sep, "/")
            )
            found.append((path, relative))
    return found


def _blob_url(container_url: str, blob_name: str) -> str:
    parts = urllib.parse.urlsplit(container_url)
    path = parts.path.rstrip("/") + "/" + urllib.parse.quote(blob_name)
    return parts._replace(path=path).geturl()


def _put(
    url: str,
    path: Path,
    headers: list[dict[str, str]],
    reference: dict[str, Any] | None,
    identity: NodeIdentity,
) -> None:
    data = path.read_bytes()
    request = urllib.request.Request(url, data=data, method="PUT")
    request.add_header("x-ms-blob-type", "BlockBlob")
    request.add_header("x-ms-version", BLOB_API_VERSION)
    request.add_header("Content-Length", str(len(data)))
    for header in headers:
        request.add_header(str(header["name"]), str(header.get("value") or ""))
    if not request.has_header("Content-type"):
        # Set before signing: urllib would add a form content type after it.
        request.add_header("Content-Type", "application/octet-stream")
    authorize(request, reference, identity)
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
        response.read()


def _error(code: str, what: str, reason: str) -> str:
    return f"{code}: {what}: {reason}"


def failure_info(errors: list[str]) -> dict[str, Any]:
    """The task's failureInfo after failed uploads: the first error's code, Batch's message."""
    code = errors[0].partition(":")[0] if errors else MISC
    code = code if code in MESSAGES else MISC
    return {
        "category": "usererror",
        "code": code,
        "message": f"{MESSAGES[code]}; see fileuploaderr.txt",
        "details": [{"name": "Message", "value": e} for e in errors[:5]],
    }


def upload_all(
    output_files: list[dict[str, Any]],
    working_dir: Path,
    succeeded: bool,
    node_root: Path | None = None,
) -> UploadReport:
    """Upload what the task's outputFiles ask for; errors are collected, not raised. A
    destination with an identityReference is written as the pool identity of the node."""
    report = UploadReport()
    identity: NodeIdentity | None = None
    for spec in output_files:
        options = spec.get("uploadOptions") or {}
        if not _wanted(options.get("uploadCondition"), succeeded):
            continue
        container = ((spec.get("destination") or {}).get("container")) or {}
        container_url = str(container.get("containerUrl") or "")
        pattern = str(spec.get("filePattern") or "")
        if not container_url or not pattern:
            report.errors.append(
                _error(MISC, f"output file {pattern!r}", "a container destination is required")
            )
            continue
        reference = container.get("identityReference") or None
        if reference is not None and identity is None:
            try:
                identity = NodeIdentity.load(node_root)
            except IdentityError as e:
                report.errors.append(_error(MISC, f"output file {pattern!r}", str(e)))
                continue
        matches = _matches(pattern, working_dir)
        has_wildcard = _WILDCARD.search(pattern) is not None
        prefix = str(container.get("path") or "")
        for path, relative in matches:
            if has_wildcard:
                blob_name = f"{prefix.rstrip('/')}/{relative}" if prefix else relative
            else:
                blob_name = prefix or relative
            url = _blob_url(container_url, blob_name)
            what = f"{path} -> {without_query(url)}"
            headers = list(container.get("uploadHeaders") or [])
            try:
                _put(url, path, headers, reference, identity or NodeIdentity())
                report.uploaded.append(what)
            except IdentityError as e:
                report.errors.append(_error(MISC, what, f"HTTP {e.status} {e}"))
            except urllib.error.HTTPError as e:
                e.close()
                code = _CODES.get(e.code, MISC)
                report.errors.append(_error(code, what, f"HTTP {e.code} {e.reason}"))
            except (urllib.error.URLError, OSError) as e:
                report.errors.append(_error(MISC, what, str(e)))
    return report


def write_logs(task_dir: Path, report: UploadReport) -> None:
    """fileuploadout.txt and, on errors, fileuploaderr.txt in the task dir, as Batch writes."""
    (task_dir / "fileuploadout.txt").write_text("".join(f"uploaded {u}\n" for u in report.uploaded))
    if report.errors:
        (task_dir / "fileuploaderr.txt").write_text("".join(f"{e}\n" for e in report.errors))
