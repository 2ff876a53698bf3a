"""OData list options as Batch supports them: `$filter`, `$select`, `maxresults`, paging."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from devstack.batchsvc.errors import BadRequest
from devstack.batchsvc.timestamps import parse_iso

Predicate = Callable[[dict[str, Any]], bool]

_TOKEN = re.compile(
    r"\s*(?:"
    r"(?P<lparen>\()|(?P<rparen>\))"
    r"|(?P<datetime>(?i:datetime)'[^']*')"
    r"|(?P<comma>,)"
    r"|(?P<string>'(?:[^']|'')*')"
    r"|(?P<number>-?\d+(?:\.\d+)?)"
    r"|(?P<word>[A-Za-z_$][A-Za-z0-9_/.$]*)"
    r")"
)
_COMPARISONS = {"eq", "ne", "gt", "ge", "lt", "le"}

MAX_RESULTS_DEFAULT = 1000
API_VERSION = "2025-06-01"


def _invalid(text: str, why: str) -> BadRequest:
    return BadRequest(
        f"The value for one of the HTTP query parameters is not in the correct format. {why}",
        code="InvalidQueryParameterValue",
        values={"QueryParameterName": "$filter", "QueryParameterValue": text, "Reason": why},
    )


@dataclass(frozen=True)
class _Literal:
    value: Any


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise _invalid(text, f"unexpected text at position {pos}: {text[pos : pos + 20]!r}")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


class _Parser:
    """Recursive descent: or > and > not > comparison > primary."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise _invalid(self.text, "the expression ends too early")
        self.pos += 1
        return token

    def is_word(self, word: str) -> bool:
        token = self.peek()
        return token is not None and token[0] == "word" and token[1].lower() == word

    def parse(self) -> Predicate:
        predicate = self.parse_or()
        if self.peek() is not None:
            raise _invalid(self.text, f"unexpected {self.peek()[1]!r}")  # type: ignore[index]
        return predicate

    def parse_or(self) -> Predicate:
        left = self.parse_and()
        while self.is_word("or"):
            self.take()
            right = self.parse_and()
            left = (lambda a, b: lambda doc: a(doc) or b(doc))(left, right)
        return left

    def parse_and(self) -> Predicate:
        left = self.parse_not()
        while self.is_word("and"):
            self.take()
            right = self.parse_not()
            left = (lambda a, b: lambda doc: a(doc) and b(doc))(left, right)
        return left

    def parse_not(self) -> Predicate:
        if self.is_word("not"):
            self.take()
            inner = self.parse_not()
            return lambda doc: not inner(doc)
        return self.parse_comparison()

    def parse_comparison(self) -> Predicate:
        token = self.peek()
        if token is not None and token[0] == "lparen":
            self.take()
            inner = self.parse_or()
            if self.take()[0] != "rparen":
                raise _invalid(self.text, "a parenthesis is not closed")
            return inner
        kind, name = self.take()
        if kind != "word":
            raise _invalid(self.text, f"expected a property name, found {name!r}")
        following = self.peek()
        if following is not None and following[0] == "lparen":
            return self.parse_function(name)
        op_kind, op = self.take()
        if op_kind != "word" or op.lower() not in _COMPARISONS:
            raise _invalid(self.text, f"expected eq, ne, gt, ge, lt or le after {name!r}")
        literal = self.parse_literal()
        return _comparison(name, op.lower(), literal, self.text)

    def parse_function(self, name: str) -> Predicate:
        """`startswith(prop, 'x')`, `endswith(...)`, `substringof('x', prop)`."""
        function = name.lower()
        if function not in ("startswith", "endswith", "substringof"):
            raise _invalid(self.text, f"the function {name} is not supported")
        self.take()  # (
        first = self.take()
        if self.take()[0] != "comma":
            raise _invalid(self.text, f"{name} takes two arguments")
        second = self.take()
        if self.take()[0] != "rparen":
            raise _invalid(self.text, f"{name}(...) is not closed")
        prop, literal = (second, first) if function == "substringof" else (first, second)
        if prop[0] != "word" or literal[0] != "string":
            raise _invalid(self.text, f"{name} needs a property and a string")
        needle = literal[1][1:-1].replace("''", "'").lower()
        path = prop[1]

        def predicate(doc: dict[str, Any]) -> bool:
            value = _lookup(doc, path)
            if not isinstance(value, str):
                return False
            hay = value.lower()
            if function == "startswith":
                return hay.startswith(needle)
            if function == "endswith":
                return hay.endswith(needle)
            return needle in hay

        return predicate

    def parse_literal(self) -> _Literal:
        kind, text = self.take()
        if kind == "string":
            return _Literal(text[1:-1].replace("''", "'"))
        if kind == "datetime":
            try:
                return _Literal(parse_iso(text[len("datetime'") : -1]))
            except ValueError as e:
                raise _invalid(self.text, f"{text} is not a valid datetime") from e
        if kind == "number":
            return _Literal(float(text) if "." in text else int(text))
        if kind == "word" and text.lower() in ("true", "false"):
            return _Literal(text.lower() == "true")
        if kind == "word" and text.lower() == "null":
            return _Literal(None)
        raise _invalid(self.text, f"expected a literal value, found {text!r}")


