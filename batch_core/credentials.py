"""Which endpoint and which credential each service is reached with, decided from settings
alone, in the forms the Functions host itself accepts:

- storage: a connection string in `AzureWebJobsStorage` (account key or SAS; the local
  stack), or the identity-based form `AzureWebJobsStorage__accountName` (or
  `__blobServiceUri` + `__queueServiceUri`), with `__credential=managedidentity` and
  `__clientId` choosing the managed identity;
- Cosmos DB and Batch: their key when one is set, otherwise the same identity as the host
  storage (the app has one identity).

An identity is `ManagedIdentityCredential` when `__credential` is `managedidentity` (system
assigned, or the user-assigned one `__clientId` names), else `DefaultAzureCredential` (an
operator's `az login` on a workstation). The choice is plain data (`Identity`,
`StorageAccess`); the SDK credential objects are built only when a client is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlparse

from azure.core.credentials import AzureNamedKeyCredential, AzureSasCredential, TokenCredential

from batch_core.errors import SettingError

STORAGE = "AzureWebJobsStorage"
STORAGE_ACCOUNT_NAME = f"{STORAGE}__accountName"
STORAGE_BLOB_URI = f"{STORAGE}__blobServiceUri"
STORAGE_QUEUE_URI = f"{STORAGE}__queueServiceUri"
STORAGE_CREDENTIAL = f"{STORAGE}__credential"
STORAGE_CLIENT_ID = f"{STORAGE}__clientId"
# Every name of the identity-based form that this module reads.
STORAGE_IDENTITY_SETTINGS = (
    STORAGE_ACCOUNT_NAME,
    STORAGE_BLOB_URI,
    STORAGE_QUEUE_URI,
    STORAGE_CREDENTIAL,
    STORAGE_CLIENT_ID,
)
MANAGED_IDENTITY = "managedidentity"

# Azurite's published development account (`UseDevelopmentStorage=true`).
DEV_ACCOUNT = "devstoreaccount1"
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

StorageCredential = AzureNamedKeyCredential | AzureSasCredential | TokenCredential


@dataclass(frozen=True)
class Identity:
    """The app's identity for services that have no key set."""

    managed: bool = False  # ManagedIdentityCredential; otherwise DefaultAzureCredential
    client_id: str | None = None  # a user-assigned identity; None: the system-assigned one

    def credential(self) -> TokenCredential:
        """A token credential: the managed identity in Azure, else the default chain (with the
        client id when given)."""
        from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

        if self.managed:
            return ManagedIdentityCredential(client_id=self.client_id)
        return DefaultAzureCredential(managed_identity_client_id=self.client_id)


@dataclass(frozen=True)
class StorageAccess:
    """The storage account's endpoints, and a key or SAS when the settings hold one."""

    account: str
    blob_endpoint: str
    queue_endpoint: str
    account_key: str | None = field(default=None, repr=False)
    sas_token: str | None = field(default=None, repr=False)

    def credential(self, identity: Identity) -> StorageCredential:
        """The storage credential: the account key, else the SAS token, else the identity."""
        if self.account_key:
            return AzureNamedKeyCredential(self.account, self.account_key)
        if self.sas_token:
            return AzureSasCredential(self.sas_token)
        return identity.credential()


def cosmos_credential(key: str | None, identity: Identity) -> str | TokenCredential:
    """Cosmos DB's account key when set, else the identity (data-plane RBAC)."""
    return key or identity.credential()


def batch_credential(
    account: str, key: str | None, identity: Identity
) -> AzureNamedKeyCredential | TokenCredential:
    """Batch's shared key when set, else the identity (an account with AAD-only auth)."""
    return AzureNamedKeyCredential(account, key) if key else identity.credential()


def identity_from(env: Mapping[str, str]) -> Identity:
    """The identity named by `AzureWebJobsStorage__credential` / `__clientId`."""
    kind = _get(env, STORAGE_CREDENTIAL)
    if kind is not None and kind.lower() != MANAGED_IDENTITY:
        raise SettingError(
            STORAGE_CREDENTIAL,
            f"'{kind}' is not supported; use {MANAGED_IDENTITY} or leave it unset",
        )
    return Identity(managed=kind is not None, client_id=_get(env, STORAGE_CLIENT_ID))


