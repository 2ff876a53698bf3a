"""Telemetry to Application Insights, received by a local ingestion endpoint: the function app's
spans around intake and the tick carry the file key, route and state; the worker's spans for
the same file share the intake's operation id; metrics and correlated log records arrive; no
secret of the local stack is in any envelope."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient

from batch_core import telemetry
from batch_core.batch_service import batch_client
from batch_core.errors import SettingError
from batch_core.settings import Settings
from devstack.servers import ROOT
from devstack.stack import Stack
from tests.core.test_settings import BASE
from tests.telemetry.ingestion import Envelope, Ingestion, data, ingestion_endpoint, properties
from worker.contract import TRACEPARENT

# No call leaves the machine: no statsbeat, no remote configuration, no SDK self-reporting.
QUIET_EXPORTER = {
    "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
    "APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED": "true",
    "APPLICATIONINSIGHTS_SDKSTATS_DISABLED": "true",
    "OTEL_TRACES_SAMPLER": "always_on",
}
SPAN_TYPES = ("RemoteDependencyData", "RequestData")


@pytest.fixture(scope="module")
def ingestion() -> Iterator[Ingestion]:
    with ingestion_endpoint() as endpoint:
        yield endpoint


def spans(ingestion: Ingestion, name: str) -> list[Envelope]:
    return [e for t in SPAN_TYPES for e in ingestion.of_type(t) if data(e)["name"] == name]


def operation(envelope: Envelope) -> str:
    return str(envelope["tags"]["ai.operation.id"])


def parent(envelope: Envelope) -> str:
    return str(envelope["tags"].get("ai.operation.parentId"))


def metric_names(ingestion: Ingestion) -> set[str]:
    return {m["name"] for e in ingestion.of_type("MetricData") for m in data(e)["metrics"]}


def drop(stack: Stack, data_: bytes) -> str:
    name = f"t-{uuid.uuid4().hex[:10]}/telemetry.csv"
    blobs = BlobServiceClient.from_connection_string(stack.values["AzureWebJobsStorage"])
    with blobs:
        blobs.get_blob_client(stack.values["DROPBATCH_CONTAINER_INCOMING"], name).upload_blob(data_)
    return name


def drive_app(stack: Stack, ingestion: Ingestion, name: str) -> dict[str, Any]:
    """The blob trigger, a tick and the status JSON, in a process of their own."""
    env = {
        "PATH": "/usr/bin:/bin",
        **stack.values,
        **QUIET_EXPORTER,
        "APPLICATIONINSIGHTS_CONNECTION_STRING": ingestion.connection_string,
    }
    container = stack.values["DROPBATCH_CONTAINER_INCOMING"]
    proc = subprocess.run(
        [sys.executable, "-m", "tests.telemetry.drive_app", container, name],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=25,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def task_environment(stack: Stack, job: str, task: str) -> dict[str, str]:
    client = batch_client(Settings.from_env(stack.values))
    with client:
        found = client.get_task(job, task)
    return {s.name: s.value or "" for s in found.environment_settings or []}


def node_worker(
    root: Path, credentials: dict[str, str], env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """`python -m worker` as a node runs it: a shared folder with the credentials file, a
    working folder, and the task's environment."""
    shared, work = root / "shared", root / "work"
    (shared / "dropbatch").mkdir(parents=True)
    work.mkdir()
    (shared / "dropbatch" / "credentials.json").write_text(json.dumps(credentials))
    node = {
        "PATH": "/usr/bin:/bin",
        "AZ_BATCH_NODE_SHARED_DIR": str(shared),
        "AZ_BATCH_TASK_WORKING_DIR": str(work),
        **QUIET_EXPORTER,
    }
    return subprocess.run(
        [sys.executable, "-m", "worker"],
        cwd=work,
        env={**env, **node},
        capture_output=True,
        text=True,
        timeout=25,
        check=False,
    )


def run_worker(stack: Stack, ingestion: Ingestion, env: dict[str, str], root: Path) -> None:
    """The task, with a credentials file that says where telemetry goes."""
    credentials = {
        "AzureWebJobsStorage": stack.values["AzureWebJobsStorage"],
        "DROPBATCH_COSMOS_KEY": stack.values["DROPBATCH_COSMOS_KEY"],
        "DROPBATCH_COSMOS_CA_CERT": stack.values["DROPBATCH_COSMOS_CA_CERT"],
        "APPLICATIONINSIGHTS_CONNECTION_STRING": ingestion.connection_string,
    }
    proc = node_worker(root, credentials, env)
    assert proc.returncode == 0, proc.stderr[-3000:]


def secrets_of(stack: Stack) -> list[str]:
    found = [stack.values["DROPBATCH_COSMOS_KEY"], stack.values["DROPBATCH_BATCH_KEY"]]
    found.append(stack.values["AzureWebJobsStorage"].split("AccountKey=")[1].split(";")[0])
    return [s for s in found if s]


