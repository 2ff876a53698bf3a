"""HTTP-triggered functions: read from the app's bindings, called with the
``azure.functions.HttpRequest`` the Python worker passes, answered from the
``azure.functions.HttpResponse`` (or ``str``/``bytes``/``None``) they return."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import azure.functions as func

from devstack.funchost.errors import ConfigError, StartupError
from devstack.funchost.httpkeys import AUTH_LEVELS, FUNCTION
from devstack.funchost.httproute import RouteTemplate

HTTP_TRIGGER = "httpTrigger"
HTTP_OUTPUT = "http"
RETURN = "$return"


@dataclass(frozen=True)
class HttpFunction:
    """An HTTP-triggered function: its route, methods (None: any) and auth level."""

    name: str
    argument: str
    route: RouteTemplate
    methods: frozenset[str] | None
    auth_level: str
    call: Callable[..., Any]
    wants_context: bool

    @property
    def function_id(self) -> str:
        return f"Host.Functions.{self.name}"

    def allows_method(self, method: str) -> bool:
        return self.methods is None or method.upper() in self.methods


def _text(value: object) -> str:
    """The wire text of a binding value (the library hands enums: HttpMethod.GET)."""
    return str(getattr(value, "value", value))


def http_function(
    name: str,
    trigger: Mapping[str, Any],
    others: list[Mapping[str, Any]],
    call: Callable[..., Any],
    wants_context: bool,
) -> HttpFunction | None:
    """The function, or None when it needs bindings this host does not serve (an output
    binding other than its ``$return`` response)."""
    if any(b.get("type") != HTTP_OUTPUT or b.get("name") != RETURN for b in others):
        return None
    level = _text(trigger.get("authLevel") or FUNCTION).lower()
    if level not in AUTH_LEVELS:
        raise ConfigError(f"function {name}: authLevel {level!r} is not one of {AUTH_LEVELS}")
    methods = trigger.get("methods")
    route = trigger.get("route")
    try:
        template = RouteTemplate.parse(name if route is None else str(route))
    except ConfigError as e:
        raise StartupError(f"function {name}: {e}") from e
    return HttpFunction(
        name=name,
        argument=str(trigger["name"]),
        route=template,
        methods=frozenset(_text(m).upper() for m in methods) if methods else None,
        auth_level=level,
        call=call,
        wants_context=wants_context,
    )


def request(
    method: str,
    url: str,
    headers: Mapping[str, str],
    query: Mapping[str, str],
    route_values: Mapping[str, str],
    body: bytes,
) -> func.HttpRequest:
    return func.HttpRequest(
        method=method.upper(),
        url=url,
        headers=dict(headers),
        params=dict(query),
        route_params=dict(route_values),
        body=body,
    )


@dataclass(frozen=True)
class Reply:
    """What goes back on the wire."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


def reply(value: object) -> Reply:
    """The HTTP answer for what a function returned; TypeError for anything else."""
    if value is None:
        return Reply(204, [], b"")
    if isinstance(value, str):
        return Reply(200, [("Content-Type", "text/plain; charset=utf-8")], value.encode())
    if isinstance(value, bytes | bytearray):
        return Reply(200, [("Content-Type", "application/octet-stream")], bytes(value))
    if isinstance(value, func.HttpResponse):
        headers = [(str(k), str(v)) for k, v in value.headers.items()]
        if not any(k.lower() == "content-type" for k, _ in headers) and value.mimetype:
            kind = value.mimetype
            if value.charset and (kind.startswith("text/") or kind.endswith(("json", "xml"))):
                kind = f"{kind}; charset={value.charset}"
            headers.append(("Content-Type", kind))
        return Reply(int(value.status_code), headers, value.get_body() or b"")
    raise TypeError(f"an HTTP function returned {type(value).__name__}, not an HttpResponse")
