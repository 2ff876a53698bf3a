"""The report of one reconcile tick: what it looked at, moved, retried, swept and alerted,
and the errors it carried on past."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class TickReport:
    """Counts of one tick, logged as one structured line and printed by `dropbatch reconcile`."""

    examined: int = 0
    moved: Counter[str] = field(default_factory=Counter)
    retried: int = 0
    swept: int = 0
    alerts: int = 0
    errors: list[str] = field(default_factory=list)
    cleanup: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready values."""
        return {
            "examined": self.examined,
            "moved": dict(self.moved),
            "retried": self.retried,
            "swept": self.swept,
            "alerts": self.alerts,
            "errors": self.errors,
            "cleanup": self.cleanup,
        }
