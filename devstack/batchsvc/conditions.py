"""HTTP conditional headers on Batch resources: If-Match, If-None-Match, If-(Un)Modified-Since."""

from __future__ import annotations

from typing import Any

from devstack.batchsvc.errors import BatchServiceError, PreconditionFailed
from devstack.batchsvc.messages import Request
from devstack.batchsvc.timestamps import parse_iso, parse_rfc1123


class NotModified(BatchServiceError):
    """A read whose condition says the caller's copy is current (304)."""

    status = 304
    code = "ConditionNotMet"


def _failed(header: str) -> PreconditionFailed:
    return PreconditionFailed(
        "The condition specified using HTTP conditional header(s) is not met.",
        code="ConditionNotMet",
        values={"Header": header},
    )


def check(request: Request, doc: dict[str, Any]) -> None:
    """Raise 412 (or 304 on a read) when a conditional header does not hold for `doc`."""
    read = request.method in ("GET", "HEAD")
    tag = str(doc.get("eTag") or "")
    modified = parse_iso(str(doc["lastModified"])).replace(microsecond=0)
    if_match = request.header("if-match")
    if if_match and if_match != "*" and if_match.strip('"') != tag:
        raise _failed("If-Match")
    if_none_match = request.header("if-none-match")
    if if_none_match and (if_none_match == "*" or if_none_match.strip('"') == tag):
        if read:
            raise NotModified("The resource has not been modified.")
        raise _failed("If-None-Match")
    since = request.header("if-modified-since")
    if since and modified <= parse_rfc1123(since):
        if read:
            raise NotModified("The resource has not been modified.")
        raise _failed("If-Modified-Since")
    unmodified = request.header("if-unmodified-since")
    if unmodified and modified > parse_rfc1123(unmodified):
        raise _failed("If-Unmodified-Since")
