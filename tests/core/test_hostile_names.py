"""Hostile blob names through batch_core on the local stack: spaces, unicode, URL characters
and the longest name the pipeline takes travel intact through intake, the task id, the output
paths and the status page's JSON; control characters, '.'/'..' segments and names whose
outputs would pass storage's limit are rejected at intake with the reason, before any task
exists; a command route whose `{base}` would carry a hostile name rejects the file without a
task, so nothing reaches a shell."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from batch_core import intake
from batch_core.batch_service import BatchService, batch_client
from batch_core.blobnames import MAX_NAME_CHARS
from batch_core.blobstore import BlobRef
from batch_core.clock import utcnow
from batch_core.pipeline import Pipeline
from batch_core.routebook import load_routes
from batch_core.settings import Settings
from batch_core.states import RunState
from batch_core.statuspage.runquery import RunQuery, runs_page
from devstack.stack import Stack
from tests.core.pipeline_helpers import CSV_HEADER, batch_of, drain, drop, pipeline_with
from worker.contract import SUMMARY_FILE, output_prefix

pytestmark = pytest.mark.stack

ROW = b"1,06001,US,Avon,CT,41.79,-72.86\n"
BATCH_TASK_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def travelling_names(tag: str) -> list[str]:
    longest = f"t-{tag}/long/"
    longest += "n" * (MAX_NAME_CHARS - len(longest) - len(".csv")) + ".csv"
    return [
        f"t-{tag}/with spaces/a b  c.csv",
        f"t-{tag}/unicode/café Straße 日本 🚀.csv",
        f"t-{tag}/url/a?b#c%20d&e=f+g;h.csv",
        f"t-{tag}/dots/c..d...csv",
        f't-{tag}/quotes/it\'s "quoted" <b>.csv',
        longest,
    ]


def test_names_with_spaces_unicode_url_characters_and_maximum_length_travel_intact(
    stack: Stack,
) -> None:
    p = pipeline_with(stack)
    tag = uuid.uuid4().hex[:8]
    names = travelling_names(tag)
    assert len(names[-1]) == MAX_NAME_CHARS

    # When each is dropped and its trigger handled
    runs = []
    for name in names:
        blob = drop(p, name, CSV_HEADER + ROW)
        assert blob.name == name  # storage kept it as it was
        run = intake.receive(p, blob, utcnow())
        assert run is not None and run.state is RunState.SUBMITTED, (name, run)
        runs.append(run)

    for name, run in zip(names, runs, strict=True):
        # Then its task id is one Batch accepts, and the task names the blob exactly
        assert run.task_id and BATCH_TASK_ID.fullmatch(run.task_id), run.task_id
        assert run.job_id
        task = batch_of(p).get_task(run.job_id, run.task_id)
        env = {e.name: e.value for e in task.environment_settings or []}
        assert env["DROPBATCH_INPUT_BLOB"] == name
        # And it succeeds, its summary under results/<name>/<file key>/
        done = drain(p, run.key, timeout=120)
        assert done.state is RunState.SUCCEEDED, (name, done.reason)
        summary = p.blobs.read_json(
            p.settings.container_results, f"{output_prefix(name, run.key)}/{SUMMARY_FILE}"
        )
        assert summary is not None, name
        assert summary["source"]["name"] == name
        assert summary["documents"] == 1

    # And the status page's JSON shows every name as it was dropped
    page = runs_page(p.ledger, RunQuery.parse({"q": f"t-{tag}/", "limit": "50"}))
    assert sorted(r["name"] for r in page["runs"]) == sorted(names)


REJECTED_NAMES = {
    "control": ("ctl/a\x01b.csv", "control character U+0001 in the name"),
    "tab": ("ctl/tab\there.csv", "control character U+0009 in the name"),
    "newline": ("ctl/line\nbreak.csv", "control character U+000A in the name"),
    "delete": ("ctl/del\x7f.csv", "control character U+007F in the name"),
    "c1": ("ctl/next\x85line.csv", "control character U+0085 in the name"),
    "dotdot": ("dots/x/../a.csv", "a '.' or '..' path segment in the name"),
    "dot": ("dots/./a.csv", "a '.' or '..' path segment in the name"),
    "too-long": ("long/" + "n" * MAX_NAME_CHARS + ".csv", "would pass storage's 1024-character"),
}


@pytest.mark.parametrize("case", sorted(REJECTED_NAMES))
def test_a_name_that_cannot_travel_intact_is_rejected_at_intake_with_the_reason(
    stack: Stack, case: str
) -> None:
    p = pipeline_with(stack)
    suffix, cause = REJECTED_NAMES[case]
    name = f"t-{uuid.uuid4().hex[:8]}/{suffix}"
    # Storage (or the emulator's listing) does not take these names whole, so the event is
    # made by hand: it is what the trigger or the sweep would be told.
    event = BlobRef(p.settings.container_incoming, name, f'"0x{uuid.uuid4().hex[:16]}"', 10)

    run = intake.receive(p, event, utcnow())

    assert run is not None and run.state is RunState.REJECTED
    assert cause in run.reason
    assert run.reason.startswith(repr(name)[:40])  # quoted: a newline cannot split a log line
    assert (run.task_id, run.job_id) == (None, None)
    # And a second delivery of the event changes nothing
    again = intake.receive(p, event, utcnow())
    assert again is not None and (again.key, again.state) == (run.key, RunState.REJECTED)


ROUTES = """
version = 1

