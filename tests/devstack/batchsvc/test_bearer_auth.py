"""The Batch service as an AAD-only account: Entra ID bearer tokens from the local identity
endpoint's key are accepted over HTTPS; a token with the wrong audience, expired, or signed
with another key is refused with 401 and Batch's error body; SharedKey is refused."""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.batch import BatchClient
from azure.core.credentials import AzureNamedKeyCredential
from azure.core.exceptions import HttpResponseError

from devstack.batchsvc.auth import BATCH_AUDIENCE
from devstack.batchsvc.server import BatchServiceServer as BatchService
from devstack.batchsvc.server import ServiceConfig
from devstack.identity.tokens import TokenIdentity, TokenIssuer, make_signing_key
from devstack.tls import ensure_certificate
from tests.tokens import StaticToken

APP = TokenIdentity("11111111-1111-1111-1111-111111111111")
KEY = "ZGV2YmF0Y2hhY2NvdW50LXdlbGwta25vd24tZGV2ZWxvcG1lbnQta2V5LTAwMDA="


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_signing_key(tmp_path_factory.mktemp("signing"))


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return ensure_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def service(
    tmp_path_factory: pytest.TempPathFactory, keys: tuple[Path, Path], tls: tuple[Path, Path]
) -> Iterator[BatchService]:
    config = ServiceConfig(
        state_dir=tmp_path_factory.mktemp("batch"),
        account="devbatchaccount",
        key=None,
        token_key=keys[1],
        tls_cert=tls[0],
        tls_key=tls[1],
    )
    with BatchService(config) as s:
        yield s


@pytest.fixture(scope="module")
def issuer(keys: tuple[Path, Path]) -> TokenIssuer:
    return TokenIssuer.from_file(keys[0])


def call(service: BatchService, ca: Path, authorization: str) -> tuple[int, Any, Any]:
    request = urllib.request.Request(
        f"{service.url}/pools?api-version=2025-06-01",
        headers={"Authorization": authorization},
    )
    context = ssl.create_default_context(cafile=str(ca))
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            return response.status, json.loads(response.read()), response.headers
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read()), e.headers


def detail(body: dict[str, Any]) -> str:
    return str(next(v["value"] for v in body["values"] if v["key"] == "AuthenticationErrorDetail"))


def test_the_batch_client_with_a_valid_token_lists_pools_over_https(
    service: BatchService, issuer: TokenIssuer, tls: tuple[Path, Path]
) -> None:
    assert service.url.startswith("https://")
    token, _ = issuer.issue(APP, BATCH_AUDIENCE)
    client = BatchClient(service.url, StaticToken(token), connection_verify=str(tls[0]))
    assert list(client.list_pools()) == []


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("wrong audience", "The audience 'https://storage.azure.com' is invalid."),
        ("expired", "Lifetime validation failed. The token is expired."),
        ("other key", "The access token signature is invalid."),
    ],
)
def test_a_bad_token_is_refused_with_401_and_the_reason(
    service: BatchService,
    issuer: TokenIssuer,
    tls: tuple[Path, Path],
    tmp_path: Path,
    case: str,
    reason: str,
) -> None:
    if case == "wrong audience":
        token, _ = issuer.issue(APP, "https://storage.azure.com")
    elif case == "expired":
        token, _ = issuer.issue(APP, BATCH_AUDIENCE, now=int(time.time()) - 7200)
    else:
        other = TokenIssuer.from_file(make_signing_key(tmp_path)[0])
        token, _ = other.issue(APP, BATCH_AUDIENCE)
    status, body, headers = call(service, tls[0], f"Bearer {token}")
    assert status == 401
    assert body["code"] == "AuthenticationFailed"
    assert body["message"]["value"] == "Server failed to authenticate the request."
    assert body["odata.metadata"].startswith(service.url)
    assert detail(body) == reason
    assert 'error="invalid_token"' in headers["WWW-Authenticate"]


def test_the_sdk_sees_a_refused_token_as_a_401(
    service: BatchService, issuer: TokenIssuer, tls: tuple[Path, Path]
) -> None:
    token, _ = issuer.issue(APP, "https://management.azure.com/")
    client = BatchClient(service.url, StaticToken(token), connection_verify=str(tls[0]))
    with pytest.raises(HttpResponseError) as refused:
        list(client.list_pools())
    assert refused.value.status_code == 401


def test_an_aad_only_account_refuses_shared_key_and_counts_it(
    service: BatchService, tls: tuple[Path, Path]
) -> None:
    client = BatchClient(
        service.url,
        AzureNamedKeyCredential("devbatchaccount", KEY),
        connection_verify=str(tls[0]),
    )
    with pytest.raises(HttpResponseError) as refused:
        list(client.list_pools())
    assert refused.value.status_code == 401
    auth = service.stats.snapshot()["authentication"]
    assert auth.get("SharedKey refused", 0) >= 1 and "SharedKey accepted" not in auth
