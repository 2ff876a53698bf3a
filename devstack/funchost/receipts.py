"""Blob receipts: the real host's record that a blob version was handed to a function.

A receipt is an empty blob in ``azure-webjobs-hosts`` named
``blobreceipts/{hostId}/{functionId}/{etag}/{container}/{blobName}`` (the ETag comes
before the blob name because names may contain slashes). It is created with metadata
``Incomplete=true``, leased, and completed (metadata cleared) once the work message is
on the queue, so a restart never enqueues the same blob version twice. The real host reads
before it creates and releases the lease when done; here a new blob's receipt is created
first, read again only when its ETag moved, and its lease left to lapse once complete: four
storage requests per new blob instead of seven, with the same outcome for every claimant.
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
        # A blob the scanner has not seen has no receipt yet, almost always: create first
        # (if none exists) and read only when one was there.
        created = _create(self._container, receipt)
        if created is None:
            completed = _read(receipt)
            if completed is True:
                return ReceiptOutcome.ALREADY_DONE
            if completed is None:
                return ReceiptOutcome.BUSY  # deleted meanwhile: the next scan claims it
        lease = _acquire_lease(receipt)
        if lease is None:
            return ReceiptOutcome.BUSY
        lease_id, leased_etag = lease
        try:
            # Completing changes the receipt's ETag: one still as we created it is incomplete.
            if (created is None or leased_etag != created) and _read(receipt) is True:
                _release_lease(receipt, lease_id)
                return ReceiptOutcome.ALREADY_DONE
            enqueue()
            receipt.set_blob_metadata({}, lease=lease_id)
        except BaseException:
            _release_lease(receipt, lease_id)
            raise
        # A complete receipt is never leased again (a claim reads it complete first), so its
        # lease is left to lapse instead of costing a request per blob.
        return ReceiptOutcome.ENQUEUED


def _read(receipt: BlobClient) -> bool | None:
    """True if complete, False if incomplete, None if there is no receipt."""
    try:
        properties = receipt.get_blob_properties()
    except ResourceNotFoundError:
        return None
    metadata = {k.lower(): v for k, v in (properties.metadata or {}).items()}
    return INCOMPLETE_KEY.lower() not in metadata


def _create(container: ContainerClient, receipt: BlobClient) -> str | None:
    """Create an incomplete receipt and return its ETag; None if one exists already."""
    for attempt in range(2):
        try:
            made = receipt.upload_blob(b"", metadata={INCOMPLETE_KEY: "true"}, overwrite=False)
            return str(made.get("etag") or "")
        except ResourceExistsError:
            return None
        except ResourceNotFoundError:
            if attempt:
                raise
            # The hosts container went missing (deleted while running): make it again.
            with contextlib.suppress(ResourceExistsError):
                container.create_container()
    return None


def _acquire_lease(receipt: BlobClient) -> tuple[str, str] | None:
    """The lease id and the receipt's ETag when leased; None if another claimant holds it."""
    try:
        lease = receipt.acquire_lease(lease_duration=LEASE_SECONDS)
    except ResourceNotFoundError:
        return None
    except HttpResponseError as e:
        if e.status_code == 409:  # LeaseAlreadyPresent
            return None
        raise
    return str(lease.id), str(lease.etag or "")


def _release_lease(receipt: BlobClient, lease_id: str) -> None:
    try:
        BlobLeaseClient(receipt, lease_id=lease_id).release()
    except (ResourceNotFoundError, HttpResponseError) as e:
        log.debug("receipt lease release skipped: %s", e)
