"""Which endpoint and which credential each combination of settings yields (no servers: the
choice is made from settings alone, and building a credential makes no request)."""

from __future__ import annotations

import pytest
from azure.core.credentials import AzureNamedKeyCredential, AzureSasCredential
from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

from batch_core.batchclient import batch_client
from batch_core.blobstore import blob_service
from batch_core.credentials import (
    DEV_ACCOUNT,
    Identity,
    StorageAccess,
    batch_credential,
    cosmos_credential,
    identity_from,
    storage_access,
)
from batch_core.errors import SettingError
from batch_core.poison import PoisonQueue
from batch_core.settings import REQUIRED_SETTINGS, Settings

AZURITE = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
    "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
    "QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;"
)
SERVICES = {
    "DROPBATCH_BATCH_URL": "https://dropbatch.westeurope.batch.azure.com",
    "DROPBATCH_BATCH_ACCOUNT": "dropbatch",
    "DROPBATCH_COSMOS_ENDPOINT": "https://dropbatch.documents.azure.com:443/",
}
MI = {"AzureWebJobsStorage__credential": "managedidentity"}


def test_a_key_connection_string_gives_its_endpoints_and_a_named_key() -> None:
    access = storage_access({"AzureWebJobsStorage": AZURITE})
    assert access.blob_endpoint == "http://127.0.0.1:10000/devstoreaccount1"
    assert access.queue_endpoint == "http://127.0.0.1:10001/devstoreaccount1"
    credential = access.credential(Identity())
    assert isinstance(credential, AzureNamedKeyCredential)
    assert credential.named_key == ("devstoreaccount1", "a2V5")


def test_an_azure_connection_string_derives_both_endpoints_from_the_account() -> None:
    access = storage_access(
        {"AzureWebJobsStorage": "AccountName=prod;AccountKey=a2V5;EndpointSuffix=core.windows.net"}
    )
    assert (access.account, access.blob_endpoint, access.queue_endpoint) == (
        "prod",
        "https://prod.blob.core.windows.net",
        "https://prod.queue.core.windows.net",
    )


def test_a_sas_connection_string_gives_a_sas_credential_and_the_account_from_the_url() -> None:
    access = storage_access(
        {
            "AzureWebJobsStorage": "BlobEndpoint=https://prod.blob.core.windows.net/;"
            "QueueEndpoint=https://prod.queue.core.windows.net/;SharedAccessSignature=sv=1&sig=x"
        }
    )
    assert access.account == "prod"
    assert isinstance(access.credential(Identity()), AzureSasCredential)
    assert "sig" not in repr(access)


def test_development_storage_is_azurite_with_its_published_account() -> None:
    access = storage_access({"AzureWebJobsStorage": "UseDevelopmentStorage=true"})
    assert access.account == DEV_ACCOUNT
    assert access.queue_endpoint == f"http://127.0.0.1:10001/{DEV_ACCOUNT}"
    assert isinstance(access.credential(Identity()), AzureNamedKeyCredential)


def test_an_account_name_alone_means_the_identity_and_the_public_endpoints() -> None:
    env = {"AzureWebJobsStorage__accountName": "prod", **MI}
    access = storage_access(env)
    assert access == StorageAccess(
        "prod", "https://prod.blob.core.windows.net", "https://prod.queue.core.windows.net"
    )
    assert isinstance(access.credential(identity_from(env)), ManagedIdentityCredential)


def test_service_uris_name_the_endpoints_and_the_account() -> None:
    access = storage_access(
        {
            "AzureWebJobsStorage__blobServiceUri": "https://prod.blob.core.windows.net/",
            "AzureWebJobsStorage__queueServiceUri": "https://prod.queue.core.windows.net",
        }
    )
    assert access == StorageAccess(
        "prod", "https://prod.blob.core.windows.net", "https://prod.queue.core.windows.net"
    )


