"""SDK-type bindings ("deferred binding"): a blob function that asks for an SDK client such as
`azurefunctions.extensions.bindings.blob.BlobClient` gets a client for the blob, and no
content at all. As the real Python worker does, the host hands the extension's own converter
a `model_binding_data` datum naming the connection, container and blob, and passes on what
the converter returns."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any


def is_sdk_type(annotation: object) -> bool:
    """Whether a parameter annotation is an SDK type some installed extension converts."""
    try:
        from azurefunctions.extensions.base import meta
    except ImportError:  # no binding extension installed: no SDK types
        return False
    return isinstance(annotation, type) and bool(
        meta.get_binding_registry().check_supported_type(annotation)
    )


def sdk_argument(annotation: type, connection: str, container: str, blob_name: str) -> Any:
    from azurefunctions.extensions.base import Datum, meta

    model = SimpleNamespace(
        version="1.0",
        source="AzureStorageBlobs",
        content_type="application/json",
        content=json.dumps(
            {"Connection": connection, "ContainerName": container, "BlobName": blob_name}
        ),
    )
    converter = meta.get_binding_registry().get("blobTrigger")
    if converter is None:
        raise RuntimeError(f"no binding extension converts {annotation.__name__} for blobTrigger")
    return converter.decode(
        Datum(type="model_binding_data", value=model), trigger_metadata={}, pytype=annotation
    )
