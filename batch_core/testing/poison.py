"""The poison queue in memory: messages the host would write, hidden while taken."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

from batch_core.errors import NotFoundError
from batch_core.poison import BATCH, PoisonMessage
from batch_core.testing.clock import FakeClock
from batch_core.testing.twin import Twin

VISIBILITY = dt.timedelta(seconds=300)  # as the real adapter asks when it takes messages


@dataclass
class _Queued:
    message: PoisonMessage
    visible_at: dt.datetime


class MemoryPoison(Twin):
    """A `PoisonPort`; `put` is the host giving up on a blob trigger."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self._clock = clock
        self.queued: dict[str, _Queued] = {}
        self._taken = 0
        self._put = 0

    def take(self) -> list[PoisonMessage]:
        self._request("receive")
        now = self._clock.now()
        found = []
        for message_id, queued in list(self.queued.items())[:BATCH]:
            if queued.visible_at > now:
                continue
            self._taken += 1
            m = dataclasses.replace(queued.message, pop_receipt=f"r{self._taken}")
            self.queued[message_id] = _Queued(m, now + VISIBILITY)
            found.append(m)
        return found

    def delete(self, message: PoisonMessage) -> None:
        self._request("delete", message.message_id)
        queued = self.queued.get(message.message_id)
        if queued is None or queued.message.pop_receipt != message.pop_receipt:
            raise NotFoundError(f"delete message {message.message_id}: not found")
        del self.queued[message.message_id]

    def put(self, container: str, name: str, etag: str, function: str = "on_blob") -> None:
        """Queue a poison message for the blob event, as the Functions host would."""
        self._put += 1
        message_id = f"m{self._put}"
        message = PoisonMessage(container, name, etag.strip('"'), function, message_id, "")
        self.queued[message_id] = _Queued(message, self._clock.now())
