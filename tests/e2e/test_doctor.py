"""`dropbatch doctor` on the local stack: every check passes on a healthy stack; with each
server stopped in turn, the checks of what it serves fail with what to do, and the others
still pass."""

from __future__ import annotations

import contextlib
import http.server
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.core.exceptions import ResourceExistsError

from batch_core.blobstore import blob_service
from batch_core.pipeline import Pipeline
from batch_core.settings import Settings
from devstack.process import free_port
from devstack.stack import Stack, write_settings
from tests.conftest import ROOT, TEST_OVERRIDES, _start

pytestmark = pytest.mark.e2e


def doctor(settings_file: Path, cwd: Path = ROOT) -> tuple[int, dict[str, str]]:
    """Run `dropbatch doctor`; its exit code and each check's line by what it checked."""
    result = subprocess.run(
        [sys.executable, "-m", "batch_core.cli", "--settings", str(settings_file), "doctor"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
    )
    lines: dict[str, str] = {}
    last = ""
    for line in result.stdout.splitlines():
        if line.startswith("      -> "):
            lines[last] += "\n" + line.strip()
        elif line[:4] in ("ok  ", "FAIL"):
            last = line[6:].split(": ", 1)[0]
            lines[last] = line
    return result.returncode, lines


def failed(lines: dict[str, str]) -> set[str]:
    return {what for what, line in lines.items() if line.startswith("FAIL")}


STORAGE = {
    f"storage container {c} ({c})"
    for c in ("incoming", "results", "logs", "failed", "config", "archive")
}
COSMOS = {"Cosmos DB database dropbatch"}
BATCH = {"Batch account devbatchaccount", "pool 'default' (dropbatch)"}


@pytest.fixture
def own_stack(tmp_path: Path) -> Iterator[Stack]:
    """A stack of the test's own: its servers are stopped one by one."""
    s = _start(tmp_path / "stack", False, TEST_OVERRIDES)
    config_container(s)
    yield s
    s.stop()


def config_container(stack: Stack) -> None:
    """The assets container, as `dropbatch init` makes it (the stack makes the others)."""
    settings = Settings.from_env(stack.values)
    with contextlib.suppress(ResourceExistsError):
        blob_service(settings).create_container(settings.container_config)


def test_each_stopped_server_fails_its_checks_with_advice(own_stack: Stack) -> None:
    s = own_stack
    assert s.batch and s.cosmos and s.azurite
    # Given a healthy stack: every check passes
    code, lines = doctor(s.settings_file)
    assert code == 0 and failed(lines) == set(), lines
    assert set(lines) >= STORAGE | COSMOS | BATCH

    # When the Batch service stops, the Batch checks fail; storage and Cosmos DB still pass
    s.batch.process.stop()
    code, lines = doctor(s.settings_file)
    assert code == 1 and failed(lines) == BATCH, lines
    assert "Batch unreachable" in lines["Batch account devbatchaccount"]
    assert "check DROPBATCH_BATCH_URL" in lines["Batch account devbatchaccount"]

    # When the Cosmos DB server stops too, its check fails as well
    s.cosmos.process.stop()
    code, lines = doctor(s.settings_file)
    assert failed(lines) == BATCH | COSMOS, lines
    assert "check DROPBATCH_COSMOS_ENDPOINT" in lines["Cosmos DB database dropbatch"]

    # When Azurite stops, every container and the poison queue fail, naming the setting
    s.azurite.process.stop()
    code, lines = doctor(s.settings_file)
    assert code == 1
    assert failed(lines) == BATCH | COSMOS | STORAGE | {
        "poison queue webjobs-blobtrigger-poison"
    }, lines
    for what in STORAGE:
        assert "storage unreachable" in lines[what] and "AzureWebJobsStorage" in lines[what]
    assert lines["routes file"].startswith("ok")


class Hook(http.server.BaseHTTPRequestHandler):
    posts = 0

    def do_GET(self) -> None:
        self.send_response(404)  # any answer shows the host is there
        self.end_headers()

    def do_POST(self) -> None:
        Hook.posts += 1
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hook_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks/alerts"
    server.shutdown()
    server.server_close()


def with_values(stack: Stack, path: Path, **values: str) -> Path:
    write_settings(path, {**stack.values, **values})
    return path


def test_settings_that_do_not_fit_the_services_fail_with_what_to_do(
    stack: Stack, tmp_path: Path, hook_url: str
) -> None:
    # Given the pool exists as the settings plan it, and a webhook that answers
    config_container(stack)
    p = Pipeline.build(Settings.from_env(stack.values))
    p.batch.ensure_pools(p.pools.values())
    code, lines = doctor(
        with_values(stack, tmp_path / "a.json", DROPBATCH_ALERT_WEBHOOK_URL=hook_url)
    )
    assert code == 0, lines
    assert "answers (HTTP 404 to GET /)" in lines["alert webhook host " + hook_url.split("/")[2]]
    assert Hook.posts == 0  # nothing was posted: no alert was sent

    # When a container is not there, the pool differs, and the webhook is unreachable
    gone = f"http://127.0.0.1:{free_port()}/hook"
    code, lines = doctor(
        with_values(
            stack,
            tmp_path / "b.json",
            DROPBATCH_CONTAINER_CONFIG="never-made",
            DROPBATCH_BATCH_VM_SIZE="standard_e64s_v5",
            DROPBATCH_ALERT_WEBHOOK_URL=gone,
        )
    )
    # Then each fails with its own advice
    assert code == 1
    assert "dropbatch init" in lines["storage container never-made (config)"]
    assert "vm_size is" in lines["pool 'default' (dropbatch)"]
    assert "delete the pool" in lines["pool 'default' (dropbatch)"]
    assert "DROPBATCH_ALERT_WEBHOOK_URL" in lines[f"alert webhook host {gone.split('/')[2]}"]


def test_a_bad_routes_file_fails_and_the_pools_are_not_checked(
    stack: Stack, tmp_path: Path
) -> None:
    (tmp_path / "routes.toml").write_text("[[route]]\nname = 'x'\n")
    code, lines = doctor(with_values(stack, tmp_path / "s.json"), cwd=tmp_path)
    assert code == 1
    assert failed(lines) == {"routes file", "pools"}, lines
    assert (
        "routes.toml" in lines["routes file"] and "dropbatch routes check" in lines["routes file"]
    )


def test_a_settings_file_that_does_not_parse_is_one_failed_check(tmp_path: Path) -> None:
    bad = tmp_path / "local.settings.json"
    write_settings(bad, {"DROPBATCH_BATCH_URL": "not a url"})
    code, lines = doctor(bad)
    assert code == 1 and list(lines) == ["settings"]
