"""The status page's HTML (Jinja2, autoescaped) and its static files.

The page carries no script built from data: the chart's figures travel in a
`<script type="application/json">` block (JSON escaped for HTML by Jinja2's `tojson`) that
the static `status.js` reads. The Content-Security-Policy allows scripts and styles from the
app only, so markup slipped into a reason or a file name stays text.
"""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from typing import Any

import jinja2

from batch_core.clock import parse_iso
from batch_core.statusdata import StatusData

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
NONE = "\u2013"  # an en dash where there is no figure
CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}


@functools.cache
def environment() -> jinja2.Environment:
    """The Jinja environment of the status page's templates: autoescaped, strict about undefined
    names, with its filters."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(utc=utc, duration=duration, percent=percent)
    return env


def status_html(data: StatusData) -> str:
    """The whole page for `data`."""
    template = environment().get_template("status.html")
    return str(template.render(d=data, chart=chart_data(data)))


def chart_data(data: StatusData) -> dict[str, Any]:
    """The chart's series, as status.js reads them."""
    return {
        "t": [t for t, _, _ in data.ended],
        "ended": [n for _, n, _ in data.ended],
        "bad": [b for _, _, b in data.ended],
    }


def static_file(name: str) -> tuple[bytes, str] | None:
    """A static file's content and type; None unless `name` is one of the files shipped in
    static/ (no paths, no other files)."""
    path = STATIC_DIR / name
    content_type = CONTENT_TYPES.get(path.suffix)
    if content_type is None or "/" in name or "\\" in name or not path.is_file():
        return None
    return path.read_bytes(), content_type


def utc(moment: dt.datetime | str | None) -> str:
    """A moment as UTC text for the page; empty for None."""
    if moment is None:
        return ""
    if isinstance(moment, str):
        moment = parse_iso(moment)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def duration(seconds: float | None) -> str:
    """Seconds as short text for the page (s, min, h)."""
    if seconds is None:
        return NONE
    whole = round(seconds)
    if whole < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60} min"


def percent(ratio: float | None) -> str:
    """A ratio as a percentage with one decimal."""
    return NONE if ratio is None else f"{ratio * 100:.1f} %"
