"""The HTTP responses of the status page, its JSON API and its static files: what the
function app's HTTP triggers return."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping

import azure.functions as func

from batch_core import statusdata
from batch_core.errors import BadRequestError, DropbatchError
from batch_core.pipeline import Pipeline
from batch_core.statuspage import render
from batch_core.statuspage.runquery import RunQuery, runs_page

log = logging.getLogger(__name__)

SECURITY_HEADERS = {
    "Content-Security-Policy": render.CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the page's address carries the function key
    "Cache-Control": "no-store",
}


def status_page(p: Pipeline, now: dt.datetime) -> func.HttpResponse:
    """GET /api/status: the page, or 503 naming what could not be read."""
    try:
        html = render.status_html(statusdata.gather(p, now))
    except DropbatchError as e:
        log.warning("status page: %s", e)
        return _text(503, f"the status could not be read: {e}")
    return func.HttpResponse(
        html, status_code=200, mimetype="text/html", charset="utf-8", headers=SECURITY_HEADERS
    )


def status_json(p: Pipeline, params: Mapping[str, str]) -> func.HttpResponse:
    """GET /api/status.json: one page of runs; 400 naming a bad parameter, 503 when the ledger
    could not be read."""
    try:
        body = runs_page(p.ledger, RunQuery.parse(params))
    except BadRequestError as e:
        return _json(400, {"error": str(e), "parameter": e.name})
    except DropbatchError as e:
        log.warning("status.json: %s", e)
        return _json(503, {"error": f"the ledger could not be read: {e}"})
    return _json(200, body)


def static(name: str) -> func.HttpResponse:
    """GET /api/static/{file}: a file shipped in static/, else 404."""
    found = render.static_file(name)
    if found is None:
        return _text(404, "no such file")
    content, content_type = found
    return func.HttpResponse(
        content,
        status_code=200,
        headers={
            "Content-Type": content_type,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "public, max-age=3600",
        },
    )


def _json(status: int, body: object) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body, indent=1),
        status_code=status,
        mimetype="application/json",
        charset="utf-8",
        headers=SECURITY_HEADERS,
    )


def _text(status: int, text: str) -> func.HttpResponse:
    return func.HttpResponse(
        text, status_code=status, mimetype="text/plain", charset="utf-8", headers=SECURITY_HEADERS
    )
