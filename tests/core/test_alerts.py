"""Alerts against the real Cosmos server and a real local webhook receiver."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from batch_core.alerts import Alert, AlertKind
from batch_core.alertstore import Alerts
from batch_core.clock import utcnow
from batch_core.cosmosdb import ALERTS, cosmos_client
from batch_core.settings import Settings
from devstack.stack import Stack

pytestmark = pytest.mark.stack


class Receiver:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


def alerts_for(stack: Stack, url: str | None, kind: str) -> Alerts:
    settings = Settings.from_env(stack.values)
    container = (
        cosmos_client(settings)
        .get_database_client(settings.cosmos_database)
        .get_container_client(ALERTS)
    )
    return Alerts(container, url, kind)


def an_alert() -> Alert:
    return Alert(
        kind=AlertKind.FAILED,
        subject=f"incoming/{uuid.uuid4().hex[:6]}.csv",
        message="worker crashed (exit 1) after 3 attempts; quarantined in failed",
        at=utcnow(),
        run_key=uuid.uuid4().hex,
    )


@pytest.mark.parametrize("kind", ["generic", "teams", "slack"])
def test_an_alert_is_recorded_and_posted_once(stack: Stack, receiver: Receiver, kind: str) -> None:
    alerts = alerts_for(stack, receiver.url, kind)
    alert = an_alert()

    assert alerts.raise_alert(alert) is True
    assert alerts.raise_alert(alert) is False  # the same alert again changes nothing

    assert len(receiver.bodies) == 1
    body = receiver.bodies[0]
    text = json.dumps(body)
    assert alert.subject in text and "quarantined" in text
    if kind == "slack":
        assert set(body) == {"text"}
    elif kind == "teams":
        assert body["@type"] == "MessageCard"
    else:
        assert body["kind"] == "failed" and body["run_key"] == alert.run_key
    stored = [a for a in alerts.recent(500) if a["id"] == alert.id]
    assert len(stored) == 1


def test_an_alert_the_webhook_missed_is_delivered_later_exactly_once(
    stack: Stack, receiver: Receiver
) -> None:
    # Given an alert raised while the webhook was unreachable
    down = alerts_for(stack, "http://127.0.0.1:9/unreachable", "generic")
    alert = an_alert()
    assert down.raise_alert(alert) is True
    stored = [a for a in down.recent(500) if a["id"] == alert.id]
    assert [a["delivered"] for a in stored] == [False]

    # When the reconciler tries again with the webhook back
    up = alerts_for(stack, receiver.url, "generic")
    up.redeliver(limit=500)
    up.redeliver(limit=500)

    # Then it was posted once, and is marked delivered
    assert [b["id"] for b in receiver.bodies if b["id"] == alert.id] == [alert.id]
    assert [a["delivered"] for a in up.recent(500) if a["id"] == alert.id] == [True]
