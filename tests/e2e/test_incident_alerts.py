"""A rejected file and a failed file each produce exactly one alert — in `dropbatch alerts`,
on the status page and at the webhook (which links to the page filtered on the file) — and
later ticks raise them no more."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from batch_core import intake, reconcile, statusdata
from batch_core.clock import utcnow
from batch_core.pipeline import Pipeline
from batch_core.settings import Settings
from batch_core.states import RunState
from batch_core.statuspage.render import status_html
from devstack.stack import Stack
from tests.core.pipeline_helpers import CSV_HEADER, drain, drop, unique
from tests.core.test_alerts import Receiver

pytestmark = [pytest.mark.stack, pytest.mark.e2e]
ROOT = Path(__file__).resolve().parents[2]
STATUS_URL = "https://status.example.test/api/status"


@pytest.fixture
def hook() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


def test_a_rejected_and_a_failed_file_each_raise_one_alert_everywhere(
    stack: Stack, hook: Receiver, tmp_path: Path
) -> None:
    # Given a webhook, the status page's address, and a worker that fails every file
    values = {
        **stack.values,
        "DROPBATCH_ALERT_WEBHOOK_URL": hook.url,
        "DROPBATCH_STATUS_URL": STATUS_URL,
        "DROPBATCH_MAX_ATTEMPTS": "1",
        "DROPBATCH_WORKER_COMMAND": "/bin/sh -c 'echo the worker broke >&2; exit 1'",
    }
    p = Pipeline.build(Settings.from_env(values), app_root=tmp_path)

    # When a file no route takes and a CSV whose task fails are dropped and run to their end
    rejected = intake.receive(p, drop(p, unique("notes.txt"), b"not data"), utcnow())
    failed = intake.receive(p, drop(p, unique("fails.csv"), CSV_HEADER), utcnow())
    assert rejected is not None and failed is not None
    assert drain(p, failed.key).state is RunState.FAILED
    for _ in range(3):
        reconcile.tick(p, utcnow())
    assert drain(p, rejected.key).state is RunState.REJECTED

    # Then the ledger's alerts hold one of each, and nothing more after further ticks
    keys = {rejected.key: "rejected", failed.key: "failed"}
    alerts = [a for a in p.alerts.recent(500) if a["run_key"] in keys]
    assert sorted((a["run_key"], a["kind"]) for a in alerts) == sorted(keys.items())
    # And the webhook took each once, with a link to the page filtered on the file
    posted = [b for b in hook.bodies if b.get("run_key") in keys]
    assert sorted((b["run_key"], b["kind"]) for b in posted) == sorted(keys.items())
    for body in posted:
        name = rejected.name if body["run_key"] == rejected.key else failed.name
        assert body["link"].startswith(f"{STATUS_URL}?q=")
        assert name.split("/")[-1] in body["link"]
    # And `dropbatch alerts` lists both
    shown = subprocess.run(
        [sys.executable, "-m", "batch_core.cli", "alerts", "--json"],
        env={**os.environ, **values},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    listed = {a["run_key"]: a["kind"] for a in json.loads(shown.stdout) if a["run_key"] in keys}
    assert listed == keys
    # And the status page shows both alerts
    page = status_html(statusdata.gather(p, utcnow()))
    assert rejected.name in page and failed.name in page
    assert page.count("the worker broke") >= 1
