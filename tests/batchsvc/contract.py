"""The swagger's schemas, and raw signed requests whose JSON bodies the tests validate."""

from __future__ import annotations

import json
from functools import cache
from typing import Any
from urllib.parse import quote

import jsonschema
from azure.batch import BatchClient
from azure.core.exceptions import HttpResponseError
from azure.core.rest import HttpRequest

from tests.batchsvc.conftest import SWAGGER

API_VERSION = "2025-06-01"


@cache
def _definitions() -> dict[str, Any]:
    return dict(json.loads(SWAGGER.read_text())["definitions"])


def validate(definition: str, body: Any) -> None:
    """Raise jsonschema.ValidationError unless `body` matches the swagger definition."""
    schema = {"$ref": f"#/definitions/{definition}", "definitions": _definitions()}
    jsonschema.Draft4Validator(schema).validate(body)


def raw(
    client: BatchClient,
    method: str,
    path: str,
    body: Any = None,
    api_version: str | None = API_VERSION,
    **params: str,
) -> tuple[int, Any, Any]:
    """Send a signed request: (status, parsed JSON body or None, headers); errors are returned."""
    pairs = [f"api-version={api_version}"] if api_version else []
    pairs.extend(f"{k}={quote(v)}" for k, v in params.items())
    url = f"{path}?{'&'.join(pairs)}" if pairs else path
    request = HttpRequest(method, url, json=body)
    try:
        response = client.send_request(request)
    except HttpResponseError as e:
        response = e.response
    text = response.text() if method != "HEAD" else ""
    return response.status_code, (json.loads(text) if text else None), response.headers
