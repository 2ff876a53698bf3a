"""What a run of the local stack under stress lost, duplicated or got wrong: the one verdict
the fault matrix (per cell) and the soak (per run) report, each problem named."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Problem = Literal["lost", "duplicated", "wrong"]
PROBLEMS: tuple[Problem, ...] = ("lost", "duplicated", "wrong")


@dataclass
class Verdict:
    """Each problem found, by kind, as a sentence naming the file."""

    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)

    def note(self, what: Problem, text: str) -> None:
        """Record one problem of kind `what`."""
        getattr(self, what).append(text)

    @property
    def ok(self) -> bool:
        """Nothing lost, duplicated or wrong."""
        return not (self.lost or self.duplicated or self.wrong)

    def counts(self) -> dict[str, int]:
        """How many problems of each kind."""
        return {what: len(getattr(self, what)) for what in PROBLEMS}

    @property
    def details(self) -> list[str]:
        """Every problem as `kind: sentence`."""
        return [f"{what}: {text}" for what in PROBLEMS for text in getattr(self, what)]

    def as_json(self, examples: int) -> dict[str, Any]:
        """The counts, and up to `examples` problems of each kind by name."""
        return {
            **self.counts(),
            "examples": {what: getattr(self, what)[:examples] for what in PROBLEMS},
        }