def _lookup(doc: dict[str, Any], path: str) -> Any:
    value: Any = doc
    for part in path.split("/"):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _comparable(value: Any, literal: Any) -> tuple[Any, Any]:
    if isinstance(literal, datetime) and isinstance(value, str):
        try:
            return parse_iso(value), literal
        except ValueError:
            return value, literal.isoformat()
    if isinstance(literal, str) and isinstance(value, str):
        # Batch compares enum values and ids case-insensitively.
        return value.lower(), literal.lower()
    return value, literal


def _comparison(name: str, op: str, literal: _Literal, text: str) -> Predicate:
    def predicate(doc: dict[str, Any]) -> bool:
        value, expected = _comparable(_lookup(doc, name), literal.value)
        if op == "eq":
            return bool(value == expected)
        if op == "ne":
            return bool(value != expected)
        if value is None or expected is None:
            return False
        try:
            if op == "gt":
                return bool(value > expected)
            if op == "ge":
                return bool(value >= expected)
            if op == "lt":
                return bool(value < expected)
            return bool(value <= expected)
        except TypeError:
            return False

    return predicate


def parse_filter(text: str | None) -> Predicate | None:
    if text is None or not text.strip():
        return None
    return _Parser(text).parse()


def select(doc: dict[str, Any], fields: list[str] | None) -> dict[str, Any]:
    if not fields:
        return doc
    wanted = {f.strip() for f in fields if f.strip()}
    return {k: v for k, v in doc.items() if k in wanted or k == "odata.metadata"}


@dataclass(frozen=True)
class ListQuery:
    """The list options of one page request, carried across pages in the skip token."""

    filter: str | None
    select: list[str] | None
    max_results: int
    after: int  # sequence number of the last item already returned

    @classmethod
    def from_params(cls, params: dict[str, str]) -> ListQuery:
        token = params.get("$skiptoken")
        if token:
            try:
                raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
                return cls(raw["f"], raw["s"], int(raw["m"]), int(raw["a"]))
            except (ValueError, KeyError, TypeError) as e:
                raise BadRequest(
                    "The skip token is not valid.",
                    code="InvalidQueryParameterValue",
                    values={"QueryParameterName": "$skiptoken", "QueryParameterValue": token},
                ) from e
        max_results = MAX_RESULTS_DEFAULT
        if params.get("maxresults"):
            try:
                max_results = int(params["maxresults"])
            except ValueError as e:
                raise BadRequest(
                    "The value for one of the HTTP query parameters is not in the correct format.",
                    code="InvalidQueryParameterValue",
                    values={
                        "QueryParameterName": "maxresults",
                        "QueryParameterValue": params["maxresults"],
                    },
                ) from e
            if not 1 <= max_results <= 1000:
                raise BadRequest(
                    "The value for one of the HTTP query parameters is out of range.",
                    code="OutOfRangeQueryParameterValue",
                    values={
                        "QueryParameterName": "maxresults",
                        "QueryParameterValue": params["maxresults"],
                    },
                )
        fields = params.get("$select")
        return cls(
            params.get("$filter") or None,
            fields.split(",") if fields else None,
            max_results,
            -1,
        )

    def next_token(self, after: int) -> str:
        raw = json.dumps({"f": self.filter, "s": self.select, "m": self.max_results, "a": after})
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def page(
    items: list[tuple[int, dict[str, Any]]], query: ListQuery, base_url: str
) -> dict[str, Any]:
    """One page of `items` (sequence number, document), filtered, selected and linked."""
    predicate = parse_filter(query.filter)
    out: list[dict[str, Any]] = []
    last = query.after
    more = False
    for seq, doc in items:
        if seq <= query.after:
            continue
        if predicate is not None and not predicate(doc):
            continue
        if len(out) == query.max_results:
            more = True
            break
        out.append(select(doc, query.select))
        last = seq
    body: dict[str, Any] = {"value": out}
    if more:
        body["odata.nextLink"] = (
            f"{base_url}?api-version={API_VERSION}&$skiptoken={query.next_token(last)}"
        )
    return body
