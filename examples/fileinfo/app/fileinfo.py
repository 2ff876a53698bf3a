"""Describe any file (seed 004's output-files workload): size, SHA-256, line count and
the first bytes as hex, written to `<out>/info.json`. A file over the size limit fails on
purpose and leaves `failure-report.txt`, which the route uploads only when the task fails."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

LIMIT = 256 * 1024 * 1024


def main() -> int:
    source, out = Path(sys.argv[1]), Path(sys.argv[2])
    size = source.stat().st_size
    if size > LIMIT:
        Path("failure-report.txt").write_text(f"{source.name}: {size} bytes, over {LIMIT}\n")
        print(f"{source.name} is over the {LIMIT}-byte limit", file=sys.stderr)
        return 2  # no_retry: another attempt would fail the same way
    digest, lines, head = hashlib.sha256(), 0, b""
    with source.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            lines += chunk.count(b"\n")
            head = head or chunk[:16]
    out.mkdir(parents=True, exist_ok=True)
    info = {"name": source.name, "bytes": size, "sha256": digest.hexdigest(), "lines": lines,
            "head_hex": head.hex()}  # fmt: skip
    (out / "info.json").write_text(json.dumps(info, indent=2))
    print(json.dumps(info))
    return 0


if __name__ == "__main__":
    sys.exit(main())
