"""Event Grid delivery to webhook subscriptions, as Event Grid does it, bounded for a laptop.

A subscription has an endpoint, `includedEventTypes` and `subjectBeginsWith` /
`subjectEndsWith` filters. Creating one first runs the validation handshake: a
`Microsoft.EventGrid.SubscriptionValidationEvent` POSTed with `aeg-event-type:
SubscriptionValidation`, answered 200 with `{"validationResponse": code}`. Events are then
POSTed as a JSON array with `aeg-event-type: Notification`, up to `maxEventsPerBatch` per
request (1, as Event Grid's default), from background threads so a publisher never waits;
each thread keeps its connection to an endpoint open between deliveries, as Event Grid does.
Delivery is at least once: a non-2xx answer or a connection error is retried with backoff
(`RETRY_DELAYS`, about three minutes in all); 400, 403 and 413 are not retried, as in Event
Grid. An undeliverable batch is dead-lettered to one `"event": "dead_letter"` log line."""

from __future__ import annotations

import datetime as dt
import heapq
import http.client
import itertools
import json
import logging
import ssl
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

log = logging.getLogger(__name__)

RETRY_DELAYS = (1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 60.0)  # seconds before each retry
NOT_RETRIED = (400, 403, 413)
DELIVERY_TIMEOUT = 30.0
DELIVERY_THREADS = 8


@dataclass(frozen=True)
class Subscription:
    """An event subscription with a webhook endpoint (its query may carry a key)."""

    name: str
    endpoint: str
    included_event_types: tuple[str, ...] = ()
    subject_begins_with: str = ""
    subject_ends_with: str = ""
    max_events_per_batch: int = 1

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Subscription:
        try:
            name, endpoint = str(document["name"]), str(document["endpoint"])
        except KeyError as e:
            raise ValueError(f"a subscription needs {e}") from e
        if urlsplit(endpoint).scheme not in ("http", "https"):
            raise ValueError(f"subscription {name}: endpoint must be an http(s) URL")
        batch = int(document.get("maxEventsPerBatch") or 1)
        if not 1 <= batch <= 5000:
            raise ValueError(f"subscription {name}: maxEventsPerBatch must be 1..5000")
        return cls(
            name=name,
            endpoint=endpoint,
            included_event_types=tuple(document.get("includedEventTypes") or ()),
            subject_begins_with=str(document.get("subjectBeginsWith") or ""),
            subject_ends_with=str(document.get("subjectEndsWith") or ""),
            max_events_per_batch=batch,
        )

    def wants(self, event: Mapping[str, Any]) -> bool:
        subject = str(event.get("subject", ""))
        return (
            (not self.included_event_types or event.get("eventType") in self.included_event_types)
            and subject.startswith(self.subject_begins_with)
            and subject.endswith(self.subject_ends_with)
        )

    @property
    def redacted_endpoint(self) -> str:
        """The endpoint without its query (which carries the key): for logs."""
        parts = urlsplit(self.endpoint)
        return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


@dataclass(order=True)
class _Batch:
    due: float
    order: int
    subscription: Subscription = field(compare=False)
    events: list[dict[str, Any]] = field(compare=False)
    attempt: int = field(default=0, compare=False)


class Connections:
    """One delivery thread's kept-alive connections, by endpoint scheme and address."""

    def __init__(self, context: ssl.SSLContext | None) -> None:
        self._context = context
        self._open: dict[tuple[str, str], http.client.HTTPConnection] = {}

    def post(
        self, subscription: Subscription, kind: str, events: Sequence[Mapping[str, Any]]
    ) -> tuple[int, bytes]:
        """POST events to the endpoint; (status, body), status 0 when it could not be reached.
        A kept connection the endpoint closed meanwhile is opened again once."""
        parts = urlsplit(subscription.endpoint)
        target = urlunsplit(("", "", parts.path or "/", parts.query, ""))
        body = json.dumps(list(events)).encode()
        headers = {"Content-Type": "application/json", "aeg-event-type": kind}
        for fresh in (False, True):
            connection = self._connection(parts.scheme, parts.netloc, fresh)
            try:
                connection.request("POST", target, body=body, headers=headers)
                response = connection.getresponse()
                answer = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                connection.close()
                if not fresh:
                    continue  # the kept connection had been closed: once more, anew
                log.info("delivery to %s failed: connection closed", subscription.redacted_endpoint)
                return 0, b""
            except (OSError, http.client.HTTPException) as e:
                connection.close()
                log.info("delivery to %s failed: %s", subscription.redacted_endpoint, e)
                return 0, b""
            if response.will_close:
                connection.close()
            return int(response.status), answer
        return 0, b""

    def close(self) -> None:
        """Close every kept connection."""
        for connection in self._open.values():
            connection.close()
        self._open.clear()

    def _connection(self, scheme: str, netloc: str, fresh: bool) -> http.client.HTTPConnection:
        key = (scheme, netloc)
        kept = self._open.get(key)
        if kept is not None and not fresh:
            return kept
        if kept is not None:
            kept.close()
        connection: http.client.HTTPConnection
        if scheme == "https":
            connection = http.client.HTTPSConnection(
                netloc, timeout=DELIVERY_TIMEOUT, context=self._context
            )
        else:
            connection = http.client.HTTPConnection(netloc, timeout=DELIVERY_TIMEOUT)
        self._open[key] = connection
        return connection


