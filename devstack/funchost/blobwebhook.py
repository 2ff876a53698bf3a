"""The blobs extension's webhook,
``POST /runtime/webhooks/blobs?functionName=Host.Functions.<name>``, where an Event Grid
subscription delivers blob storage events for an EventGrid-source blob trigger, as in the
real host.

``aeg-event-type: SubscriptionValidation`` is answered 200 with ``{"validationResponse":
<code>}``; ``Notification`` carries a JSON array (or one object) of events. Like the real
host, each ``Microsoft.Storage.BlobCreated`` event becomes one message on the host's blob
trigger queue (``BlobTriggerMessage`` with the event's container, blob, blob type and ETag;
no blob receipt is written), so the blob trigger processor invokes the function with its
usual checks, retries and poison queue; the answer is 202. Unlike the real host, an event for
another event type, or for a blob outside the trigger's container and path, is ignored
rather than queued. ``Unsubscribe`` gets 202, anything else 400. The key check (the
``blobs_extension`` system key or the master key) is the HTTP listener's.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from azure.storage.blob import BlobClient

from devstack.funchost.blobqueue import BlobTriggerMessage, BlobWorkQueue
from devstack.funchost.catalog import BlobFunction
from devstack.funchost.httpfunctions import Reply
from devstack.funchost.storage import normalize_etag

log = logging.getLogger(__name__)

EXTENSION = "blobs"
SYSTEM_KEY = f"{EXTENSION}_extension"
BLOB_CREATED = "Microsoft.Storage.BlobCreated"
_JSON = [("Content-Type", "application/json; charset=utf-8")]


class BlobWebhook:
    """Turns delivered events into blob trigger work for the functions it serves."""

    def __init__(self, functions: Iterable[BlobFunction], queue: BlobWorkQueue) -> None:
        self._functions: dict[str, BlobFunction] = {}
        for function in functions:  # the real host answers to the id and the short name
            self._functions[function.function_id] = function
            self._functions[function.name] = function
        self._queue = queue

    @property
    def functions(self) -> list[BlobFunction]:
        unique = {f.function_id: f for f in self._functions.values()}
        return [unique[k] for k in sorted(unique)]

    def handle(self, query: Mapping[str, str], headers: Mapping[str, str], body: bytes) -> Reply:
        """The reply to one delivery (the key was checked already)."""
        function = self._functions.get(query.get("functionName", ""))
        if function is None:
            message = {"error": "functionName names no EventGrid-source blob trigger"}
            return Reply(404, _JSON, json.dumps(message).encode())
        kind = {k.lower(): v for k, v in headers.items()}.get("aeg-event-type", "").lower()
        try:
            parsed = kind in ("subscriptionvalidation", "notification")
            document = json.loads(body) if parsed else None
        except ValueError:
            return Reply(400, _JSON, b'{"error": "the body is not JSON"}')
        if kind == "subscriptionvalidation":
            return self._validate(function, document)
        if kind == "notification":
            events = document if isinstance(document, list) else [document]
            return self._notify(function, events)
        return Reply(202 if kind == "unsubscribe" else 400, [], b"")

    def _validate(self, function: BlobFunction, document: Any) -> Reply:
        first = document[0] if isinstance(document, list) and document else document
        data = first.get("data") if isinstance(first, dict) else None
        if isinstance(data, str):  # CloudEvents double-encode it
            try:
                data = json.loads(data)
            except ValueError:
                data = None
        code = data.get("validationCode") if isinstance(data, dict) else None
        if not code:
            return Reply(400, _JSON, b'{"error": "no validationCode"}')
        log.info("handshake with Event Grid for function %s", function.name)
        return Reply(200, _JSON, json.dumps({"validationResponse": code}).encode())

    def _notify(self, function: BlobFunction, events: list[Any]) -> Reply:
        received_at = time.time()
        for event in events:
            work = self._work(function, event)
            if work is None:
                continue
            started = time.monotonic()
            message_id = self._queue.send(work)  # a failure answers 500: Event Grid retries
            log.info(
                "blob event %s/%s for %s: message %s on %s",
                work.container,
                work.blob_name,
                function.name,
                message_id,
                self._queue.name,
                extra={
                    "fields": {
                        "event": "blob_enqueued",
                        "source": "EventGrid",
                        "function": function.name,
                        "blob": f"{work.container}/{work.blob_name}",
                        "etag": work.etag,
                        "message_id": message_id,
                        "event_id": str(event.get("id", "")),
                        # When the delivery arrived (epoch seconds), and how long queueing took.
                        "received_at": round(received_at, 3),
                        "claim_ms": round((time.monotonic() - started) * 1000, 1),
                    }
                },
            )
        return Reply(202, [], b"")

    def _work(self, function: BlobFunction, event: Any) -> BlobTriggerMessage | None:
        """The queue message for one event, or None when the trigger does not take it."""
        data = event.get("data") if isinstance(event, dict) else None
        if not isinstance(data, dict) or event.get("eventType") != BLOB_CREATED:
            log.debug("event %s ignored: not a BlobCreated event", event)
            return None
        try:
            blob = BlobClient.from_blob_url(str(data["url"]))
            etag = str(data["eTag"])
        except (KeyError, ValueError) as e:
            log.warning("BlobCreated event %s ignored: %s", event.get("id"), e)
            return None
        name = blob.blob_name
        if blob.container_name != function.path.container or function.path.match(name) is None:
            log.info(
                "event for %s/%s ignored: not on %s's path %s",
                blob.container_name,
                name,
                function.name,
                function.path.text,
            )
            return None
        return BlobTriggerMessage(
            function_id=function.function_id,
            blob_type=str(data.get("blobType") or "BlockBlob"),
            container=blob.container_name,
            blob_name=name,
            etag=normalize_etag(etag),
        )
