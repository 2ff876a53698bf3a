"""Files on nodes: a task's directory (stdout.txt, stderr.txt, wd/...) and a node's own files."""

from __future__ import annotations

import mimetypes
import os
import re
import shutil
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from devstack.batchsvc.account import Account
from devstack.batchsvc.errors import BadRequest, BatchServiceError, NotFound
from devstack.batchsvc.jobs import find_job
from devstack.batchsvc.messages import Request, Response
from devstack.batchsvc.odata import ListQuery, page
from devstack.batchsvc.tasks import find_task
from devstack.batchsvc.timestamps import iso, rfc1123

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
OCTET_STREAM = "application/octet-stream"


def _file_not_found(path: str) -> NotFound:
    return NotFound(
        "The specified file does not exist.", code="FileNotFound", values={"FilePath": path}
    )


def _task_root(account: Account, request: Request) -> tuple[Path, str]:
    """The task's directory on its node, and the URL prefix of its files."""
    with account.registry.lock:
        job = find_job(account, request.path_args["jobId"])
        task = find_task(job, request.path_args["taskId"])
        info = task.doc.get("nodeInfo") or {}
        pool = account.registry.pools.get(str(info.get("poolId") or ""))
        node = pool.nodes.get(str(info.get("nodeId") or "")) if pool else None
        url = f"{task.doc['url']}/files"
        cleaned = bool(task.doc.get("_filesCleaned"))
    if cleaned:
        raise NotFound(
            "The files of the task were cleaned up after its retentionTime.",
            code="TaskFilesCleanedup",
        )
    if not info:
        raise BatchServiceError(
            "The task has not been scheduled on a node yet, so it has no files.",
            code="TaskNotScheduled",
            status=409,
        )
    root = node.root if node else account.nodes_root / str(info["poolId"]) / str(info["nodeId"])
    folder = root / str(info["taskRootDirectory"])
    if not folder.is_dir():
        raise NotFound(
            "The node the task ran on no longer holds its files.",
            code="NodeNotFound",
            values={"NodeId": str(info.get("nodeId"))},
        )
    return folder, url


def _node_root(account: Account, request: Request) -> tuple[Path, str]:
    with account.registry.lock:
        pool = account.pool(request.path_args["poolId"])
        node = pool.nodes.get(request.path_args["nodeId"])
        if node is None:
            raise NotFound(
                "The specified node does not exist.",
                code="NodeNotFound",
                values={"NodeId": request.path_args["nodeId"]},
            )
        return node.root, f"{node.doc['url']}/files"


def _inside(root: Path, relative: str) -> Path:
    target = (root / relative.replace("\\", "/").lstrip("/")).resolve()
    base = root.resolve()
    if target != base and base not in target.parents:
        raise BadRequest(
            "The file path is outside the directory.",
            code="InvalidUri",
            values={"FilePath": relative},
        )
    return target


def _properties(path: Path, info: os.stat_result) -> dict[str, Any]:
    props: dict[str, Any] = {
        "creationTime": iso(datetime.fromtimestamp(info.st_ctime, UTC)),
        "lastModified": iso(datetime.fromtimestamp(info.st_mtime, UTC)),
        "contentLength": str(0 if stat.S_ISDIR(info.st_mode) else info.st_size),
        "fileMode": f"{info.st_mode:o}",
    }
    if not stat.S_ISDIR(info.st_mode):
        props["contentType"] = mimetypes.guess_type(path.name)[0] or OCTET_STREAM
    return props


def _file_headers(path: Path, url: str) -> dict[str, str]:
    info = path.stat()
    modified = datetime.fromtimestamp(info.st_mtime, UTC)
    return {
        "ocp-creation-time": rfc1123(datetime.fromtimestamp(info.st_ctime, UTC)),
        "ocp-batch-file-isdirectory": "true" if path.is_dir() else "false",
        "ocp-batch-file-url": url,
        "ocp-batch-file-mode": f"{info.st_mode:o}",
        "Last-Modified": rfc1123(modified),
        "ETag": f"0x{int(info.st_mtime_ns // 100):X}",
    }