@pytest.mark.parametrize(
    ("env", "cls", "client_id"),
    [
        ({}, DefaultAzureCredential, None),
        ({"AzureWebJobsStorage__clientId": "c1"}, DefaultAzureCredential, "c1"),
        (MI, ManagedIdentityCredential, None),
        ({**MI, "AzureWebJobsStorage__clientId": "c1"}, ManagedIdentityCredential, "c1"),
        ({"AzureWebJobsStorage__credential": "ManagedIdentity"}, ManagedIdentityCredential, None),
    ],
)
def test_the_identity_settings_choose_the_credential_class(
    env: dict[str, str], cls: type, client_id: str | None
) -> None:
    identity = identity_from(env)
    assert identity.client_id == client_id
    assert isinstance(identity.credential(), cls)


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({}, "AzureWebJobsStorage"),
        (
            {"AzureWebJobsStorage": AZURITE, "AzureWebJobsStorage__accountName": "prod"},
            "AzureWebJobsStorage",
        ),
        (
            {"AzureWebJobsStorage__blobServiceUri": "https://prod.blob.core.windows.net"},
            "AzureWebJobsStorage__queueServiceUri",
        ),
        (
            {
                "AzureWebJobsStorage__blobServiceUri": "prod.blob",
                "AzureWebJobsStorage__accountName": "p",
            },
            "AzureWebJobsStorage__blobServiceUri",
        ),
        ({"AzureWebJobsStorage": "AccountName=prod"}, "AzureWebJobsStorage"),
        (
            {"AzureWebJobsStorage__accountName": "p", "AzureWebJobsStorage__credential": "secret"},
            "AzureWebJobsStorage__credential",
        ),
    ],
)
def test_incomplete_or_conflicting_storage_settings_are_named(
    env: dict[str, str], name: str
) -> None:
    with pytest.raises(SettingError) as e:
        Settings.from_env({**SERVICES, **env})
    assert e.value.name == name


def test_cosmos_and_batch_take_their_key_when_set_and_the_identity_otherwise() -> None:
    managed = Identity(managed=True, client_id="c1")
    assert cosmos_credential("a2V5", managed) == "a2V5"
    assert isinstance(cosmos_credential(None, managed), ManagedIdentityCredential)
    key = batch_credential("acct", "a2V5", managed)
    assert isinstance(key, AzureNamedKeyCredential) and key.named_key == ("acct", "a2V5")
    assert isinstance(batch_credential("acct", None, managed), ManagedIdentityCredential)


def test_keyless_settings_build_every_client_on_the_identity_and_the_right_endpoint() -> None:
    s = Settings.from_env({**SERVICES, "AzureWebJobsStorage__accountName": "prod", **MI})
    assert s.storage_connection_string is None
    blobs = blob_service(s)
    assert blobs.url.startswith("https://prod.blob.core.windows.net")
    assert isinstance(blobs.credential, ManagedIdentityCredential)
    queue = PoisonQueue.build(s)._q
    assert queue.url.startswith("https://prod.queue.core.windows.net/webjobs-blobtrigger-poison")
    assert isinstance(queue.credential, ManagedIdentityCredential)
    # (A Cosmos client reads the account when built; its credential is checked above.)
    assert isinstance(batch_client(s)._config.credential, ManagedIdentityCredential)


def test_required_settings_are_exactly_the_ones_without_a_default() -> None:
    # Given the required names and a storage form, settings build; without any one, they
    # fail naming it (so REQUIRED_SETTINGS is the list a deployment template must cover).
    storage = {"AzureWebJobsStorage__accountName": "prod"}
    assert set(REQUIRED_SETTINGS) == set(SERVICES)
    Settings.from_env({**SERVICES, **storage})
    for name in REQUIRED_SETTINGS:
        with pytest.raises(SettingError) as e:
            Settings.from_env({**{k: v for k, v in SERVICES.items() if k != name}, **storage})
        assert e.value.name == name
