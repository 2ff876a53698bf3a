"""Routes: which worker path a dropped file takes, decided from its name alone."""

from __future__ import annotations

from enum import StrEnum


class Route(StrEnum):
    ZIP = "zip"
    CSV = "csv"
    IGNORE = "ignore"  # not ours (e.g. an upload tool's temp file): no run is recorded
    NONE = "none"  # ours but unsupported: the run ends `rejected`


def route_for(name: str, ignore_prefixes: tuple[str, ...] = ()) -> Route:
    base = name.rsplit("/", 1)[-1]
    if any(name.startswith(p) for p in ignore_prefixes) or not base:
        return Route.IGNORE
    lowered = base.lower()
    if lowered.endswith(".zip"):
        return Route.ZIP
    if lowered.endswith(".csv"):
        return Route.CSV
    return Route.NONE


def no_route_reason(name: str) -> str:
    return f"{name}: no route for this file type; drop .csv or .zip files"
