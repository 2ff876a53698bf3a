"""Alerts: an operator hears about failures once. Each alert is recorded in Cosmos
`alerts` (id = hash of kind and subject, so a repeat is a no-op), logged as a structured
line, and posted to a webhook (generic JSON, Teams or Slack) when one is configured."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from azure.core.exceptions import AzureError
from azure.cosmos import ContainerProxy
from azure.cosmos.exceptions import CosmosResourceExistsError

from batch_core.clock import iso
from batch_core.cosmosdb import translate
from batch_core.settings import Settings
from worker.contract import output_prefix

if TYPE_CHECKING:
    from batch_core.poison import PoisonMessage
    from batch_core.poolcheck import PoolProblem
    from batch_core.run import Run

log = logging.getLogger(__name__)
WEBHOOK_TIMEOUT_SECONDS = 10


class AlertKind(StrEnum):
    """What an alert is about; each kind has one builder below."""

    FAILED = "failed"
    STUCK = "stuck"
    POISON = "poison"
    POOL = "pool"


@dataclass(frozen=True)
class Alert:
    """One incident for an operator; `id` makes a repeat of the same incident a no-op."""

    kind: AlertKind
    subject: str  # what it is about, e.g. "incoming/data.csv"
    message: str  # what happened and what to do next
    at: dt.datetime
    run_key: str | None = None
    severity: str = "error"

    @property
    def id(self) -> str:
        """The alert's identity: the same kind, subject and run always give the same id, so raising
        it twice is seen."""
        return hashlib.sha256(f"{self.kind}|{self.subject}|{self.run_key}".encode()).hexdigest()[
            :40
        ]

    def to_doc(self) -> dict[str, Any]:
        """The alert as its stored document (schema version 1)."""
        return {
            "id": self.id,
            "schema_version": 1,
            "kind": self.kind,
            "subject": self.subject,
            "message": self.message,
            "severity": self.severity,
            "run_key": self.run_key,
            "at": iso(self.at),
        }


def failed_alert(run: Run, logs_container: str, now: dt.datetime) -> Alert:
    """A run ended failed: its reason, where its logs are, what to do."""
    prefix = output_prefix(run.name, run.key)
    return Alert(
        kind=AlertKind.FAILED,
        subject=f"{run.container}/{run.name}",
        message=(
            f"{run.reason}. Task logs: {logs_container}/{prefix}/. "
            "Fix the cause, then upload the file again to reprocess it."
        ),
        at=now,
        run_key=run.key,
    )


def stuck_alert(run: Run, now: dt.datetime, error: str | None = None) -> Alert:
    """A run has not moved for too long; `error` is the reconciler's own failure on it."""
    cause = (
        f"The reconciler fails on it: {error}."
        if error
        else "Check the pool has nodes and the task is not hung."
    )
    return Alert(
        kind=AlertKind.STUCK,
        subject=f"{run.container}/{run.name}",
        message=(
            f"run {run.key} has been {run.state.value} since {run.updated_at:%Y-%m-%d %H:%M}Z "
            f"(task {run.task_id} on job {run.job_id}). {cause} "
            "The reconciler keeps watching it."
        ),
        at=now,
        run_key=run.key,
        severity="warning",
    )


def poison_alert(message: PoisonMessage, now: dt.datetime) -> Alert:
    """The blob trigger failed on every try for a file (its poison-queue message)."""
    return Alert(
        kind=AlertKind.POISON,
        subject=f"{message.container}/{message.name}",
        message=(
            f"the blob trigger ({message.function}) failed on every try for this file "
            f"(etag {message.etag}). The reconciler's sweep submits it anyway; look at "
            "the function app's log for the trigger's error."
        ),
        at=now,
        run_key=message.etag or None,
        severity="warning",
    )


def pool_alert(problem: PoolProblem, now: dt.datetime) -> Alert:
    """A pool is missing or not as the routes file says (raised once per pool and property)."""
    return Alert(
        kind=AlertKind.POOL,
        subject=f"pool {problem.pool_id}",
        message=problem.message,
        at=now,
        run_key=f"{problem.alias}:{problem.property_name}",
        severity="error" if problem.property_name == "exists" else "warning",
    )


class Alerts:
    """The alerts port on Cosmos `alerts` and the webhook."""

    def __init__(self, container: ContainerProxy, webhook_url: str | None, kind: str) -> None:
        self._c = container
        self._url = webhook_url
        self._kind = kind

    @classmethod
    def build(cls, container: ContainerProxy, settings: Settings) -> Alerts:
        """Alerts stored in `container`, delivered to the webhook the settings name (if any)."""
        return cls(container, settings.alert_webhook_url, settings.alert_webhook_kind)

    def raise_alert(self, alert: Alert) -> bool:
        """Record and deliver `alert`; False if the same alert was raised before. The record
        comes first and says whether the webhook took it, so a failed delivery is tried again
        (`redeliver`) instead of being lost behind the duplicate check."""
        doc = alert.to_doc() | {"delivered": False if self._url else None}
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
        if self._url:
            self._deliver(stored)
        return True

    def redeliver(self, limit: int = 20) -> int:
        """Post again the alerts the webhook has not taken yet; return how many went through."""
        if not self._url:
            return 0
        query = f"SELECT TOP {int(limit)} * FROM c WHERE c.delivered = false ORDER BY c.at"
        try:
            pending = list(self._c.query_items(query, enable_cross_partition_query=True))
        except AzureError as e:
            raise translate(e, "list undelivered alerts") from e
        return sum(self._deliver(doc) for doc in pending)

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
        """At most `limit` stored alerts, newest first."""
        query = f"SELECT TOP {int(limit)} * FROM c ORDER BY c.at DESC"
        try:
            return list(self._c.query_items(query, enable_cross_partition_query=True))
        except AzureError as e:
            raise translate(e, "list alerts") from e

    def _post(self, doc: dict[str, Any]) -> bool:
        if not self._url:
            return False
        body = json.dumps(webhook_body(self._kind, doc)).encode()
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


def webhook_body(kind: str, doc: dict[str, Any]) -> dict[str, Any]:
    """The webhook's JSON for a stored alert document."""
    title = f"dropbatch {doc['severity']}: {doc['kind']} — {doc['subject']}"
    if kind == "slack":
        return {"text": f"*{title}*\n{doc['message']}"}
    if kind == "teams":
        return {
            "@type": "MessageCard",
            "@context": "https://schema.org/extensions",
            "summary": title,
            "themeColor": "D70000" if doc["severity"] == "error" else "FFA500",
            "title": title,
            "text": doc["message"],
        }
    fields = ("id", "kind", "subject", "message", "severity", "run_key", "at")
    return {"source": "dropbatch", **{k: doc.get(k) for k in fields}}
