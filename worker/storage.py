"""Blob storage adapter: the only module that talks to the Blob SDK.

Azure SDK exceptions are translated here into the worker's own (see `worker.errors`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from azure.core import MatchConditions
from azure.core.credentials import AzureSasCredential, TokenCredential
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.storage.blob import (
    BlobBlock,
    BlobClient,
    BlobServiceClient,
    ContentSettings,
    LinearRetry,
)

from worker.contract import BLOB_ENDPOINT, MAX_INPUT_BYTES
from worker.credentials import (
    STORAGE_CONNECTION_STRING,
    Credentials,
    parse_connection_string,
)
from worker.errors import (
    InputVanished,
    RejectedInput,
    ServiceError,
    WorkerConfigError,
    WorkerTransientError,
)
from worker.options import MiB
from worker.settings import WorkerSettings
from worker.transport import pooled_transport

log = logging.getLogger(__name__)

# Small transfer blocks keep memory flat whatever the blob size.
_BLOCK = 4 * MiB
_TRANSIENT_STATUS = {408, 429, 500, 502, 503, 504}
# Connections kept to the blob endpoint: more than the task's requests at once (the outputs
# written together, the listing beside the writes).
_CONNECTIONS = 16


class Storage:
    """Reads the input blob and writes result, log and child blobs."""

    def __init__(self, client: BlobServiceClient) -> None:
        self._client = client

    @classmethod
    def connect(
        cls, settings: WorkerSettings, credentials: Credentials, identity: TokenCredential | None
    ) -> Storage:
        """Storage for the account the settings name, with the connection string or the identity."""
        credential: Any
        if credentials.storage_connection_string is not None:
            parts = parse_connection_string(credentials.storage_connection_string)
            if "AccountName" in parts and "AccountKey" in parts:
                credential = {
                    "account_name": parts["AccountName"],
                    "account_key": parts["AccountKey"],
                }
            elif "SharedAccessSignature" in parts:
                credential = AzureSasCredential(parts["SharedAccessSignature"])
            else:
                raise WorkerConfigError(
                    STORAGE_CONNECTION_STRING, "needs AccountName and AccountKey, or a SAS"
                )
        elif identity is not None:
            if not settings.blob_endpoint.startswith("https://"):
                # azure-core refuses to send a bearer token over plain HTTP.
                raise WorkerConfigError(
                    BLOB_ENDPOINT,
                    f"the managed identity needs an https:// endpoint; for a local endpoint put"
                    f" {STORAGE_CONNECTION_STRING} in the node's credentials file",
                )
            credential = identity
        else:
            raise WorkerConfigError(BLOB_ENDPOINT, "no storage credential and no identity")
        client = BlobServiceClient(
            settings.blob_endpoint,
            credential=credential,
            retry_policy=LinearRetry(
                backoff=int(max(settings.service_retry_backoff_seconds, 0)),
                retry_total=settings.service_retries,
                random_jitter_range=1,
            ),
            max_single_put_size=_BLOCK,
            max_block_size=_BLOCK,
            max_single_get_size=_BLOCK,
            max_chunk_get_size=_BLOCK,
            transport=pooled_transport(_CONNECTIONS),
        )
        return cls(client)

    def close(self) -> None:
        """Close the storage client."""
        self._client.close()

    def download(
        self, container: str, name: str, etag: str, dest: IO[bytes], max_bytes: int
    ) -> int:
        """Copy the blob into `dest` only if its etag is still `etag`; return its size."""
        blob = self._client.get_blob_client(container, name)
        with _translated(f"download {container}/{name}", missing_is_vanished=True):
            downloader = blob.download_blob(
                etag=_quoted(etag), match_condition=MatchConditions.IfNotModified, max_concurrency=1
            )
            size = int(downloader.size)
            if size > max_bytes:
                raise RejectedInput(
                    f"file is {size} bytes, more than the limit of {max_bytes} bytes"
                    f" ({MAX_INPUT_BYTES})"
                )
            for chunk in downloader.chunks():
                dest.write(chunk)
        return size

    def current_etag(self, container: str, name: str) -> str | None:
        """The blob's etag now, or None when it is gone."""
        blob = self._client.get_blob_client(container, name)
        try:
            with _translated(f"read properties of {container}/{name}"):
                return str(blob.get_blob_properties().etag)
        except _NotFound:
            return None

    def put(self, container: str, name: str, data: bytes | IO[bytes], content_type: str) -> None:
        """Write (or overwrite) a blob."""
        blob = self._client.get_blob_client(container, name)
        with _translated(f"upload {container}/{name}"):
            blob.upload_blob(
                data,
                overwrite=True,
                content_settings=ContentSettings(content_type=content_type),
            )

    def folders(self, container: str, prefix: str) -> list[str]:
        """The names of the virtual folders right under `prefix` (which ends with '/')."""
        client = self._client.get_container_client(container)
        with _translated(f"list {container}/{prefix}"):
            return [
                str(item.name)[len(prefix) :].rstrip("/")
                for item in client.walk_blobs(name_starts_with=prefix, delimiter="/")
                if str(item.name).endswith("/")
            ]

    def exists(self, container: str, name: str) -> bool:
        """Whether the blob is there."""
        return self.current_etag(container, name) is not None

    def stage(self, container: str, name: str) -> StagedBlob:
        """A new block blob built from staged blocks, invisible until committed."""
        return StagedBlob(self._client.get_blob_client(container, name), f"{container}/{name}")