[defaults]
max_attempts = 1
backoff = "0s"

[pool.shell]
id = "{pool}"
autoscale = false
dedicated_max = 1
task_slots_per_node = 4

[[route]]
name = "shell"
match = ["**/shell/*"]
kind = "command"
pool = "shell"
[route.task]
command = '''/bin/sh -c 'touch "$AZ_BATCH_NODE_SHARED_DIR/ran-{{key12}}" && cat "{{base}}"' '''
resource_files = [{{ source = "input", path = "{{base}}" }}]
"""


@pytest.fixture(scope="module")
def shell_route(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    pool = f"shell-{uuid.uuid4().hex[:8]}"
    routes: Path = tmp_path_factory.mktemp("shell") / "routes.toml"
    routes.write_text(ROUTES.format(pool=pool), encoding="utf-8")
    settings = Settings.from_env(stack.values)
    p = Pipeline.build(settings, routes=load_routes(routes))
    yield p
    batch = BatchService(batch_client(settings), settings)
    for job in batch.jobs(f"{settings.batch_job_prefix}-shell-"):
        batch.terminate_job(job.id)
    batch.delete_pool(pool)


HOSTILE_BASES = [
    "$(touch PWNED).txt",
    "a;touch PWNED.txt",
    "`touch PWNED`.txt",
    "it's.txt",
    'say "hi".txt',
    "with space.txt",
    "-rf.txt|sh",
]


def ran_marker(stack: Stack, key: str) -> list[Path]:
    return list((stack.state_dir / "batch-nodes").glob(f"*/*/shared/ran-{key[:12]}"))


def test_a_hostile_base_name_on_a_command_route_is_rejected_without_a_task(
    stack: Stack, shell_route: Pipeline
) -> None:
    p = shell_route
    tag = f"t-{uuid.uuid4().hex[:8]}/shell/"
    # A safe name on the same route runs: the route works, and its marker shows it ran
    safe = intake.receive(p, drop(p, tag + "safe-name_1.txt", b"ok\n"), utcnow())
    assert safe is not None
    assert drain(p, safe.key, timeout=120).state is RunState.SUCCEEDED
    assert ran_marker(stack, safe.key)

    for base in HOSTILE_BASES:
        # When a file whose base name is shell syntax is dropped onto the route
        run = intake.receive(p, drop(p, tag + base, b"boo\n"), utcnow())

        # Then it is rejected naming the placeholder, and Batch never saw a task for it
        assert run is not None and run.state is RunState.REJECTED, base
        assert f"{{base}} is {base!r}, which may not go into a command line" in run.reason
        assert safe.job_id
        tasks = [t.id for t in batch_of(p).list_tasks(safe.job_id)]
        assert not [t for t in tasks if t and t.endswith(run.key[:32])], base
        assert not ran_marker(stack, run.key)
    assert not list((stack.state_dir / "batch-nodes").rglob("PWNED*"))
