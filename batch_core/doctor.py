"""`dropbatch doctor`: each service the app depends on, checked the way the app uses it, with
the settings at hand (the local stack's or Azure's). Each check returns its results; a
result that failed says what to do. Clients are made to fail fast (no retries, short
timeouts): a doctor answers in seconds, where the app would keep trying.

Over 300 lines because it holds one check per dependency (storage, queue, Cosmos DB, Batch,
pools, routes, webhook) in a single dispatch table, each with its advice."""

from __future__ import annotations

import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from urllib.parse import urlparse

from azure.batch import BatchClient
from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueClient

from batch_core.cosmosdb import CONTAINERS, cosmos_client
from batch_core.credentials import batch_credential
from batch_core.errors import DropbatchError
from batch_core.pipeline import routes_for
from batch_core.poison import POISON_QUEUE
from batch_core.poolcheck import differences
from batch_core.pools import PoolPlan, plan_pools
from batch_core.routebook import Routebook
from batch_core.settings import Settings

TIMEOUT_SECONDS = 5
# A folder marker: intake ignores a name ending in "/", so a probe in `incoming` is no run.
PROBE_FOLDER = ".dropbatch-doctor"
INIT = "run `dropbatch init` (or provision the Azure resources: azd provision)"


@dataclass(frozen=True)
class CheckResult:
    """One check's outcome: what was checked, whether it passed, and what to do if not."""

    what: str
    ok: bool
    detail: str = ""
    advice: str = ""  # what to do, when it failed

    def line(self) -> str:
        """The check as `dropbatch doctor` prints it (the advice under a failure)."""
        text = f"{'ok' if self.ok else 'FAIL':<4}  {self.what}"
        if self.detail:
            text += f": {self.detail}"
        return text + (f"\n      -> {self.advice}" if self.advice and not self.ok else "")


@dataclass
class Doctor:
    """What the checks share: the settings, the app folder (for the routes file) and clients
    made once."""

    settings: Settings
    app_root: Path
    failed_routes: str | None = field(default=None, init=False)

    @cached_property
    def blobs(self) -> BlobServiceClient:
        """A blob client that fails fast (no retries): a stopped server is reported at once."""
        access = self.settings.storage
        return BlobServiceClient(
            access.blob_endpoint,
            credential=access.credential(self.settings.identity),
            retry_total=0,
            connection_timeout=TIMEOUT_SECONDS,
        )

    @cached_property
    def batch(self) -> BatchClient:
        """A Batch client that fails fast (no retries)."""
        s = self.settings
        credential = batch_credential(s.batch_account, s.batch_key, s.identity)
        return BatchClient(s.batch_url, credential, retry_total=0)

    @cached_property
    def routes(self) -> Routebook | None:
        """The routebook the app would load; None (and the reason kept) when it is invalid."""
        try:
            return routes_for(self.settings, self.app_root)
        except DropbatchError as e:
            self.failed_routes = str(e)
            return None


def failure(what: str, error: Exception, service: str, settings_hint: str) -> CheckResult:
    """A failed result from an SDK error, with advice by the kind of failure."""
    if isinstance(error, ServiceRequestError | ServiceResponseError):
        return CheckResult(
            what,
            False,
            f"{service} unreachable ({type(error).__name__})",
            f"check {settings_hint}, and that {service} runs and this network reaches it "
            "(locally: is the stack up? `make up`)",
        )
    status = error.status_code if isinstance(error, HttpResponseError) else None
    if status in (401, 403):
        return CheckResult(
            what,
            False,
            f"{service} refused the credentials (HTTP {status})",
            f"check the key in {settings_hint}, or the identity's data role on {service} "
            "(docs/deploy.md lists the roles)",
        )
    if isinstance(error, ResourceNotFoundError) or status == 404:
        return CheckResult(what, False, "does not exist", INIT)
    return CheckResult(
        what, False, f"{type(error).__name__}: {str(error).splitlines()[0][:200]}", ""
    )


STORAGE_HINT = "AzureWebJobsStorage"


def storage(d: Doctor) -> list[CheckResult]:
    """Each container: a probe blob written and deleted, as the app writes and deletes."""
    s = d.settings
    results = []
    for role, name in (
        ("incoming", s.container_incoming),
        ("results", s.container_results),
        ("logs", s.container_logs),
        ("failed", s.container_failed),
        ("config", s.container_config),
        *((("archive", s.container_archive),) if s.terminal_originals == "archive" else ()),
    ):
        what = f"storage container {name} ({role})"
        probe = d.blobs.get_blob_client(name, f"{PROBE_FOLDER}/{uuid.uuid4().hex}/")
        try:
            probe.upload_blob(b"", overwrite=True)
            probe.delete_blob()
            results.append(CheckResult(what, True, "writable"))
        except AzureError as e:
            results.append(failure(what, e, "storage", STORAGE_HINT))
    return results


def poison_queue(d: Doctor) -> list[CheckResult]:
    """The host's poison queue, which the reconciler reads (absent until a trigger fails)."""
    access = d.settings.storage
    what = f"poison queue {POISON_QUEUE}"
    queue = QueueClient(
        access.queue_endpoint,
        POISON_QUEUE,
        credential=access.credential(d.settings.identity),
        retry_total=0,
        connection_timeout=TIMEOUT_SECONDS,
    )
    try:
        queue.get_queue_properties()
    except ResourceNotFoundError:
        return [CheckResult(what, True, "not there yet (the host makes it when a trigger fails)")]
    except AzureError as e:
        return [failure(what, e, "queue storage", STORAGE_HINT)]
    return [CheckResult(what, True, "readable")]


