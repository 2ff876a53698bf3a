"""Where a task's files come from (resource sources) and where its outputs go."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator

from batch_core.routebook.values import check_relative_path

SourceKind = Literal["input", "config", "results", "member", "https"]
MEMBER_SOURCES = ("input", "params", "global")
SOURCES_HELP = (
    "expected input, config:<path or prefix/>, results:<prefix/>, "
    "member:input|params|global or https://… (no query string)"
)


def split_source(source: str) -> tuple[SourceKind, str]:
    """(kind, rest) of a resource source: ("config", "app/"), ("member", "params"), ("https",
    the URL), ("input", "")."""
    if source == "input":
        return "input", ""
    if source.startswith("https://"):
        return "https", source
    for kind in ("config", "results", "member"):
        if source.startswith(kind + ":"):
            return kind, source[len(kind) + 1 :]
    raise ValueError(SOURCES_HELP)


def check_source(source: str) -> str:
    """The source, if it is one a task may download (https without a query, member:, config: or
    results:); else ValueError saying what is expected."""
    kind, rest = split_source(source)
    if kind == "https":
        url = urlsplit(rest)
        if url.query or url.fragment or "?" in rest:
            raise ValueError(
                "an https source may not carry a query string (dropbatch never puts a SAS "
                "into a task); use a public URL or config:<path>"
            )
        if not url.netloc or not url.path.strip("/"):
            raise ValueError("expected https://<host>/<path>")
    elif kind == "member":
        if rest not in MEMBER_SOURCES:
            raise ValueError("expected member:input, member:params or member:global")
    elif kind in ("config", "results"):
        try:
            check_relative_path(rest)
        except ValueError:
            raise ValueError(f"{kind}: expected a relative path after '{kind}:'") from None
        if kind == "results" and not rest.endswith("/"):
            raise ValueError("results: expected a prefix ending in / (results:<prefix/>)")
    return source


def is_prefix(source: str) -> bool:
    """Whether the source names a folder (every blob under a prefix) rather than one file."""
    kind, rest = split_source(source)
    return kind in ("config", "results") and rest.endswith("/")


def split_destination(to: str) -> tuple[Literal["results", "logs"], str]:
    """A destination's kind (results or logs) and its path; ValueError for anything else."""
    for kind in ("results", "logs"):
        if to.startswith(kind + ":"):
            return kind, to[len(kind) + 1 :]
    raise ValueError("expected results:<path> or logs:<path>")


def check_destination(to: str) -> str:
    """The destination, if it is results:<path> or logs:<path> with a safe relative path; else
    ValueError."""
    kind, rest = split_destination(to)
    try:
        check_relative_path(rest)
    except ValueError:
        raise ValueError(f"expected a relative path after '{kind}:'") from None
    return to


ResourceSource = Annotated[str, AfterValidator(check_source)]
Destination = Annotated[str, AfterValidator(check_destination)]
