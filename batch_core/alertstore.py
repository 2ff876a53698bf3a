"""The alerts port on Cosmos `alerts` and a webhook: each alert is recorded (id = hash of
kind, subject and run, so a repeat is a no-op), logged as a structured line, and posted to
the webhook (generic JSON, Teams or Slack) when one is configured; what the webhook did not
take is posted again, and a webhook that keeps refusing raises its own alert."""

from __future__ import annotations

import datetime as dt
import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from azure.core.exceptions import AzureError
from azure.cosmos import ContainerProxy
from azure.cosmos.exceptions import CosmosResourceExistsError

from batch_core.alerts import Alert, webhook_body, webhook_failing_alert
from batch_core.clock import iso, utcnow
from batch_core.cosmosdb import translate
from batch_core.settings import Settings

log = logging.getLogger(__name__)
WEBHOOK_TIMEOUT_SECONDS = 10
# An alert the webhook has not taken for this long means the webhook is failing.
WEBHOOK_FAILING_AFTER = dt.timedelta(minutes=10)


class Alerts:
    """The alerts port on Cosmos `alerts` and the webhook."""

    # An alert about the webhook itself is stored but not posted to it.
    _UNPOSTED = frozenset({"webhook"})

    def __init__(
        self,
        container: ContainerProxy,
        webhook_url: str | None,
        kind: str,
        status_url: str | None = None,
    ) -> None:
        self._c = container
        self._url = webhook_url
        self._kind = kind
        self._status_url = status_url

    @classmethod
    def build(cls, container: ContainerProxy, settings: Settings) -> Alerts:
        """Alerts stored in `container`, posted to the webhook the settings name (if any)."""
        return cls(
            container, settings.alert_webhook_url, settings.alert_webhook_kind, settings.status_url
        )

    def raise_alert(self, alert: Alert) -> bool:
        """Record and deliver `alert`; False if the same alert was raised before. The record
        comes first and says whether the webhook took it, so a failed delivery is tried again
        (`redeliver`) instead of being lost behind the duplicate check."""
        posts = bool(self._url) and alert.kind not in self._UNPOSTED
        doc = alert.to_doc() | {"delivered": False if posts else None}
        try:
            stored = self._c.create_item(doc)
        except CosmosResourceExistsError:
            return False
        except AzureError as e:
            raise translate(e, f"record alert {alert.kind} {alert.subject}") from e
        log.error(
            "ALERT %s %s: %s",
            alert.kind,
            alert.subject,
            alert.message,
            extra={"alert": doc},
        )
        if posts:
            self._deliver(stored)
        return True

    def redeliver(self, now: dt.datetime | None = None, limit: int = 20) -> int:
        """Post again the alerts the webhook has not taken yet; return how many went through.
        When one has waited past WEBHOOK_FAILING_AFTER, the webhook is failing: that is
        recorded as an alert of its own, once a day (it cannot be posted, but it is logged,
        in `dropbatch alerts` and on the status page)."""
        if not self._url:
            return 0
        query = f"SELECT TOP {int(limit)} * FROM c WHERE c.delivered = false ORDER BY c.at"
        try:
            pending = list(self._c.query_items(query, enable_cross_partition_query=True))
        except AzureError as e:
            raise translate(e, "list undelivered alerts") from e
        delivered = sum(self._deliver(doc) for doc in pending)
        now = now or utcnow()
        stale = [d for d in pending if str(d.get("at", "")) < iso(now - WEBHOOK_FAILING_AFTER)]
        if delivered == 0 and stale:
            host = urllib.parse.urlsplit(self._url).netloc or "the webhook"
            self.raise_alert(webhook_failing_alert(host, len(pending), str(stale[0]["at"]), now))
        return delivered

    def _deliver(self, doc: dict[str, Any]) -> bool:
        if not self._post(doc):
            return False
        try:
            self._c.replace_item(doc["id"], {**doc, "delivered": True})
        except AzureError as e:
            # Delivered but not marked: the worst case is one repeat on the next tick.
            log.warning("alert %s delivered but not marked: %s", doc["id"], e)
        return True

    def recent(self, limit: int = 50) -> list[dict[str, Any]]:
        query = f"SELECT TOP {int(limit)} * FROM c ORDER BY c.at DESC"
        try:
            return list(self._c.query_items(query, enable_cross_partition_query=True))
        except AzureError as e:
            raise translate(e, "list alerts") from e

    def _post(self, doc: dict[str, Any]) -> bool:
        if not self._url:
            return False
        body = json.dumps(webhook_body(self._kind, doc, self._status_url)).encode()
        request = urllib.request.Request(
            self._url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:
                response.read()
        except (urllib.error.URLError, TimeoutError, OSError) as e:
            # The alert is recorded in Cosmos either way, and delivery is tried again.
            log.warning("alert webhook failed for %s %s: %s", doc["kind"], doc["subject"], e)
            return False
        return True
