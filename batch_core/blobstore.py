"""Blob storage as the pipeline uses it: list dropped files, read results, quarantine."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.storage.blob import BlobProperties, BlobServiceClient

from batch_core.errors import (
    DropbatchError,
    NotFoundError,
    PermanentError,
    TransientError,
    VanishedError,
)
from batch_core.keys import normalize_etag
from batch_core.settings import Settings
from worker.contract import PARENT_METADATA
from worker.transport import pooled_transport

# A replayed file's blob metadata (`dropbatch replay`): the file key of the run it re-runs,
# and the replay's id (replaying again with the same id creates nothing new).
REPLAY_OF_METADATA = "dropbatch_replay_of"
REPLAY_ID_METADATA = "dropbatch_replay_id"


@dataclass(frozen=True)
class BlobRef:
    """What the trigger knows of a blob: never its content."""

    container: str
    name: str
    etag: str
    size: int
    last_modified: dt.datetime | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)

    @property
    def parent(self) -> str | None:
        """The zip this file was extracted from (its metadata), if any."""
        return self.metadata.get(PARENT_METADATA)

    @property
    def replay_of(self) -> str | None:
        """The file key of the run this blob replays (`dropbatch replay`), if it is a replay."""
        return self.metadata.get(REPLAY_OF_METADATA)


def translate(error: AzureError, doing: str) -> DropbatchError:
    """The dropbatch error for a storage SDK error: not found, transient or permanent, naming what
    was being done."""
    if isinstance(error, ResourceNotFoundError):
        return NotFoundError(f"{doing}: not found")
    if isinstance(error, ServiceRequestError | ServiceResponseError):
        return TransientError(f"{doing}: storage unreachable ({type(error).__name__})")
    if isinstance(error, HttpResponseError):
        status = error.status_code or 0
        if status in (408, 429) or status >= 500:
            return TransientError(f"{doing}: storage answered HTTP {status}; will retry")
        return PermanentError(f"{doing}: storage answered HTTP {status}: {error.reason}")
    return PermanentError(f"{doing}: {type(error).__name__}: {error}")


def blob_service(settings: Settings) -> BlobServiceClient:
    """A blob service client for the settings' account, with its key, SAS or the identity."""
    access = settings.storage
    return BlobServiceClient(
        access.blob_endpoint,
        credential=access.credential(settings.identity),
        transport=pooled_transport(),
    )


