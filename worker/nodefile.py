"""`python -m worker.nodefile`: a pool's start task writes the node's credentials file
(`$AZ_BATCH_NODE_SHARED_DIR/dropbatch/credentials.json`, read by `worker.credentials`) from
its own environment — in Azure the telemetry settings only: where the worker sends its
telemetry and that it signs in with the pool identity. Names not set are left out; a file
that exists keeps what it holds besides."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from worker.credentials import APPINSIGHTS_AUTHENTICATION_STRING, APPINSIGHTS_CONNECTION_STRING
from worker.settings import CREDENTIALS_RELATIVE_PATH

NAMES = (APPINSIGHTS_CONNECTION_STRING, APPINSIGHTS_AUTHENTICATION_STRING)


def write(shared_dir: Path, environ: dict[str, str]) -> Path:
    """Write (merge) the names of NAMES that `environ` sets; return the file's path."""
    path = shared_dir / CREDENTIALS_RELATIVE_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    found = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    found.update({name: environ[name] for name in NAMES if environ.get(name)})
    path.write_text(json.dumps(found, indent=2), encoding="utf-8")
    path.chmod(0o600)
    return path


def main() -> int:
    """Write the file from this process's environment; 2 outside a Batch node."""
    shared = os.environ.get("AZ_BATCH_NODE_SHARED_DIR")
    if not shared:
        print(
            "AZ_BATCH_NODE_SHARED_DIR is not set: run this in a pool's start task", file=sys.stderr
        )
        return 2
    print(f"wrote {write(Path(shared), dict(os.environ))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
