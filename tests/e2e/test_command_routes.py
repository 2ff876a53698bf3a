"""A user's own program on the local stack, driven synchronously through batch_core: a
`command` route's task is rendered from the routes file, its input staged pinned to the
version the trigger saw, its outputs uploaded by Batch output files, its exit code read as
the route says (success, reject, retried, no retry), and every attempt's stdout/stderr kept
in `logs`."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.core.exceptions import ResourceExistsError

from batch_core import intake
from batch_core.batch_service import BatchService
from batch_core.batchclient import batch_client
from batch_core.blobstore import blob_service
from batch_core.clock import utcnow
from batch_core.pipeline import Pipeline
from batch_core.routebook import load_routes
from batch_core.settings import Settings
from batch_core.states import RunState
from devstack.stack import Stack
from tests.core.pipeline_helpers import batch_of, drain, drop
from worker.contract import attempt_log_prefix, output_prefix

pytestmark = [pytest.mark.stack, pytest.mark.e2e]

ROUTES = """
version = 1

[defaults]
max_attempts = 3
backoff = "0s"

[pool.tools]
id = "{pool}"
autoscale = false
dedicated_max = 1
task_slots_per_node = 4
[pool.tools.start_task]
command = '''/bin/sh -c 'cp greeting.txt "$AZ_BATCH_NODE_SHARED_DIR/greeting.txt"' '''
resource_files = [{{ source = "config:{app}/greeting.txt", path = "greeting.txt" }}]

[[route]]
name = "shout"
match = ["shout/*.txt"]
kind = "command"
pool = "tools"
exit_codes = {{ reject = [3], no_retry = [2] }}
[route.task]
command = '''/bin/sh -c 'sh app/bin/shout.sh "{{base}}" out' '''
resource_files = [
  {{ source = "input", path = "{{base}}" }},
  {{ source = "config:{app}/", path = "app/" }},
]
outputs = [{{ pattern = "out/**/*", to = "results:{{results}}/", upload = "task_success" }}]

[[route]]
name = "flaky"
match = ["flaky/*.txt"]
kind = "command"
pool = "tools"
[route.task]
command = '''/bin/sh -c 'sh app/bin/flaky.sh "$AZ_BATCH_NODE_SHARED_DIR/seen-{{key12}}"' '''
resource_files = [{{ source = "config:{app}/", path = "app/" }}]

[[route]]
name = "slow"
match = ["slow/*.txt"]
kind = "command"
pool = "tools"
[route.task]
command = "sleep 60"
max_wall_clock = "2s"
"""

SHOUT = """#!/bin/sh
# Upper-cases the dropped file; rejects an empty one (exit 3), as the route's table says.
set -e
in="$1"; out="$2"
if [ ! -s "$in" ]; then echo "$in: the file is empty" >&2; exit 3; fi
mkdir -p "$out/nested"
tr a-z A-Z < "$in" > "$out/shouted.txt"
cp "$AZ_BATCH_NODE_SHARED_DIR/greeting.txt" "$out/nested/greeting.txt"
echo "shouted $in"
"""

FLAKY = """#!/bin/sh
# Fails its first attempt with a transient exit code (75), succeeds on the next: the marker
# file in the node's shared folder remembers the first.
if [ -e "$1" ]; then echo second try; else touch "$1"; echo "first try fails" >&2; exit 75; fi
"""


@pytest.fixture(scope="module")
def p(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    """A pipeline whose routes file has a command route on a pool of its own (with a start
    task), and the route's program pushed to the assets container."""
    tag = uuid.uuid4().hex[:8]
    app = f"shout-{tag}"
    folder: Path = tmp_path_factory.mktemp("routes")
    routes = folder / "routes.toml"
    routes.write_text(ROUTES.format(pool=f"tools-{tag}", app=app), encoding="utf-8")
    settings = Settings.from_env({**stack.values, "DROPBATCH_RETRY_BACKOFF_SECONDS": "0"})
    service = blob_service(settings)
    with contextlib.suppress(ResourceExistsError):
        service.create_container(settings.container_config)
    config = service.get_container_client(settings.container_config)
    config.upload_blob(f"{app}/bin/shout.sh", SHOUT.encode(), overwrite=True)
    config.upload_blob(f"{app}/bin/flaky.sh", FLAKY.encode(), overwrite=True)
    config.upload_blob(f"{app}/greeting.txt", b"hello from the start task\n", overwrite=True)
    pipeline = Pipeline.build(settings, routes=load_routes(routes))
    yield pipeline
    batch = BatchService(batch_client(settings), settings)
    for job in batch.jobs(f"{settings.batch_job_prefix}-tools-"):
        batch.terminate_job(job.id)
    batch.delete_pool(f"tools-{tag}")


def name(route_dir: str) -> str:
    return f"{route_dir}/{uuid.uuid4().hex[:8]}.txt"


def text(p: Pipeline, container: str, blob: str) -> str:
    data = p.blobs.read_tail(container, blob, 1 << 20)
    assert data is not None, f"{container}/{blob} is missing"
    return data.decode()


