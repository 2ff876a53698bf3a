"""A TokenCredential that hands out one given token: the SDK's interface, no network. Tests
give services tokens they made themselves (expired, for another audience, foreign keys)."""

from __future__ import annotations

import time
from typing import Any

from azure.core.credentials import AccessToken


class StaticToken:
    def __init__(self, token: str) -> None:
        self.token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self.token, int(time.time()) + 3600)
