"""One member of an entries fan-out (seed 002's per-task config files): reads its config
entry (JSON: {"name", "frames", "colour"}) and "renders" it into a part file, one line per
frame. A config without frames is refused (exit 3)."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main() -> int:
    config, out = Path(sys.argv[1]), Path(sys.argv[2])
    spec = json.loads(config.read_text())
    frames = int(spec.get("frames") or 0)
    if frames <= 0:
        print(f"{spec.get('name')}: no frames to render", file=sys.stderr)
        return 3
    out.mkdir(parents=True, exist_ok=True)
    lines = [f"{spec['name']} frame {n} {spec.get('colour', 'grey')}" for n in range(frames)]
    (out / "part.txt").write_text("\n".join(lines) + "\n")
    print(f"rendered {frames} frames of {spec['name']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
