"""Time as the pipeline sees it: UTC, ISO 8601 text in documents."""

from __future__ import annotations

import datetime as dt


def utcnow() -> dt.datetime:
    """Now, in UTC."""
    return dt.datetime.now(dt.UTC)


def iso(moment: dt.datetime) -> str:
    """The moment as stored: UTC, milliseconds, a trailing Z."""
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> dt.datetime:
    """A stored moment (ISO 8601, Z or an offset) back as an aware datetime."""
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
