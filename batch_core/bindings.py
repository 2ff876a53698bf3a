"""Trigger bindings parsed into typed values (what function_app hands to batch_core)."""

from __future__ import annotations

import logging

from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.storage.blob import BlobClient

from batch_core.blobstore import BlobRef, translate
from batch_core.keys import normalize_etag

log = logging.getLogger(__name__)


def blob_ref(client: BlobClient) -> BlobRef | None:
    """Name, etag, size and metadata of the blob that fired the trigger, read from its
    properties: the content is never downloaded. None if the blob is gone already."""
    try:
        props = client.get_blob_properties()
    except ResourceNotFoundError:
        log.info(
            "%s/%s was deleted before its trigger ran", client.container_name, client.blob_name
        )
        return None
    except AzureError as e:
        raise translate(e, f"read properties of {client.container_name}/{client.blob_name}") from e
    return BlobRef(
        container=client.container_name,
        name=client.blob_name,
        etag=normalize_etag(str(props.etag)),
        size=int(props.size),
        last_modified=props.last_modified,
        metadata={str(k): str(v) for k, v in (props.metadata or {}).items()},
    )
