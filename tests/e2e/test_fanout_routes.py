"""Fan-out and merge on the local stack, driven synchronously through batch_core: the plan
task reads the dropped file on a node, members run as tasks 0…N-1 of the file's own job,
the merge runs after them through one `taskIdRanges` dependency, and the reconciler retries
failed members in place, tolerates what the route allows and ends the file. The expected
totals are computed here, independently of the example programs."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import time
import urllib.request
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ResourceExistsError, ServiceResponseError
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import SansIOHTTPPolicy

from batch_core import intake
from batch_core.batch_service import BatchService, batch_client
from batch_core.batchclient import enum_text
from batch_core.blobstore import blob_service
from batch_core.clock import utcnow
from batch_core.cosmosdb import cosmos_client, provision
from batch_core.fanoutend import state_of
from batch_core.pipeline import Pipeline
from batch_core.routebook import load_routes
from batch_core.run import Run
from batch_core.settings import Settings
from batch_core.states import RunState
from devstack.stack import Stack
from tests.core.pipeline_helpers import batch_of, drain, drop
from worker.contract import member_attempt_log_prefix, member_prefix, output_prefix

pytestmark = [pytest.mark.stack, pytest.mark.e2e]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TIMEOUT = 240

ROUTES = """
version = 1

[defaults]
max_attempts = 3
backoff = "0s"

[pool.fan]
id = "{pool}"
autoscale = false
dedicated_max = 1
task_slots_per_node = 8
install_worker = false

[[route]]
name = "sweep"
match = ["sweep-{tag}/*.json"]
kind = "command"
pool = "fan"
[route.fanout]
source = "items"
fields = {{ seed = {{ type = "int", min = 0 }}, start = {{ type = "int", min = 0 }} }}
[route.task]
command = "python3 app/{member} global.json params.json outputs.json"
resource_files = [
  {{ source = "config:{app}/", path = "app/" }},
  {{ source = "member:global", path = "global.json" }},
  {{ source = "member:params", path = "params.json" }},
]
env = {{ SEED = "{{item.seed}}", TAG = "{{key12}}" }}
outputs = [{{ pattern = "outputs.json", to = "results:{{results}}/{{member}}/outputs.json" }}]
[route.merge]
command = "python3 app/merge.py members total.json"
resource_files = [
  {{ source = "config:{app}/", path = "app/" }},
  {{ source = "results:{{results}}/members/", path = "members/" }},
]
outputs = [{{ pattern = "total.json", to = "results:{{results}}/total.json" }}]
"""

# A member program of the tests' own: the example's sum, plus modes an item asks for.
TRIAL_MEMBER = """
import json, os, sys, time
from pathlib import Path
shared, params, out = (Path(a) for a in sys.argv[1:4])
power = int(json.loads(shared.read_text())["power"])
item = json.loads(params.read_text())
mode = item.get("mode", "")
seen = Path(os.environ["AZ_BATCH_NODE_SHARED_DIR"]) / f"seen-{os.environ['TAG']}-{item['seed']}"
if mode == "always":
    print(f"member {item['seed']} always fails", file=sys.stderr); sys.exit(1)
if mode == "once" and not seen.exists():
    seen.touch(); print("first try fails", file=sys.stderr); sys.exit(75)
if mode == "slow":
    time.sleep(float(item.get("seconds", 4)))
