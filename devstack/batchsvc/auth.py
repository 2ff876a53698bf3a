"""SharedKey request signatures, verified the way Azure Batch computes them."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qs

from devstack.batchsvc.errors import AuthenticationFailed, ConfigurationError

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
