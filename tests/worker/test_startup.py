"""Start-up of `python -m worker`: its entry module loads no SDK, so that the garbage
collector it pauses is paused for all of them, and `worker.job.started` resumes the collector
(with what is loaded frozen) once the route's modules are in, leaving an in-process caller's
collector as it was."""

from __future__ import annotations

import gc
import json
import subprocess
import sys

from tests.worker.node import ROOT
from worker.job import started


def probe(code: str) -> object:
    """What a fresh interpreter prints (as JSON) after running `code`."""
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


def test_the_entry_module_loads_no_sdk() -> None:
    loaded = probe(
        "import json, sys\nimport worker.__main__\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in"
        " ('azure', 'requests', 'urllib3', 'opentelemetry', 'cryptography'))))"
    )
    assert loaded == []


def test_started_resumes_a_paused_collector_with_the_loaded_modules_frozen() -> None:
    state = probe(
        "import gc, json\ngc.disable()\nfrom worker.job import runner, started\n"
        "from worker.contract import TaskRoute\nrunner(TaskRoute.ZIP)\nstarted()\n"
        "print(json.dumps([gc.isenabled(), gc.get_freeze_count()]))"
    )
    assert isinstance(state, list)
    enabled, frozen = state
    assert enabled is True
    assert isinstance(frozen, int) and frozen > 10_000


def test_started_leaves_a_running_collector_alone() -> None:
    before = gc.get_freeze_count()
    started()
    assert gc.isenabled()
    assert gc.get_freeze_count() == before
