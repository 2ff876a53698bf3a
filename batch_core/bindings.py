"""Trigger bindings parsed into typed values (what function_app hands to batch_core)."""

from __future__ import annotations

import azure.functions as func

from batch_core.blobstore import BlobRef
from batch_core.keys import normalize_etag


def blob_ref(blob: func.InputStream) -> BlobRef:
    """Name, etag, size and metadata of the blob that fired the trigger; never its content."""
    container, _, name = (blob.name or "").partition("/")
    # The runtime's InputStream carries these; the abstract type does not declare them.
    props = getattr(blob, "blob_properties", None) or {}
    etag = props.get("ETag") or props.get("Etag") or props.get("etag") or ""
    if not etag:
        raise ValueError(f"blob trigger for {blob.name} carried no ETag property")
    metadata = getattr(blob, "metadata", None) or {}
    return BlobRef(
        container=container,
        name=name,
        etag=normalize_etag(str(etag)),
        size=int(blob.length or props.get("Length") or 0),
        metadata={str(k): str(v) for k, v in metadata.items()},
    )
