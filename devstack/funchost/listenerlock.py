"""The singleton listener lock that keeps one timer running across hosts sharing storage.

As in the real host, a timer listener runs only while it holds a lease on the blob
``azure-webjobs-hosts/locks/{hostId}/{functionId}.Listener``. A host that cannot get the
lease retries now and then; the holder renews it in the background and releases it when
it stops, so a gracefully stopped host hands over at once and a killed one within the
lease period.
"""

from __future__ import annotations

import contextlib
import logging
import threading

from azure.core.exceptions import AzureError, HttpResponseError, ResourceExistsError
from azure.storage.blob import BlobLeaseClient

from devstack.funchost.storage import HOSTS_CONTAINER, StorageAccount

log = logging.getLogger(__name__)

# The shortest lease storage grants; the real host's default (60 s) would make a killed
# local host's timers wait a minute before another host takes over.
LEASE_SECONDS = 15
_RENEW_EVERY = LEASE_SECONDS / 3


class ListenerLock:
    """A leased lock blob; ``lost`` is set if a renewal fails while held."""

    def __init__(self, account: StorageAccount, host_id: str, lock_id: str) -> None:
        self.name = f"locks/{host_id}/{lock_id}"
        self._blob = account.container(HOSTS_CONTAINER).get_blob_client(self.name)
        self._lease: BlobLeaseClient | None = None
        self._released = threading.Event()
        self.lost = threading.Event()

    def try_acquire(self) -> bool:
        if self._lease is not None:
            return True
        # The lock blob may already exist, and may be leased by another host: both refuse.
        with contextlib.suppress(ResourceExistsError, HttpResponseError):
            self._blob.upload_blob(b"", overwrite=False)
        lease = BlobLeaseClient(self._blob)
        try:
            lease.acquire(lease_duration=LEASE_SECONDS)
        except HttpResponseError as e:
            if e.status_code == 409:  # LeaseAlreadyPresent: another host holds it
                return False
            raise
        self._lease = lease
        self._released.clear()
        self.lost.clear()
        threading.Thread(
            target=self._keep, args=(lease,), name=f"lock-{self.name}", daemon=True
        ).start()
        log.info("acquired listener lock %s", self.name)
        return True

    def _keep(self, lease: BlobLeaseClient) -> None:
        while not self._released.wait(_RENEW_EVERY):
            try:
                lease.renew()
            except AzureError as e:
                log.warning("lost listener lock %s: %s", self.name, e)
                self._lease = None
                self.lost.set()
                return

    def release(self) -> None:
        lease, self._lease = self._lease, None
        self._released.set()
        if lease is not None:
            try:
                lease.release()
            except AzureError as e:
                log.debug("listener lock %s release skipped: %s", self.name, e)