def validate(subscription: Subscription, topic: str, connections: Connections) -> None:
    """The validation handshake; raises ValueError when the endpoint does not complete it."""
    code = str(uuid.uuid4())
    event = {
        "id": str(uuid.uuid4()),
        "topic": topic,
        "subject": "",
        "data": {"validationCode": code},
        "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
        "eventTime": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"),
        "metadataVersion": "1",
        "dataVersion": "2",
    }
    status, body = connections.post(subscription, "SubscriptionValidation", [event])
    try:
        answer = json.loads(body) if status == 200 else None
    except ValueError:
        answer = None
    if not isinstance(answer, dict) or answer.get("validationResponse") != code:
        raise ValueError(
            f"subscription {subscription.name}: {subscription.redacted_endpoint} did not "
            f"complete the validation handshake (status {status})"
        )


class EventDelivery:
    """Subscriptions and their pending batches; `publish` returns at once."""

    def __init__(self, context: ssl.SSLContext | None = None, threads: int = DELIVERY_THREADS):
        self._context = context
        self._subscriptions: dict[str, Subscription] = {}
        self._pending: list[_Batch] = []
        self._order = itertools.count()
        self._ready = threading.Condition()
        self.delivered = 0
        self.dead_lettered = 0
        for n in range(threads):
            worker = threading.Thread(target=self._deliver_forever, name=f"delivery-{n}")
            worker.daemon = True
            worker.start()

    def subscribe(self, subscription: Subscription, topic: str) -> None:
        """Validate, then add (or replace, by name) the subscription."""
        connections = Connections(self._context)
        try:
            validate(subscription, topic, connections)
        finally:
            connections.close()
        with self._ready:
            self._subscriptions[subscription.name] = subscription
        log.info(
            "subscription %s delivers to %s",
            subscription.name,
            subscription.redacted_endpoint,
            extra={"fields": {"event": "subscribed", "subscription": subscription.name}},
        )

    def subscriptions(self) -> list[dict[str, Any]]:
        with self._ready:
            subs = list(self._subscriptions.values())
        return [
            {
                "name": s.name,
                "endpoint": s.redacted_endpoint,
                "includedEventTypes": list(s.included_event_types),
                "subjectBeginsWith": s.subject_begins_with,
            }
            for s in subs
        ]

    def publish(self, event: dict[str, Any]) -> None:
        now = time.monotonic()
        with self._ready:
            for subscription in self._subscriptions.values():
                if subscription.wants(event):
                    self._append(subscription, event, now)
            self._ready.notify()

    def _append(self, subscription: Subscription, event: dict[str, Any], now: float) -> None:
        # Join a batch still waiting for its first attempt, as Event Grid batches.
        for batch in self._pending:
            if (
                batch.attempt == 0
                and batch.subscription is subscription
                and len(batch.events) < subscription.max_events_per_batch
            ):
                batch.events.append(event)
                return
        heapq.heappush(self._pending, _Batch(now, next(self._order), subscription, [event]))

    def _take(self) -> _Batch:
        with self._ready:
            while True:
                wait = None
                if self._pending:
                    wait = self._pending[0].due - time.monotonic()
                    if wait <= 0:
                        return heapq.heappop(self._pending)
                self._ready.wait(wait)

    def _deliver_forever(self) -> None:
        connections = Connections(self._context)
        while True:
            batch = self._take()
            try:
                self._deliver(batch, connections)
            except Exception:  # a bug must not stop delivery
                log.exception("delivering a batch failed")

    def _deliver(self, batch: _Batch, connections: Connections) -> None:
        with self._ready:  # a subscription updated since goes to its new endpoint
            batch.subscription = self._subscriptions.get(
                batch.subscription.name, batch.subscription
            )
        status, _ = connections.post(batch.subscription, "Notification", batch.events)
        if 200 <= status < 300:
            with self._ready:
                self.delivered += len(batch.events)
            return
        if status in NOT_RETRIED or batch.attempt >= len(RETRY_DELAYS):
            self._dead_letter(batch, status)
            return
        delay = RETRY_DELAYS[batch.attempt]
        log.info(
            "delivery of %d events to %s answered %s; retry %d in %.0f s",
            len(batch.events),
            batch.subscription.redacted_endpoint,
            status or "no connection",
            batch.attempt + 1,
            delay,
            extra={"fields": {"event": "delivery_retry", "status": status}},
        )
        batch.attempt += 1
        batch.due = time.monotonic() + delay
        with self._ready:
            heapq.heappush(self._pending, batch)
            self._ready.notify()

    def _dead_letter(self, batch: _Batch, status: int) -> None:
        with self._ready:
            self.dead_lettered += len(batch.events)
        log.error(
            "dead-lettered %d events for %s after %d attempts (last status %s)",
            len(batch.events),
            batch.subscription.name,
            batch.attempt + 1,
            status,
            extra={
                "fields": {
                    "event": "dead_letter",
                    "subscription": batch.subscription.name,
                    "attempts": batch.attempt + 1,
                    "status": status,
                    "subjects": [e.get("subject") for e in batch.events],
                }
            },
        )
