"""Faults injected on purpose: throttling, server errors, latency, lost responses, preemption.

A rule is set at start (`--fault KIND:key=value,...` or a JSON object) or through the admin
endpoint `POST /_devstack/faults`. Rules match an operation (swagger operationId, `*` globs)
and fire `count` times (default: forever) with a `probability` (default 1).
"""

from __future__ import annotations

import fnmatch
import json
import random
import threading
from dataclasses import asdict, dataclass
from typing import Any

KINDS = ("throttle", "error", "latency", "drop", "preempt")


@dataclass
class FaultRule:
    kind: str
    operation: str = "*"
    count: int | None = None
    probability: float = 1.0
    status: int = 503  # error
    retry_after: int = 1  # throttle, seconds
    latency_ms: int = 200  # latency
    after_ms: int = 200  # preempt: how long the task runs before its node is taken away
    id: int = 0
    fired: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {', '.join(KINDS)}")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError("probability must be between 0 and 1")
        if self.kind == "error" and not 500 <= self.status <= 599:
            raise ValueError("an error fault needs a 5xx status")

    @classmethod
    def parse(cls, spec: str | dict[str, Any]) -> FaultRule:
        """`{"kind": ...}`, a JSON string of it, or `kind:key=value,key=value`."""
        if isinstance(spec, str) and spec.strip().startswith("{"):
            spec = json.loads(spec)
        if isinstance(spec, dict):
            fields = {k: v for k, v in spec.items() if k in cls.__dataclass_fields__}
            unknown = set(spec) - set(fields)
            if unknown:
                raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
            return cls(**fields)
        kind, _, rest = spec.partition(":")
        values: dict[str, Any] = {"kind": kind.strip()}
        for pair in filter(None, (p.strip() for p in rest.split(","))):
            key, sep, value = pair.partition("=")
            if not sep:
                raise ValueError(f"fault option {pair!r} wants key=value")
            values[key.strip()] = value.strip()
        for key in ("count", "status", "retry_after", "latency_ms", "after_ms"):
            if key in values:
                values[key] = int(values[key])
        if "probability" in values:
            values["probability"] = float(values["probability"])
        return cls.parse(values)


class FaultPlan:
    """The active rules; thread-safe; `draw` consumes one firing of the first matching rule."""

    def __init__(self, rules: list[FaultRule] | None = None, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._next_id = 1
        self._random = random.Random(seed)
        for rule in rules or []:
            self.add(rule)

    def add(self, rule: FaultRule) -> FaultRule:
        with self._lock:
            rule.id = self._next_id
            self._next_id += 1
            self._rules.append(rule)
            return rule

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(rule) for rule in self._rules]

    def draw(self, kinds: tuple[str, ...], operation: str) -> FaultRule | None:
        with self._lock:
            for rule in self._rules:
                if rule.kind not in kinds or not fnmatch.fnmatchcase(operation, rule.operation):
                    continue
                if rule.count is not None and rule.fired >= rule.count:
                    continue
                if rule.probability < 1.0 and self._random.random() >= rule.probability:
                    continue
                rule.fired += 1
                return rule
            return None