@pytest.mark.stack
def test_a_files_intake_tick_and_worker_phases_arrive_under_one_operation_with_no_secret(
    stack: Stack, ingestion: Ingestion, tmp_path: Path
) -> None:
    # Given a CSV dropped into incoming
    name = drop(stack, b"id,value\n1,a\n2,b\n")

    # When the function app handles its trigger, ticks and serves the status JSON
    run = drive_app(stack, ingestion, name)
    # and the worker runs the task the app created, with the environment the app gave it
    env = task_environment(stack, run["job"], run["task"])
    assert env[TRACEPARENT].startswith("00-")
    run_worker(stack, ingestion, env, tmp_path)

    # Then the intake span names the file, its route and the state it left the run in
    intake = [
        s
        for s in spans(ingestion, "dropbatch.intake")
        if properties(s).get("dropbatch.file_key") == run["key"]
    ]
    assert len(intake) == 1
    assert properties(intake[0])["dropbatch.route"] == "csv"
    assert properties(intake[0])["dropbatch.state"] == "submitted"
    op = operation(intake[0])
    # the trigger's span is its parent; the tick and the status page have spans of their own
    (on_blob,) = [s for s in spans(ingestion, "dropbatch.function.on_blob") if operation(s) == op]
    assert parent(intake[0]) == data(on_blob)["id"]
    (tick,) = spans(ingestion, "dropbatch.tick")
    assert "dropbatch.examined" in properties(tick) and operation(tick) != op
    (page,) = spans(ingestion, "dropbatch.function.status_json")
    assert properties(page)["dropbatch.status"] == "200"

    # and the worker's task span is the intake span's child, its phases the task's
    ingestion.wait_for(lambda: bool(spans(ingestion, "dropbatch.worker.task")))
    (task,) = spans(ingestion, "dropbatch.worker.task")
    assert operation(task) == op and parent(task) == data(intake[0])["id"]
    assert properties(task)["dropbatch.file_key"] == run["key"]
    assert properties(task)["dropbatch.exit_code"] == "0"
    for phase in ("download", "check", "write", "outputs"):
        (found,) = spans(ingestion, f"dropbatch.worker.{phase}")
        assert operation(found) == op and parent(found) == data(task)["id"], phase

    # and the run's transitions and log lines are records of the same operation
    messages = [e for e in ingestion.of_type("MessageData") if operation(e) == op]
    transitions = [m for m in messages if data(m)["message"] == "dropbatch.transition"]
    assert [properties(m)["dropbatch.state"] for m in transitions] == ["submitted"]
    assert any("processing" in data(m)["message"] for m in messages)  # the worker's log
    assert any("-> submitted" in data(m)["message"] for m in messages)  # the ledger's
    # the SDKs' per-request records stay out
    assert not any("Request URL" in data(m)["message"] for m in ingestion.of_type("MessageData"))

    # and the metrics arrived
    assert {
        "dropbatch.files_received",
        "dropbatch.submit_latency",
        "dropbatch.tick_duration",
        "dropbatch.batch_requests",
    } <= metric_names(ingestion)

    # and no envelope holds a key of the local stack
    raw = b"".join(ingestion.bodies)
    for secret in secrets_of(stack):
        assert secret.encode() not in raw
    assert ingestion.other_paths == []


def test_without_a_connection_string_telemetry_stays_off() -> None:
    settings = Settings.from_env(BASE)
    assert telemetry.configure(settings) is False
    with telemetry.span("intake", file_key="k") as s:
        assert not s.is_recording()
        assert telemetry.task_environment() == {}


def test_a_malformed_connection_string_is_named() -> None:
    settings = Settings.from_env(
        {**BASE, "APPLICATIONINSIGHTS_CONNECTION_STRING": "not a connection string"}
    )
    with pytest.raises(SettingError, match="APPLICATIONINSIGHTS_CONNECTION_STRING"):
        telemetry.configure(settings)


def test_a_worker_with_a_malformed_connection_string_fails_naming_it(tmp_path: Path) -> None:
    credentials = {"APPLICATIONINSIGHTS_CONNECTION_STRING": "not a connection string"}
    env = {
        "DROPBATCH_ROUTE": "zip",
        "DROPBATCH_FILE_KEY": "0123456789abcdef",
        "DROPBATCH_INPUT_CONTAINER": "incoming",
        "DROPBATCH_INPUT_BLOB": "a.zip",
        "DROPBATCH_INPUT_ETAG": "0x1",
        "DROPBATCH_BLOB_ENDPOINT": "http://127.0.0.1:9/devstoreaccount1",
    }
    proc = node_worker(tmp_path, credentials, env)
    assert proc.returncode == 2, proc.stderr
    assert "APPLICATIONINSIGHTS_CONNECTION_STRING" in proc.stderr
    assert "not a connection string" not in proc.stderr  # its value is never repeated
