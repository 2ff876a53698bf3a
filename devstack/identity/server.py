"""The local managed identity endpoint: the two protocols azure-identity (through MSAL)
speaks, on one loopback port.

- App Service / Functions (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER` in the app's environment):
  `GET /msi/token?resource=R&api-version=2019-08-01[&client_id=C|&mi_res_id=I|&object_id=O]`
  with the header `X-IDENTITY-HEADER`; answers `{access_token, expires_on, resource,
  token_type, client_id}`. It serves the app's system-assigned identity (and the app's
  user-assigned ones, when asked by id).
- Azure Instance Metadata Service (a VM, hence a Batch node):
  `GET /metadata/identity/oauth2/token?resource=R&api-version=2018-02-01[&client_id=C|...]`
  with `Metadata: true`; answers `{access_token, client_id, expires_in, expires_on,
  ext_expires_in, not_before, resource, token_type}`. It serves the pool's user-assigned
  identities. A node reaches it through `AZURE_POD_IDENTITY_AUTHORITY_HOST`, the host
  override both azure-identity and MSAL read in place of 169.254.169.254.

`GET /_devstack/stats` counts the tokens issued, by endpoint and identity.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from devstack.identity.tokens import TokenIdentity, TokenIssuer

log = logging.getLogger(__name__)

APP_SERVICE_PATH = "/msi/token"
IMDS_PATH = "/metadata/identity/oauth2/token"
STATS_PATH = "/_devstack/stats"


class IdentityRefused(Exception):
    """A token request the endpoint answers with an error (status and body)."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(json.dumps(body))
        self.status = status
        self.body = body


@dataclass(frozen=True)
class IdentityConfig:
    issuer: TokenIssuer
    header_secret: str  # the X-IDENTITY-HEADER value App Service gives the app
    app_identity: TokenIdentity | None = None  # the function app's system-assigned identity
    app_user_identities: tuple[TokenIdentity, ...] = ()
    node_identities: tuple[TokenIdentity, ...] = ()  # the pool's user-assigned identities


def _pick(
    params: Mapping[str, str],
    system: TokenIdentity | None,
    assigned: tuple[TokenIdentity, ...],
    resource_id_param: str,
) -> TokenIdentity | None:
    """The identity a request names, or the default one; None when there is no such one."""
    client_id, object_id = params.get("client_id"), params.get("object_id")
    resource_id = params.get(resource_id_param)
    if client_id or object_id:
        wanted = (client_id or object_id or "").lower()
        return next((i for i in assigned if i.client_id.lower() == wanted), None)
    if resource_id:
        return next((i for i in assigned if i.resource_id.lower() == resource_id.lower()), None)
    if system is not None:
        return system
    # A VM with no system-assigned identity and exactly one user-assigned one uses that one.
    return assigned[0] if len(assigned) == 1 else None


class TokenService:
    """Answers token requests; `app_service` and `imds` return (status, body)."""

    def __init__(self, config: IdentityConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._issued: Counter[str] = Counter()

    def app_service(self, params: Mapping[str, str], headers: Mapping[str, str]) -> dict[str, Any]:
        secret = headers.get("x-identity-header", "")
        if not hmac.compare_digest(secret, self.config.header_secret):
            raise IdentityRefused(
                401, {"statusCode": 401, "message": "X-IDENTITY-HEADER is missing or wrong."}
            )
        if params.get("api-version") != "2019-08-01":
            raise IdentityRefused(
                400, {"statusCode": 400, "message": "api-version must be 2019-08-01."}
            )
        resource = params.get("resource", "")
        if not resource:
            raise IdentityRefused(
                400, {"statusCode": 400, "message": "The resource parameter is required."}
            )
        identity = _pick(
            params, self.config.app_identity, self.config.app_user_identities, "mi_res_id"
        )
        if identity is None:
            raise IdentityRefused(
                400,
                {"statusCode": 400, "message": "No managed identity found for the request."},
            )
        token, expires = self.config.issuer.issue(identity, resource)
        self._count("app_service", identity, resource)
        return {
            "access_token": token,
            "expires_on": str(expires),
            "resource": resource,
            "token_type": "Bearer",
            "client_id": identity.client_id,
        }

    def imds(self, params: Mapping[str, str], headers: Mapping[str, str]) -> dict[str, Any]:
        if headers.get("metadata", "").lower() != "true":
            raise IdentityRefused(
                400,
                {
                    "error": "invalid_request",
                    "error_description": "Required metadata header not specified",
                },
            )
        resource = params.get("resource", "")
        if not resource:
            raise IdentityRefused(
                400,
                {
                    "error": "invalid_request",
                    "error_description": "Required audience parameter not specified",
                },
            )
        identity = _pick(params, None, self.config.node_identities, "msi_res_id")
        if identity is None:
            raise IdentityRefused(
                400, {"error": "invalid_request", "error_description": "Identity not found"}
            )
        token, expires = self.config.issuer.issue(identity, resource)
        self._count("imds", identity, resource)
        lifetime = str(self.config.issuer.lifetime)
        return {
            "access_token": token,
            "client_id": identity.client_id,
            "expires_in": lifetime,
            "expires_on": str(expires),
            "ext_expires_in": lifetime,
            "not_before": str(expires - self.config.issuer.lifetime),
            "resource": resource,
            "token_type": "Bearer",
        }

    def _count(self, endpoint: str, identity: TokenIdentity, resource: str) -> None:
        log.info("token for %s (%s) to %s", identity.client_id, endpoint, resource)
        with self._lock:
            self._issued[f"{endpoint} {identity.client_id} {resource}"] += 1

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {"issued": dict(sorted(self._issued.items()))}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    endpoint: TokenService


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http %s", format % args)

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        params = {k: v[0] for k, v in parse_qs(parts.query).items()}
        headers = {name.lower(): value for name, value in self.headers.items()}
        endpoint = self.server.endpoint
        try:
            if parts.path == APP_SERVICE_PATH:
                self._reply(200, endpoint.app_service(params, headers))
            elif parts.path == IMDS_PATH:
                self._reply(200, endpoint.imds(params, headers))
            elif parts.path == STATS_PATH:
                self._reply(200, endpoint.stats())
            else:
                self._reply(404, {"error": "not_found", "error_description": parts.path})
        except IdentityRefused as e:
            log.info("token request refused (%s): %s", e.status, e.body)
            self._reply(e.status, e.body)

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class IdentityServer:
    """The endpoint on a loopback port: `start()`, then `url`; `stop()`."""

    def __init__(self, config: IdentityConfig, host: str = "127.0.0.1", port: int = 0) -> None:
        self.endpoint = TokenService(config)
        self._httpd = _Server((host, port), _Handler)
        self._httpd.endpoint = self.endpoint
        bound_host, bound_port = self._httpd.server_address[:2]
        self.url = f"http://{bound_host!s}:{bound_port}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="identity-http", daemon=True
        )

    @property
    def app_service_endpoint(self) -> str:
        """The value of IDENTITY_ENDPOINT for the function app."""
        return self.url + APP_SERVICE_PATH

    def start(self) -> IdentityServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> IdentityServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
