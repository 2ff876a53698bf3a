"""Checks of request bodies, with the error codes Batch uses for them."""

from __future__ import annotations

import re
from typing import Any

from devstack.batchsvc.errors import BadRequest
from devstack.batchsvc.timestamps import parse_duration

_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_DIGITS = re.compile(r"^-?[0-9]{1,10}$")


def missing(name: str) -> BadRequest:
    return BadRequest(
        "A required property was not specified in the request body.",
        code="MissingRequiredProperty",
        values={"PropertyName": name},
    )


def invalid(name: str, value: Any, reason: str) -> BadRequest:
    return BadRequest(
        "A property in the request body has an invalid value.",
        code="InvalidPropertyValue",
        values={"PropertyName": name, "PropertyValue": str(value), "Reason": reason},
    )


def unsupported(name: str, reason: str) -> BadRequest:
    return BadRequest(
        f"The property {name} is not supported by this service. {reason}",
        code="FeatureNotSupported",
        values={"PropertyName": name, "Reason": reason},
    )


def require(body: dict[str, Any], name: str) -> Any:
    value = body.get(name)
    if value is None or value == "":
        raise missing(name)
    return value


def entity_id(body: dict[str, Any], name: str = "id") -> str:
    value = require(body, name)
    if not isinstance(value, str) or not _ID.match(value):
        raise invalid(
            name,
            value,
            "The id can contain any combination of alphanumeric characters including hyphens and "
            "underscores, and cannot contain more than 64 characters.",
        )
    return value


def integer(
    body: dict[str, Any], name: str, default: int, low: int | None = None, high: int | None = None
) -> int:
    value = body.get(name, default)
    if value is None:
        return default
    if isinstance(value, str) and _DIGITS.match(value):
        # Batch's JSON reader takes a number written as a string; the Azure CLI sends "2".
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(name, value, "The value must be an integer.")
    if (low is not None and value < low) or (high is not None and value > high):
        raise invalid(name, value, f"The value must be between {low} and {high}.")
    return value


def duration(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    try:
        parse_duration(value)
    except (ValueError, TypeError) as e:
        raise invalid(name, value, "The value must be an ISO 8601 duration.") from e
    return str(value)


def name_values(body: dict[str, Any], name: str) -> list[dict[str, str]]:
    items = body.get(name) or []
    if not isinstance(items, list):
        raise invalid(name, items, "The value must be a list.")
    for item in items:
        if not isinstance(item, dict) or not item.get("name"):
            raise missing(f"{name}.name")
    return items
