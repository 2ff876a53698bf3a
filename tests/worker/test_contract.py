"""The task contract between the function app and the worker (`worker.contract`): what the
function app puts in a task is what the worker reads, and the contract itself stays free of
the Azure SDK so the function app can import it alone."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import subprocess
import sys
from collections.abc import Mapping

import pytest

from batch_core.keys import file_key
from batch_core.routebook import builtin_routebook
from batch_core.run import Run
from batch_core.settings import WORKER_OPTION_SETTINGS, Settings
from batch_core.states import RunState
from batch_core.submission import task_for
from batch_core.testing import memory_pipeline
from tests.core.test_settings import BASE as APP
from tests.worker import corpus
from tests.worker.node import INCOMING, LOGS, RESULTS, ROOT, WorkerStack, unique
from worker import contract
from worker.settings import WorkerSettings

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def modules_loaded_by(statement: str) -> list[str]:
    """The modules a fresh interpreter holds after running `statement`."""
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    loaded: list[str] = json.loads(proc.stdout)
    return loaded


def test_the_contract_imports_no_azure_package_and_nothing_else_of_the_worker() -> None:
    loaded = modules_loaded_by("import worker.contract")
    assert [m for m in loaded if m.split(".")[0] == "azure"] == []
    assert [m for m in loaded if m.split(".")[0] == "worker"] == ["worker", "worker.contract"]


def test_the_function_app_imports_only_what_it_shares_with_the_worker() -> None:
    """The contract, and the SDK clients' HTTP transport; none of the worker's own code."""
    loaded = modules_loaded_by(
        "import pkgutil, importlib, batch_core\n"
        "for m in pkgutil.iter_modules(batch_core.__path__):\n"
        "    importlib.import_module('batch_core.' + m.name)"
    )
    assert "batch_core.submission" in loaded
    shared = ["worker", "worker.contract", "worker.transport"]
    assert [m for m in loaded if m.split(".")[0] == "worker"] == shared


def test_the_transport_imports_nothing_else_of_the_worker() -> None:
    loaded = modules_loaded_by("import worker.transport")
    assert [m for m in loaded if m.split(".")[0] == "worker"] == ["worker", "worker.transport"]


def run_for(name: str, etag: str, route: str = "csv") -> Run:
    key = file_key("devstoreaccount1", INCOMING, name, etag)
    return Run(
        key=key, container=INCOMING, name=name, etag=etag, size=1, route=route,
        state=RunState.RECEIVED, reason="", created_at=NOW, updated_at=NOW,
    )  # fmt: skip


def task_environment(settings: Settings, run: Run, attempt: int = 1) -> dict[str, str]:
    p = dataclasses.replace(
        memory_pipeline(), settings=settings, routes=builtin_routebook(settings.worker_settings)
    )
    task = task_for(p, run, attempt)
    return {e.name: e.value or "" for e in task.environment_settings or []}


def every_option_set_in_the_app() -> dict[str, str]:
    """A valid value for every worker option, set as the function app's settings."""
    values = {
        contract.ID_COLUMN: "id",
        contract.PARTITION_BY: "state",
        contract.GROUP_BY: "state",
        contract.LATITUDE_COLUMN: "lat",
        contract.LONGITUDE_COLUMN: "lon",
        contract.NUMERIC_COLUMNS: "a,b",
        contract.CSV_ENCODING: "latin-1",
        contract.CSV_DELIMITER: "\t",
        contract.MAX_REJECT_RATIO: "0.5",
        contract.ZIP_MAX_RATIO: "50",
        contract.COSMOS_THROTTLE_BUDGET_SECONDS: "60",
        contract.SERVICE_RETRY_BACKOFF_SECONDS: "0",
    }
    app_name = {option: setting for setting, option in WORKER_OPTION_SETTINGS.items()}
    return {app_name[option]: values.get(option, "7") for option in contract.OPTION_NAMES}


def test_a_task_environment_holds_only_names_the_worker_reads() -> None:
    app = {
        **APP,
        **every_option_set_in_the_app(),
        "DROPBATCH_WORKER_IDENTITY_CLIENT_ID": "client-id",
        "DROPBATCH_WORKER_COMMAND": "python3 -m worker",
    }
    env = task_environment(Settings.from_env(app), run_for("a/b.csv", "0x8D1"))

    assert sorted(n for n in env if n not in contract.WORKER_NAMES) == []
    assert set(contract.OPTION_NAMES) <= set(env)
    assert env[contract.IDENTITY_CLIENT_ID] == "client-id"
    assert env[contract.ATTEMPT] == "1"


