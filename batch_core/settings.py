"""Settings: one frozen object built from the environment. Names match
local.settings.sample.json; nothing else in the package reads os.environ.

Over 300 lines because every setting the app reads is named, typed and checked here, in
one place, by design (one reader per package); the storage and identity forms are in
`credentials`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlparse

from batch_core.credentials import (
    STORAGE,
    Identity,
    StorageAccess,
    identity_from,
    storage_access,
)
from batch_core.errors import SettingError
from worker.contract import OPTION_NAMES as WORKER_OPTION_NAMES

# Setting names, the single place they are spelled (the storage forms: batch_core.credentials).
BATCH_URL = "DROPBATCH_BATCH_URL"
BATCH_ACCOUNT = "DROPBATCH_BATCH_ACCOUNT"
BATCH_KEY = "DROPBATCH_BATCH_KEY"
BATCH_POOL_ID = "DROPBATCH_BATCH_POOL_ID"
BATCH_VM_SIZE = "DROPBATCH_BATCH_VM_SIZE"
BATCH_VM_IMAGE = "DROPBATCH_BATCH_VM_IMAGE"
BATCH_NODE_AGENT_SKU = "DROPBATCH_BATCH_NODE_AGENT_SKU"
BATCH_MAX_NODES = "DROPBATCH_BATCH_MAX_NODES"
BATCH_AUTOSCALE = "DROPBATCH_BATCH_AUTOSCALE"
BATCH_TASK_SLOTS = "DROPBATCH_BATCH_TASK_SLOTS_PER_NODE"
BATCH_JOB_PREFIX = "DROPBATCH_BATCH_JOB_PREFIX"
COSMOS_ENDPOINT = "DROPBATCH_COSMOS_ENDPOINT"
COSMOS_KEY = "DROPBATCH_COSMOS_KEY"
COSMOS_DATABASE = "DROPBATCH_COSMOS_DATABASE"
COSMOS_CA_CERT = "DROPBATCH_COSMOS_CA_CERT"
CONTAINER_INCOMING = "DROPBATCH_CONTAINER_INCOMING"
CONTAINER_RESULTS = "DROPBATCH_CONTAINER_RESULTS"
CONTAINER_LOGS = "DROPBATCH_CONTAINER_LOGS"
CONTAINER_FAILED = "DROPBATCH_CONTAINER_FAILED"
CONTAINER_ARCHIVE = "DROPBATCH_CONTAINER_ARCHIVE"
CONTAINER_CONFIG = "DROPBATCH_CONTAINER_CONFIG"
ROUTES_FILE = "DROPBATCH_ROUTES_FILE"
WORKER_IDENTITY_ID = "DROPBATCH_WORKER_IDENTITY_ID"
WORKER_COMMAND = "DROPBATCH_WORKER_COMMAND"
WORKER_IDENTITY_CLIENT_ID = "DROPBATCH_WORKER_IDENTITY_CLIENT_ID"
TASK_MAX_SECONDS = "DROPBATCH_TASK_MAX_SECONDS"
MAX_ATTEMPTS = "DROPBATCH_MAX_ATTEMPTS"
RETRY_BACKOFF_SECONDS = "DROPBATCH_RETRY_BACKOFF_SECONDS"
STUCK_AFTER_SECONDS = "DROPBATCH_STUCK_AFTER_SECONDS"
JOB_RETENTION_DAYS = "DROPBATCH_JOB_RETENTION_DAYS"
MAX_ACTIVE_FANOUTS = "DROPBATCH_MAX_ACTIVE_FANOUTS"
RECONCILE_SCHEDULE = "DROPBATCH_RECONCILE_SCHEDULE"
SWEEP_SECONDS = "DROPBATCH_SWEEP_SECONDS"
PARTS_RETENTION_HOURS = "DROPBATCH_PARTS_RETENTION_HOURS"
TERMINAL_ORIGINALS = "DROPBATCH_TERMINAL_ORIGINALS"
IGNORE_PREFIXES = "DROPBATCH_IGNORE_PREFIXES"
ALERT_WEBHOOK_URL = "DROPBATCH_ALERT_WEBHOOK_URL"
ALERT_WEBHOOK_KIND = "DROPBATCH_ALERT_WEBHOOK_KIND"
ALERT_ON_REJECTED = "DROPBATCH_ALERT_ON_REJECTED"
DIGEST_HOUR = "DROPBATCH_DIGEST_HOUR"
STATUS_URL = "DROPBATCH_STATUS_URL"
SUBMIT_WINDOW_MS = "DROPBATCH_SUBMIT_WINDOW_MS"
NODE_HOUR_PRICE = "DROPBATCH_NODE_HOUR_PRICE"
# Telemetry (batch_core.telemetry): Application Insights' own setting names.
APPINSIGHTS_CONNECTION_STRING = "APPLICATIONINSIGHTS_CONNECTION_STRING"
APPINSIGHTS_AUTHENTICATION_STRING = "APPLICATIONINSIGHTS_AUTHENTICATION_STRING"
TELEMETRY_SDK_LOGS = "DROPBATCH_TELEMETRY_SDK_LOGS"
# `true` in Azure: the Functions Python worker sets the exporters up before it imports the app.
PLATFORM_TELEMETRY = "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY"
# The worker's options (limits and CSV options) are the app's settings of the same name with
# DROPBATCH_WORKER_ in front (DROPBATCH_WORKER_ID_COLUMN for DROPBATCH_ID_COLUMN), passed on to
# every task under the name the worker reads. They are never secrets: the worker reads its
# credentials from the node, not from the task.
WORKER_PASSTHROUGH_PREFIX = "DROPBATCH_WORKER_"
WORKER_OPTION_SETTINGS = {
    WORKER_PASSTHROUGH_PREFIX + option.removeprefix("DROPBATCH_"): option
    for option in WORKER_OPTION_NAMES
}

WEBHOOK_KINDS = ("generic", "teams", "slack")
# What becomes of a dropped file once its run has ended (`batch_core.originals`).
ORIGINALS_POLICIES = ("archive", "keep", "delete")

# Settings with no default: a deployment must set each of these, plus the host storage in one
# of its forms (a connection string in STORAGE, or batch_core.credentials' identity-based ones).
REQUIRED_SETTINGS = (BATCH_URL, BATCH_ACCOUNT, COSMOS_ENDPOINT)


@dataclass(frozen=True)
class Settings:
    # Secrets are kept out of repr() so that logging settings never leaks them.
    """The function app's settings, read once from the environment (names as in
    local.settings.sample.json); secrets stay out of repr()."""

    storage_connection_string: str | None = field(repr=False)  # None: identity-based
    storage: StorageAccess
    blob_endpoint: str
    storage_account: str
    identity: Identity  # for every service that has no key set
    batch_url: str
    batch_account: str
    batch_key: str | None = field(repr=False)
    batch_pool_id: str
    batch_vm_size: str
    batch_vm_image: str
    batch_node_agent_sku: str
    batch_max_nodes: int
    batch_autoscale: bool
    batch_task_slots_per_node: int
    batch_job_prefix: str
    cosmos_endpoint: str
    cosmos_key: str | None = field(repr=False)
    cosmos_database: str
    cosmos_ca_cert: str | None
    container_incoming: str
    container_results: str
    container_logs: str
    container_failed: str
    container_config: str
    container_archive: str
    routes_file: str | None  # as set; None: routes.toml next to the app if there is one
    worker_command: str
    worker_identity_client_id: str | None
    # ARM id of the pool's user-assigned identity: it authorizes the tasks' file transfers.
    worker_identity_id: str | None
    task_max_seconds: int
    max_attempts: int
    retry_backoff_seconds: int
    stuck_after_seconds: int
    job_retention_days: int
    sweep_seconds: int
    parts_retention_hours: int
    # archive: an ended run's file moves to container_archive; keep: it stays; delete: it goes.
    terminal_originals: str
    ignore_prefixes: tuple[str, ...]
    alert_webhook_url: str | None
    alert_webhook_kind: str
    alert_on_rejected: bool  # a rejected file raises a warning alert
    digest_hour: int | None  # UTC hour of the optional daily digest alert
    status_url: str | None  # the status page's address, linked from alerts
    submit_window_ms: int  # tasks planned this close together go to Batch in one request
    # Fan-out files with a job of their own at once; more wait in `received`.
    max_active_fanouts: int = 20
    # The worker's options as the task environment names them (see WORKER_OPTION_SETTINGS).
    worker_settings: Mapping[str, str] = field(default_factory=dict)
    node_hour_price: float | None = None  # what one node costs an hour (`dropbatch cost`)
    # Telemetry is off without a connection string; `Authorization=AAD` (optionally with
    # `;ClientId=...`) makes the exporter use the identity.
    appinsights_connection_string: str | None = field(default=None, repr=False)
    appinsights_authentication: str | None = None
    telemetry_sdk_logs: bool = False  # the Azure SDKs' per-request logs and spans too
    platform_telemetry: bool = False  # the Functions worker exports; the app only uses the API

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from `env` (default: the process environment); raise SettingError
        naming the first missing or malformed setting."""
        r = _Reader(os.environ if env is None else env)
        storage = storage_access(r.env)
        return cls(
            storage_connection_string=r.optional(STORAGE),
            storage=storage,
            blob_endpoint=storage.blob_endpoint,
            storage_account=storage.account,
            identity=identity_from(r.env),
            batch_url=r.url(BATCH_URL),
            batch_account=r.required(BATCH_ACCOUNT),
            batch_key=r.optional(BATCH_KEY),
            batch_pool_id=r.identifier(BATCH_POOL_ID, "dropbatch"),
            batch_vm_size=r.text(BATCH_VM_SIZE, "standard_d2s_v3"),
            batch_vm_image=r.text(BATCH_VM_IMAGE, "canonical:ubuntu-24_04-lts:server:latest"),
            batch_node_agent_sku=r.text(BATCH_NODE_AGENT_SKU, "batch.node.ubuntu 24.04"),
            batch_max_nodes=r.integer(BATCH_MAX_NODES, 2, minimum=0),
            batch_autoscale=r.boolean(BATCH_AUTOSCALE, True),
            batch_task_slots_per_node=r.integer(BATCH_TASK_SLOTS, 2, minimum=1),
            batch_job_prefix=r.identifier(BATCH_JOB_PREFIX, "dropbatch"),
            cosmos_endpoint=r.url(COSMOS_ENDPOINT),
            cosmos_key=r.optional(COSMOS_KEY),
            cosmos_database=r.text(COSMOS_DATABASE, "dropbatch"),
            cosmos_ca_cert=r.optional(COSMOS_CA_CERT),
            container_incoming=r.container(CONTAINER_INCOMING, "incoming"),
            container_results=r.container(CONTAINER_RESULTS, "results"),
            container_logs=r.container(CONTAINER_LOGS, "logs"),
            container_failed=r.container(CONTAINER_FAILED, "failed"),
            container_config=r.container(CONTAINER_CONFIG, "config"),
            container_archive=r.container(CONTAINER_ARCHIVE, "archive"),
            routes_file=r.optional(ROUTES_FILE),
            worker_command=r.text(WORKER_COMMAND, "python3 -m worker"),
            worker_identity_client_id=r.optional(WORKER_IDENTITY_CLIENT_ID),
            worker_identity_id=r.optional(WORKER_IDENTITY_ID),
            task_max_seconds=r.integer(TASK_MAX_SECONDS, 3600, minimum=1),
            max_attempts=r.integer(MAX_ATTEMPTS, 3, minimum=1),
            retry_backoff_seconds=r.integer(RETRY_BACKOFF_SECONDS, 30, minimum=0),
            stuck_after_seconds=r.integer(STUCK_AFTER_SECONDS, 7200, minimum=1),
            job_retention_days=r.integer(JOB_RETENTION_DAYS, 2, minimum=0),
            sweep_seconds=r.integer(SWEEP_SECONDS, 120, minimum=0),
            parts_retention_hours=r.integer(PARTS_RETENTION_HOURS, 24, minimum=0),
            terminal_originals=r.choice(TERMINAL_ORIGINALS, ORIGINALS_POLICIES, "archive"),
            ignore_prefixes=tuple(
                p for p in (r.optional(IGNORE_PREFIXES) or "").split(",") if p.strip()
            ),
            alert_webhook_url=r.optional_url(ALERT_WEBHOOK_URL),
            alert_webhook_kind=r.choice(ALERT_WEBHOOK_KIND, WEBHOOK_KINDS, "generic"),
            alert_on_rejected=r.boolean(ALERT_ON_REJECTED, True),
            digest_hour=r.optional_hour(DIGEST_HOUR),
            status_url=r.optional_url(STATUS_URL),
            submit_window_ms=r.integer(SUBMIT_WINDOW_MS, 25, minimum=0),
            worker_settings=r.worker_options(),
            node_hour_price=r.price(NODE_HOUR_PRICE),
            appinsights_connection_string=r.optional(APPINSIGHTS_CONNECTION_STRING),
            appinsights_authentication=r.optional(APPINSIGHTS_AUTHENTICATION_STRING),
            telemetry_sdk_logs=r.boolean(TELEMETRY_SDK_LOGS, False),
            platform_telemetry=r.boolean(PLATFORM_TELEMETRY, False),
            max_active_fanouts=r.integer(MAX_ACTIVE_FANOUTS, 20, minimum=1),
        )


