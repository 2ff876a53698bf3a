"""Simulated compute nodes: ids, documents and the directory layout of a Batch node."""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack.batchsvc.registry import Node, PoolRecord
from devstack.batchsvc.timestamps import iso, now


@dataclass(frozen=True)
class NodeFile:
    """A file baked into every node's shared dir, as if part of the VM image."""

    source: Path
    relative_path: str

    @classmethod
    def parse(cls, spec: str) -> NodeFile:
        source, sep, relative = spec.rpartition(":")
        if not sep or not source or not relative:
            raise ValueError(f"--node-file wants SRC:RELPATH, got {spec!r}")
        rel = Path(relative)
        if rel.is_absolute() or ".." in rel.parts:
            raise ValueError(f"--node-file RELPATH must stay inside the shared dir: {relative!r}")
        return cls(Path(source).resolve(), relative)


def node_id(pool_id: str, index: int, dedicated: bool) -> str:
    digest = hashlib.sha256(f"{pool_id}/{index}".encode()).hexdigest()[:32]
    return f"tvmps_{digest}_{'d' if dedicated else 'p'}"


def prepare_node_dir(root: Path, files: list[NodeFile]) -> None:
    for sub in ("shared", "startup", "workitems", "home", "fsmounts"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for item in files:
        target = root / "shared" / item.relative_path
        target.parent.mkdir(parents=True, exist_ok=True)
        if item.source.is_dir():
            shutil.copytree(item.source, target, dirs_exist_ok=True)
        else:
            shutil.copy2(item.source, target)


def new_node(
    pool: PoolRecord, index: int, dedicated: bool, seq: int, root: Path, base_url: str
) -> Node:
    nid = node_id(pool.id, index, dedicated)
    moment = iso(now())
    doc: dict[str, Any] = {
        "id": nid,
        "url": f"{base_url}/pools/{pool.id}/nodes/{nid}",
        "state": "idle",
        "schedulingState": "enabled",
        "stateTransitionTime": moment,
        "lastBootTime": moment,
        "allocationTime": moment,
        "ipAddress": f"10.0.{index // 250}.{index % 250 + 4}",
        "affinityId": f"TVM:{nid}",
        "vmSize": pool.doc.get("vmSize", "standard_d2s_v3"),
        "totalTasksRun": 0,
        "runningTasksCount": 0,
        "runningTaskSlotsCount": 0,
        "totalTasksSucceeded": 0,
        "isDedicated": dedicated,
        "nodeAgentInfo": {"version": "1.0.0-devstack", "lastUpdateTime": moment},
        "_index": index,
    }
    return Node(pool.id, seq, doc, root / pool.id / nid)