def test_a_command_route_with_a_start_task_a_config_prefix_and_outputs_succeeds(
    p: Pipeline,
) -> None:
    # Given a file dropped onto the command route
    dropped = name("shout")
    run = intake.receive(p, drop(p, dropped, b"quiet words\n"), utcnow())
    assert run is not None and run.route == "shout"

    # When its task has run
    done = drain(p, run.key, timeout=120)

    # Then it succeeded, its outputs are in results where the route said, the start task's
    # file reached it, and stdout/stderr of the attempt are in logs
    assert done.state is RunState.SUCCEEDED, done.reason
    results = output_prefix(dropped, run.key)
    s = p.settings
    assert text(p, s.container_results, f"{results}/shouted.txt") == "QUIET WORDS\n"
    assert text(p, s.container_results, f"{results}/nested/greeting.txt") == (
        "hello from the start task\n"
    )
    logs = attempt_log_prefix(dropped, run.key, 1)
    assert "shouted" in text(p, s.container_logs, f"{logs}/stdout.txt")
    assert text(p, s.container_logs, f"{logs}/stderr.txt") == ""
    summary = p.blobs.read_json(s.container_results, f"{results}/summary.json")
    assert summary is not None
    assert (summary["route"], summary["outcome"], summary["exit_code"]) == (
        "shout",
        "succeeded",
        0,
    )
    assert sorted(summary["outputs"]) == ["nested/greeting.txt", "shouted.txt"]


def test_a_reject_exit_code_ends_rejected_with_the_last_stderr_line(p: Pipeline) -> None:
    dropped = name("shout")
    run = intake.receive(p, drop(p, dropped, b""), utcnow())
    assert run is not None

    done = drain(p, run.key, timeout=120)

    assert done.state is RunState.REJECTED
    assert done.reason == f"{dropped}: {dropped.rsplit('/', 1)[-1]}: the file is empty"
    assert done.attempt == 1
    # And the person who dropped it hears of it, once
    drain(p, run.key)
    alerts = [a for a in p.alerts.recent(500) if a["run_key"] == run.key]
    assert [a["kind"] for a in alerts] == ["rejected"]
    assert "the file is empty" in alerts[0]["message"]


def test_a_transient_exit_code_is_retried_and_then_succeeds(p: Pipeline) -> None:
    # Given a command that fails its first attempt (exit 75) and succeeds its second
    dropped = name("flaky")
    run = intake.receive(p, drop(p, dropped, b"x"), utcnow())
    assert run is not None

    done = drain(p, run.key, timeout=120)

    # Then it succeeded on attempt 2, and each attempt's output is kept apart
    assert done.state is RunState.SUCCEEDED, done.reason
    assert done.attempt == 2
    s = p.settings
    first = attempt_log_prefix(dropped, run.key, 1)
    second = attempt_log_prefix(dropped, run.key, 2)
    assert text(p, s.container_logs, f"{first}/stderr.txt") == "first try fails\n"
    assert text(p, s.container_logs, f"{second}/stdout.txt") == "second try\n"


def test_a_time_out_ends_failed_with_an_alert(p: Pipeline) -> None:
    dropped = name("slow")
    run = intake.receive(p, drop(p, dropped, b"x"), utcnow())
    assert run is not None

    done = drain(p, run.key, timeout=120)

    assert done.state is RunState.FAILED
    assert "time limit" in done.reason and "max_wall_clock" in done.reason
    assert done.attempt == 1  # another attempt would hit the same limit
    alerts = [a for a in p.alerts.recent(500) if a["run_key"] == run.key]
    assert [a["kind"] for a in alerts] == ["failed"]


def test_a_blob_replaced_after_its_trigger_never_feeds_the_task_its_newer_bytes(
    p: Pipeline,
) -> None:
    # Given a file dropped, then replaced before the first trigger was handled
    dropped = name("shout")
    first = drop(p, dropped, b"first version\n")
    second = drop(p, dropped, b"second version\n")

    # When both triggers arrive, the first one late
    late = intake.receive(p, first, utcnow())
    fresh = intake.receive(p, second, utcnow())
    assert late is not None and fresh is not None

    # Then the first version's run vanished, and the second ran on its own bytes
    assert late.state is RunState.VANISHED
    done = drain(p, fresh.key, timeout=120)
    assert done.state is RunState.SUCCEEDED, done.reason
    results = output_prefix(dropped, fresh.key)
    assert text(p, p.settings.container_results, f"{results}/shouted.txt") == "SECOND VERSION\n"


def test_a_task_reads_the_version_it_was_created_for_even_if_replaced_before_it_ran(
    p: Pipeline,
) -> None:
    # Given a task created for a file, and the file replaced right after
    dropped = name("shout")
    run = intake.receive(p, drop(p, dropped, b"pinned\n"), utcnow())
    assert run is not None and run.state is RunState.SUBMITTED
    drop(p, dropped, b"replaced\n")

    # Then the task saw the version it was created for
    done = drain(p, run.key, timeout=120)
    assert done.state is RunState.SUCCEEDED, done.reason
    results = output_prefix(dropped, run.key)
    assert text(p, p.settings.container_results, f"{results}/shouted.txt") == "PINNED\n"


def test_a_duplicate_event_creates_no_second_task(p: Pipeline) -> None:
    dropped = name("shout")
    blob = drop(p, dropped, b"once\n")
    first = intake.receive(p, blob, utcnow())
    again = intake.receive(p, blob, utcnow())
    assert first is not None and again is not None and first.key == again.key
    assert first.job_id
    tasks = [
        t.id for t in batch_of(p).list_tasks(first.job_id) if t.id and t.id.endswith(first.key[:32])
    ]
    assert tasks == [first.task_id]
    assert drain(p, first.key, timeout=120).state is RunState.SUCCEEDED
