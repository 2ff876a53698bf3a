"""Faults injected on purpose, in one rule format for every server of the local stack: the
Batch service (`devstack.batchsvc`), the storage fault proxy in front of Azurite
(`devstack.faultproxy`) and the Cosmos DB-compatible server (`devstack/cosmos_faults.js`
holds the same rules in JavaScript).

A rule is set at start (`--fault KIND:key=value,...` or a JSON object) or through the admin
endpoint `POST /_devstack/faults` (`GET` lists them with how often each fired, `DELETE` clears
them). Rules match an operation (`*` globs: the Batch service's swagger operationId; for
storage and Cosmos `METHOD /path`) and a caller (a glob over the request's User-Agent), and
fire `count` times (default: forever) with a `probability` (default 1).

Kinds: `throttle` (429 with Retry-After), `error` (a 5xx), `latency` (held, then served),
`timeout` (held, then the connection is cut, the request not applied), `drop` (applied, then
the connection is cut: a lost response), `reject` (a 4xx such as 400 or 409, not applied),
`garbage` (200 with a body that is not JSON, not applied), `preempt` (Batch: the node of a
matching task is taken away `after_ms` after the task starts).
"""

from __future__ import annotations

import fnmatch
import json
import random
import threading
from dataclasses import asdict, dataclass
from typing import Any

KINDS = ("throttle", "error", "latency", "timeout", "drop", "reject", "garbage", "preempt")
# What happens before the work, in the order a server checks them.
BEFORE = ("latency", "timeout", "throttle", "error", "reject", "garbage")
INT_FIELDS = ("count", "status", "retry_after", "latency_ms", "after_ms")


@dataclass
class FaultRule:
    kind: str
    operation: str = "*"
    caller: str = "*"  # a glob over the User-Agent header
    count: int | None = None
    probability: float = 1.0
    status: int = 0  # error: 503 by default; reject: 400 by default
    retry_after: int = 1  # throttle, seconds
    latency_ms: int = 200  # latency, timeout
    after_ms: int = 200  # preempt: how long the task runs before its node is taken away
    id: int = 0
    fired: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {', '.join(KINDS)}")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError("probability must be between 0 and 1")
        if self.kind == "error":
            self.status = self.status or 503
            if not 500 <= self.status <= 599:
                raise ValueError("an error fault needs a 5xx status")
        if self.kind == "reject":
            self.status = self.status or 400
            if not 400 <= self.status <= 499 or self.status == 429:
                raise ValueError("a reject fault needs a 4xx status other than 429 (throttle)")

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
        for key in INT_FIELDS:
            if key in values:
                values[key] = int(values[key])
        if "probability" in values:
            values["probability"] = float(values["probability"])
        return cls.parse(values)

    def as_json(self) -> dict[str, Any]:
        """The rule as the admin endpoints take and list it."""
        return asdict(self)


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
            return [rule.as_json() for rule in self._rules]

    def draw(self, kinds: tuple[str, ...], operation: str, caller: str = "") -> FaultRule | None:
        """The first rule of one of `kinds` matching the operation and caller that may fire
        (counted as fired), or None."""
        with self._lock:
            for rule in self._rules:
                if rule.kind not in kinds or not fnmatch.fnmatchcase(operation, rule.operation):
                    continue
                if rule.caller != "*" and not fnmatch.fnmatchcase(caller, rule.caller):
                    continue
                if rule.count is not None and rule.fired >= rule.count:
                    continue
                if rule.probability < 1.0 and self._random.random() >= rule.probability:
                    continue
                rule.fired += 1
                return rule
            return None

    def admin(self, method: str, body: bytes) -> tuple[int, dict[str, Any]]:
        """The `/_devstack/faults` endpoint: GET lists, POST adds one rule, DELETE clears."""
        if method == "GET":
            return 200, {"faults": self.snapshot()}
        if method == "DELETE":
            self.clear()
            return 200, {"faults": []}
        if method == "POST":
            try:
                rule = self.add(FaultRule.parse(json.loads(body or b"{}")))
            except (ValueError, TypeError) as e:
                return 400, {"error": str(e)}
            return 201, rule.as_json()
        return 405, {"error": f"{method} is not allowed here"}
