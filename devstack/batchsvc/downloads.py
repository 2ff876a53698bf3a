"""Resource files: blobs and HTTP files downloaded into a task's working dir before it runs.

A blob is read with the SAS in its URL, or as the pool identity its `identityReference` names
(see `blobaccess`); failures carry Batch's task failure codes (`BlobAccessDenied`,
`ResourceContainerAccessDenied`, ...), Batch's message and the HTTP status in the details.
"""

from __future__ import annotations

import os
import shutil
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from devstack.batchsvc.blobaccess import IdentityError, NodeIdentity, authorize, without_query

TIMEOUT_SECONDS = 60

# Batch's task failure codes and messages, for a blob download and for a container listing.
_BLOB_CODES = {401: "BlobAccessDenied", 403: "BlobAccessDenied", 404: "BlobNotFound"}
_BLOB_MISC = "BlobDownloadMiscError"
_CONTAINER_CODES = {
    401: "ResourceContainerAccessDenied",
    403: "ResourceContainerAccessDenied",
    404: "ResourceContainerNotFound",
}
_CONTAINER_MISC = "ResourceContainerListMiscError"
MESSAGES = {
    "BlobAccessDenied": "Access for one of the specified Azure Blob(s) is denied",
    "BlobNotFound": "One of the specified Azure Blob(s) is not found",
    _BLOB_MISC: "Miscellaneous error encountered while downloading one of the specified "
    "Azure Blob(s)",
    "ResourceContainerAccessDenied": "Access for one of the specified Azure Blob container(s) "
    "is denied",
    "ResourceContainerNotFound": "One of the specified Azure Blob container(s) is not found",
    _CONTAINER_MISC: "Miscellaneous error encountered while listing one of the specified "
    "Azure Blob container(s)",
}


class ResourceFileError(Exception):
    """A resource file could not be fetched; `code` is the Batch failure code."""

    def __init__(
        self, code: str, message: str, url: str, status: int | None = None, reason: str = ""
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.url = url
        self.status = status
        self.reason = reason


def failure_info(error: ResourceFileError) -> dict[str, Any]:
    """The task's failureInfo for a failed download, as Batch reports it (no SAS in it)."""
    details = [{"name": "ResourceFileUrl", "value": without_query(error.url)}]
    if error.status is not None:
        details.append({"name": "HttpStatusCode", "value": str(error.status)})
    if error.reason:
        details.append({"name": "Message", "value": error.reason})
    return {
        "category": "usererror",
        "code": error.code,
        "message": error.message,
        "details": details,
    }


def _failed(
    codes: dict[int, str], misc: str, url: str, status: int | None, reason: str
) -> ResourceFileError:
    code = codes.get(status, misc) if status is not None else misc
    return ResourceFileError(code, MESSAGES[code], url, status, reason)


def _open(
    url: str,
    reference: dict[str, Any] | None,
    identity: NodeIdentity,
    codes: dict[int, str],
    misc: str,
) -> Any:
    """The response to a GET of a blob or container URL; ResourceFileError with Batch's code."""
    request = urllib.request.Request(url)
    try:
        authorize(request, reference, identity)
        return urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS)
    except IdentityError as e:
        raise _failed(codes, misc, url, e.status, str(e)) from e
    except urllib.error.HTTPError as e:
        e.close()
        raise _failed(codes, misc, url, e.code, f"HTTP {e.code} {e.reason}") from e
    except (urllib.error.URLError, OSError) as e:
        raise _failed(codes, misc, url, None, str(e)) from e


def _inside(root: Path, relative: str) -> Path:
    target = (root / relative.lstrip("/")).resolve()
    base = root.resolve()
    if target != base and base not in target.parents:
        raise ResourceFileError(
            "InvalidResourceFilePath", f"filePath {relative!r} leaves the working directory", ""
        )
    return target


def _get(url: str, target: Path, reference: dict[str, Any] | None, identity: NodeIdentity) -> None:
    with _open(url, reference, identity, _BLOB_CODES, _BLOB_MISC) as response:
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(target, "wb") as out:
                shutil.copyfileobj(response, out)
        except OSError as e:
            raise _failed(_BLOB_CODES, _BLOB_MISC, url, None, str(e)) from e


def _list_blobs(
    container_url: str, prefix: str, reference: dict[str, Any] | None, identity: NodeIdentity
) -> list[str]:
    """Blob names under `prefix` through the Blob service's List Blobs call."""
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
        with _open(url, reference, identity, _CONTAINER_CODES, _CONTAINER_MISC) as response:
            body = response.read()
        try:
            root = ET.fromstring(body)
        except ET.ParseError as e:
            raise _failed(_CONTAINER_CODES, _CONTAINER_MISC, container_url, None, str(e)) from e
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


def fetch_all(
    resource_files: list[dict[str, Any]], working_dir: Path, node_root: Path | None = None
) -> None:
    """Download every resource file into the working dir (Batch's rules for filePath); blobs
    with an identityReference are read as the pool identity of the node at `node_root`."""
    working_dir.mkdir(parents=True, exist_ok=True)
    identity: NodeIdentity | None = None
    for spec in resource_files:
        file_mode = spec.get("fileMode")
        reference = spec.get("identityReference") or None
        if reference is not None and identity is None:
            try:
                identity = NodeIdentity.load(node_root)
            except IdentityError as e:
                url = str(spec.get("httpUrl") or spec.get("storageContainerUrl") or "")
                misc = _BLOB_MISC if spec.get("httpUrl") else _CONTAINER_MISC
                raise _failed({}, misc, url, e.status, str(e)) from e
        node = identity or NodeIdentity()
        if spec.get("httpUrl"):
            if not spec.get("filePath"):
                raise ResourceFileError("InvalidResourceFilePath", "httpUrl needs a filePath", "")
            target = _inside(working_dir, str(spec["filePath"]))
            _get(str(spec["httpUrl"]), target, reference, node)
            _mode(target, file_mode)
        elif spec.get("storageContainerUrl"):
            container = str(spec["storageContainerUrl"])
            prefix = str(spec.get("blobPrefix") or "")
            base = _inside(working_dir, str(spec.get("filePath") or ""))
            for name in _list_blobs(container, prefix, reference, node):
                target = _inside(base, name)
                _get(_blob_url(container, name), target, reference, node)
                _mode(target, file_mode)
        elif spec.get("autoStorageContainerName"):
            raise ResourceFileError(
                "AutoStorageNotSupported",
                "autoStorageContainerName needs a linked storage account; this service has none. "
                "Use storageContainerUrl with a SAS or an identityReference.",
                "",
            )
        else:
            raise ResourceFileError(
                "InvalidResourceFile",
                "A resource file needs httpUrl, storageContainerUrl or autoStorageContainerName",
                "",
            )
