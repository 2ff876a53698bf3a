"""Autoscale formulas: the subset of Batch's formula language a pool here can evaluate.

Statements end with `;` and assign service or user variables (both `$name`). Expressions have
numbers, `+ - * /`, comparisons, `&&`, `||`, `!`, `?:`, parentheses, the functions
`max min avg sum len ceil floor round abs`, the `TimeInterval_*` constants and the samples
of the service variables below through `.GetSample(...)`, `.GetSamplePercent(...)`,
`.Count()`. No history is kept: every sample of a variable is its current value.
Anything else is rejected with an error that names it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

READABLE = (
    "$PendingTasks",
    "$ActiveTasks",
    "$RunningTasks",
    "$SucceededTasks",
    "$FailedTasks",
    "$CurrentDedicatedNodes",
    "$CurrentLowPriorityNodes",
    "$PreemptedNodeCount",
    "$UsableNodeCount",
)
WRITABLE = ("$TargetDedicatedNodes", "$TargetLowPriorityNodes", "$NodeDeallocationOption")
DEALLOCATION_OPTIONS = ("requeue", "terminate", "taskcompletion", "retaineddata")
# Batch service variables this service does not model (no resource metrics here).
UNSUPPORTED = (
    "$CPUPercent",
    "$WallClockSeconds",
    "$MemoryBytes",
    "$DiskBytes",
    "$DiskReadBytes",
    "$DiskWriteBytes",
    "$DiskReadOps",
    "$DiskWriteOps",
    "$NetworkInBytes",
    "$NetworkOutBytes",
    "$SampleNodeCount",
    "$TaskSlotsPerNode",
    "$TargetDedicated",
    "$CurrentDedicated",
)
# Sampled service variables are vectors; these are the sample methods formulas call on them.
_SAMPLED = ("$PendingTasks", "$ActiveTasks", "$RunningTasks", "$SucceededTasks", "$FailedTasks")
_INTERVALS = {
    "TimeInterval_Zero": 0.0,
    "TimeInterval_100ns": 1e-7,
    "TimeInterval_Microsecond": 1e-6,
    "TimeInterval_Millisecond": 1e-3,
    "TimeInterval_Second": 1.0,
    "TimeInterval_Minute": 60.0,
    "TimeInterval_Hour": 3600.0,
    "TimeInterval_Day": 86400.0,
    "TimeInterval_Week": 604800.0,
}
_TOKEN = re.compile(
    r"\s*(?:(?P<number>\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"
    r"|(?P<name>\$?[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>&&|\|\||==|!=|<=|>=|[-+*/<>!?:(),.;=]))"
)


class FormulaError(Exception):
    """The formula cannot be evaluated; `code` and `message` go into AutoScaleRunError."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


Value = Any  # float, str (deallocation option) or list[float] (samples)


@dataclass
class Result:
    targets: dict[str, Value]
    variables: dict[str, Value]

    def text(self) -> str:
        """Batch's `results` string: `$name=value` pairs separated by `;`."""
        parts = [f"{name}={_show(value)}" for name, value in self.targets.items()]
        parts += [f"{name}={_show(value)}" for name, value in self.variables.items()]
        return ";".join(parts)


