"""Alerts in memory: recorded by id (a repeat is a no-op), and the webhook's deliveries kept
in a list. The webhook can be set down to see delivery tried again."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from batch_core.alerts import Alert, AlertKind, webhook_body, webhook_failing_alert
from batch_core.alertstore import WEBHOOK_FAILING_AFTER
from batch_core.clock import iso, utcnow
from batch_core.testing.twin import Twin

log = logging.getLogger(__name__)


class MemoryAlerts(Twin):
    """An `AlertsPort`. With `webhook_kind` set there is a webhook: `deliveries` holds the
    bodies it took, in order; while `webhook_down` is true it takes none."""

    def __init__(self, webhook_kind: str | None = None) -> None:
        super().__init__()
        self.docs: dict[str, dict[str, Any]] = {}
        self.webhook_kind = webhook_kind
        self.webhook_down = False
        self.deliveries: list[dict[str, Any]] = []

    def raise_alert(self, alert: Alert) -> bool:
        self._request("record", alert.id)
        if alert.kind == AlertKind.WEBHOOK and alert.id not in self.docs:
            self.docs[alert.id] = alert.to_doc() | {"delivered": None}  # never posted
            return True
        if alert.id in self.docs:
            return False
        doc = alert.to_doc() | {"delivered": False if self.webhook_kind else None}
        self.docs[alert.id] = doc
        log.error("ALERT %s %s: %s", alert.kind, alert.subject, alert.message)
        if self.webhook_kind:
            self._deliver(doc)
        return True

    def redeliver(self, now: dt.datetime | None = None, limit: int = 20) -> int:
        self._request("query_undelivered")
        if not self.webhook_kind:
            return 0
        pending = sorted(
            (d for d in self.docs.values() if d["delivered"] is False), key=lambda d: d["at"]
        )[:limit]
        delivered = sum(self._deliver(doc) for doc in pending)
        now = now or utcnow()
        stale = [d for d in pending if str(d["at"]) < iso(now - WEBHOOK_FAILING_AFTER)]
        if delivered == 0 and stale:
            alert = webhook_failing_alert("the webhook", len(pending), str(stale[0]["at"]), now)
            self.raise_alert(alert)
        return delivered

    def recent(self, limit: int = 50) -> list[dict[str, Any]]:
        self._request("query")
        return sorted(self.docs.values(), key=lambda d: str(d["at"]), reverse=True)[:limit]

    def kinds(self, run_key: str | None = None) -> list[str]:
        """The kinds of the alerts raised (about `run_key`), in the order they were raised."""
        return [str(d["kind"]) for d in self.docs.values() if run_key in (None, d["run_key"])]

    def _deliver(self, doc: dict[str, Any]) -> bool:
        self._request("post")
        if self.webhook_down or not self.webhook_kind:
            return False
        self.deliveries.append(webhook_body(self.webhook_kind, doc))
        doc["delivered"] = True
        return True
