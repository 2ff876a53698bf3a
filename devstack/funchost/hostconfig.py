"""host.json: the settings of the Functions host this host honours.

Honoured: ``functionTimeout``, ``functions``, ``logging.logLevel``, ``extensions.blobs``
(``maxDegreeOfParallelism``, ``poisonBlobThreshold`` or its option name
``maxDequeueCount``), ``extensions.queues.messageEncoding`` and
``extensions.http.routePrefix``. Unknown keys are ignored,
as the real host ignores settings of extensions it does not load.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack.funchost.errors import ConfigError

log = logging.getLogger(__name__)

# Consumption plan default; "-1" in host.json means no limit.
DEFAULT_FUNCTION_TIMEOUT = dt.timedelta(minutes=5)
DEFAULT_MAX_DEQUEUE_COUNT = 5
_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,7}))?$")


def _default_parallelism() -> int:
    return 8 * (os.cpu_count() or 1)


@dataclass(frozen=True)
class HostConfig:
    """The parts of host.json the host acts on."""

    function_timeout: dt.timedelta | None = DEFAULT_FUNCTION_TIMEOUT
    max_dequeue_count: int = DEFAULT_MAX_DEQUEUE_COUNT
    max_degree_of_parallelism: int = field(default_factory=_default_parallelism)
    base64_queue_messages: bool = True
    log_levels: Mapping[str, str] = field(default_factory=dict)
    # host.json "functions": when present and not empty, only these functions run.
    functions: tuple[str, ...] | None = None
    http_route_prefix: str = "api"

    @classmethod
    def read(cls, path: Path) -> HostConfig:
        if not path.exists():
            log.warning("no host.json at %s; using the host's defaults", path)
            return cls()
        try:
            document = json.loads(path.read_text(encoding="utf-8-sig"))
        except (OSError, ValueError) as e:
            raise ConfigError(f"{path} is not readable JSON: {e}") from e
        if not isinstance(document, dict):
            raise ConfigError(f"{path} must hold a JSON object")
        return cls.from_document(document, source=str(path))

    @classmethod
    def from_document(cls, document: Mapping[str, Any], source: str = "host.json") -> HostConfig:
        extensions = _section(document, "extensions", source)
        blobs = _section(extensions, "blobs", source)
        queues = _section(extensions, "queues", source)
        http = _section(extensions, "http", source)
        logging_section = _section(document, "logging", source)
        levels = _section(logging_section, "logLevel", source)

        threshold = blobs.get("poisonBlobThreshold", blobs.get("maxDequeueCount"))
        encoding = str(queues.get("messageEncoding", "base64")).lower()
        if encoding not in ("base64", "none"):
            raise ConfigError(f"{source}: extensions.queues.messageEncoding must be base64 or none")
        selected = document.get("functions")
        if selected is not None and (
            not isinstance(selected, list) or not all(isinstance(n, str) for n in selected)
        ):
            raise ConfigError(f"{source}: 'functions' must be a list of function names")
        prefix = http.get("routePrefix", "api")
        if not isinstance(prefix, str):
            raise ConfigError(f"{source}: extensions.http.routePrefix must be a string")
        return cls(
            functions=tuple(selected) if selected else None,
            http_route_prefix=prefix.strip("/"),
            function_timeout=_function_timeout(document.get("functionTimeout"), source),
            max_dequeue_count=_positive_int(
                threshold, DEFAULT_MAX_DEQUEUE_COUNT, "extensions.blobs.poisonBlobThreshold", source
            ),
            max_degree_of_parallelism=_positive_int(
                blobs.get("maxDegreeOfParallelism"),
                _default_parallelism(),
                "extensions.blobs.maxDegreeOfParallelism",
                source,
            ),
            base64_queue_messages=encoding == "base64",
            log_levels={str(k): str(v) for k, v in levels.items()},
        )


def _section(parent: Mapping[str, Any], name: str, source: str) -> Mapping[str, Any]:
    # host.json keys are case-insensitive in the real host.
    for key, value in parent.items():
        if key.lower() == name.lower():
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: {name!r} must be an object")
            return value
    return {}


def _positive_int(value: object, default: int, name: str, source: str) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ConfigError(f"{source}: {name} must be a whole number, got {value!r}")
    try:
        number = int(value)
    except ValueError as e:
        raise ConfigError(f"{source}: {name} must be a whole number, got {value!r}") from e
    if number < 1:
        raise ConfigError(f"{source}: {name} must be at least 1, got {number}")
    return number


def _function_timeout(value: object, source: str) -> dt.timedelta | None:
    if value is None:
        return DEFAULT_FUNCTION_TIMEOUT
    text = str(value).strip()
    if text == "-1":
        return None
    match = _TIMESPAN.match(text)
    if match is None:
        raise ConfigError(f"{source}: functionTimeout {text!r} is not a TimeSpan like 00:05:00")
    days, hours, minutes, seconds, fraction = match.groups()
    timeout = dt.timedelta(
        days=int(days or 0),
        hours=int(hours),
        minutes=int(minutes),
        seconds=int(seconds),
        microseconds=int((fraction or "0").ljust(7, "0")[:6]),
    )
    if timeout <= dt.timedelta(0):
        raise ConfigError(f"{source}: functionTimeout must be longer than zero")
    return timeout
