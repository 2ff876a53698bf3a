"""Structured logs: one JSON object per line on stderr, filtered by host.json logLevel.

Every record gets a category the way the real host names them: ``Host.<area>`` for the
host's own lines, ``Function.<name>`` for invocation lines and ``Function.<name>.User``
for what the function itself logs while it runs. ``logging.logLevel`` in host.json maps
category prefixes to .NET level names; the longest matching prefix wins, then
``default``. Structured fields go in ``extra={"fields": {...}}``.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import sys
import threading
import traceback
from collections.abc import Mapping
from typing import Any, TextIO

HOST_CATEGORY = "Host.General"
SDK_CATEGORY = "Azure.Sdk"

_LEVELS = {
    "trace": 5,
    "debug": logging.DEBUG,
    "information": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
    "none": logging.CRITICAL + 10,
}


class InvocationScope(threading.local):
    """Which invocation the current thread runs, so user log lines can say so."""

    function_name: str | None = None
    invocation_id: str | None = None


scope = InvocationScope()


def level_number(name: str) -> int:
    try:
        return _LEVELS[name.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown log level {name!r}") from None


def _category(record: logging.LogRecord) -> str:
    explicit = getattr(record, "category", None)
    if isinstance(explicit, str):
        return explicit
    if record.name.startswith("devstack.funchost"):
        return HOST_CATEGORY
    if record.name == "azure" or record.name.startswith("azure."):
        return SDK_CATEGORY
    if scope.function_name is not None:
        return f"Function.{scope.function_name}.User"
    return "Function"


class CategoryFilter(logging.Filter):
    """Drops records below the level host.json sets for their category."""

    def __init__(self, levels: Mapping[str, str]) -> None:
        super().__init__()
        self._levels = {k.lower(): level_number(v) for k, v in levels.items()}
        self._default = self._levels.get("default", logging.INFO)
        # The real host does not echo the storage SDK's request logs.
        self._levels.setdefault(SDK_CATEGORY.lower(), logging.WARNING)

    def minimum(self) -> int:
        return min([self._default, *self._levels.values()])

    def threshold(self, category: str) -> int:
        parts = category.lower().split(".")
        for end in range(len(parts), 0, -1):
            level = self._levels.get(".".join(parts[:end]))
            if level is not None:
                return level
        return self._default

    def filter(self, record: logging.LogRecord) -> bool:
        category = _category(record)
        record.category = category
        return record.levelno >= self.threshold(category)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, category, message and fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "category": getattr(record, "category", _category(record)),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if scope.invocation_id is not None and "invocation_id" not in entry:
            entry["invocation_id"] = scope.invocation_id
        fields = getattr(record, "fields", None)
        if isinstance(fields, Mapping):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return json.dumps(entry, default=str)


class PrintedLines(io.TextIOBase):
    """Stands in for ``sys.stdout`` so what the app prints becomes log lines.

    The real host captures a function's console output into its logs; here it also
    keeps stdout free for the ready line, whatever the app prints at import.
    """

    def __init__(self, logger_name: str = "function.stdout") -> None:
        super().__init__()
        self._log = logging.getLogger(logger_name)
        self._lock = threading.Lock()
        self._pending = ""

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]  # io.TextIOBase's is None
        return "utf-8"

    def write(self, text: str) -> int:
        with self._lock:
            self._pending += text
            *lines, self._pending = self._pending.split("\n")
        for line in lines:
            if line.strip():
                self._log.info("%s", line)
        return len(text)

    def flush(self) -> None:
        with self._lock:
            line, self._pending = self._pending, ""
        if line.strip():
            self._log.info("%s", line)


def configure(levels: Mapping[str, str], stream: TextIO | None = None) -> None:
    """Route every logger of the process to JSON lines on ``stream`` (stderr by default)."""
    category_filter = CategoryFilter(levels)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(category_filter)
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(category_filter.minimum())
    logging.getLogger("azure").setLevel(category_filter.threshold(SDK_CATEGORY))
