"""Storage clients for one connection string, and the host's well-known names.

Names follow the real host: the ``azure-webjobs-hosts`` container holds blob receipts
and timer status; ``azure-webjobs-blobtrigger-{hostId}`` carries blob trigger work and
``webjobs-blobtrigger-poison`` receives what failed ``maxDequeueCount`` times.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import re
import socket
from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import ResourceExistsError
from azure.core.pipeline.transport import RequestsTransport
from azure.storage.blob import BlobServiceClient, ContainerClient
from azure.storage.queue import QueueClient, QueueServiceClient

from devstack.funchost.errors import ConfigError
from worker.transport import pooled_transport

HOSTS_CONTAINER = "azure-webjobs-hosts"
BLOB_TRIGGER_QUEUE_PREFIX = "azure-webjobs-blobtrigger-"
BLOB_TRIGGER_POISON_QUEUE = "webjobs-blobtrigger-poison"

_HOST_ID = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?!-))*$")
_MAX_HOST_ID = 32

# Local servers answer at once; short timeouts keep shutdown prompt when they do not.
_CLIENT_OPTIONS: dict[str, Any] = {"retry_total": 3}
_CONNECTION_TIMEOUT, _READ_TIMEOUT = 10, 60
# Connections kept per storage endpoint: one per thread that may use it at once (the scanner's
# claims, the invocations), so a burst does not open and drop a connection per request.
_POOL_CONNECTIONS = 64


def _transport() -> RequestsTransport:
    """One HTTP session for an account's blob and queue clients, as the app's own clients
    have (see `worker.transport`)."""
    return pooled_transport(_POOL_CONNECTIONS, _CONNECTION_TIMEOUT, _READ_TIMEOUT)


def validate_host_id(host_id: str) -> str:
    """Apply the real host's rule: 1-32 lowercase letters, digits and single dashes."""
    if not (
        0 < len(host_id) <= _MAX_HOST_ID and _HOST_ID.match(host_id) and not host_id.endswith("-")
    ):
        raise ConfigError(
            f"host id {host_id!r} must be 1-32 lowercase letters, digits or single dashes, "
            "not starting or ending with a dash"
        )
    return host_id


def default_host_id(app_dir: str) -> str:
    """A host id stable across restarts of one app directory on one machine."""
    machine = re.sub(r"[^a-z0-9]+", "-", socket.gethostname().lower()).strip("-") or "host"
    digest = hashlib.sha256(app_dir.encode()).hexdigest()[:8]
    return validate_host_id(f"{machine[: _MAX_HOST_ID - 9].strip('-')}-{digest}")


def normalize_etag(etag: str) -> str:
    """ETags in the quoted form the real host writes into receipts and messages."""
    return f'"{etag.strip().strip(chr(34))}"'


@dataclass(frozen=True)
class MessageCodec:
    """Queue message text as the real host writes it (base64 by default)."""

    base64_encoded: bool = True

    def encode(self, text: str) -> str:
        if not self.base64_encoded:
            return text
        return base64.b64encode(text.encode("utf-8")).decode("ascii")

    def decode(self, content: str) -> str:
        # Accept plain text too, so messages written with either setting are read.
        stripped = content.strip()
        if stripped.startswith("{"):
            return stripped
        try:
            return base64.b64decode(stripped, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return stripped


@dataclass(frozen=True)
class IdentityConnection:
    """An identity-based storage connection: service URIs and the identity to use."""

    blob_uri: str
    queue_uri: str
    managed_identity: bool = False  # ManagedIdentityCredential; else DefaultAzureCredential
    client_id: str | None = None

    def credential(self) -> Any:
        from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

        if self.managed_identity:
            return ManagedIdentityCredential(client_id=self.client_id)
        return DefaultAzureCredential(managed_identity_client_id=self.client_id)


class StorageAccount:
    """Blob and queue service clients for one connection string or identity connection."""

    def __init__(self, connection_string: str | IdentityConnection) -> None:
        self._containers: dict[str, ContainerClient] = {}
        if isinstance(connection_string, IdentityConnection):
            credential = connection_string.credential()
            self.blobs = BlobServiceClient(
                connection_string.blob_uri,
                credential=credential,
                transport=_transport(),
                **_CLIENT_OPTIONS,
            )
            self.queues = QueueServiceClient(
                connection_string.queue_uri,
                credential=credential,
                transport=_transport(),
                **_CLIENT_OPTIONS,
            )
            self.account_name = self.blobs.account_name or "account"
            return
        try:
            self.blobs = BlobServiceClient.from_connection_string(
                connection_string, transport=_transport(), **_CLIENT_OPTIONS
            )
            self.queues = QueueServiceClient.from_connection_string(
                connection_string, transport=_transport(), **_CLIENT_OPTIONS
            )
        except ValueError as e:
            raise ConfigError(f"storage connection string is not valid: {e}") from e
        self.account_name = self.blobs.account_name or "account"

    def container(self, name: str) -> ContainerClient:
        """The container's client, made once: the work queue's processor asks for it per
        message, and each client builds the SDK's serializers anew."""
        client = self._containers.get(name)
        if client is None:
            client = self._containers.setdefault(name, self.blobs.get_container_client(name))
        return client

    def queue(self, name: str) -> QueueClient:
        return self.queues.get_queue_client(name)

    def ensure_container(self, name: str) -> ContainerClient:
        client = self.container(name)
        with contextlib.suppress(ResourceExistsError):
            client.create_container()
        return client

    def ensure_queue(self, name: str) -> QueueClient:
        client = self.queue(name)
        with contextlib.suppress(ResourceExistsError):
            client.create_queue()
        return client
