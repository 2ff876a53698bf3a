"""How the service authenticates requests: SharedKey signatures, verified the way Azure Batch
computes them, and Microsoft Entra ID bearer tokens (from the local identity endpoint)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from devstack.batchsvc.errors import AuthenticationFailed, ConfigurationError
from devstack.identity.tokens import TENANT_ID, TokenError, TokenVerifier

MAX_CLOCK_SKEW = timedelta(minutes=15)

# The order matters: it is the order of the lines in the string to sign (Batch and Blob
# storage SharedKey sign the same standard headers).
SIGNED_HEADERS = (
    "content-encoding",
    "content-language",
    "content-length",
    "content-md5",
    "content-type",
    "date",
    "if-modified-since",
    "if-match",
    "if-none-match",
    "if-unmodified-since",
    "range",
)


class SharedKeyVerifier:
    """Checks `Authorization: SharedKey account:signature` against one account key."""

    def __init__(self, account: str, key: str) -> None:
        try:
            self._key = base64.b64decode(key.encode("utf-8"), validate=True)
        except (binascii.Error, ValueError) as e:
            raise ConfigurationError(f"the account key is not valid base64: {e}") from e
        if not self._key:
            raise ConfigurationError("the account key is empty")
        self.account = account

    def string_to_sign(
        self, method: str, raw_path: str, raw_query: str, headers: Mapping[str, str]
    ) -> str:
        lowered = {name.lower(): value for name, value in headers.items() if value}
        if method not in ("GET", "HEAD") and "content-length" not in lowered:
            lowered["content-length"] = "0"
        text = method + "\n"
        text += "\n".join(lowered.get(name, "") for name in SIGNED_HEADERS) + "\n"
        ocp = sorted(
            (name.lower(), value)
            for name, value in headers.items()
            if "ocp-" in name.lower() and value
        )
        for name, value in ocp:
            text += f"{name}:{value}\n"
        text += f"/{self.account}{raw_path}"
        query = parse_qs(raw_query)
        for name in sorted(query):
            value = query[name][0]
            if value:
                text += f"\n{name}:{value}"
        return text

    @staticmethod
    def _check_date(headers: Mapping[str, str]) -> None:
        """Batch refuses requests dated more than 15 minutes away from its clock (replays)."""
        lowered = {name.lower(): value for name, value in headers.items()}
        stamp = lowered.get("ocp-date") or lowered.get("date")
        if not stamp:
            raise AuthenticationFailed(
                "Server failed to authenticate the request.",
                values={"AuthenticationErrorDetail": "The request has neither ocp-date nor Date."},
            )
        try:
            sent = parsedate_to_datetime(stamp)
        except (TypeError, ValueError) as e:
            raise AuthenticationFailed(
                "Server failed to authenticate the request.",
                values={
                    "AuthenticationErrorDetail": f"The request date {stamp!r} is not RFC 1123."
                },
            ) from e
        if sent.tzinfo is None:
            sent = sent.replace(tzinfo=UTC)
        if abs(datetime.now(UTC) - sent) > MAX_CLOCK_SKEW:
            raise AuthenticationFailed(
                "Server failed to authenticate the request.",
                values={
                    "AuthenticationErrorDetail": (
                        f"Request date {stamp} is more than 15 minutes away from the server time."
                    )
                },
            )

    def sign(self, string_to_sign: str) -> str:
        digest = hmac.new(self._key, string_to_sign.encode("utf-8"), hashlib.sha256).digest()
        return base64.b64encode(digest).decode("ascii")

    def verify(
        self, method: str, raw_path: str, raw_query: str, headers: Mapping[str, str]
    ) -> None:
        authorization = headers.get("Authorization") or headers.get("authorization") or ""
        scheme, _, credential = authorization.partition(" ")
        account, _, signature = credential.partition(":")
        if scheme != "SharedKey" or not account or not signature:
            raise AuthenticationFailed(
                "Server failed to authenticate the request. Make sure the value of "
                "Authorization header is formed correctly including the signature.",
                values={"AuthenticationErrorDetail": "The Authorization header is not SharedKey."},
            )
        if account != self.account:
            raise AuthenticationFailed(
                "Server failed to authenticate the request.",
                values={"AuthenticationErrorDetail": f"Unknown account name {account!r}."},
            )
        self._check_date(headers)
        expected_text = self.string_to_sign(method, raw_path, raw_query, headers)
        expected = self.sign(expected_text)
        if not hmac.compare_digest(expected, signature):
            raise AuthenticationFailed(
                "Server failed to authenticate the request. Make sure the value of "
                "Authorization header is formed correctly including the signature.",
                values={
                    "AuthenticationErrorDetail": (
                        f"The MAC signature found in the HTTP request '{signature}' is not the "
                        "same as any computed signature. Server used following string to sign: "
                        f"'{expected_text}'."
                    )
                },
            )


# Microsoft Entra ID tokens -------------------------------------------------------------------

BATCH_AUDIENCE = "https://batch.core.windows.net/"
SHARED_KEY, AAD = "SharedKey", "AAD"  # Batch's allowedAuthenticationModes


class InvalidToken(AuthenticationFailed):
    """A bearer token Batch refuses: bad signature, wrong audience or issuer, expired (401)."""

    status = 401


def _challenge(reason: str) -> dict[str, str]:
    # What Entra ID-protected services send with a 401, so that clients can tell why.
    return {
        "WWW-Authenticate": (
            f'Bearer authorization_uri="https://login.microsoftonline.com/{TENANT_ID}/oauth2/'
            f'authorize", error="invalid_token", error_description="{reason}"'
        )
    }


class BearerVerifier:
    """Checks `Authorization: Bearer <token>` against the identity endpoint's public key:
    signature, issuer, audience (https://batch.core.windows.net/) and lifetime."""

    def __init__(self, verifier: TokenVerifier) -> None:
        self._verifier = verifier

    @classmethod
    def from_file(cls, public_key: Path) -> BearerVerifier:
        try:
            return cls(TokenVerifier.from_file(public_key, (BATCH_AUDIENCE,)))
        except (OSError, ValueError) as e:
            raise ConfigurationError(f"the token key {public_key} is not usable: {e}") from e

    def verify(self, headers: Mapping[str, str]) -> dict[str, Any]:
        scheme, _, token = _authorization(headers).partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise InvalidToken(
                "Server failed to authenticate the request.",
                values={"AuthenticationErrorDetail": "The Authorization header is not Bearer."},
                headers=_challenge("The Authorization header is not Bearer."),
            )
        try:
            return self._verifier.verify(token.strip())
        except TokenError as e:
            raise InvalidToken(
                "Server failed to authenticate the request.",
                values={"AuthenticationErrorDetail": str(e)},
                headers=_challenge(str(e)),
            ) from None


def _authorization(headers: Mapping[str, str]) -> str:
    return headers.get("Authorization") or headers.get("authorization") or ""


class Authenticator:
    """The account's allowed authentication modes: SharedKey, Entra ID tokens, or both."""

    def __init__(self, shared_key: SharedKeyVerifier | None, bearer: BearerVerifier | None) -> None:
        if shared_key is None and bearer is None:
            raise ConfigurationError("no authentication mode: give an account key or a token key")
        self.shared_key = shared_key
        self.bearer = bearer

    @staticmethod
    def scheme(headers: Mapping[str, str]) -> str:
        """The scheme a request uses ("SharedKey", "Bearer", or "none")."""
        return _authorization(headers).partition(" ")[0] or "none"

    def verify(self, method: str, raw_path: str, raw_query: str, headers: Mapping[str, str]) -> str:
        """Authenticate the request; return its scheme, or raise AuthenticationFailed."""
        scheme = self.scheme(headers)
        if scheme.lower() == "bearer":
            if self.bearer is None:
                raise InvalidToken(
                    "Server failed to authenticate the request.",
                    values={"AuthenticationErrorDetail": "The account does not allow AAD."},
                )
            self.bearer.verify(headers)
            return "Bearer"
        if self.shared_key is None:
            raise AuthenticationFailed(
                "Server failed to authenticate the request.",
                values={
                    "AuthenticationErrorDetail": (
                        "The account allows AAD authentication only; send a bearer token."
                    )
                },
                headers=_challenge("A bearer token is required."),
                status=401,
            )
        self.shared_key.verify(method, raw_path, raw_query, headers)
        return scheme
