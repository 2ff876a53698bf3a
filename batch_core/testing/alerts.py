"""Alerts in memory: recorded by id (a repeat is a no-op), and the webhook's deliveries kept
in a list. The webhook can be set down to see delivery tried again."""

from __future__ import annotations

import logging
from typing import Any

from batch_core.alerts import Alert, webhook_body
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
        if alert.id in self.docs:
            return False
        doc = alert.to_doc() | {"delivered": False if self.webhook_kind else None}
        self.docs[alert.id] = doc
        log.error("ALERT %s %s: %s", alert.kind, alert.subject, alert.message)
        if self.webhook_kind:
            self._deliver(doc)
        return True

    def redeliver(self, limit: int = 20) -> int:
        self._request("query_undelivered")
        if not self.webhook_kind:
            return 0
        pending = sorted(
            (d for d in self.docs.values() if d["delivered"] is False), key=lambda d: d["at"]
        )[:limit]
        return sum(self._deliver(doc) for doc in pending)

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
