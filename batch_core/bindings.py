"""Trigger bindings parsed into typed values (what function_app hands to batch_core)."""

from __future__ import annotations

import logging

from azure.storage.blob import BlobClient

from batch_core.blobstore import BlobRef
from batch_core.ports import BlobsPort

log = logging.getLogger(__name__)


def blob_ref(client: BlobClient, blobs: BlobsPort) -> BlobRef | None:
    """Name, etag, size and metadata of the blob that fired the trigger, read from its
    properties with the app's own pooled client (the binding's client is one per
    invocation, a new connection each): the content is never downloaded. None if the blob
    is gone already."""
    ref = blobs.properties(client.container_name, client.blob_name)
    if ref is None:
        log.info(
            "%s/%s was deleted before its trigger ran", client.container_name, client.blob_name
        )
    return ref