def _show(value: Value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return "[" + ",".join(_show(v) for v in value) + "]"
    return str(value)


def _tokens(formula: str) -> list[tuple[str, str]]:
    # Batch formulas allow // line comments.
    text = re.sub(r"//[^\n]*", "", formula)
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if not text[pos:].strip():
            break
        match = _TOKEN.match(text, pos)
        if not match:
            raise FormulaError(
                "InvalidFormula", f"Unexpected character at position {pos}: {text[pos]!r}"
            )
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


class _Evaluator:
    def __init__(self, formula: str, inputs: dict[str, float]) -> None:
        self.tokens = _tokens(formula)
        self.pos = 0
        self.inputs = inputs
        self.targets: dict[str, Value] = {}
        self.variables: dict[str, Value] = {}

    def peek(self) -> str | None:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) else None

    def take(self, expected: str | None = None) -> tuple[str, str]:
        if self.pos >= len(self.tokens):
            raise FormulaError("InvalidFormula", "The formula ends in the middle of a statement")
        token = self.tokens[self.pos]
        if expected is not None and token[1] != expected:
            raise FormulaError("InvalidFormula", f"Expected {expected!r} but found {token[1]!r}")
        self.pos += 1
        return token

    def run(self) -> Result:
        while self.pos < len(self.tokens):
            if self.peek() == ";":
                self.take()
                continue
            kind, name = self.take()
            if kind != "name":
                raise FormulaError(
                    "InvalidFormula", f"A statement must start with a variable, not {name!r}"
                )
            self.take("=")
            value = self.expression()
            self.assign(name, value)
            if self.pos < len(self.tokens):
                self.take(";")
        return Result(self.targets, self.variables)

    def assign(self, name: str, value: Value) -> None:
        if name in WRITABLE:
            if name == "$NodeDeallocationOption":
                if value not in DEALLOCATION_OPTIONS:
                    raise FormulaError(
                        "InvalidNodeDeallocationOption",
                        f"$NodeDeallocationOption must be one of {', '.join(DEALLOCATION_OPTIONS)}",
                    )
            else:
                value = _number(value, name)
            self.targets[name] = value
        elif name in READABLE:
            raise FormulaError("ReadOnlyVariable", f"{name} is read-only")
        elif name in UNSUPPORTED:
            raise _unsupported(name)
        elif not name.startswith("$"):
            raise FormulaError(
                "InvalidFormula", f"Variables start with $; {name} cannot be assigned"
            )
        else:
            self.variables[name] = value

    # expression grammar: ternary > or > and > comparison > additive > multiplicative > unary

    def expression(self) -> Value:
        condition = self.disjunction()
        if self.peek() == "?":
            self.take()
            when_true = self.expression()
            self.take(":")
            when_false = self.expression()
            return when_true if _truth(condition) else when_false
        return condition

    def disjunction(self) -> Value:
        left = self.conjunction()
        while self.peek() == "||":
            self.take()
            right = self.conjunction()
            left = 1.0 if _truth(left) or _truth(right) else 0.0
        return left

    def conjunction(self) -> Value:
        left = self.comparison()
        while self.peek() == "&&":
            self.take()
            right = self.comparison()
            left = 1.0 if _truth(left) and _truth(right) else 0.0
        return left

    def comparison(self) -> Value:
        left = self.additive()
        ops: dict[str, Callable[[Any, Any], bool]] = {
            "==": lambda a, b: a == b,
            "!=": lambda a, b: a != b,
            "<": lambda a, b: a < b,
            "<=": lambda a, b: a <= b,
            ">": lambda a, b: a > b,
            ">=": lambda a, b: a >= b,
        }
        while self.peek() in ops:
            op = self.take()[1]
            right = self.additive()
            if isinstance(left, str) or isinstance(right, str):
                result = ops[op](left, right) if op in ("==", "!=") else False
            else:
                result = ops[op](_number(left, op), _number(right, op))
            left = 1.0 if result else 0.0
        return left

    def additive(self) -> Value:
        left = self.multiplicative()
        while self.peek() in ("+", "-"):
            op = self.take()[1]
            right = self.multiplicative()
            left = _arith(op, left, right)
        return left

    def multiplicative(self) -> Value:
        left = self.unary()
        while self.peek() in ("*", "/"):
            op = self.take()[1]
            right = self.unary()
            left = _arith(op, left, right)
        return left

    def unary(self) -> Value:
        if self.peek() == "-":
            self.take()
            return _arith("*", -1.0, self.unary())
        if self.peek() == "!":
            self.take()
            return 0.0 if _truth(self.unary()) else 1.0
        return self.postfix(self.primary())

    def postfix(self, value: Value) -> Value:
        while self.peek() == ".":
            self.take()
            _, method = self.take()
            args = self.arguments()
            value = self.method(value, method, args)
        return value

    def arguments(self) -> list[Value]:
        self.take("(")
        args: list[Value] = []
        if self.peek() != ")":
            args.append(self.expression())
            while self.peek() == ",":
                self.take()
                args.append(self.expression())
        self.take(")")
        return args

    def primary(self) -> Value:
        kind, text = self.take()
        if kind == "number":
            return float(text)
        if text == "(":
            value = self.expression()
            self.take(")")
            return value
        if kind != "name":
            raise FormulaError("InvalidFormula", f"Unexpected {text!r}")
        if self.peek() == "(" and not text.startswith("$"):
            return _function(text, self.arguments())
        if text in _INTERVALS:
            return _INTERVALS[text]
        if text in DEALLOCATION_OPTIONS:
            return text
        if text in self.targets:
            return self.targets[text]
        if text in self.inputs:
            return self.inputs[text]
        if text in self.variables:
            return self.variables[text]
        if text in UNSUPPORTED:
            raise _unsupported(text)
        if text.startswith("$"):
            raise FormulaError(
                "UndefinedVariable", f"The variable {text} is used before it is assigned"
            )
        raise FormulaError("InvalidFormula", f"Unknown name {text}")

    def method(self, value: Value, name: str, args: list[Value]) -> Value:
        if isinstance(value, list):
            samples: list[float] = value
        elif isinstance(value, float):
            samples = [value]
        else:
            raise FormulaError("InvalidFormula", f"{name}() cannot be called on {value!r}")
        if name == "GetSample":
            return samples if args and _number(args[0], name) >= 60 else samples[-1:]
        if name == "GetSamplePercent":
            return 100.0
        if name in ("Count", "GetSamplePeriod"):
            return float(len(samples)) if name == "Count" else 0.0
        raise FormulaError("UnsupportedFunction", f"The method {name}() is not supported here")


