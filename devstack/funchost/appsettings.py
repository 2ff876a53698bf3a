"""App settings: the ``local.settings.json`` file and the process environment.

Like Core Tools, the host copies ``Values`` into the process environment before it
imports the app, and a variable already set in the environment wins over the file.
This is the only module of the host that reads or writes ``os.environ``.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path

from devstack.funchost.errors import ConfigError, SettingMissingError
from devstack.funchost.storage import IdentityConnection

log = logging.getLogger(__name__)

HOST_STORAGE = "AzureWebJobsStorage"
_REFERENCE = re.compile(r"%([^%]+)%")


@dataclass(frozen=True)
class LocalSettingsFile:
    """The ``Values`` of a local.settings.json file."""

    path: Path
    values: Mapping[str, str]

    @classmethod
    def read(cls, path: Path, *, required: bool) -> LocalSettingsFile:
        if not path.exists():
            if required:
                raise ConfigError(f"settings file {path} does not exist")
            log.warning("no settings file at %s; using the environment only", path)
            return cls(path, {})
        try:
            document = json.loads(path.read_text(encoding="utf-8-sig"))
        except (OSError, ValueError) as e:
            raise ConfigError(f"settings file {path} is not readable JSON: {e}") from e
        if not isinstance(document, dict):
            raise ConfigError(f"settings file {path} must hold a JSON object")
        if document.get("IsEncrypted"):
            raise ConfigError(f"settings file {path} is encrypted; this host reads plain values")
        raw = document.get("Values", {})
        if not isinstance(raw, dict):
            raise ConfigError(f"settings file {path}: 'Values' must be an object")
        values: dict[str, str] = {}
        for name, value in raw.items():
            if isinstance(value, dict | list):
                raise ConfigError(f"settings file {path}: value of {name!r} must be a string")
            if value is None:
                continue
            values[name] = str(value).lower() if isinstance(value, bool) else str(value)
        return cls(path, values)

    def apply(self, environ: MutableMapping[str, str]) -> None:
        for name, value in self.values.items():
            if name in environ:
                log.info(
                    "setting %s is already in the environment; the file's value is skipped", name
                )
                continue
            environ[name] = value


class AppSettings:
    """Read access to app settings, failing loudly with the missing name."""

    def __init__(self, source: Mapping[str, str]) -> None:
        self._source = source

    @classmethod
    def from_environment(cls) -> AppSettings:
        return cls(os.environ)

    def get(self, name: str) -> str | None:
        value = self._source.get(name)
        return value if value else None

    def require(self, name: str, needed_by: str) -> str:
        value = self.get(name)
        if value is None:
            raise SettingMissingError(name, needed_by)
        return value

    def resolve(self, text: str, needed_by: str) -> str:
        """Replace every ``%Name%`` binding expression with the setting's value."""
        return _REFERENCE.sub(lambda m: self.require(m.group(1), needed_by), text)

    def connection_string(self, connection: str | None, needed_by: str) -> str | IdentityConnection:
        """The storage connection a binding's ``connection`` names: a connection string, or
        the identity-based form (``<name>__blobServiceUri`` and ``__queueServiceUri``, or
        ``__accountName``; ``__credential=managedidentity`` and ``__clientId``).

        An empty name means the host storage account; otherwise the setting itself is
        tried, then the ``AzureWebJobs``-prefixed name, as the real host does.
        """
        name = connection or HOST_STORAGE
        candidates = (name, f"AzureWebJobs{name}")
        for candidate in candidates:
            value = self.get(candidate)
            if value is not None:
                return value
        for candidate in candidates:
            found = self._identity_connection(candidate)
            if found is not None:
                return found
        raise SettingMissingError(name, needed_by)

    def _identity_connection(self, prefix: str) -> IdentityConnection | None:
        account = self.get(f"{prefix}__accountName")
        blob = self.get(f"{prefix}__blobServiceUri") or self.get(f"{prefix}__serviceUri")
        if blob is None and account is None:
            return None
        queue = self.get(f"{prefix}__queueServiceUri")
        if account is not None:
            blob = blob or f"https://{account}.blob.core.windows.net"
            queue = queue or f"https://{account}.queue.core.windows.net"
        if queue is None:
            raise SettingMissingError(f"{prefix}__queueServiceUri", f"{prefix}__blobServiceUri")
        credential = (self.get(f"{prefix}__credential") or "").lower()
        return IdentityConnection(
            blob_uri=str(blob),
            queue_uri=queue,
            managed_identity=credential == "managedidentity",
            client_id=self.get(f"{prefix}__clientId"),
        )

    def is_disabled(self, function_name: str) -> bool:
        value = self.get(f"AzureWebJobs.{function_name}.Disabled") or ""
        return value.strip().lower() in ("true", "1")


def install(settings_file: LocalSettingsFile) -> AppSettings:
    """Put the file's values into this process's environment; return the settings view."""
    settings_file.apply(os.environ)
    return AppSettings.from_environment()
