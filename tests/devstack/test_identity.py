"""The local managed identity endpoint, driven by azure-identity's own ManagedIdentityCredential
through both protocols it speaks (App Service for the app, instance metadata for a node)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import CredentialUnavailableError, ManagedIdentityCredential

from devstack.identity.server import IdentityConfig, IdentityServer
from devstack.identity.tokens import (
    ISSUER,
    TokenError,
    TokenIdentity,
    TokenIssuer,
    TokenVerifier,
    make_signing_key,
)

APP = TokenIdentity("11111111-1111-1111-1111-111111111111")
NODE = TokenIdentity("22222222-2222-2222-2222-222222222222", "/subscriptions/x/identities/worker")
OTHER_NODE = TokenIdentity(
    "33333333-3333-3333-3333-333333333333", "/subscriptions/x/identities/other"
)
HEADER = "the-identity-header"
STORAGE = "https://storage.azure.com"


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_signing_key(tmp_path_factory.mktemp("identity"))


@pytest.fixture
def server(keys: tuple[Path, Path]) -> Iterator[IdentityServer]:
    config = IdentityConfig(
        issuer=TokenIssuer.from_file(keys[0]),
        header_secret=HEADER,
        app_identity=APP,
        node_identities=(NODE, OTHER_NODE),
    )
    with IdentityServer(config) as s:
        yield s


@pytest.fixture
def app_environment(server: IdentityServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """What App Service gives a function app."""
    monkeypatch.delenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", raising=False)
    monkeypatch.setenv("IDENTITY_ENDPOINT", server.app_service_endpoint)
    monkeypatch.setenv("IDENTITY_HEADER", HEADER)


@pytest.fixture
def node_environment(server: IdentityServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Batch node: no App Service variables, the metadata service at another address."""
    monkeypatch.delenv("IDENTITY_ENDPOINT", raising=False)
    monkeypatch.delenv("IDENTITY_HEADER", raising=False)
    monkeypatch.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", server.url)


def claims_of(token: str, keys: tuple[Path, Path], audience: str) -> dict[str, object]:
    return TokenVerifier.from_file(keys[1], (audience,)).verify(token)


@pytest.mark.usefixtures("app_environment")
def test_the_app_gets_a_signed_token_for_the_resource_it_asks_for(
    keys: tuple[Path, Path],
) -> None:
    token = ManagedIdentityCredential().get_token(f"{STORAGE}/.default")
    claims = claims_of(token.token, keys, STORAGE)
    assert claims["aud"] == STORAGE and claims["iss"] == ISSUER
    assert claims["appid"] == claims["oid"] == APP.client_id
    assert isinstance(claims["exp"], int) and token.expires_on == claims["exp"]


@pytest.mark.usefixtures("app_environment")
def test_the_app_service_endpoint_wants_its_header(server: IdentityServer) -> None:
    url = f"{server.app_service_endpoint}?resource={STORAGE}&api-version=2019-08-01"
    request = urllib.request.Request(url, headers={"X-IDENTITY-HEADER": "wrong"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 401
    assert json.loads(refused.value.read())["statusCode"] == 401


@pytest.mark.usefixtures("app_environment")
def test_the_app_has_no_user_assigned_identity_it_was_not_given() -> None:
    with pytest.raises((ClientAuthenticationError, CredentialUnavailableError)):
        ManagedIdentityCredential(client_id=NODE.client_id).get_token(f"{STORAGE}/.default")


@pytest.mark.usefixtures("node_environment")
def test_a_node_gets_the_pool_identity_it_names_by_client_id(keys: tuple[Path, Path]) -> None:
    token = ManagedIdentityCredential(client_id=NODE.client_id).get_token(f"{STORAGE}/.default")
    claims = claims_of(token.token, keys, STORAGE)
    assert claims["appid"] == NODE.client_id and claims["xms_mirid"] == NODE.resource_id


@pytest.mark.usefixtures("node_environment")
def test_a_node_with_two_identities_must_say_which(server: IdentityServer) -> None:
    with pytest.raises((ClientAuthenticationError, CredentialUnavailableError)):
        ManagedIdentityCredential().get_token(f"{STORAGE}/.default")
    unknown = "44444444-4444-4444-4444-444444444444"
    with pytest.raises((ClientAuthenticationError, CredentialUnavailableError)):
        ManagedIdentityCredential(client_id=unknown).get_token(f"{STORAGE}/.default")
    issued = json.loads(urllib.request.urlopen(f"{server.url}/_devstack/stats").read())
    assert issued == {"issued": {}}


def test_the_metadata_endpoint_wants_the_metadata_header(server: IdentityServer) -> None:
    url = (
        f"{server.url}/metadata/identity/oauth2/token?resource={STORAGE}&client_id={NODE.client_id}"
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=5)
    assert refused.value.code == 400
    assert json.loads(refused.value.read())["error"] == "invalid_request"


def test_a_verifier_refuses_foreign_audience_expiry_and_another_key(
    keys: tuple[Path, Path], tmp_path: Path
) -> None:
    issuer = TokenIssuer.from_file(keys[0])
    verifier = TokenVerifier.from_file(keys[1], (STORAGE,))
    token, _ = issuer.issue(APP, STORAGE)
    assert verifier.verify(token)["aud"] == STORAGE
    with pytest.raises(TokenError, match="audience"):
        verifier.verify(issuer.issue(APP, "https://batch.core.windows.net/")[0])
    with pytest.raises(TokenError, match="expired"):
        verifier.verify(issuer.issue(APP, STORAGE, now=1_000_000)[0])
    other, _ = make_signing_key(tmp_path)
    with pytest.raises(TokenError, match="signature"):
        verifier.verify(TokenIssuer.from_file(other).issue(APP, STORAGE)[0])
    with pytest.raises(TokenError, match="issuer"):
        verifier.verify(issuer.sign({"aud": STORAGE, "iss": "https://evil/", "exp": 2**40}))
    with pytest.raises(TokenError, match="JWT"):
        verifier.verify("not-a-token")
