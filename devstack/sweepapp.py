"""The example sum-of-powers sweep (`examples/sweep/app`) as the fault matrix and the fan-out
benchmark run it: its program folder, and its route's task and merge sections."""

from __future__ import annotations

from pathlib import Path

APP_DIR = Path(__file__).resolve().parent.parent / "examples" / "sweep" / "app"


def task_and_merge(asset: str) -> str:
    """The `[route.task]` and `[route.merge]` sections of a sweep route whose program was
    pushed to the assets container under `asset`: each member writes `outputs.json`, the merge
    sums them into `total.json`."""
    return f"""[route.task]
command = "python3 app/member.py global.json params.json outputs.json"
resource_files = [
  {{ source = "config:{asset}/", path = "app/" }},
  {{ source = "member:global", path = "global.json" }},
  {{ source = "member:params", path = "params.json" }},
]
outputs = [{{ pattern = "outputs.json", to = "results:{{results}}/{{member}}/outputs.json" }}]
[route.merge]
command = "python3 app/merge.py members total.json"
resource_files = [
  {{ source = "config:{asset}/", path = "app/" }},
  {{ source = "results:{{results}}/members/", path = "members/" }},
]
outputs = [{{ pattern = "total.json", to = "results:{{results}}/total.json" }}]"""