class BlobStore:
    """The blobs port over the real storage SDK client."""

    def __init__(self, service: BlobServiceClient, settings: Settings) -> None:
        self._svc = service
        self._s = settings

    @property
    def account(self) -> str:
        return self._s.storage_account

    def provision(self) -> None:
        for name in (
            self._s.container_incoming,
            self._s.container_results,
            self._s.container_logs,
            self._s.container_failed,
            self._s.container_archive,
        ):
            try:
                self._svc.create_container(name)
            except ResourceExistsError:
                pass
            except AzureError as e:
                raise translate(e, f"create container {name}") from e

    def list(self, container: str, prefix: str | None = None) -> Iterator[BlobRef]:
        try:
            client = self._svc.get_container_client(container)
            for b in client.list_blobs(name_starts_with=prefix, include=["metadata"]):
                yield BlobRef(
                    container=container,
                    name=b.name,
                    etag=normalize_etag(b.etag),
                    size=int(b.size or 0),
                    last_modified=b.last_modified,
                    metadata=dict(b.metadata or {}),
                )
        except AzureError as e:
            raise translate(e, f"list container {container}") from e

    def upload(self, container: str, name: str, data: bytes) -> BlobRef:
        """Upload (overwriting) as an operator would; return what a trigger would be told."""
        try:
            self._svc.get_blob_client(container, name).upload_blob(data, overwrite=True)
        except AzureError as e:
            raise translate(e, f"upload {container}/{name}") from e
        ref = self.properties(container, name)
        if ref is None:
            raise VanishedError(f"{container}/{name} was deleted as soon as it was uploaded")
        return ref

    def properties(self, container: str, name: str) -> BlobRef | None:
        """What a trigger is told of the blob now (name, etag, size, metadata), or None when
        it is gone."""
        props = self._properties(container, name)
        if props is None:
            return None
        return BlobRef(
            container=container,
            name=name,
            etag=normalize_etag(props.etag),
            size=int(props.size),
            last_modified=props.last_modified,
            metadata={str(k): str(v) for k, v in (props.metadata or {}).items()},
        )

    def current_etag(self, container: str, name: str) -> str | None:
        """The blob's etag now, or None when it is gone."""
        props = self._properties(container, name)
        return None if props is None else normalize_etag(props.etag)

    def _properties(self, container: str, name: str) -> BlobProperties | None:
        try:
            return self._svc.get_blob_client(container, name).get_blob_properties()
        except ResourceNotFoundError:
            return None
        except AzureError as e:
            raise translate(e, f"read properties of {container}/{name}") from e

    def snapshot(self, container: str, name: str, etag: str) -> str:
        """A read-only snapshot of exactly that version of the blob (its id), so a task fed
        from it never sees newer bytes; VanishedError when the blob is gone or replaced."""
        from azure.core import MatchConditions

        try:
            made = self._svc.get_blob_client(container, name).create_snapshot(
                etag=f'"{etag}"', match_condition=MatchConditions.IfNotModified
            )
        except (ResourceNotFoundError, ResourceModifiedError) as e:
            raise VanishedError(
                f"{container}/{name} was deleted or replaced before its task was created"
            ) from e
        except AzureError as e:
            raise translate(e, f"snapshot {container}/{name}") from e
        return str(made["snapshot"])

    def read_tail(self, container: str, name: str, max_bytes: int = 8192) -> bytes | None:
        """The last `max_bytes` of the blob (a log's last lines); None when it is missing."""
        client = self._svc.get_blob_client(container, name)
        try:
            size = int(client.get_blob_properties().size)
            if size == 0:
                return b""
            start = max(0, size - max_bytes)
            return bytes(client.download_blob(offset=start, length=size - start).readall())
        except ResourceNotFoundError:
            return None
        except AzureError as e:
            raise translate(e, f"read {container}/{name}") from e

    def read_json(self, container: str, name: str) -> dict[str, Any] | None:
        try:
            data = self._svc.get_blob_client(container, name).download_blob().readall()
        except ResourceNotFoundError:
            return None
        except AzureError as e:
            raise translate(e, f"read {container}/{name}") from e
        try:
            value = json.loads(data)
        except ValueError as e:
            raise PermanentError(f"{container}/{name} is not valid JSON: {e}") from e
        return value if isinstance(value, dict) else None

    def write(self, container: str, name: str, data: bytes | str, content_type: str) -> None:
        from azure.storage.blob import ContentSettings

        try:
            self._svc.get_blob_client(container, name).upload_blob(
                data, overwrite=True, content_settings=ContentSettings(content_type=content_type)
            )
        except AzureError as e:
            raise translate(e, f"write {container}/{name}") from e

    def delete(self, container: str, name: str, etag: str) -> bool:
        """Delete that version of a blob; False if it is gone or was replaced since."""
        from azure.core import MatchConditions

        try:
            self._svc.get_blob_client(container, name).delete_blob(
                etag=f'"{etag}"',
                match_condition=MatchConditions.IfNotModified,
                delete_snapshots="include",  # the versions tasks were fed from go with it
            )
        except (ResourceNotFoundError, ResourceModifiedError):
            return False
        except AzureError as e:
            raise translate(e, f"delete {container}/{name}") from e
        return True

    def copy(
        self,
        src_container: str,
        name: str,
        dst_container: str,
        dst_name: str,
        metadata: Mapping[str, str] | None = None,
        etag: str | None = None,
    ) -> bool:
        """Server-side copy within the account (the source's metadata, updated with
        `metadata`); False when the source is gone, or with `etag`, has another one now."""
        from azure.core import MatchConditions

        src = self._svc.get_blob_client(src_container, name)
        dst = self._svc.get_blob_client(dst_container, dst_name)
        doing = f"copy {src_container}/{name} to {dst_container}"
        try:
            kwargs: dict[str, Any] = {}
            if metadata:
                kwargs["metadata"] = {**(src.get_blob_properties().metadata or {}), **metadata}
            if etag:
                kwargs["source_etag"] = f'"{etag}"'
                kwargs["source_match_condition"] = MatchConditions.IfNotModified
            started = dst.start_copy_from_url(src.url, **kwargs)
            if started.get("copy_status") == "pending":
                _wait_for_copy(dst, doing)
        except (ResourceNotFoundError, ResourceModifiedError):
            return False
        except HttpResponseError as e:
            if e.status_code == 412:  # the source's etag is not `etag` any more
                return False
            raise translate(e, doing) from e
        except AzureError as e:
            raise translate(e, doing) from e
        return True


COPY_WAIT_SECONDS = 10.0


def _wait_for_copy(dst: Any, doing: str) -> None:
    """A copy within one account is done at once or nearly; TransientError if it is not done
    within COPY_WAIT_SECONDS (copying again later restarts it), PermanentError if it failed."""
    import time

    deadline = time.monotonic() + COPY_WAIT_SECONDS
    while True:
        copy = dst.get_blob_properties().copy
        if copy.status == "success":
            return
        if copy.status != "pending":
            raise PermanentError(
                f"{doing}: the copy ended {copy.status}: {copy.status_description}"
            )
        if time.monotonic() > deadline:
            raise TransientError(f"{doing}: still copying after {COPY_WAIT_SECONDS:.0f}s")
        time.sleep(0.2)