def cosmos(d: Doctor) -> list[CheckResult]:
    """The database and each of its containers read, as the app reads them."""
    s = d.settings
    hint = "DROPBATCH_COSMOS_ENDPOINT and DROPBATCH_COSMOS_KEY"
    what = f"Cosmos DB database {s.cosmos_database}"
    try:
        db = cosmos_client(s).get_database_client(s.cosmos_database)
        db.read()
    except AzureError as e:
        return [failure(what, e, "Cosmos DB", hint)]
    results = [CheckResult(what, True, s.cosmos_endpoint)]
    for name in CONTAINERS:
        try:
            db.get_container_client(name).read()
            results.append(CheckResult(f"Cosmos DB container {name}", True, "readable"))
        except AzureError as e:
            results.append(failure(f"Cosmos DB container {name}", e, "Cosmos DB", hint))
    return results


def batch_account(d: Doctor) -> list[CheckResult]:
    """The Batch account answers a listing of its pools."""
    what = f"Batch account {d.settings.batch_account}"
    try:
        pools = [p.id for p in d.batch.list_pools(select=["id"])]
    except AzureError as e:
        return [failure(what, e, "Batch", "DROPBATCH_BATCH_URL and DROPBATCH_BATCH_ACCOUNT")]
    return [CheckResult(what, True, f"{d.settings.batch_url}, {len(pools)} pools")]


def routes_file(d: Doctor) -> list[CheckResult]:
    """The routes file loads as the app loads it."""
    book = d.routes
    if book is None:
        return [
            CheckResult(
                "routes file", False, d.failed_routes or "", "fix it (`dropbatch routes check`)"
            )
        ]
    where = book.source or "none: the built-in routes"
    return [CheckResult("routes file", True, f"{where}, {len(book.routes)} routes")]


def pools(d: Doctor) -> list[CheckResult]:
    """Each pool of the routes file: there (or to be created), as planned, with the worker
    identity when one is set."""
    if d.routes is None:
        return [CheckResult("pools", False, "not checked: the routes file does not load", "")]
    return [_pool(d, plan) for plan in plan_pools(d.routes, d.settings).values()]


def _pool(d: Doctor, plan: PoolPlan) -> CheckResult:
    what = f"pool '{plan.alias}' ({plan.pool_id})"
    try:
        pool = d.batch.get_pool(plan.pool_id)
    except ResourceNotFoundError:
        if plan.create is not None:
            return CheckResult(
                what, True, "not created yet: dropbatch creates it when a file needs it"
            )
        return CheckResult(
            what, False, "external and missing", "create it, or change the routes file"
        )
    except AzureError as e:
        return failure(what, e, "Batch", "DROPBATCH_BATCH_URL and DROPBATCH_BATCH_ACCOUNT")
    problems = differences(plan, pool)
    if problems:
        said = "; ".join(
            f"{p.property_name} is {p.actual!r}, planned {p.expected!r}" for p in problems
        )
        return CheckResult(
            what, False, said, "delete the pool to have it made again, or change the routes file"
        )
    identity = d.settings.worker_identity_id
    if identity is None:
        return CheckResult(what, True, "as planned")
    ids = (
        [u.resource_id or "" for u in (pool.identity.user_assigned_identities or [])]
        if pool.identity
        else []
    )
    if any(i.lower() == identity.lower() for i in ids):
        return CheckResult(what, True, "as planned, with the worker identity")
    if urlparse(d.settings.batch_url).hostname in ("127.0.0.1", "localhost"):
        return CheckResult(
            what, True, "as planned (locally the node's credentials file is the identity)"
        )
    return CheckResult(
        what,
        False,
        "does not carry the worker identity (DROPBATCH_WORKER_IDENTITY_ID)",
        "give the pool that user-assigned identity (the azd template does), or delete it to have "
        "it made again",
    )


def webhook(d: Doctor) -> list[CheckResult]:
    """The alert webhook's host answers HTTP(S) at all: a GET of its root, never a post (that
    would be an alert). It checks the address, the network and TLS, not that the hook takes
    alerts."""
    url = d.settings.alert_webhook_url
    if url is None:
        return [CheckResult("alert webhook", True, "none set (alerts are kept in Cosmos DB only)")]
    parsed = urlparse(url)
    root = f"{parsed.scheme}://{parsed.netloc}/"
    what = f"alert webhook host {parsed.netloc}"
    try:
        with urllib.request.urlopen(root, timeout=TIMEOUT_SECONDS) as response:
            return [CheckResult(what, True, f"answers (HTTP {response.status} to GET /)")]
    except urllib.error.HTTPError as e:  # any answer means the host is there
        return [CheckResult(what, True, f"answers (HTTP {e.code} to GET /)")]
    except (urllib.error.URLError, TimeoutError, OSError) as e:
        reason = getattr(e, "reason", e)
        return [
            CheckResult(
                what,
                False,
                f"unreachable ({reason})",
                "check DROPBATCH_ALERT_WEBHOOK_URL and that this network reaches it",
            )
        ]


CHECKS: dict[str, Callable[[Doctor], list[CheckResult]]] = {
    "storage": storage,
    "poison queue": poison_queue,
    "cosmos": cosmos,
    "batch": batch_account,
    "routes": routes_file,
    "pools": pools,
    "webhook": webhook,
}


def examine(settings: Settings, app_root: Path, report: Callable[[CheckResult], None]) -> bool:
    """Run every check in order, telling `report` of each result; True when all passed."""
    d = Doctor(settings, app_root)
    passed = True
    for check in CHECKS.values():
        for result in check(d):
            report(result)
            passed = passed and result.ok
    return passed
