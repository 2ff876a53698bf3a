"""The worker package as a wheel, built in memory from the sources the function app ships, so
that a pool's start task can install it (`install_worker = true`) with no package index for
dropbatch itself. The file name carries a hash of the sources: a changed worker is a new
file, and a pool created from it keeps the one it was created with."""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import worker

DISTRIBUTION = "dropbatch_worker"
VERSION = "0.1.0"
# What the worker imports besides the standard library (pip installs what the node's Python
# lacks). Kept equal to the project's own pins; a test compares them.
REQUIREMENTS = (
    "azure-storage-blob>=12.20,<13",
    "azure-cosmos>=4.7,<5",
    "azure-identity>=1.17,<2",
    "azure-monitor-opentelemetry-exporter>=1.0.0b40,<2",
    "opentelemetry-sdk>=1.27,<2",
)
# Where `dropbatch init` puts the wheel in the assets container.
ASSET_PREFIX = "_dropbatch/"
# Fixed zip entry times: the same sources make the same bytes.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class WorkerWheel:
    """A wheel file: its name (`dropbatch_worker-<version>-py3-none-any.whl`) and bytes."""

    name: str
    data: bytes

    @property
    def blob_name(self) -> str:
        """Its name in the assets container."""
        return ASSET_PREFIX + self.name


def _sources(package: Path) -> list[tuple[str, bytes]]:
    files = sorted(p for p in package.rglob("*.py") if "__pycache__" not in p.parts)
    return [(f"worker/{p.relative_to(package).as_posix()}", p.read_bytes()) for p in files]


def _record_hash(data: bytes) -> str:
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def build_wheel(package: Path | None = None) -> WorkerWheel:
    """The wheel of the `worker` package at `package` (default: the one imported here)."""
    root = package or Path(worker.__file__).resolve().parent
    sources = _sources(root)
    tree = hashlib.sha256()
    for path, data in sources:
        tree.update(path.encode() + b"\0" + hashlib.sha256(data).digest())
    version = f"{VERSION}+{tree.hexdigest()[:12]}"
    dist_info = f"{DISTRIBUTION}-{version}.dist-info"
    metadata = "\n".join(
        [
            "Metadata-Version: 2.1",
            "Name: dropbatch-worker",
            f"Version: {version}",
            "Summary: dropbatch's worker: processes one dropped file on an Azure Batch node",
            "Requires-Python: >=3.11",
            *(f"Requires-Dist: {r}" for r in REQUIREMENTS),
            "",
        ]
    )
    wheel_file = "\n".join(
        [
            "Wheel-Version: 1.0",
            "Generator: dropbatch",
            "Root-Is-Purelib: true",
            "Tag: py3-none-any",
            "",
        ]
    )
    entries = [
        *sources,
        (f"{dist_info}/METADATA", metadata.encode()),
        (f"{dist_info}/WHEEL", wheel_file.encode()),
    ]
    record = "".join(f"{path},{_record_hash(data)},{len(data)}\n" for path, data in entries)
    record += f"{dist_info}/RECORD,,\n"
    entries.append((f"{dist_info}/RECORD", record.encode()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for path, data in entries:
            info = zipfile.ZipInfo(path, _ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, data)
    return WorkerWheel(f"{DISTRIBUTION}-{version}-py3-none-any.whl", out.getvalue())


@cache
def worker_wheel() -> WorkerWheel:
    """The wheel of the worker this process ships (built once per process)."""
    return build_wheel()