def storage_access(env: Mapping[str, str]) -> StorageAccess:
    """Endpoints (and key) of the host storage, from whichever form the settings use."""
    connection = _get(env, STORAGE)
    identity_form = [n for n in (STORAGE_ACCOUNT_NAME, STORAGE_BLOB_URI) if _get(env, n)]
    if connection is not None and identity_form:
        raise SettingError(
            STORAGE,
            f"is set as well as {identity_form[0]}; use the connection string or the "
            "identity-based settings, not both",
        )
    if connection is not None:
        return _from_connection_string(parse_connection_string(connection))
    if not identity_form:
        raise SettingError(
            STORAGE,
            f"is missing; set a connection string, or {STORAGE_ACCOUNT_NAME} (or "
            f"{STORAGE_BLOB_URI} and {STORAGE_QUEUE_URI}) to use an identity",
        )
    account = _get(env, STORAGE_ACCOUNT_NAME)
    blob = _uri(env, STORAGE_BLOB_URI)
    queue = _uri(env, STORAGE_QUEUE_URI)
    if account is None:
        if queue is None:
            raise SettingError(
                STORAGE_QUEUE_URI, f"is missing; it is needed with {STORAGE_BLOB_URI}"
            )
        account = _account_of(blob or "")
    return StorageAccess(
        account=account,
        blob_endpoint=blob or f"https://{account}.blob.core.windows.net",
        queue_endpoint=queue or f"https://{account}.queue.core.windows.net",
    )


def parse_connection_string(value: str) -> dict[str, str]:
    """Split `Name=Value;Name=Value` (values may hold '='); raise naming the setting."""
    parts: dict[str, str] = {}
    for item in value.split(";"):
        if not item.strip():
            continue
        name, sep, rest = item.partition("=")
        if not sep:
            raise SettingError(STORAGE, f"'{name}' is not of the form Name=Value")
        parts[name.strip()] = rest.strip()
    return parts


def _from_connection_string(parts: Mapping[str, str]) -> StorageAccess:
    if parts.get("UseDevelopmentStorage") == "true":
        base = parts.get("DevelopmentStorageProxyUri", "http://127.0.0.1").rstrip("/")
        return StorageAccess(
            account=DEV_ACCOUNT,
            blob_endpoint=f"{base}:10000/{DEV_ACCOUNT}",
            queue_endpoint=f"{base}:10001/{DEV_ACCOUNT}",
            account_key=DEV_KEY,
        )
    name = parts.get("AccountName")
    blob = parts.get("BlobEndpoint", "").rstrip("/")
    if not name and not blob:
        raise SettingError(STORAGE, "has neither BlobEndpoint nor AccountName")
    protocol = parts.get("DefaultEndpointsProtocol", "https")
    suffix = parts.get("EndpointSuffix", "core.windows.net")
    account = name or _account_of(blob)
    queue = parts.get("QueueEndpoint", "").rstrip("/")
    key, sas = parts.get("AccountKey"), parts.get("SharedAccessSignature")
    if not key and not sas:
        raise SettingError(STORAGE, "has neither AccountKey nor SharedAccessSignature")
    return StorageAccess(
        account=account,
        blob_endpoint=blob or f"{protocol}://{account}.blob.{suffix}",
        queue_endpoint=queue or f"{protocol}://{account}.queue.{suffix}",
        account_key=key,
        sas_token=None if key else sas,
    )


def _account_of(endpoint: str) -> str:
    """The account of an endpoint: the first host label, or the path of a local emulator's
    path-style URL (http://127.0.0.1:10000/devstoreaccount1)."""
    parsed = urlparse(endpoint)
    path = parsed.path.strip("/")
    return path.split("/")[0] if path else (parsed.hostname or "").split(".")[0]


def _get(env: Mapping[str, str], name: str) -> str | None:
    return env.get(name, "").strip() or None


def _uri(env: Mapping[str, str], name: str) -> str | None:
    value = _get(env, name)
    if value is None:
        return None
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise SettingError(name, f"'{value}' is not an http(s) URL")
    return value.rstrip("/")
