import pytest

from batch_core.errors import SettingError
from batch_core.settings import Settings

BASE = {
    "AzureWebJobsStorage": (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
        "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
    ),
    "DROPBATCH_BATCH_URL": "http://127.0.0.1:10100",
    "DROPBATCH_BATCH_ACCOUNT": "devbatchaccount",
    "DROPBATCH_COSMOS_ENDPOINT": "https://127.0.0.1:10200/",
}


def test_defaults_fill_in_what_is_not_set() -> None:
    s = Settings.from_env(BASE)
    assert (s.container_incoming, s.container_results, s.container_logs, s.container_failed) == (
        "incoming",
        "results",
        "logs",
        "failed",
    )
    assert s.batch_key is None and s.cosmos_key is None  # Azure: managed identity
    assert s.blob_endpoint == "http://127.0.0.1:10000/devstoreaccount1"
    assert s.storage_account == "devstoreaccount1"
    assert s.cosmos_database == "dropbatch"


@pytest.mark.parametrize("name", sorted(BASE))
def test_a_missing_required_setting_is_named(name: str) -> None:
    env = {k: v for k, v in BASE.items() if k != name}
    with pytest.raises(SettingError) as e:
        Settings.from_env(env)
    assert e.value.name == name
    assert name in str(e.value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DROPBATCH_MAX_ATTEMPTS", "three"),
        ("DROPBATCH_MAX_ATTEMPTS", "0"),
        ("DROPBATCH_BATCH_URL", "batch.example"),
        ("DROPBATCH_CONTAINER_RESULTS", "Results_Container"),
        ("DROPBATCH_ALERT_WEBHOOK_KIND", "pager"),
        ("DROPBATCH_BATCH_POOL_ID", "pool with spaces"),
        ("AzureWebJobsStorage", "no-equals-sign"),
    ],
)
def test_a_malformed_setting_is_named_with_its_value(name: str, value: str) -> None:
    with pytest.raises(SettingError) as e:
        Settings.from_env({**BASE, name: value})
    assert e.value.name == name


def test_an_azure_connection_string_gives_the_account_endpoint() -> None:
    env = {
        **BASE,
        "AzureWebJobsStorage": "DefaultEndpointsProtocol=https;AccountName=prod;"
        "AccountKey=a2V5;EndpointSuffix=core.windows.net",
    }
    s = Settings.from_env(env)
    assert s.blob_endpoint == "https://prod.blob.core.windows.net"
    assert s.storage_account == "prod"


def test_worker_options_reach_the_task_under_the_name_the_worker_reads() -> None:
    s = Settings.from_env(
        {
            **BASE,
            "DROPBATCH_WORKER_ID_COLUMN": "id",
            "DROPBATCH_WORKER_CSV_DELIMITER": "\t",
            "DROPBATCH_WORKER_GROUP_BY": "",
            "DROPBATCH_WORKER_COMMAND": "python3 -m worker",
            "DROPBATCH_WORKER_IDENTITY_CLIENT_ID": "client",
        }
    )
    assert dict(s.worker_settings) == {
        "DROPBATCH_ID_COLUMN": "id",
        "DROPBATCH_CSV_DELIMITER": "\t",
    }
    assert s.worker_identity_client_id == "client"


def test_a_worker_setting_that_is_no_worker_option_is_named() -> None:
    with pytest.raises(SettingError) as e:
        Settings.from_env({**BASE, "DROPBATCH_WORKER_ID_COLUMNS": "id"})
    assert e.value.name == "DROPBATCH_WORKER_ID_COLUMNS"
    assert "not a worker option" in str(e.value)
