"""Write the worker package that the Batch pool's start task installs: a zip of this
project's source (pyproject.toml, batch_core, worker), installable with `pip install`.

Usage: python infra/hooks/worker_package.py OUT.zip
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PARTS = ("pyproject.toml", "batch_core", "worker")


def files(root: Path = ROOT) -> list[Path]:
    """The files the package holds, relative to the project root, sorted."""
    found: list[Path] = []
    for part in PARTS:
        path = root / part
        if not path.exists():
            raise SystemExit(f"worker package: {path} is missing")
        candidates = [path] if path.is_file() else sorted(path.rglob("*"))
        found += [
            p.relative_to(root)
            for p in candidates
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
        ]
    return sorted(found)


def write(out: Path, root: Path = ROOT) -> list[Path]:
    names = files(root)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name in names:
            z.write(root / name, name.as_posix())
    return names


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    written = write(Path(sys.argv[1]))
    print(f"worker package: {len(written)} files in {sys.argv[1]}")