class _Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def optional(self, name: str) -> str | None:
        value = self.env.get(name, "").strip()
        return value or None

    def required(self, name: str) -> str:
        value = self.optional(name)
        if value is None:
            raise SettingError(name, "is missing; see local.settings.sample.json")
        return value

    def text(self, name: str, default: str) -> str:
        return self.optional(name) or default

    def url(self, name: str) -> str:
        value = self.required(name)
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise SettingError(name, f"'{value}' is not an http(s) URL")
        return value.rstrip("/")

    def optional_hour(self, name: str) -> int | None:
        text = self.optional(name)
        if text is None:
            return None
        if not text.isdigit() or not 0 <= int(text) <= 23:
            raise SettingError(name, f"'{text}' is not an hour of the day, 0 to 23 (UTC)")
        return int(text)

    def optional_url(self, name: str) -> str | None:
        return self.url(name) if self.optional(name) else None

    def integer(self, name: str, default: int, minimum: int) -> int:
        raw = self.optional(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise SettingError(name, f"'{raw}' is not a whole number") from None
        if value < minimum:
            raise SettingError(name, f"{value} is below the minimum {minimum}")
        return value

    def price(self, name: str) -> float | None:
        raw = self.optional(name)
        if raw is None:
            return None
        try:
            value = float(raw)
        except ValueError:
            raise SettingError(name, f"'{raw}' is not a number") from None
        if not value >= 0 or value == float("inf"):
            raise SettingError(name, f"{raw} is not a price (a number of 0 or more)")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        raw = (self.optional(name) or str(default)).lower()
        if raw not in ("true", "false"):
            raise SettingError(name, f"'{raw}' is not true or false")
        return raw == "true"

    def choice(self, name: str, allowed: tuple[str, ...], default: str) -> str:
        value = self.text(name, default).lower()
        if value not in allowed:
            raise SettingError(name, f"'{value}' is not one of {', '.join(allowed)}")
        return value

    def identifier(self, name: str, default: str) -> str:
        value = self.text(name, default)
        if not all(c.isalnum() or c in "-_" for c in value) or len(value) > 40:
            raise SettingError(name, f"'{value}' must be letters, digits, - or _ (40 at most)")
        return value

    def worker_options(self) -> dict[str, str]:
        """The DROPBATCH_WORKER_* settings that set a worker option, under the option's name;
        any other such setting (but the command and identity) is refused, naming it."""
        options: dict[str, str] = {}
        for name, value in self.env.items():
            if not name.startswith(WORKER_PASSTHROUGH_PREFIX) or name in (
                WORKER_COMMAND,
                WORKER_IDENTITY_CLIENT_ID,
                WORKER_IDENTITY_ID,
            ):
                continue
            option = WORKER_OPTION_SETTINGS.get(name)
            if option is None:
                raise SettingError(name, "is not a worker option; see worker/README.md")
            if value:  # as given: a tab is a delimiter
                options[option] = value
        return options

    def container(self, name: str, default: str) -> str:
        value = self.text(name, default)
        ok = 3 <= len(value) <= 63 and all(c.islower() or c.isdigit() or c == "-" for c in value)
        if not ok:
            raise SettingError(name, f"'{value}' is not a valid blob container name")
        return value


def local_settings_values(path: str) -> dict[str, str]:
    """The `Values` of a local.settings.json file (the Functions host's format)."""
    import json

    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except FileNotFoundError:
        raise SettingError(path, "file not found; run `make up` to write it") from None
    except ValueError as e:
        raise SettingError(path, f"is not valid JSON: {e}") from None
    values = doc.get("Values") if isinstance(doc, dict) else None
    if not isinstance(values, dict):
        raise SettingError(path, "has no Values object")
    return {str(k): str(v) for k, v in values.items()}


def settings_with_file(path: str | None) -> Settings:
    """Settings from the environment, overlaid with a local.settings.json file if given."""
    env = dict(os.environ)
    if path:
        env.update(local_settings_values(path))
    return Settings.from_env(env)
