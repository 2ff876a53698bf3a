"""The HTTP transport of the SDK clients of the app and the worker: one pooled session per
client, sized for the requests it has in flight at once.

The SDKs' default transport keeps 10 connections per client; a host running 32 invocations
at once, or a worker with 16 batches in flight, then opens and drops a connection (and its
TLS handshake) on most requests. And unless a proxy is configured, the session does not look
at the environment on every request: `requests` would otherwise scan the environment for
proxies and look for a ~/.netrc file per call, which under many threads costs more than
the call's own work (each look-up gives up the interpreter lock and waits to take it back);
the CA bundle it would find there is read once instead.
"""

from __future__ import annotations

import os

import requests
import requests.adapters
from azure.core.pipeline.transport import RequestsTransport
from urllib3.util.retry import Retry

# Connections kept per endpoint by default: at least one per invocation a host runs at once.
POOL_CONNECTIONS = 64
_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy")


def proxy_configured() -> bool:
    """Whether the environment names an HTTP proxy (then `requests` must keep reading it)."""
    return any(os.environ.get(v) or os.environ.get(v.upper()) for v in _PROXY_VARIABLES)


def pooled_transport(
    pool_size: int = POOL_CONNECTIONS,
    connection_timeout: float = 300,
    read_timeout: float = 300,
) -> RequestsTransport:
    """A transport with `pool_size` kept connections per endpoint; the SDK pipeline retries
    (the session itself does not). The timeouts default to azure-core's own."""
    session = requests.Session()
    no_retries = Retry(total=False, redirect=False, raise_on_status=False)
    adapter = requests.adapters.HTTPAdapter(
        pool_connections=4, pool_maxsize=pool_size, max_retries=no_retries
    )
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    verify: bool | str = True
    if not proxy_configured():
        session.trust_env = False
        verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    # The transport passes its own `verify` on every request, which wins over the session's:
    # the bundle goes there.
    return RequestsTransport(
        session=session,
        session_owner=True,
        connection_timeout=connection_timeout,
        read_timeout=read_timeout,
        connection_verify=verify,
    )
