"""The blob trigger work queue and its processor, as the real host runs them.

The scanner puts one message per new blob version on ``azure-webjobs-blobtrigger-{hostId}``
(``{"Type":"BlobTrigger","FunctionId":...,"BlobType":...,"ContainerName":...,
"BlobName":...,"ETag":...}``), so work survives a restart. The processor takes messages
up to ``maxDegreeOfParallelism`` at a time and, per message: skips it if the function is
gone, the blob vanished or its ETag changed (the newer version has its own message);
otherwise invokes the function. Success deletes the message; a failure makes it visible
again at once, and the failure that reaches ``maxDequeueCount`` moves it to
``webjobs-blobtrigger-poison`` in the blob's storage account.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.storage.queue import QueueMessage

from devstack.funchost.blobstream import DownloadCounter, LazyBlobStream, properties_document
from devstack.funchost.catalog import ArgumentKind, BlobFunction
from devstack.funchost.invoker import Invoker
from devstack.funchost.sdkbinding import sdk_argument
from devstack.funchost.storage import (
    BLOB_TRIGGER_POISON_QUEUE,
    BLOB_TRIGGER_QUEUE_PREFIX,
    MessageCodec,
    StorageAccount,
    normalize_etag,
)

log = logging.getLogger(__name__)

# How long a taken message stays invisible; renewed while the function runs, so a
# crashed host's work reappears within this time.
VISIBILITY_SECONDS = 60


@dataclass(frozen=True)
class BlobTriggerMessage:
    """The real host's blob trigger queue message."""

    function_id: str
    blob_type: str
    container: str
    blob_name: str
    etag: str

    def to_json(self) -> str:
        return json.dumps(
            {
                "Type": "BlobTrigger",
                "FunctionId": self.function_id,
                "BlobType": self.blob_type,
                "ContainerName": self.container,
                "BlobName": self.blob_name,
                "ETag": self.etag,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> BlobTriggerMessage:
        document = json.loads(text)
        if not isinstance(document, dict):
            raise ValueError("a blob trigger message must be a JSON object")
        try:
            return cls(
                function_id=str(document["FunctionId"]),
                blob_type=str(document.get("BlobType") or "BlockBlob"),
                container=str(document["ContainerName"]),
                blob_name=str(document["BlobName"]),
                etag=str(document["ETag"]),
            )
        except KeyError as e:
            raise ValueError(f"blob trigger message lacks {e}") from e


def _with_content(function: BlobFunction) -> Callable[..., Any]:
    """The function, fed bytes or text when it asks for them instead of a stream.

    The read happens inside the invocation, so a failed download is a failed invocation.
    """
    if function.argument_kind is ArgumentKind.STREAM:
        return function.call
    if function.argument_kind is ArgumentKind.SDK:
        sdk_type = function.sdk_type
        assert sdk_type is not None

        def call_with_client(**kwargs: Any) -> Any:
            container, _, blob_name = str(kwargs[function.argument].name).partition("/")
            client = sdk_argument(sdk_type, function.connection, container, blob_name)
            return function.call(**{**kwargs, function.argument: client})

        return call_with_client

    def call(**kwargs: Any) -> Any:
        content = kwargs[function.argument].read()
        if function.argument_kind is ArgumentKind.TEXT:
            content = content.decode("utf-8")
        return function.call(**{**kwargs, function.argument: content})

    return call


class BlobWorkQueue:
    """``azure-webjobs-blobtrigger-{hostId}`` in the host storage account."""

    def __init__(self, account: StorageAccount, host_id: str, codec: MessageCodec) -> None:
        self.name = f"{BLOB_TRIGGER_QUEUE_PREFIX}{host_id}"
        self.account = account
        self.client = account.queue(self.name)
        self.codec = codec
        # Set when this host sends work, so its processor looks at once instead of at its
        # next poll (the real host's queue watcher does the same for its own messages).
        self._sent = threading.Event()

    def ensure(self) -> None:
        self.account.ensure_queue(self.name)

    def send(self, message: BlobTriggerMessage) -> str:
        sent = self.client.send_message(self.codec.encode(message.to_json()))
        self._sent.set()
        return str(sent.id)

    def wait_sent(self, timeout: float) -> None:
        """Wait until this host sends work or `timeout` passes."""
        self._sent.wait(timeout)
        self._sent.clear()


class _Lease:
    """The current pop receipt of a message being processed (renewals replace it)."""

    def __init__(self, message: QueueMessage) -> None:
        self.id = message.id
        self.pop_receipt = message.pop_receipt


class BlobTriggerProcessor:
    """Takes work messages and invokes blob functions, with retries and a poison queue."""

    def __init__(
        self,
        queue: BlobWorkQueue,
        functions: Mapping[str, BlobFunction],
        accounts: Mapping[str, StorageAccount],
        invoker: Invoker,
        counter: DownloadCounter,
        *,
        max_dequeue_count: int,
        parallelism: int,
        poll_seconds: float,
    ) -> None:
        self._queue = queue
        self._functions = functions
        self._accounts = accounts
        self._invoker = invoker
        self._counter = counter
        self._max_dequeue_count = max_dequeue_count
        self._parallelism = parallelism
        self._poll_seconds = poll_seconds
        self._in_flight = 0
        self._slots = threading.Condition()

    def run(self, stop: threading.Event) -> None:
        """Poll until ``stop`` is set; each message is handled on its own thread."""
        while not stop.is_set():
            with self._slots:
                self._slots.wait_for(lambda: self._in_flight < self._parallelism, 1.0)
                free = self._parallelism - self._in_flight
            if free <= 0 or stop.is_set():
                continue
            try:
                messages = list(
                    self._queue.client.receive_messages(
                        messages_per_page=min(32, free),
                        max_messages=min(32, free),
                        visibility_timeout=VISIBILITY_SECONDS,
                    )
                )
            except Exception as e:  # storage hiccups must not end processing
                log.warning("receiving from %s failed: %s", self._queue.name, e)
                stop.wait(self._poll_seconds)
                continue
            for message in messages:
                with self._slots:
                    self._in_flight += 1
                threading.Thread(
                    target=self._handle_counted,
                    args=(message,),
                    daemon=True,
                    name=f"blob-message-{message.id}",
                ).start()
            if not messages and not stop.is_set():
                self._queue.wait_sent(self._poll_seconds)

    def wait_idle(self, timeout: float | None) -> bool:
        with self._slots:
            return self._slots.wait_for(lambda: self._in_flight == 0, timeout)

    def _handle_counted(self, message: QueueMessage) -> None:
        try:
            self._handle(message)
        except Exception:
            log.exception("handling blob trigger message %s failed; it will be retried", message.id)
        finally:
            with self._slots:
                self._in_flight -= 1
                self._slots.notify_all()

    def _handle(self, message: QueueMessage) -> None:
        taken = time.monotonic()
        lease = _Lease(message)
        text = self._queue.codec.decode(str(message.content))
        try:
            work = BlobTriggerMessage.from_json(text)
        except ValueError as e:
            log.error("invalid blob trigger message %s: %s", message.id, e)
            self._fail(message, lease, text, None)
            return
        function = self._functions.get(work.function_id)
        if function is None:
            log.info("message %s is for unknown function %s; deleted", message.id, work.function_id)
            self._delete(lease)
            return
        account = self._accounts[work.function_id]
        if (message.dequeue_count or 1) > self._max_dequeue_count:
            self._poison(message, lease, text, account, function.name)
            return
        blob = account.container(work.container).get_blob_client(work.blob_name)
        try:
            properties = blob.get_blob_properties()
        except ResourceNotFoundError:
            log.info(
                "blob %s/%s is gone; message %s deleted", work.container, work.blob_name, message.id
            )
            self._delete(lease)
            return
        etag = normalize_etag(str(properties.etag))
        if etag != normalize_etag(work.etag):
            log.info(
                "blob %s/%s changed since %s; its newer version triggers separately",
                work.container,
                work.blob_name,
                work.etag,
            )
            self._delete(lease)
            return
        check_ms = round((time.monotonic() - taken) * 1000, 1)
        self._invoke(function, message, lease, text, account, blob, properties, etag, check_ms)

    def _invoke(
        self,
        function: BlobFunction,
        message: QueueMessage,
        lease: _Lease,
        text: str,
        account: StorageAccount,
        blob: Any,
        properties: Any,
        etag: str,
        check_ms: float,
    ) -> None:
        stream = LazyBlobStream(
            blob,
            etag,
            name=f"{blob.container_name}/{blob.blob_name}",
            uri=blob.url,
            length=properties.size,
            blob_properties=properties_document(properties),
            metadata=properties.metadata or {},
            counter=self._counter,
        )
        result = self._invoker.invoke(
            function.name,
            _with_content(function),
            {function.argument: stream},
            wants_context=function.wants_context,
            fields={
                "trigger": "blob",
                "blob": stream.name,
                "etag": etag,
                "dequeue_count": message.dequeue_count,
                "message_id": message.id,
                # Reading the message and the blob's properties before the invocation.
                "check_ms": check_ms,
            },
            heartbeat=lambda: self._renew(lease),
            after=lambda: {"content_downloads": stream.downloads},
        )
        if result.succeeded:
            self._delete(lease)
        else:
            self._fail(message, lease, text, (account, function.name))

    def _fail(
        self,
        message: QueueMessage,
        lease: _Lease,
        text: str,
        target: tuple[StorageAccount, str] | None,
    ) -> None:
        if (message.dequeue_count or 1) >= self._max_dequeue_count:
            account, name = target if target is not None else (None, None)
            self._poison(message, lease, text, account, name)
            return
        try:
            self._queue.client.update_message(lease.id, lease.pop_receipt, visibility_timeout=0)
        except AzureError as e:
            log.warning("could not release message %s for retry: %s", lease.id, e)

    def _poison(
        self,
        message: QueueMessage,
        lease: _Lease,
        text: str,
        account: StorageAccount | None,
        function_name: str | None,
    ) -> None:
        # The real host writes to the poison queue of the blob's own account.
        poison = (account or self._queue.account).ensure_queue(BLOB_TRIGGER_POISON_QUEUE)
        poison.send_message(self._queue.codec.encode(text))
        self._delete(lease)
        log.error(
            "message %s moved to %s after %s dequeues",
            message.id,
            BLOB_TRIGGER_POISON_QUEUE,
            message.dequeue_count,
            extra={
                "fields": {
                    "event": "poison",
                    "function": function_name,
                    "message_id": message.id,
                    "dequeue_count": message.dequeue_count,
                    "queue": BLOB_TRIGGER_POISON_QUEUE,
                }
            },
        )

    def _renew(self, lease: _Lease) -> None:
        try:
            renewed = self._queue.client.update_message(
                lease.id, lease.pop_receipt, visibility_timeout=VISIBILITY_SECONDS
            )
            lease.pop_receipt = renewed.pop_receipt
        except AzureError as e:
            log.warning("could not extend message %s: %s", lease.id, e)

    def _delete(self, lease: _Lease) -> None:
        try:
            self._queue.client.delete_message(lease.id, lease.pop_receipt)
        except ResourceNotFoundError:
            log.debug("message %s was already gone", lease.id)
