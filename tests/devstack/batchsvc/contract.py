"""The swagger's schemas, and raw signed requests whose JSON bodies the tests validate."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import jsonschema
from azure.batch import BatchClient
from azure.core.exceptions import HttpResponseError, ResponseNotReadError
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import SansIOHTTPPolicy
from azure.core.rest import HttpRequest, HttpResponse

API_VERSION = "2025-06-01"
SWAGGER = Path(__file__).resolve().parents[2] / "data" / "batch-rest-api" / "BatchService.json"


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
    headers_if_none_match: str | None = None,
    **params: str,
) -> tuple[int, Any, Any]:
    """Send a signed request: (status, parsed JSON body or None, headers); errors are returned."""
    pairs = [f"api-version={api_version}"] if api_version else []
    pairs.extend(f"{k}={quote(v)}" for k, v in params.items())
    url = f"{path}?{'&'.join(pairs)}" if pairs else path
    headers = {"If-None-Match": headers_if_none_match} if headers_if_none_match else {}
    request = HttpRequest(method, url, json=body, headers=headers)
    try:
        response = client.send_request(request)
    except HttpResponseError as e:
        assert isinstance(e.response, HttpResponse), e
        response = e.response
    text = response.text() if method != "HEAD" else ""
    return response.status_code, (json.loads(text) if text else None), response.headers


@cache
def _operations() -> list[tuple[str, re.Pattern[str], dict[str, Any]]]:
    spec = json.loads(SWAGGER.read_text())
    table = []
    for template, methods in spec["paths"].items():
        regex = re.sub(r"\{filePath\}", "(?P<filePath>.+)", template)
        regex = re.sub(r"\{(\w+)\}", r"[^/]+", regex)
        for method, operation in methods.items():
            if isinstance(operation, dict) and "responses" in operation:
                table.append((method.upper(), re.compile(f"^{regex}$"), operation))
    return table


class SwaggerContract(SansIOHTTPPolicy[HttpRequest, HttpResponse]):
    """Checks every response the SDK receives against the swagger: status, body schema, headers.

    Violations are collected in `violations`; an autouse fixture fails the test that caused one.
    """

    violations: list[str] = []

    def on_response(
        self,
        request: PipelineRequest[HttpRequest],
        response: PipelineResponse[HttpRequest, HttpResponse],
    ) -> None:
        http_request, http_response = request.http_request, response.http_response
        path = urlsplit(http_request.url).path
        method = http_request.method.upper()
        candidates = [
            op for m_, pattern, op in _operations() if m_ == method and pattern.match(path)
        ]
        # The most specific template wins (files/{filePath} vs. literal sub-resources).
        operation = min(candidates, key=lambda op: len(op.get("parameters", [])), default=None)
        where = f"{method} {path} -> {http_response.status_code}"
        if operation is None:
            if http_response.status_code < 400:
                self.violations.append(f"{where}: no such operation in the swagger")
            return
        conditional = (
            "If-None-Match" in http_request.headers or "If-Modified-Since" in http_request.headers
        )
        if http_response.status_code == 304 and conditional:
            return  # plain HTTP, not listed per operation
        status = str(http_response.status_code)
        responses = operation["responses"]
        spec = responses.get(status) or (
            responses.get("default") if http_response.status_code >= 400 else None
        )
        if spec is None:
            self.violations.append(f"{where}: status not documented for {operation['operationId']}")
            return
        self.violations.extend(
            f"{where}: {problem}" for problem in _header_problems(spec, http_response)
        )
        if method != "HEAD":
            self.violations.extend(
                f"{where}: {problem}" for problem in _body_problems(spec, http_response)
            )


def _header_problems(spec: dict[str, Any], response: HttpResponse) -> list[str]:
    problems = [] if "request-id" in response.headers else ["no request-id header"]
    if response.status_code < 300:
        for header in spec.get("headers", {}):
            if header.lower() != "client-request-id" and header not in response.headers:
                problems.append(f"header {header} missing")
    return problems


def _body_problems(spec: dict[str, Any], response: HttpResponse) -> list[str]:
    schema = spec.get("schema")
    if not schema or schema.get("type") == "file":
        return []
    try:
        body = json.loads(response.text())
    except ResponseNotReadError:
        return []  # a streamed download's error body: the SDK reads it later, or never
    except ValueError as e:
        return [f"body is not JSON: {e}"]
    try:
        jsonschema.Draft4Validator({**schema, "definitions": _definitions()}).validate(body)
    except jsonschema.ValidationError as e:
        return [f"body does not match {schema}: {str(e)[:300]}"]
    return []