total = sum(k**power for k in range(int(item["start"]), int(item["stop"])))
out.write_text(json.dumps({"sum": total}))
print("done")
"""


@dataclasses.dataclass
class Routes:
    p: Pipeline
    tag: str


def routes_text(tag: str, pool: str, app: str) -> str:
    parts = []
    for name, match, member, extra in (
        ("sweep", "sweep", "member.py", ""),
        ("trial", "trial", "trial.py", ""),
        ("tolerant", "tolerant", "trial.py", "tolerate = 1\n"),
    ):
        text = ROUTES.format(pool=pool, tag=tag, app=app, member=member)
        body = text[text.index("[[route]]") :].replace('name = "sweep"', f'name = "{name}"')
        body = body.replace(f"sweep-{tag}/", f"{match}-{tag}/")
        body = body.replace('source = "items"\n', f'source = "items"\n{extra}')
        parts.append(body)
    head = ROUTES.format(pool=pool, tag=tag, app=app, member="member.py")
    return head[: head.index("[[route]]")] + "\n".join(parts) + ENTRIES.format(tag=tag, app=app)


# The render example (seed 002): one member per config entry of a zip, then recombine.
ENTRIES = """
[[route]]
name = "configs"
match = ["configs-{tag}/*.zip"]
kind = "command"
pool = "fan"
exit_codes = {{ reject = [3] }}
[route.fanout]
source = "entries"
entries = "configs/*.json"
[route.task]
command = "python3 app/render.py config.json out"
resource_files = [
  {{ source = "config:{app}-render/", path = "app/" }},
  {{ source = "member:input", path = "config.json" }},
]
outputs = [{{ pattern = "out/**/*", to = "results:{{results}}/{{member}}/" }}]
[route.merge]
command = "python3 app/recombine.py parts final.txt {{count}}"
resource_files = [
  {{ source = "config:{app}-render/", path = "app/" }},
  {{ source = "results:{{results}}/members/", path = "parts/" }},
]
outputs = [{{ pattern = "final.txt", to = "results:{{results}}/final.txt" }}]
"""


@pytest.fixture(scope="module")
def fan(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Routes]:
    tag = uuid.uuid4().hex[:8]
    app = f"fanapp-{tag}"
    folder: Path = tmp_path_factory.mktemp("fanroutes")
    routes = folder / "routes.toml"
    routes.write_text(routes_text(tag, f"fan-{tag}", app), encoding="utf-8")
    # A ledger of its own: the reconciler's requests per tick are this module's files' only,
    # not those of runs other tests of the session left active.
    settings = Settings.from_env(
        {
            **stack.values,
            "DROPBATCH_RETRY_BACKOFF_SECONDS": "0",
            "DROPBATCH_COSMOS_DATABASE": f"fan{tag}",
        }
    )
    provision(cosmos_client(settings), settings)
    service = blob_service(settings)
    with contextlib.suppress(ResourceExistsError):
        service.create_container(settings.container_config)
    config = service.get_container_client(settings.container_config)
    for program in ("member.py", "merge.py"):
        data = (EXAMPLES / "sweep" / "app" / program).read_bytes()
        config.upload_blob(f"{app}/{program}", data, overwrite=True)
    config.upload_blob(f"{app}/trial.py", TRIAL_MEMBER.encode(), overwrite=True)
    for program in ("render.py", "recombine.py"):
        data = (EXAMPLES / "recombine" / "app" / program).read_bytes()
        config.upload_blob(f"{app}-render/{program}", data, overwrite=True)
    yield Routes(Pipeline.build(settings, routes=load_routes(routes)), tag)
    batch = BatchService(batch_client(settings), settings)
    for job in batch.jobs(f"{settings.batch_job_prefix}-fan-"):
        batch.terminate_job(job.id)
    batch.delete_pool(f"fan-{tag}")


def items(n: int, **modes: dict[str, Any]) -> list[dict[str, Any]]:
    found = [{"seed": i, "start": i * 10, "stop": i * 10 + 10} for i in range(n)]
    for index, extra in modes.items():
        found[int(index.removeprefix("i"))].update(extra)
    return found


def sweep_file(found: list[dict[str, Any]], power: int = 2) -> bytes:
    return json.dumps({"global": {"power": power}, "items": found}).encode()


def expected_total(found: list[dict[str, Any]], power: int = 2, skip: tuple[int, ...] = ()) -> int:
    return sum(
        k**power
        for n, item in enumerate(found)
        if n not in skip
        for k in range(item["start"], item["stop"])
    )


def start(p: Pipeline, route: str, tag: str, data: bytes) -> Run:
    name = f"{route}-{tag}/{uuid.uuid4().hex[:8]}.json"
    run = intake.receive(p, drop(p, name, data), utcnow())
    assert run is not None and run.route == route
    return run


def total(p: Pipeline, run: Run) -> dict[str, Any]:
    doc = p.blobs.read_json(
        p.settings.container_results, f"{output_prefix(run.name, run.key)}/total.json"
    )
    assert doc is not None, "total.json is missing"
    return doc


def task_ids(p: Pipeline, run: Run) -> list[str]:
    assert run.job_id
    return [str(t.id) for t in batch_of(p).list_tasks(run.job_id, select=["id"])]


def test_a_sweep_of_20_items_merges_their_sum(fan: Routes) -> None:
    found = items(20)
    run = start(fan.p, "sweep", fan.tag, sweep_file(found))

    done = drain(fan.p, run.key, timeout=TIMEOUT)

    assert done.state is RunState.SUCCEEDED, done.reason
    assert total(fan.p, done) == {"members": 20, "total": expected_total(found)}
    assert sorted(task_ids(fan.p, done)) == sorted(["plan", "merge", *map(str, range(20))])
    summary = fan.p.blobs.read_json(
        fan.p.settings.container_results, f"{output_prefix(run.name, run.key)}/summary.json"
    )
    assert summary is not None and summary["members"]["planned"] == 20
    assert summary["members"]["succeeded"] == 20  # members only: not the plan, not the merge
    assert summary["outcome"] == "succeeded" and "total.json" in summary["outputs"]
    logs = fan.p.blobs.read_tail(
        fan.p.settings.container_logs, f"{member_prefix(run.name, run.key, 3)}/stdout.txt"
    )
    assert logs is not None and b"sum of k**2" in logs


def test_a_zip_of_configs_renders_one_member_per_entry_and_recombines_them(fan: Routes) -> None:
    sample = (EXAMPLES / "samples" / "render_configs.zip").read_bytes()
    name = f"configs-{fan.tag}/{uuid.uuid4().hex[:8]}.zip"
    run = intake.receive(fan.p, drop(fan.p, name, sample), utcnow())
    assert run is not None and run.route == "configs"

    done = drain(fan.p, run.key, timeout=TIMEOUT)

    assert done.state is RunState.SUCCEEDED, done.reason
    with zipfile.ZipFile(io.BytesIO(sample)) as z:
        configs = [json.loads(z.read(n)) for n in sorted(z.namelist()) if n.startswith("configs/")]
    expected = "".join(
        f"{c['name']} frame {n} {c['colour']}\n" for c in configs for n in range(c["frames"])
    )
    final = fan.p.blobs.read_tail(
        fan.p.settings.container_results, f"{output_prefix(name, run.key)}/final.txt", 1 << 20
    )
    assert final is not None and final.decode() == expected
    assert state_of(done).count == len(configs) == 3


def test_a_member_that_fails_once_is_retried_in_place_then_the_merge_runs(fan: Routes) -> None:
    found = items(5, i2={"mode": "once"})
    run = start(fan.p, "trial", fan.tag, sweep_file(found))

    done = drain(fan.p, run.key, timeout=TIMEOUT)

    assert done.state is RunState.SUCCEEDED, done.reason
    assert total(fan.p, done)["total"] == expected_total(found)
    assert state_of(done).retried == 1
    first = fan.p.blobs.read_tail(
        fan.p.settings.container_logs,
        f"{member_attempt_log_prefix(run.name, run.key, 2, 1)}/stderr.txt",
    )
    assert first == b"first try fails\n"
    assert task_ids(fan.p, done).count("2") == 1  # the same task ran again


def test_a_bad_item_rejects_the_file_naming_it_and_no_member_runs(fan: Routes) -> None:
    found = items(6)
    found[3]["start"] = -5
    run = start(fan.p, "sweep", fan.tag, sweep_file(found))

    done = drain(fan.p, run.key, timeout=TIMEOUT)

    assert done.state is RunState.REJECTED
    assert "items[3]" in done.reason and "field 'start'" in done.reason, done.reason
    assert "below the minimum" in done.reason
    assert task_ids(fan.p, done) == ["plan"]


def test_tolerate_1_merges_the_other_19_members(fan: Routes) -> None:
    found = items(20, i7={"mode": "always"})
    run = start(fan.p, "tolerant", fan.tag, sweep_file(found))

    done = drain(fan.p, run.key, timeout=TIMEOUT)

    assert done.state is RunState.SUCCEEDED, done.reason
    assert total(fan.p, done) == {"members": 19, "total": expected_total(found, skip=(7,))}
    progress = state_of(done)
    assert [f.index for f in progress.failures] == [7]
    assert "member 7 always fails" in progress.failures[0].reason
    assert done.reason.startswith("19 of 20 members succeeded")


def test_a_duplicate_event_adds_no_task(fan: Routes) -> None:
    name = f"sweep-{fan.tag}/{uuid.uuid4().hex[:8]}.json"
    blob = drop(fan.p, name, sweep_file(items(3)))
    run = intake.receive(fan.p, blob, utcnow())
    assert run is not None
    again = intake.receive(fan.p, blob, utcnow())
    assert again is not None and again.key == run.key

    done = drain(fan.p, run.key, timeout=TIMEOUT)
    intake.receive(fan.p, blob, utcnow())

    assert done.state is RunState.SUCCEEDED, done.reason
    assert sorted(task_ids(fan.p, done)) == ["0", "1", "2", "merge", "plan"]


class DropAnswer(SansIOHTTPPolicy[Any, Any]):
    """Loses the answer to the `nth` add-task-collection request after Batch handled it."""

    def __init__(self, nth: int) -> None:
        self.nth = nth
        self.seen = 0

    def on_response(
        self, request: PipelineRequest[Any], response: PipelineResponse[Any, Any]
    ) -> None:
        if request.http_request.url.split("?")[0].endswith("/addtaskcollection"):
            self.seen += 1
            if self.seen == self.nth:
                raise ServiceResponseError("the connection dropped before the answer was read")


def test_a_lost_answer_to_a_chunk_is_recovered_without_a_duplicate_or_a_gap(fan: Routes) -> None:
    policy = DropAnswer(nth=2)
    settings = fan.p.settings
    client = type(batch_client(settings))(
        settings.batch_url, batch_client(settings)._config.credential, per_call_policies=[policy]
    )
    p = dataclasses.replace(fan.p, batch=BatchService(client, settings))
    found = items(230)
    run = start(p, "sweep", fan.tag, sweep_file(found))

    done = drain(p, run.key, timeout=TIMEOUT)

    assert policy.seen >= 3, "the lost chunk was not sent again"
    assert done.state is RunState.SUCCEEDED, done.reason
    ids = task_ids(p, done)
    assert sorted(i for i in ids if i.isdigit()) == sorted(map(str, range(230)))
    assert len(ids) == 232
    assert total(p, done) == {"members": 230, "total": expected_total(found)}


def test_a_preempted_member_reruns_without_spending_an_attempt(fan: Routes, stack: Stack) -> None:
    found = items(3, i1={"mode": "slow", "seconds": 4})
    run = start(fan.p, "trial", fan.tag, sweep_file(found))
    deadline = time.monotonic() + TIMEOUT
    client = batch_of(fan.p)
    while True:
        drain_once(fan.p, run.key)
        current = fan.p.ledger.get(run.key)
        assert current is not None
        ids = task_ids(fan.p, current) if current.job_id else []
        if (
            "1" in ids
            and enum_text(client.get_task(current.job_id or "", "1").state, "") == "running"
        ):
            break
        assert time.monotonic() < deadline, "member 1 never ran"
        time.sleep(0.3)
    preempt(stack, current.job_id or "", "1")

    done = drain(fan.p, run.key, timeout=TIMEOUT)

    assert done.state is RunState.SUCCEEDED, done.reason
    info = client.get_task(done.job_id or "", "1").execution_info
    assert info is not None and (info.requeue_count or 0) >= 1
    assert state_of(done).retried == 0
    kept = fan.p.blobs.read_tail(
        fan.p.settings.container_logs,
        f"{member_attempt_log_prefix(run.name, run.key, 1, 1)}/stderr.txt",
    )
    assert kept is None  # no attempt was spent, so none was kept
    assert total(fan.p, done)["total"] == expected_total(found)


def drain_once(p: Pipeline, key: str) -> None:
    from batch_core import reconcile

    reconcile.tick(p, utcnow())


def preempt(stack: Stack, job_id: str, task_id: str) -> None:
    body = json.dumps({"jobId": job_id, "taskId": task_id}).encode()
    request = urllib.request.Request(
        f"{stack.values['DROPBATCH_BATCH_URL']}/_devstack/preempt", data=body, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200


def test_a_sweep_of_1000_members_ends_with_every_output_in_few_requests_per_tick(
    stack: Stack, tmp_path: Path
) -> None:
    from bench.fanout import run_sweep, sweep_pipeline
    from bench.harness import BatchStats

    tag = uuid.uuid4().hex[:8]
    p = sweep_pipeline(Settings.from_env(stack.values), tmp_path, tag)
    try:
        outcome = run_sweep(p, BatchStats.of(stack), tag, 1000, timeout=600)
    finally:
        batch = BatchService(batch_client(p.settings), p.settings)
        batch.delete_pool(f"sweep-{tag}")

    assert outcome["state"] == "succeeded", outcome["reason"]
    assert outcome["outputs"] == 1000
    assert outcome["total"] == outcome["expected_total"]
    watching = [t["requests"] for t in outcome["ticks"] if t["phase"] == "running"]
    creating = [t["requests"] for t in outcome["ticks"] if t["phase"] != "running"]
    # Watching: the job's task counts, one list of changed tasks (a page or two), the jobs
    # cleanup looks at. Creating: five chunks of 100 and the merge on top of that.
    assert watching and max(watching) <= 6, outcome["ticks"]
    assert max(creating) <= 12, outcome["ticks"]