class StagedBlob:
    """A block blob written as uncommitted blocks (Put Block), then committed at once.

    Staged blocks belong to no blob yet: listings (and so blob triggers), reads and
    existence checks do not see them, and the service drops them after a week if they are
    never committed. Block ids are the block's number, so a re-run stages the same ids
    again, replacing what a crashed run left instead of piling blocks up; their length
    (48 digits, 64 characters once base64-encoded) is the Blob SDK's own, since the service
    refuses ids of another length next to uncommitted ones.
    """

    def __init__(self, blob: BlobClient, label: str) -> None:
        self._blob = blob
        self._label = label
        self._ids: list[str] = []

    def write(self, block: bytes) -> None:
        """Stage `block` as the blob's next block (at most 4000 MiB; 50,000 blocks a blob)."""
        block_id = staged_block_id(len(self._ids))
        with _translated(f"stage block {len(self._ids)} of {self._label}"):
            self._blob.stage_block(block_id, block, length=len(block))
        self._ids.append(block_id)

    def commit(self, metadata: dict[str, str], content_type: str) -> bool:
        """Make the blob of the staged blocks, only if no blob has the name (If-None-Match
        *, so a re-run never replaces one); False when one existed."""
        try:
            with _translated(f"commit {self._label}"):
                self._blob.commit_block_list(
                    [BlobBlock(block_id) for block_id in self._ids],
                    content_settings=ContentSettings(content_type=content_type),
                    metadata=metadata,
                    match_condition=MatchConditions.IfMissing,
                )
        except _Exists:
            return False
        return True


def staged_block_id(index: int) -> str:
    """The id of a staged blob's block number `index`, before the SDK base64-encodes it."""
    return f"{index:048d}"


class _NotFound(Exception):
    pass


class _Exists(Exception):
    pass


def _quoted(etag: str) -> str:
    return etag if etag.startswith('"') or etag == "*" else f'"{etag}"'


@contextmanager
def _translated(action: str, missing_is_vanished: bool = False) -> Iterator[None]:
    try:
        yield
    except ResourceModifiedError as e:
        raise InputVanished(f"{action}: the blob was replaced (etag changed)") from e
    except ResourceNotFoundError as e:
        if missing_is_vanished and getattr(e, "error_code", None) in (None, "BlobNotFound"):
            raise InputVanished(f"{action}: the blob is gone") from e
        if getattr(e, "error_code", None) == "ContainerNotFound":
            raise ServiceError(f"{action}: the container does not exist") from e
        if missing_is_vanished:
            raise InputVanished(f"{action}: not found") from e
        raise _NotFound() from e
    except ResourceExistsError as e:
        raise _Exists() from e
    except ClientAuthenticationError as e:
        raise WorkerConfigError("storage credential", f"{action}: refused ({e.reason})") from e
    except (ServiceRequestError, ServiceResponseError) as e:
        raise WorkerTransientError(f"{action}: storage unreachable ({type(e).__name__})") from e
    except HttpResponseError as e:
        if e.status_code in _TRANSIENT_STATUS:
            raise WorkerTransientError(f"{action}: storage answered {e.status_code}") from e
        if e.status_code == 412:
            raise InputVanished(f"{action}: the blob was replaced (etag changed)") from e
        if e.status_code in (401, 403):
            # A missing role assignment or a wrong key: running again will not help.
            raise WorkerConfigError(
                "storage credential", f"{action}: refused ({e.status_code} {e.reason})"
            ) from e
        raise ServiceError(f"{action}: storage answered {e.status_code} {e.reason}") from e