def _unsupported(name: str) -> FormulaError:
    return FormulaError(
        "UnsupportedVariable",
        f"{name} is a Batch service variable this service does not model; "
        f"supported: {', '.join(READABLE + WRITABLE)}",
    )


def _truth(value: Value) -> bool:
    if isinstance(value, list):
        return bool(value) and all(_truth(v) for v in value)
    return bool(value)


def _number(value: Value, context: str) -> float:
    if isinstance(value, list):
        if len(value) != 1:
            raise FormulaError(
                "InvalidFormula", f"{context}: a vector of samples where a number is needed"
            )
        value = value[0]
    if not isinstance(value, float):
        raise FormulaError("InvalidFormula", f"{context}: {value!r} is not a number")
    return value


def _arith(op: str, left: Value, right: Value) -> Value:
    if isinstance(left, list) or isinstance(right, list):
        lefts = left if isinstance(left, list) else [left]
        rights = right if isinstance(right, list) else [right]
        if len(lefts) == 1:
            lefts = lefts * len(rights)
        if len(rights) == 1:
            rights = rights * len(lefts)
        return [_arith(op, a, b) for a, b in zip(lefts, rights, strict=True)]
    a, b = _number(left, op), _number(right, op)
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if b == 0:
        raise FormulaError("DivideByZero", "The formula divides by zero")
    return a / b


def _flatten(args: list[Value]) -> list[float]:
    flat: list[float] = []
    for arg in args:
        flat.extend(arg if isinstance(arg, list) else [_number(arg, "argument")])
    return flat


def _function(name: str, args: list[Value]) -> Value:
    aggregate: dict[str, Callable[[list[float]], float]] = {
        "max": max,
        "min": min,
        "sum": lambda xs: float(sum(xs)),
        "avg": lambda xs: sum(xs) / len(xs),
        "len": lambda xs: float(len(xs)),
    }
    rounding: dict[str, Callable[[float], float]] = {
        "ceil": lambda x: float(math.ceil(x)),
        "floor": lambda x: float(math.floor(x)),
        "round": lambda x: float(round(x)),
        "abs": abs,
    }
    if name in aggregate:
        values = _flatten(args)
        if not values:
            raise FormulaError("InvalidFormula", f"{name}() needs at least one value")
        return aggregate[name](values)
    if name in rounding:
        if len(args) != 1:
            raise FormulaError("InvalidFormula", f"{name}() takes one argument")
        return rounding[name](_number(args[0], name))
    raise FormulaError("UnsupportedFunction", f"The function {name}() is not supported here")


def evaluate(formula: str, inputs: dict[str, float]) -> Result:
    """Run the formula against the current values of the service variables."""
    if not formula or not formula.strip():
        raise FormulaError("InvalidFormula", "The autoscale formula is empty")
    return _Evaluator(formula, inputs).run()


def targets_from(result: Result, current: dict[str, float]) -> tuple[int, int, str]:
    """Node targets after a run: unassigned targets keep their current values."""
    dedicated = result.targets.get("$TargetDedicatedNodes", current["$TargetDedicatedNodes"])
    low = result.targets.get("$TargetLowPriorityNodes", current["$TargetLowPriorityNodes"])
    option = result.targets.get("$NodeDeallocationOption", "requeue")
    return max(int(dedicated), 0), max(int(low), 0), str(option)
