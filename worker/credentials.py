"""Secrets for the worker, read from the node's credentials file, never the environment.

The file `$AZ_BATCH_NODE_SHARED_DIR/dropbatch/credentials.json` is placed on the node like
part of the VM image. Every key is optional; without one, the pool's managed identity is
used for that service (the Azure path).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from azure.core.credentials import TokenCredential

from worker.errors import WorkerConfigError
from worker.settings import WorkerSettings

STORAGE_CONNECTION_STRING = "AzureWebJobsStorage"
COSMOS_KEY = "DROPBATCH_COSMOS_KEY"
COSMOS_CA_CERT = "DROPBATCH_COSMOS_CA_CERT"
# Where the worker's telemetry goes (worker.telemetry); no connection string: none is sent.
APPINSIGHTS_CONNECTION_STRING = "APPLICATIONINSIGHTS_CONNECTION_STRING"
APPINSIGHTS_AUTHENTICATION_STRING = "APPLICATIONINSIGHTS_AUTHENTICATION_STRING"
_KEYS = (
    STORAGE_CONNECTION_STRING,
    COSMOS_KEY,
    COSMOS_CA_CERT,
    APPINSIGHTS_CONNECTION_STRING,
    APPINSIGHTS_AUTHENTICATION_STRING,
)


@dataclass(frozen=True)
class Credentials:
    """What the node's credentials file gives the worker (keys kept out of repr()), and which names
    it had."""

    storage_connection_string: str | None = field(default=None, repr=False)
    cosmos_key: str | None = field(default=None, repr=False)
    cosmos_ca_cert: Path | None = None
    names_present: tuple[str, ...] = ()
    appinsights_connection_string: str | None = field(default=None, repr=False)
    appinsights_authentication: str | None = None  # `Authorization=AAD[;ClientId=...]`

    @classmethod
    def load(cls, path: Path | None) -> Credentials:
        """Read the file; a missing file means "use the managed identity" for everything."""
        if path is None or not path.exists():
            return cls()
        where = f"credentials file {path}"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as e:
            # The message names the file, never its content.
            raise WorkerConfigError(where, f"unreadable or not JSON ({type(e).__name__})") from None
        if not isinstance(data, dict):
            raise WorkerConfigError(where, "must hold a JSON object")
        values: dict[str, str] = {}
        for key in _KEYS:
            value = data.get(key)
            if value is None or value == "":
                continue
            if not isinstance(value, str):
                raise WorkerConfigError(f"{where}: {key}", "must be a string")
            values[key] = value
        ca_cert = values.get(COSMOS_CA_CERT)
        if ca_cert is not None and not Path(ca_cert).is_file():
            raise WorkerConfigError(f"{where}: {COSMOS_CA_CERT}", "names no readable file")
        return cls(
            storage_connection_string=values.get(STORAGE_CONNECTION_STRING),
            cosmos_key=values.get(COSMOS_KEY),
            cosmos_ca_cert=Path(ca_cert) if ca_cert else None,
            names_present=tuple(sorted(values)),
            appinsights_connection_string=values.get(APPINSIGHTS_CONNECTION_STRING),
            appinsights_authentication=values.get(APPINSIGHTS_AUTHENTICATION_STRING),
        )


def parse_connection_string(text: str) -> dict[str, str]:
    """Split `Key=Value;Key=Value` (values may contain '='); raise naming the setting."""
    parts: dict[str, str] = {}
    for item in text.split(";"):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep:
            raise WorkerConfigError(STORAGE_CONNECTION_STRING, "malformed connection string")
        parts[key.strip()] = value.strip()
    return parts


def identity_for(settings: WorkerSettings, credentials: Credentials) -> TokenCredential | None:
    """The managed identity, when some service has no secret in the credentials file."""
    needs_identity = credentials.storage_connection_string is None or (
        credentials.cosmos_key is None and settings.cosmos_endpoint is not None
    )
    if not needs_identity:
        return None
    from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

    if settings.identity_client_id:
        return ManagedIdentityCredential(client_id=settings.identity_client_id)
    return DefaultAzureCredential()
