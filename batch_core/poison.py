"""The host's poison queue for blob triggers: a file whose trigger failed every try. Each
message becomes an alert (the sweep still submits the file, so nothing is lost)."""

from __future__ import annotations

import base64
import binascii
import json
import logging
from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.storage.queue import QueueClient

from batch_core.blobstore import translate
from batch_core.settings import Settings

log = logging.getLogger(__name__)
POISON_QUEUE = "webjobs-blobtrigger-poison"
BATCH = 32


@dataclass(frozen=True)
class PoisonMessage:
    """A blob event the Functions host gave up on, as read from the poison queue."""

    container: str
    name: str
    etag: str
    function: str
    message_id: str
    pop_receipt: str


def decode(text: str) -> dict[str, Any] | None:
    """The host writes JSON, base64-encoded by default; accept both."""
    for candidate in (text, _unbase64(text)):
        if candidate is None:
            continue
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def _unbase64(text: str) -> str | None:
    try:
        return base64.b64decode(text.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


class PoisonQueue:
    """The poison port over the storage queue the Functions host moves failed blob events to."""

    def __init__(self, client: QueueClient) -> None:
        self._q = client

    @classmethod
    def build(cls, settings: Settings) -> PoisonQueue:
        """The poison queue of the storage account the settings name."""
        access = settings.storage
        return cls(
            QueueClient(
                access.queue_endpoint, POISON_QUEUE, credential=access.credential(settings.identity)
            )
        )

    def take(self) -> list[PoisonMessage]:
        """Up to BATCH messages, hidden for a while; delete() each once handled."""
        try:
            raw = list(self._q.receive_messages(max_messages=BATCH, visibility_timeout=300))
        except ResourceNotFoundError:
            return []  # no trigger has ever been poisoned
        except AzureError as e:
            raise translate(e, f"read queue {POISON_QUEUE}") from e
        found = []
        for m in raw:
            body = decode(str(m.content)) or {}
            found.append(
                PoisonMessage(
                    container=str(body.get("ContainerName", "?")),
                    name=str(body.get("BlobName", "?")),
                    etag=str(body.get("ETag", "")).strip('"'),
                    function=str(body.get("FunctionId", "?")),
                    message_id=m.id,
                    pop_receipt=str(m.pop_receipt),
                )
            )
        return found

    def delete(self, message: PoisonMessage) -> None:
        try:
            self._q.delete_message(message.message_id, message.pop_receipt)
        except AzureError as e:
            raise translate(e, f"delete message from {POISON_QUEUE}") from e
