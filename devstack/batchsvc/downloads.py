"""Resource files: blobs and HTTP files downloaded into a task's working dir before it runs."""

from __future__ import annotations

import os
import shutil
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

TIMEOUT_SECONDS = 60


class ResourceFileError(Exception):
    """A resource file could not be fetched; `code` is the Batch failure code."""

    def __init__(self, code: str, message: str, url: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.url = url


def failure_info(error: ResourceFileError) -> dict[str, Any]:
    """The task's failureInfo for a failed download, as Batch reports it."""
    return {
        "category": "usererror",
        "code": error.code,
        "message": error.message,
        "details": [{"name": "ResourceFileUrl", "value": _without_query(error.url)}],
    }


def _without_query(url: str) -> str:
    # The SAS is a secret: never put it in task metadata or logs.
    return urllib.parse.urlsplit(url)._replace(query="").geturl()


def _inside(root: Path, relative: str) -> Path:
    target = (root / relative.lstrip("/")).resolve()
    base = root.resolve()
    if target != base and base not in target.parents:
        raise ResourceFileError(
            "InvalidResourceFilePath", f"filePath {relative!r} leaves the working directory", ""
        )
    return target


def _get(url: str, target: Path) -> None:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "wb") as out:
                shutil.copyfileobj(response, out)
    except urllib.error.HTTPError as e:
        e.close()
        code = {403: "BlobAccessDenied", 401: "BlobAccessDenied", 404: "BlobNotFound"}.get(
            e.code, "BlobDownloadMiscError"
        )
        raise ResourceFileError(
            code, f"Downloading the resource file failed: HTTP {e.code}", url
        ) from e
    except (urllib.error.URLError, OSError) as e:
        raise ResourceFileError(
            "BlobDownloadMiscError", f"Downloading the resource file failed: {e}", url
        ) from e


def _list_blobs(container_url: str, prefix: str) -> list[str]:
    """Blob names under `prefix` through the Blob service's List Blobs call (SAS in the URL)."""
    parts = urllib.parse.urlsplit(container_url)
    names: list[str] = []
    marker = ""
    while True:
        query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        query += [("restype", "container"), ("comp", "list")]
        if prefix:
            query.append(("prefix", prefix))
        if marker:
            query.append(("marker", marker))
        url = parts._replace(query=urllib.parse.urlencode(query)).geturl()
        try:
            with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
                root = ET.fromstring(response.read())
        except urllib.error.HTTPError as e:
            e.close()
            code = "BlobAccessDenied" if e.code in (401, 403) else "BlobDownloadMiscError"
            raise ResourceFileError(
                code, f"Listing the container failed: HTTP {e.code}", container_url
            ) from e
        except (urllib.error.URLError, OSError, ET.ParseError) as e:
            raise ResourceFileError(
                "BlobDownloadMiscError", f"Listing the container failed: {e}", container_url
            ) from e
        names.extend(el.text or "" for el in root.iter("Name") if el.text)
        marker = (root.findtext("NextMarker") or "").strip()
        if not marker:
            return names


def _blob_url(container_url: str, name: str) -> str:
    parts = urllib.parse.urlsplit(container_url)
    path = parts.path.rstrip("/") + "/" + urllib.parse.quote(name)
    return parts._replace(path=path).geturl()


def _mode(target: Path, file_mode: str | None) -> None:
    if file_mode:
        try:
            os.chmod(target, int(file_mode, 8))
        except ValueError as e:
            raise ResourceFileError(
                "InvalidFileMode", f"fileMode {file_mode!r} is not octal", ""
            ) from e


def fetch_all(resource_files: list[dict[str, Any]], working_dir: Path) -> None:
    """Download every resource file into the working dir (Batch's rules for filePath)."""
    working_dir.mkdir(parents=True, exist_ok=True)
    for spec in resource_files:
        file_mode = spec.get("fileMode")
        if spec.get("httpUrl"):
            if not spec.get("filePath"):
                raise ResourceFileError("InvalidResourceFilePath", "httpUrl needs a filePath", "")
            target = _inside(working_dir, str(spec["filePath"]))
            _get(str(spec["httpUrl"]), target)
            _mode(target, file_mode)
        elif spec.get("storageContainerUrl"):
            container = str(spec["storageContainerUrl"])
            prefix = str(spec.get("blobPrefix") or "")
            base = _inside(working_dir, str(spec.get("filePath") or ""))
            for name in _list_blobs(container, prefix):
                target = _inside(base, name)
                _get(_blob_url(container, name), target)
                _mode(target, file_mode)
        elif spec.get("autoStorageContainerName"):
            raise ResourceFileError(
                "AutoStorageNotSupported",
                "autoStorageContainerName needs a linked storage account; this service has none. "
                "Use storageContainerUrl with a SAS.",
                "",
            )
        else:
            raise ResourceFileError(
                "InvalidResourceFile",
                "A resource file needs httpUrl, storageContainerUrl or autoStorageContainerName",
                "",
            )
