"""A blob trigger that failed every try: the operator is told, then the message goes."""

from __future__ import annotations

from batch_core.errors import TransientError
from batch_core.testing import MemoryPipeline
from tests.core.specs.steps import tick


def test_a_poison_message_is_alerted_then_deleted(p: MemoryPipeline) -> None:
    # Given the host gave up on a file's trigger
    p.poison.put("incoming", "a.csv", '"0x8D1"')

    # When the reconciler runs
    report = tick(p, seconds=5)

    # Then one poison alert names the file, and the message is gone
    [alert] = p.alerts.recent()
    assert (alert["kind"], alert["subject"], alert["run_key"]) == (
        "poison",
        "incoming/a.csv",
        "0x8D1",
    )
    assert report.alerts == 1
    assert p.poison.queued == {}


def test_a_poison_message_whose_alert_failed_stays_for_a_later_tick(p: MemoryPipeline) -> None:
    # Given a poison message, and alerts that cannot be recorded for now
    p.poison.put("incoming", "a.csv", "0x8D1")
    p.alerts.fail("record", TransientError("record alert: Cosmos DB answered HTTP 503"))

    # When the reconciler runs, the message is kept (hidden a while, as the queue does)
    tick(p, seconds=5)
    assert p.alerts.kinds() == [] and len(p.poison.queued) == 1
    tick(p, minutes=1)
    assert p.alerts.kinds() == []

    # Then once it is visible again, it is alerted and deleted
    tick(p, minutes=5)
    assert p.alerts.kinds() == ["poison"] and p.poison.queued == {}
