"""Route dispatch: every route has a runner, and a route loads only the SDKs it uses."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.worker.node import ROOT
from worker.contract import TaskRoute
from worker.job import ROUTES, runner

# What `python -m worker` imports before the route is known, then the route's runner.
_PROBE = """
import json, sys
import worker.__main__
from worker.contract import TaskRoute
from worker.job import runner
runner(TaskRoute(sys.argv[1]))
print(json.dumps(sorted(name for name in sys.modules if name.startswith("azure."))))
"""


def azure_modules_after_resolving(route: TaskRoute) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, route.value],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return set(json.loads(done.stdout))


def test_every_route_has_a_runner() -> None:
    assert set(ROUTES) == set(TaskRoute)
    for route in TaskRoute:
        assert callable(runner(route))


def test_the_zip_route_never_imports_the_cosmos_sdk() -> None:
    modules = azure_modules_after_resolving(TaskRoute.ZIP)
    assert "azure.storage.blob" in modules
    assert not {m for m in modules if m == "azure.cosmos" or m.startswith("azure.cosmos.")}


def test_the_csv_route_imports_the_cosmos_sdk_it_writes_with() -> None:
    assert "azure.cosmos" in azure_modules_after_resolving(TaskRoute.CSV)
