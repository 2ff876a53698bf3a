"""The worker's settings from a task environment (in-process; no servers)."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.contract import TaskRoute
from worker.credentials import Credentials
from worker.errors import WorkerConfigError
from worker.options import GiB
from worker.settings import WorkerSettings

BASE = {
    "DROPBATCH_ROUTE": "csv",
    "DROPBATCH_FILE_KEY": "0123456789abcdef",
    "DROPBATCH_INPUT_CONTAINER": "incoming",
    "DROPBATCH_INPUT_BLOB": "a/b.csv",
    "DROPBATCH_INPUT_ETAG": '"0x1"',
    "DROPBATCH_BLOB_ENDPOINT": "http://127.0.0.1:10000/devstoreaccount1/",
    "DROPBATCH_COSMOS_ENDPOINT": "https://127.0.0.1:8081/",
    "AZ_BATCH_NODE_SHARED_DIR": "/mnt/batch/shared",
    "AZ_BATCH_TASK_WORKING_DIR": "/mnt/batch/task/wd",
}


def test_the_documented_defaults_apply_when_only_the_required_settings_are_given() -> None:
    s = WorkerSettings.from_environ(BASE)
    assert s.route is TaskRoute.CSV
    assert s.blob_endpoint == "http://127.0.0.1:10000/devstoreaccount1"
    assert (s.cosmos_database, s.records_container) == ("dropbatch", "records")
    assert (s.container_incoming, s.container_results, s.container_logs) == (
        "incoming",
        "results",
        "logs",
    )
    assert s.csv.group_by == "state_abbrv"
    assert (s.csv.id_column, s.csv.partition_by) == (None, None)
    assert s.csv.max_reject_ratio == 0.1
    assert (s.zip.max_entries, s.zip.max_total_bytes, s.zip.max_ratio) == (10_000, 4 * GiB, 200)
    assert s.credentials_path == Path("/mnt/batch/shared/dropbatch/credentials.json")
    assert s.working_dir == Path("/mnt/batch/task/wd")
    assert "DROPBATCH_ROUTE" in s.names_used
    assert "DROPBATCH_ID_COLUMN" not in s.names_used


def test_the_zip_route_does_not_need_cosmos() -> None:
    env = {**BASE, "DROPBATCH_ROUTE": "zip"}
    del env["DROPBATCH_COSMOS_ENDPOINT"]
    assert WorkerSettings.from_environ(env).cosmos_endpoint is None


def test_the_csv_route_needs_cosmos() -> None:
    env = dict(BASE)
    del env["DROPBATCH_COSMOS_ENDPOINT"]
    with pytest.raises(WorkerConfigError) as caught:
        WorkerSettings.from_environ(env)
    assert str(caught.value) == "DROPBATCH_COSMOS_ENDPOINT: missing (required)"


def test_an_option_is_read_under_its_own_name_only() -> None:
    # DROPBATCH_WORKER_<name> is the function app's setting; the app passes it on as <name>.
    s = WorkerSettings.from_environ(
        {**BASE, "DROPBATCH_ID_COLUMN": "id", "DROPBATCH_WORKER_ZIP_MAX_RATIO": "50"}
    )
    assert (s.csv.id_column, s.zip.max_ratio) == ("id", 200.0)
    assert "DROPBATCH_ID_COLUMN" in s.names_used
    assert "DROPBATCH_WORKER_ZIP_MAX_RATIO" not in s.names_used


def test_a_tab_delimiter_is_kept_and_lists_are_split() -> None:
    s = WorkerSettings.from_environ(
        {**BASE, "DROPBATCH_CSV_DELIMITER": "\t", "DROPBATCH_NUMERIC_COLUMNS": " a, b ,,c "}
    )
    assert s.csv.delimiter == "\t"
    assert s.csv.numeric_columns == ("a", "b", "c")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"DROPBATCH_CSV_DELIMITER": '"'},
            "DROPBATCH_CSV_DELIMITER: must be one character, not a quote or newline",
        ),
        ({"DROPBATCH_COSMOS_CONCURRENCY": "0"}, "DROPBATCH_COSMOS_CONCURRENCY: must be at least 1"),
        (
            {"DROPBATCH_ZIP_MAX_RATIO": "0.5"},
            "DROPBATCH_ZIP_MAX_RATIO: must be a finite number of at least 1.0",
        ),
        (
            {"DROPBATCH_ZIP_MAX_RATIO": "inf"},
            "DROPBATCH_ZIP_MAX_RATIO: must be a finite number of at least 1.0",
        ),
        ({"DROPBATCH_INPUT_ETAG": " "}, "DROPBATCH_INPUT_ETAG: missing (required)"),
    ],
)
def test_a_malformed_setting_is_named(change: dict[str, str], message: str) -> None:
    with pytest.raises(WorkerConfigError) as caught:
        WorkerSettings.from_environ({**BASE, **change})
    assert str(caught.value) == message


def test_credentials_are_optional_and_their_values_stay_out_of_repr(tmp_path: Path) -> None:
    assert Credentials.load(tmp_path / "missing.json") == Credentials()
    path = tmp_path / "credentials.json"
    path.write_text('{"DROPBATCH_COSMOS_KEY": "s3cret", "AzureWebJobsStorage": "AccountKey=k2"}')
    credentials = Credentials.load(path)
    assert credentials.cosmos_key == "s3cret"
    assert credentials.names_present == ("AzureWebJobsStorage", "DROPBATCH_COSMOS_KEY")
    assert "s3cret" not in repr(credentials) and "k2" not in repr(credentials)


def test_a_ca_certificate_that_is_not_there_is_a_configuration_error(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    path.write_text('{"DROPBATCH_COSMOS_CA_CERT": "/nowhere/ca.pem"}')
    with pytest.raises(WorkerConfigError) as caught:
        Credentials.load(path)
    assert str(caught.value) == (
        f"credentials file {path}: DROPBATCH_COSMOS_CA_CERT: names no readable file"
    )
