"""The alerts' promises, kept by the Cosmos-and-webhook adapter and the twin: one record per
incident, one delivery, and delivery tried again after the webhook failed."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from batch_core.alerts import Alert, AlertKind, webhook_body
from batch_core.alertstore import Alerts
from batch_core.ports import AlertsPort
from batch_core.testing import MemoryAlerts
from tests.contract.conftest import CosmosScratch
from tests.core.test_alerts import Receiver

T0 = dt.datetime(2024, 3, 1, 9, 0, tzinfo=dt.UTC)
KIND = "generic"


@dataclass
class AlertsSide:
    """`with_webhook(up)`: the port over the same records, its webhook taking posts or not."""

    without_webhook: AlertsPort
    with_webhook: Callable[[bool], AlertsPort]
    delivered: Callable[[], list[dict[str, Any]]]


@pytest.fixture
def alerts(side: str, request: pytest.FixtureRequest) -> Iterator[AlertsSide]:
    if side == "memory":
        plain, hooked = MemoryAlerts(), MemoryAlerts(KIND)

        def memory_hook(up: bool) -> AlertsPort:
            hooked.webhook_down = not up
            return hooked

        yield AlertsSide(plain, memory_hook, lambda: hooked.deliveries)
        return
    scratch: CosmosScratch = request.getfixturevalue("cosmos_scratch")
    receiver = Receiver()
    plain_c, hooked_c = scratch.container("alerts", "/id"), scratch.container("hooked", "/id")
    nowhere = "http://127.0.0.1:9/closed"  # the discard port: nothing listens

    def real_hook(up: bool) -> AlertsPort:
        return Alerts(hooked_c, receiver.url if up else nowhere, KIND)

    yield AlertsSide(Alerts(plain_c, None, KIND), real_hook, lambda: receiver.bodies)
    receiver.server.shutdown()
    receiver.server.server_close()


def an_alert(minute: int = 0, kind: AlertKind = AlertKind.FAILED) -> Alert:
    return Alert(
        kind=kind,
        subject=f"incoming/{uuid.uuid4().hex[:6]}.csv",
        message="worker crashed (exit 1) after 3 attempts; quarantined in failed",
        at=T0 + dt.timedelta(minutes=minute),
        run_key=uuid.uuid4().hex,
    )


def test_an_alert_is_raised_once_and_a_repeat_changes_nothing(alerts: AlertsSide) -> None:
    alert = an_alert()
    assert alerts.without_webhook.raise_alert(alert) is True
    assert alerts.without_webhook.raise_alert(alert) is False
    [doc] = alerts.without_webhook.recent()
    fields = ("id", "kind", "subject", "message", "run_key", "severity", "at")
    assert {k: doc[k] for k in fields} == {k: alert.to_doc()[k] for k in fields}


def test_recent_alerts_are_newest_first_within_the_limit(alerts: AlertsSide) -> None:
    made = [an_alert(minute) for minute in (1, 3, 2)]
    for alert in made:
        alerts.without_webhook.raise_alert(alert)
    assert [d["id"] for d in alerts.without_webhook.recent()] == [made[i].id for i in (1, 2, 0)]
    assert [d["id"] for d in alerts.without_webhook.recent(limit=1)] == [made[1].id]


def test_without_a_webhook_there_is_nothing_to_redeliver(alerts: AlertsSide) -> None:
    alerts.without_webhook.raise_alert(an_alert())
    assert alerts.without_webhook.redeliver() == 0


def test_the_webhook_gets_each_alert_once(alerts: AlertsSide) -> None:
    port = alerts.with_webhook(True)
    alert = an_alert(kind=AlertKind.STUCK)
    port.raise_alert(alert)
    port.raise_alert(alert)
    assert alerts.delivered() == [webhook_body(KIND, alert.to_doc())]
    assert port.redeliver() == 0


def test_an_alert_the_webhook_did_not_take_is_delivered_later_once(alerts: AlertsSide) -> None:
    alert = an_alert()
    assert alerts.with_webhook(False).raise_alert(alert) is True
    assert alerts.delivered() == []
    port = alerts.with_webhook(True)
    assert port.redeliver() == 1
    assert port.redeliver() == 0
    assert [b["id"] for b in alerts.delivered()] == [alert.id]
