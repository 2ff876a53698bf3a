"""Requests and responses as the operation handlers see them (no HTTP plumbing)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from devstack.batchsvc.errors import BadRequest, BatchServiceError
from devstack.batchsvc.timestamps import parse_iso, rfc1123

JSON_TYPE = "application/json;odata=minimalmetadata"
_ERRORS_ENTITY = "Microsoft.Azure.Batch.Protocol.Entities.Container.errors/@Element"


@dataclass
class Request:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    raw_body: bytes
    path_args: dict[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self, *, required: bool = True) -> dict[str, Any]:
        if not self.raw_body.strip():
            if required:
                raise BadRequest(
                    "The request body is missing.",
                    code="MissingRequiredProperty",
                    values={"Reason": "The request body is empty"},
                )
            return {}
        try:
            body = json.loads(self.raw_body)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise BadRequest(
                "The body of the request is not valid JSON.",
                code="InvalidRequestBody",
                values={"Reason": str(e)},
            ) from e
        if not isinstance(body, dict):
            raise BadRequest(
                "The body of the request must be a JSON object.", code="InvalidRequestBody"
            )
        return body

    def flag(self, name: str) -> bool:
        return (self.params.get(name) or "").lower() == "true"


@dataclass
class Response:
    status: int
    body: Any = None  # dict -> JSON, bytes -> raw, None -> empty
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = JSON_TYPE


def entity_headers(doc: dict[str, Any]) -> dict[str, str]:
    headers: dict[str, str] = {}
    if doc.get("eTag"):
        headers["ETag"] = str(doc["eTag"])
    if doc.get("lastModified"):
        headers["Last-Modified"] = rfc1123(parse_iso(str(doc["lastModified"])))
    return headers


def created(doc: dict[str, Any]) -> Response:
    headers = entity_headers(doc)
    headers["Location"] = str(doc["url"])
    headers["DataServiceId"] = str(doc["url"])
    return Response(201, None, headers)


def accepted(doc: dict[str, Any] | None = None) -> Response:
    headers = entity_headers(doc) if doc else {}
    if doc and doc.get("url"):
        headers["DataServiceId"] = str(doc["url"])
    return Response(202, None, headers)


def error_body(error: BatchServiceError, base_url: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "odata.metadata": f"{base_url}/$metadata#{_ERRORS_ENTITY}",
        "code": error.code,
        "message": {"lang": "en-US", "value": error.message},
    }
    if error.values:
        body["values"] = [{"key": k, "value": v} for k, v in error.values.items()]
    return body
