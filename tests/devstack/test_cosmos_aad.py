"""The Cosmos DB-compatible server started with a token key behaves as an account with local
auth disabled: the SDK with a token for the account works; a master key, a token for another
audience, an expired one or one signed with another key gets 401."""

from __future__ import annotations

import json
import ssl
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.cosmos import CosmosClient
from azure.cosmos.documents import ConnectionPolicy, SSLConfiguration
from azure.cosmos.exceptions import CosmosHttpResponseError

from devstack.identity.tokens import TokenIdentity, TokenIssuer, make_signing_key
from devstack.servers import COSMOS_KEY, CosmosServer, start_cosmos
from tests.tokens import StaticToken

pytestmark = pytest.mark.stack
APP = TokenIdentity("11111111-1111-1111-1111-111111111111")


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_signing_key(tmp_path_factory.mktemp("signing"))


@pytest.fixture(scope="module")
def cosmos(
    tmp_path_factory: pytest.TempPathFactory, keys: tuple[Path, Path]
) -> Iterator[CosmosServer]:
    server = start_cosmos(tmp_path_factory.mktemp("cosmos"), token_key=keys[1])
    yield server
    server.process.stop()


def client(cosmos: CosmosServer, credential: Any) -> CosmosClient:
    policy = ConnectionPolicy()
    policy.SSLConfiguration = SSLConfiguration()
    policy.SSLConfiguration.SSLCaCerts = str(cosmos.ca_cert)
    return CosmosClient(cosmos.endpoint, credential, connection_policy=policy)


def test_a_token_for_the_account_creates_and_reads_a_database(
    cosmos: CosmosServer, keys: tuple[Path, Path]
) -> None:
    host = urllib.parse.urlsplit(cosmos.endpoint).hostname
    token, _ = TokenIssuer.from_file(keys[0]).issue(APP, f"https://{host}")
    c = client(cosmos, StaticToken(token))
    c.create_database_if_not_exists("aad")
    assert "aad" in [d["id"] for d in c.list_databases()]


@pytest.mark.parametrize("case", ["master key", "other audience", "expired", "other key"])
def test_anything_but_a_good_token_is_refused_with_401(
    cosmos: CosmosServer, keys: tuple[Path, Path], tmp_path: Path, case: str
) -> None:
    issuer = TokenIssuer.from_file(keys[0])
    credential: Any
    if case == "master key":
        credential = COSMOS_KEY
    elif case == "other audience":
        credential = StaticToken(issuer.issue(APP, "https://storage.azure.com")[0])
    elif case == "expired":
        credential = StaticToken(issuer.issue(APP, "https://127.0.0.1", now=1_000_000)[0])
    else:
        other = TokenIssuer.from_file(make_signing_key(tmp_path)[0])
        credential = StaticToken(other.issue(APP, "https://127.0.0.1")[0])
    with pytest.raises(CosmosHttpResponseError) as refused:
        list(client(cosmos, credential).list_databases())
    assert refused.value.status_code == 401


def auth_counts(cosmos: CosmosServer) -> dict[str, int]:
    context = ssl.create_default_context(cafile=str(cosmos.ca_cert))
    with urllib.request.urlopen(f"{cosmos.endpoint}_devstack/auth", context=context) as r:
        counts: dict[str, int] = json.loads(r.read())["authentication"]
    return counts


def test_the_server_counts_authorizations_by_scheme(
    cosmos: CosmosServer, keys: tuple[Path, Path]
) -> None:
    before = auth_counts(cosmos)
    token, _ = TokenIssuer.from_file(keys[0]).issue(APP, "https://cosmos.azure.com")
    list(client(cosmos, StaticToken(token)).list_databases())
    with pytest.raises(CosmosHttpResponseError):
        list(client(cosmos, COSMOS_KEY).list_databases())
    after = auth_counts(cosmos)
    assert after.get("aad accepted", 0) > before.get("aad accepted", 0)
    assert after.get("master refused", 0) > before.get("master refused", 0)
    assert "master accepted" not in after
