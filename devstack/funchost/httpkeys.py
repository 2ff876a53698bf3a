"""Function keys: what an HTTP trigger's ``authLevel`` asks of a request.

Like the real host, keys come with the request as the ``code`` query parameter or the
``x-functions-key`` header. ``anonymous`` needs none; ``function`` takes a host function
key, one of the function's own keys or the master key; ``admin`` only the master key. A
request without a valid key gets 401.

The keys live in a JSON file shaped like the host's secrets
(``{"masterKey": {"name", "value"}, "functionKeys": [{"name", "value"}],
"systemKeys": [{"name", "value"}], "functions": {"<function>": [{"name", "value"}]}}``).
A system key (``blobs_extension``) opens its extension's webhook, as does the master key.
When the file is missing the host creates it with fresh random keys (mode 0600), as the real
host generates its secrets on first start.
"""

from __future__ import annotations

import dataclasses
import hmac
import json
import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack.funchost.errors import ConfigError

log = logging.getLogger(__name__)

KEY_PARAMETER = "code"
KEY_HEADER = "x-functions-key"
ANONYMOUS, FUNCTION, ADMIN = "anonymous", "function", "admin"
AUTH_LEVELS = (ANONYMOUS, FUNCTION, ADMIN)


def new_key() -> str:
    """A key of the real host's shape: URL-safe, about 56 characters."""
    return secrets.token_urlsafe(42)


@dataclass(frozen=True)
class FunctionKeys:
    master: str
    host: Mapping[str, str]  # name -> value, valid for every function
    per_function: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    system: Mapping[str, str] = field(default_factory=dict)  # e.g. blobs_extension

    @classmethod
    def load_or_create(cls, path: Path) -> FunctionKeys:
        if not path.exists():
            keys = cls(master=new_key(), host={"default": new_key()})
            keys.write(path)
            log.info("created function keys in %s", path)
            return keys
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            return cls.from_document(document)
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ConfigError(f"keys file {path} is not usable: {type(e).__name__}: {e}") from e

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> FunctionKeys:
        def named(entries: Any) -> dict[str, str]:
            return {str(e["name"]): str(e["value"]) for e in entries if e.get("value")}

        master = str(document["masterKey"]["value"])
        if not master:
            raise ValueError("masterKey has no value")
        return cls(
            master=master,
            host=named(document.get("functionKeys") or []),
            system=named(document.get("systemKeys") or []),
            per_function={
                str(name): named(entries)
                for name, entries in (document.get("functions") or {}).items()
            },
        )

    def write(self, path: Path) -> None:
        document = {
            "masterKey": {"name": "master", "value": self.master},
            "functionKeys": [{"name": n, "value": v} for n, v in self.host.items()],
            "systemKeys": [{"name": n, "value": v} for n, v in self.system.items()],
            "functions": {
                f: [{"name": n, "value": v} for n, v in keys.items()]
                for f, keys in self.per_function.items()
            },
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as f:
            f.write(json.dumps(document, indent=2) + "\n")

    def with_system_key(self, name: str, path: Path) -> FunctionKeys:
        """These keys with the system key `name` (made and written to `path` if missing), as
        the real host makes an extension's key when the extension starts."""
        if self.system.get(name):
            return self
        keys = dataclasses.replace(self, system={**self.system, name: new_key()})
        keys.write(path)
        log.info("created system key %s in %s", name, path)
        return keys

    def opens_webhook(self, extension: str, presented: str | None) -> bool:
        """Does the key open `/runtime/webhooks/<extension>` (its system key, or master)?"""
        if not presented:
            return False
        candidates = [self.master, self.system.get(f"{extension}_extension", "")]
        matched = False
        for candidate in candidates:
            matched |= bool(candidate) and hmac.compare_digest(
                candidate.encode(), presented.encode()
            )
        return matched

    @property
    def default(self) -> str:
        """The host's default function key (what a caller is usually given)."""
        return self.host.get("default") or next(iter(self.host.values()), self.master)

    def allows(self, level: str, function_name: str, presented: str | None) -> bool:
        """Does the key presented (None: no key) open a function of this auth level?"""
        if level == ANONYMOUS:
            return True
        if not presented:
            return False
        candidates = [self.master]
        if level == FUNCTION:
            candidates += [*self.host.values(), *self.per_function.get(function_name, {}).values()]
        matched = False
        for candidate in candidates:  # compare with every key: the time tells nothing
            matched |= hmac.compare_digest(candidate.encode(), presented.encode())
        return matched


def presented_key(query: Mapping[str, str], headers: Mapping[str, str]) -> str | None:
    """The key a request carries: ``x-functions-key`` header first, then ``?code=``."""
    lowered = {k.lower(): v for k, v in headers.items()}
    return lowered.get(KEY_HEADER) or query.get(KEY_PARAMETER) or None