def _listing(root: Path, url: str, request: Request) -> Response:
    recursive = request.flag("recursive")
    entries: list[tuple[int, dict[str, Any]]] = []
    walker = sorted(root.rglob("*")) if recursive else sorted(root.iterdir())
    for seq, path in enumerate(walker):
        try:
            info = path.lstat()
        except FileNotFoundError:
            continue
        name = path.relative_to(root).as_posix()
        entry: dict[str, Any] = {
            "name": name,
            "url": f"{url}/{quote(name)}",
            "isDirectory": stat.S_ISDIR(info.st_mode),
        }
        if not entry["isDirectory"]:
            entry["properties"] = _properties(path, info)
        entries.append((seq, entry))
    body = page(entries, ListQuery.from_params(request.params), url)
    body["odata.metadata"] = f"{url.split('/jobs/')[0].split('/pools/')[0]}/$metadata#files"
    return Response(200, body)


def _content(root: Path, url: str, request: Request, head: bool) -> Response:
    relative = request.path_args["filePath"]
    path = _inside(root, relative)
    if not path.exists():
        raise _file_not_found(relative)
    file_url = f"{url}/{quote(relative)}"
    headers = _file_headers(path, file_url)
    if path.is_dir():
        if head:
            headers["Content-Length"] = "0"
            return Response(200, None, headers, OCTET_STREAM)
        raise BadRequest(
            "The specified path is a directory.",
            code="FileIsADirectory",
            values={"FilePath": relative},
        )
    size = path.stat().st_size
    start, end = 0, size - 1
    wanted = request.header("ocp-range") or request.header("range")
    if wanted:
        match = _RANGE.match(wanted.strip())
        if not match or (not match.group(1) and not match.group(2)):
            raise BadRequest(
                "The range header is not valid.", code="InvalidRange", values={"Range": wanted}
            )
        if match.group(1):
            start = int(match.group(1))
            end = min(int(match.group(2)), size - 1) if match.group(2) else size - 1
        else:  # a suffix: the last N bytes
            start = max(size - int(match.group(2)), 0)
        if start > end and size > 0:
            raise BatchServiceError(
                "The range is not satisfiable.",
                code="InvalidRange",
                status=416,
                values={"Range": wanted, "FileSize": str(size)},
            )
    content_type = mimetypes.guess_type(path.name)[0] or OCTET_STREAM
    if head:
        headers["Content-Length"] = str(size)
        return Response(200, None, headers, content_type)
    with open(path, "rb") as f:
        f.seek(start)
        data = f.read(max(end - start + 1, 0))
    return Response(200, data, headers, content_type)


def list_task_files(account: Account, request: Request) -> Response:
    root, url = _task_root(account, request)
    return _listing(root, url, request)


def get_task_file(account: Account, request: Request) -> Response:
    root, url = _task_root(account, request)
    return _content(root, url, request, head=False)


def task_file_properties(account: Account, request: Request) -> Response:
    root, url = _task_root(account, request)
    return _content(root, url, request, head=True)


def delete_task_file(account: Account, request: Request) -> Response:
    root, _ = _task_root(account, request)
    return _delete(root, request)


def delete_node_file(account: Account, request: Request) -> Response:
    root, _ = _node_root(account, request)
    return _delete(root, request)


def _delete(root: Path, request: Request) -> Response:
    path = _inside(root, request.path_args["filePath"])
    if not path.exists():
        raise _file_not_found(request.path_args["filePath"])
    if path.is_dir():
        if not request.flag("recursive") and any(path.iterdir()):
            raise BatchServiceError(
                "The directory is not empty.", code="DirectoryNotEmpty", status=409
            )
        shutil.rmtree(path)
    else:
        path.unlink()
    return Response(200)


def list_node_files(account: Account, request: Request) -> Response:
    root, url = _node_root(account, request)
    return _listing(root, url, request)


def get_node_file(account: Account, request: Request) -> Response:
    root, url = _node_root(account, request)
    return _content(root, url, request, head=False)


def node_file_properties(account: Account, request: Request) -> Response:
    root, url = _node_root(account, request)
    return _content(root, url, request, head=True)