def test_the_worker_accepts_the_task_environment_and_reads_each_option_as_set() -> None:
    app = {**APP, **every_option_set_in_the_app()}
    run = run_for("folder/file.csv", "0x8D2")
    env = task_environment(Settings.from_env(app), run, attempt=2)

    worker = WorkerSettings.from_environ(env)

    assert (worker.route, worker.file_key, worker.input_blob) == ("csv", run.key, run.name)
    assert worker.attempt == "2"
    assert (worker.csv.id_column, worker.csv.delimiter, worker.csv.numeric_columns) == (
        "id",
        "\t",
        ("a", "b"),
    )
    assert (worker.zip.max_ratio, worker.writes.throttle_budget_seconds) == (50.0, 60.0)
    assert (worker.max_input_bytes, worker.service_retries) == (7, 7)
    read = set(worker.names_used)
    assert sorted(n for n in env if n not in read) == []


@pytest.mark.parametrize("route", list(contract.TaskRoute))
def test_each_route_the_worker_takes_is_one_the_function_app_submits(route: str) -> None:
    env = task_environment(Settings.from_env(APP), run_for(f"x.{route}", "0x1", route))
    assert WorkerSettings.from_environ(env).route == route


def test_the_output_layout_is_the_documented_one() -> None:
    key = "0123456789abcdef0123"
    assert contract.output_prefix("a/b.csv", key) == f"a/b.csv/{key}"
    assert contract.worker_log_path("a/b.csv", key) == f"a/b.csv/{key}/worker-log.json"
    assert contract.attempt_log_prefix("a/b.csv", key, 2) == f"a/b.csv/{key}/attempt-2"
    assert contract.member_attempt_log_prefix("a/b.csv", key, 3, 1) == (
        f"a/b.csv/{key}/members/3/attempt-1"
    )
    assert contract.TASK_LOG_FILES == ("stdout.txt", "stderr.txt")


def test_a_child_name_splits_back_into_its_parts() -> None:
    key = "0123456789abcdef0123"
    child = contract.child_blob_name("in/z.zip", key, "dir/a.csv")
    assert child == "in/z.zip.parts/0123456789ab/dir/a.csv"
    assert contract.split_child_name(child) == ("in/z.zip.parts", "0123456789ab", "dir/a.csv")
    assert contract.split_child_name("in/z.zip/0123456789ab/a.csv") is None
    assert contract.is_parent_key("0123456789ab") and not contract.is_parent_key(key)


@pytest.mark.parametrize(
    ("text", "valid"),
    [("0" * 8, True), ("a" * 128, True), ("0" * 7, False), ("A" * 40, False), ("g" * 40, False)],
)
def test_the_file_key_pattern(text: str, valid: bool) -> None:
    assert contract.is_file_key(text) is valid


def test_batch_core_makes_file_keys_the_worker_accepts() -> None:
    assert contract.is_file_key(file_key("acct", "incoming", "a.csv", '"0x1"'))


@pytest.mark.stack
def test_an_app_setting_for_a_worker_option_reaches_the_worker(worker_stack: WorkerStack) -> None:
    name = unique("option.csv")
    etag, _ = worker_stack.upload(name, corpus.good_csv())
    app: Mapping[str, str] = {
        "AzureWebJobsStorage": worker_stack.azurite.connection_string,
        "DROPBATCH_BATCH_URL": "http://127.0.0.1:10100",
        "DROPBATCH_BATCH_ACCOUNT": "devbatchaccount",
        "DROPBATCH_COSMOS_ENDPOINT": worker_stack.cosmos.endpoint,
        "DROPBATCH_CONTAINER_INCOMING": INCOMING,
        "DROPBATCH_CONTAINER_RESULTS": RESULTS,
        "DROPBATCH_CONTAINER_LOGS": LOGS,
        "DROPBATCH_WORKER_PARTITION_BY": "state_abbrv",
        "DROPBATCH_WORKER_SERVICE_RETRY_BACKOFF_SECONDS": "0",
    }
    run = run_for(name, etag.strip('"'))
    env = {
        **worker_stack.task_env("csv", name, etag, run.key),
        **task_environment(Settings.from_env(app), run),
    }
    assert env[contract.PARTITION_BY] == "state_abbrv"

    proc = worker_stack.run_worker(env)

    assert proc.returncode == contract.WorkerExit.OK, proc.stderr
    assert sorted(d["pk"] for d in worker_stack.documents(run.key)) == ["CT", "NC", "NC"]
