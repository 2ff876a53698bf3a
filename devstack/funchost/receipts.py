"""Blob receipts: the real host's record that a blob version was handed to a function.

A receipt is an empty blob in ``azure-webjobs-hosts`` named
``blobreceipts/{hostId}/{functionId}/{etag}/{container}/{blobName}`` (the ETag comes
before the blob name because names may contain slashes). It is created with metadata
``Incomplete=true``, leased, and completed (metadata cleared) once the work message is
on the queue, so a restart never enqueues the same blob version twice.
"""

from __future__ import annotations

import contextlib
import enum
import logging
from collections.abc import Callable

from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobClient, BlobLeaseClient, ContainerClient

from devstack.funchost.storage import HOSTS_CONTAINER, StorageAccount

log = logging.getLogger(__name__)

RECEIPTS_DIRECTORY = "blobreceipts"
INCOMPLETE_KEY = "Incomplete"
LEASE_SECONDS = 30


class ReceiptOutcome(enum.StrEnum):
    """What happened when the scanner tried to claim a blob version."""

    ENQUEUED = "enqueued"
    ALREADY_DONE = "already_done"
    BUSY = "busy"  # another host holds the receipt; try again on a later scan


def receipt_name(host_id: str, function_id: str, etag: str, container: str, blob: str) -> str:
    return f"{RECEIPTS_DIRECTORY}/{host_id}/{function_id}/{etag}/{container}/{blob}"


class ReceiptStore:
    """Creates, leases and completes receipts in the host storage account."""

    def __init__(self, account: StorageAccount, host_id: str) -> None:
        self._container = account.container(HOSTS_CONTAINER)
        self._host_id = host_id

    def claim(
        self,
        function_id: str,
        etag: str,
        container: str,
        blob: str,
        enqueue: Callable[[], None],
    ) -> ReceiptOutcome:
        """Run ``enqueue`` once per blob version across restarts (and hosts)."""
        receipt = self._container.get_blob_client(
            receipt_name(self._host_id, function_id, etag, container, blob)
        )
        completed = _read(receipt)
        if completed is True:
            return ReceiptOutcome.ALREADY_DONE
        if completed is None and not _create(self._container, receipt):
            return ReceiptOutcome.BUSY
        lease_id = _acquire_lease(receipt)
        if lease_id is None:
            return ReceiptOutcome.BUSY
        try:
            if _read(receipt) is True:
                return ReceiptOutcome.ALREADY_DONE
            enqueue()
            receipt.set_blob_metadata({}, lease=lease_id)
            return ReceiptOutcome.ENQUEUED
        finally:
            _release_lease(receipt, lease_id)


def _read(receipt: BlobClient) -> bool | None:
    """True if complete, False if incomplete, None if there is no receipt."""
    try:
        properties = receipt.get_blob_properties()
    except ResourceNotFoundError:
        return None
    metadata = {k.lower(): v for k, v in (properties.metadata or {}).items()}
    return INCOMPLETE_KEY.lower() not in metadata


def _create(container: ContainerClient, receipt: BlobClient) -> bool:
    """Create an incomplete receipt; False if another claimant created it first."""
    for attempt in range(2):
        try:
            receipt.upload_blob(b"", metadata={INCOMPLETE_KEY: "true"}, overwrite=False)
            return True
        except ResourceExistsError:
            return False
        except ResourceNotFoundError:
            if attempt:
                raise
            # The hosts container went missing (deleted while running): make it again.
            with contextlib.suppress(ResourceExistsError):
                container.create_container()
    return False


def _acquire_lease(receipt: BlobClient) -> str | None:
    try:
        lease = receipt.acquire_lease(lease_duration=LEASE_SECONDS)
    except ResourceNotFoundError:
        return None
    except HttpResponseError as e:
        if e.status_code == 409:  # LeaseAlreadyPresent
            return None
        raise
    return str(lease.id)


def _release_lease(receipt: BlobClient, lease_id: str) -> None:
    try:
        BlobLeaseClient(receipt, lease_id=lease_id).release()
    except (ResourceNotFoundError, HttpResponseError) as e:
        log.debug("receipt lease release skipped: %s", e)
