"""Alerts: an operator hears about every incident once. The kinds, one builder each (what
happened and what to do next), and the webhook's message formats. Recording and delivery
are `alertstore`'s."""

from __future__ import annotations

import datetime as dt
import hashlib
import urllib.parse
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from batch_core.clock import iso
from worker.contract import output_prefix

if TYPE_CHECKING:
    from batch_core.poison import PoisonMessage
    from batch_core.poolcheck import PoolProblem
    from batch_core.run import Run


class AlertKind(StrEnum):
    """What an alert is about; each kind has one builder below."""

    FAILED = "failed"
    STUCK = "stuck"
    POISON = "poison"
    POOL = "pool"
    REJECTED = "rejected"
    QUOTA = "quota"
    WEBHOOK = "webhook"
    DIGEST = "digest"


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


def rejected_alert(run: Run, results_container: str, now: dt.datetime) -> Alert:
    """A file was rejected as bad input: the reason (file, row or entry, cause) and where the
    rejects and the summary are, so the person who dropped it can fix it."""
    prefix = output_prefix(run.name, run.key)
    return Alert(
        kind=AlertKind.REJECTED,
        subject=f"{run.container}/{run.name}",
        message=(
            f"{run.reason}. Details: {results_container}/{prefix}/ (summary.json, and "
            "rejects.csv for bad rows). Fix the file, then upload it again."
        ),
        at=now,
        run_key=run.key,
        severity="warning",
    )


def quota_alert(what: str, waiting: int, now: dt.datetime) -> Alert:
    """A limit that protects the Batch account holds work back (raised once a day)."""
    return Alert(
        kind=AlertKind.QUOTA,
        subject=what,
        message=(
            f"{what} is reached: {waiting} file(s) wait in `received` and are admitted in "
            "arrival order as running work ends. Raise the limit (or the account's quota) "
            "if this is the normal load."
        ),
        at=now,
        run_key=f"{now:%Y-%m-%d}",
        severity="warning",
    )


def webhook_failing_alert(host: str, pending: int, oldest: str, now: dt.datetime) -> Alert:
    """The webhook has not taken alerts for a while (raised once a day)."""
    return Alert(
        kind=AlertKind.WEBHOOK,
        subject=f"webhook {host}",
        message=(
            f"the alert webhook at {host} has refused or not answered since {oldest}; "
            f"{pending} alert(s) wait to be posted and are retried every tick. Check "
            "DROPBATCH_ALERT_WEBHOOK_URL and the receiver; `dropbatch alerts` lists them."
        ),
        at=now,
        run_key=f"{now:%Y-%m-%d}",
        severity="error",
    )


def digest_alert(runs: Sequence[Run], now: dt.datetime) -> Alert:
    """The day in numbers: runs ended in the last 24 hours per state and route, and the
    most frequent reasons of failed and rejected runs (raised once a day)."""
    states = Counter(r.state.value for r in runs)
    routes = Counter(r.route for r in runs)
    reasons = Counter(r.reason for r in runs if r.state.value in ("failed", "rejected"))
    parts = [
        "states: " + (", ".join(f"{n} {s}" for s, n in sorted(states.items())) or "none"),
        "routes: " + (", ".join(f"{n} {r}" for r, n in sorted(routes.items())) or "none"),
    ]
    if reasons:
        top = "; ".join(f"{n} x {r[:120]}" for r, n in reasons.most_common(5))
        parts.append(f"top reasons: {top}")
    return Alert(
        kind=AlertKind.DIGEST,
        subject="daily digest",
        message=f"{len(runs)} file(s) ended in the last 24 hours. " + ". ".join(parts) + ".",
        at=now,
        run_key=f"{now:%Y-%m-%d}",
        severity="info",
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


def status_link(status_url: str | None, doc: dict[str, Any]) -> str | None:
    """The status page filtered on the alert's file (None without DROPBATCH_STATUS_URL)."""
    if not status_url:
        return None
    subject = str(doc.get("subject") or "")
    name = subject.split("/", 1)[1] if "/" in subject and doc.get("run_key") else ""
    query = f"?{urllib.parse.urlencode({'q': name})}" if name else ""
    return f"{status_url.rstrip('/')}{query}"


def webhook_body(kind: str, doc: dict[str, Any], status_url: str | None = None) -> dict[str, Any]:
    """The webhook's JSON for a stored alert document; with the status page's address, a
    link to the page filtered on the run."""
    title = f"dropbatch {doc['severity']}: {doc['kind']} — {doc['subject']}"
    link = status_link(status_url, doc)
    text = doc["message"] + (f"\n{link}" if link else "")
    if kind == "slack":
        return {"text": f"*{title}*\n{text}"}
    if kind == "teams":
        card: dict[str, Any] = {
            "@type": "MessageCard",
            "@context": "https://schema.org/extensions",
            "summary": title,
            "themeColor": "D70000" if doc["severity"] == "error" else "FFA500",
            "title": title,
            "text": doc["message"],
        }
        if link:
            card["potentialAction"] = [
                {
                    "@type": "OpenUri",
                    "name": "Status page",
                    "targets": [{"os": "default", "uri": link}],
                }
            ]
        return card
    fields = ("id", "kind", "subject", "message", "severity", "run_key", "at")
    return {"source": "dropbatch", **{k: doc.get(k) for k in fields}, "link": link}
