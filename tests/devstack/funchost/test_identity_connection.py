"""Identity-based storage connections, read as the real host reads them: service URIs or an
account name, `__credential` and `__clientId`, the connection string winning when both."""

from __future__ import annotations

import pytest

from devstack.funchost.appsettings import AppSettings
from devstack.funchost.errors import SettingMissingError
from devstack.funchost.storage import IdentityConnection


def test_service_uris_with_a_managed_identity() -> None:
    settings = AppSettings(
        {
            "AzureWebJobsStorage__blobServiceUri": "https://127.0.0.1:1/dev",
            "AzureWebJobsStorage__queueServiceUri": "https://127.0.0.1:2/dev",
            "AzureWebJobsStorage__credential": "managedidentity",
            "AzureWebJobsStorage__clientId": "abc",
        }
    )
    assert settings.connection_string(None, "the host") == IdentityConnection(
        "https://127.0.0.1:1/dev", "https://127.0.0.1:2/dev", True, "abc"
    )


def test_an_account_name_names_both_services_and_a_prefixed_name_is_found() -> None:
    settings = AppSettings({"AzureWebJobsData__accountName": "acct"})
    assert settings.connection_string("Data", "a trigger") == IdentityConnection(
        "https://acct.blob.core.windows.net", "https://acct.queue.core.windows.net"
    )


def test_a_connection_string_wins_and_a_blob_uri_alone_names_the_missing_queue_uri() -> None:
    both = AppSettings(
        {
            "AzureWebJobsStorage": "UseDevelopmentStorage=true",
            "AzureWebJobsStorage__accountName": "a",
        }
    )
    assert both.connection_string(None, "the host") == "UseDevelopmentStorage=true"
    half = AppSettings({"AzureWebJobsStorage__blobServiceUri": "https://h/a"})
    with pytest.raises(SettingMissingError, match="AzureWebJobsStorage__queueServiceUri"):
        half.connection_string(None, "the host")
