"""The local stack: Azurite, the Cosmos DB-compatible server, the Batch-compatible service and
the Functions host, started in order, with the settings file that points everything at them.

`start(keyless=True)` runs it as Azure runs the app: no key anywhere. A managed identity
endpoint starts first; the app's settings name storage by its service URIs with
`__credential=managedidentity` and carry `IDENTITY_ENDPOINT`/`IDENTITY_HEADER`, as App
Service sets them; the nodes reach the same endpoint as their instance metadata service
(`AZURE_POD_IDENTITY_AUTHORITY_HOST`) and hold no key in their credentials file; every
service refuses keys and checks tokens. Every client trusts the stack's certificate through
settings (`REQUESTS_CA_BUNDLE`, `DROPBATCH_COSMOS_CA_CERT`)."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import ssl
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.request import HTTPSHandler, ProxyHandler, Request, build_opener

from azure.cosmos import CosmosClient

from devstack import cosmos_snapshot
from devstack.batchsvc.blobaccess import NODE_IDENTITY_AUTHORITY
from devstack.blobevents import BLOB_CREATED
from devstack.faultproxy import SUBSCRIPTIONS
from devstack.funchost.blobwebhook import SYSTEM_KEY as BLOBS_SYSTEM_KEY
from devstack.funchost.httpkeys import FunctionKeys
from devstack.process import ManagedProcess
from devstack.servers import (
    FUNCTION_KEYS,
    ROOT,
    Azurite,
    BatchService,
    CosmosServer,
    IdentityEndpoint,
    start_azurite,
    start_batch,
    start_cosmos,
    start_fault_proxy,
    start_functions,
    start_identity,
)
from devstack.tls import ensure_certificate, trust_bundle

log = logging.getLogger(__name__)

# What App Service puts in the app's environment, and the certificate bundle it trusts: the
# stack's settings for these win over this machine's environment.
APP_ENVIRONMENT = ("IDENTITY_ENDPOINT", "IDENTITY_HEADER", "REQUESTS_CA_BUNDLE")

NODE_CREDENTIALS = "dropbatch/credentials.json"
# Azure SDK clients append this variable to their User-Agent: fault rules tell callers apart.
USER_AGENT_ENV = "AZURE_HTTP_USER_AGENT"
APP_CALLER = "dropbatch-app"
WORKER_CALLER = "dropbatch-worker"
AUTOSCALE_SECONDS = "3"
# Blob events per delivery, as the deployment's postdeploy hooks subscribe (infra/hooks).
EVENTS_PER_BATCH = 32


@dataclass(frozen=True)
class Ports:
    """Fixed ports for the long-running stack; 0 everywhere picks free ports (tests)."""

    blob: int = 0
    queue: int = 0
    batch: int = 0
    cosmos: int = 0
    functions: int = 0  # the Functions host's HTTP triggers (the status page)
    identity: int = 0  # the managed identity endpoint (keyless stack)

    @classmethod
    def standard(cls) -> Ports:
        return cls(
            blob=10000, queue=10001, batch=10100, cosmos=10200, functions=7071, identity=10300
        )


@dataclass
class Stack:
    state_dir: Path
    azurite: Azurite | None = None
    cosmos: CosmosServer | None = None
    batch: BatchService | None = None
    functions: ManagedProcess | None = None
    identity: IdentityEndpoint | None = None
    values: dict[str, str] = field(default_factory=dict)
    # The Cosmos server keeps data in memory; the long-running stack snapshots it on stop.
    persist_cosmos: bool = False
    # Added to every Cosmos response, to stand in for a network round trip (benchmarks).
    cosmos_latency_ms: int = 0
    # Fault injection (the fault matrix): a fault proxy in front of Azurite's blob endpoint,
    # and callers told apart by User-Agent (the app's and the nodes' SDK clients tag theirs).
    chaos: bool = False
    # The app's SDK clients tag their User-Agent (as on the chaos stack) without the fault
    # proxy: the Cosmos server's request counters tell the app's requests apart (benchmarks).
    tag_callers: bool = False
    # The storage front (the fault proxy) publishes blob events to an Event Grid subscription
    # on the host's blobs webhook, so EventGrid-source blob triggers are pushed, not polled.
    blob_events: bool = True
    storage_proxy: ManagedProcess | None = None

    @property
    def settings_file(self) -> Path:
        return self.state_dir / "local.settings.json"

    def start(
        self,
        ports: Ports | None = None,
        with_functions: bool = True,
        overrides: dict[str, str] | None = None,
        keyless: bool = False,
    ) -> Stack:
        """Start every server, write the settings file, create containers and the database,
        then start the Functions host. Stops what it started if any step fails. Keyless:
        identities and tokens instead of keys (see the module's docstring)."""
        ports = ports or Ports()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if keyless and self.persist_cosmos:
            raise ValueError("the keyless stack does not snapshot Cosmos data")
        try:
            token_key = None
            if keyless:
                app_id, node_id = self._identity_client_ids()
                self.identity = start_identity(self.state_dir, app_id, node_id, ports.identity)
                token_key = self.identity.public_key
            self.azurite = start_azurite(self.state_dir, ports.blob, ports.queue, keyless)
            if self.chaos and keyless:
                raise ValueError("the chaos stack is not keyless")
            if self.chaos or (self.blob_events and with_functions):
                self.storage_proxy, proxy_port = start_fault_proxy(
                    self.state_dir, self.azurite.blob_port, tls=keyless
                )
                # Everyone reaches blob storage through the proxy; the process stays Azurite.
                self.azurite = dataclasses.replace(self.azurite, blob_port=proxy_port)
            if keyless:
                base = os.environ.get("REQUESTS_CA_BUNDLE")
                trust_bundle(self.state_dir / "tls", self.ca_cert, base)
            self.cosmos = start_cosmos(
                self.state_dir, ports.cosmos, self.cosmos_latency_ms, token_key
            )
            credentials = self._write_node_credentials()
            # Batch evaluates autoscale formulas every 5 minutes at the least; the local
            # service does it every few seconds so the pool follows the demo's queue.
            batch_args = ["--autoscale-interval", AUTOSCALE_SECONDS]
            for name, value in self._node_environment().items():
                batch_args += ["--node-env", f"{name}={value}"]
            # Keyless, the service fetches files over HTTPS with tokens: it trusts the stack's CA.
            trust = {"SSL_CERT_FILE": str(self.ca_bundle)} if keyless else None
            self.batch = start_batch(
                self.state_dir,
                ports.batch,
                {NODE_CREDENTIALS: credentials},
                batch_args,
                token_key,
                env=trust,
            )
            self.values = self._settings_values(overrides or {})
            write_settings(self.settings_file, self.values)
            self.provision()
            if self.persist_cosmos:
                loaded = cosmos_snapshot.load(self._cosmos_client(), self.snapshot_file)
                log.info("restored %d Cosmos documents from %s", loaded, self.snapshot_file)
            if with_functions:
                self.functions = start_functions(
                    self.state_dir,
                    ROOT,
                    self.settings_file,
                    ports.functions,
                    self._app_process_environment(),
                    event_grid=self.pushes_blob_events,
                )
                self.subscribe_blob_events()
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def pushes_blob_events(self) -> bool:
        """Does the storage front deliver blob events to the host's webhook?"""
        return self.blob_events and self.storage_proxy is not None

    def subscribe_blob_events(self) -> None:
        """Subscribe each webhook-served blob trigger to BlobCreated events on its container,
        as the deployment's postdeploy hook does in Azure; again after a host restart (its
        HTTP port may change). Events published while no subscription reached the host are
        lost, as in Azure after Event Grid gives up: the app's own sweep finds those files."""
        if not self.pushes_blob_events or self.functions is None or self.functions_url is None:
            return
        assert self.storage_proxy is not None
        front = str(self.storage_proxy.ready_info["url"])
        keys = json.loads((self.state_dir / FUNCTION_KEYS).read_text())
        key = FunctionKeys.from_document(keys).system[BLOBS_SYSTEM_KEY]
        webhooks = self.functions.ready_info.get("blob_webhooks") or {}
        for name, container in dict(webhooks).items():
            endpoint = (
                f"{self.functions_url}/runtime/webhooks/blobs"
                f"?functionName=Host.Functions.{name}&code={key}"
            )
            subscribe(
                front,
                {
                    "name": f"dropbatch-{name}",
                    "endpoint": endpoint,
                    "includedEventTypes": [BLOB_CREATED],
                    "subjectBeginsWith": f"/blobServices/default/containers/{container}/",
                    # As the deployment subscribes: a burst's events a batch per request.
                    "maxEventsPerBatch": EVENTS_PER_BATCH,
                },
                self.ca_cert if self.keyless else None,
            )

    @property
    def functions_url(self) -> str | None:
        """Where the Functions host serves HTTP triggers (None when it does not run)."""
        url = self.functions.ready_info.get("http") if self.functions else None
        return str(url) if url else None

    @property
    def function_key(self) -> str:
        """The host's default function key (made per stack, kept in its state folder)."""
        keys = json.loads((self.state_dir / FUNCTION_KEYS).read_text())
        return str(FunctionKeys.from_document(keys).default)

    @property
    def status_page(self) -> str | None:
        """The status page's address, key included."""
        if self.functions_url is None:
            return None
        return f"{self.functions_url}/api/status?code={self.function_key}"

    @property
    def snapshot_file(self) -> Path:
        return self.state_dir / "cosmos-snapshot.json"

    def _cosmos_client(self) -> CosmosClient:
        from batch_core.cosmosdb import cosmos_client
        from batch_core.settings import Settings

        return cosmos_client(Settings.from_env(self.values))

    @property
    def keyless(self) -> bool:
        return self.identity is not None

    @property
    def ca_cert(self) -> Path:
        """The certificate every HTTPS server of the stack presents."""
        return ensure_certificate(self.state_dir / "tls")[0]

    @property
    def ca_bundle(self) -> Path:
        """The bundle clients trust (`REQUESTS_CA_BUNDLE`): theirs plus the stack's."""
        return self.state_dir / "tls" / "ca-bundle.pem"

    def app_environment(self) -> dict[str, str]:
        """This process's environment with the app's settings over it: what the function app
        runs with (the identity endpoint and the trusted certificate are read from there)."""
        return {**os.environ, **self.values}

    def provision(self) -> None:
        from batch_core.pipeline import Pipeline
        from batch_core.settings import Settings

        if not self.keyless:
            Pipeline.build(Settings.from_env(self.values)).provision()
            return
        # The app's identity is found through its environment: provision as the app would.
        done = subprocess.run(
            [sys.executable, "-m", "batch_core.cli", "--settings", str(self.settings_file), "init"],
            env=self.app_environment(),
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"dropbatch init failed ({done.returncode}): {done.stderr[-2000:]}")

    def _identity_client_ids(self) -> tuple[str, str]:
        """The app's and the pool's identities, made once per state folder."""
        path = self.state_dir / "identity" / "identities.json"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"app": str(uuid.uuid4()), "node": str(uuid.uuid4())}))
        ids = json.loads(path.read_text())
        return str(ids["app"]), str(ids["node"])

    def _app_process_environment(self) -> dict[str, str]:
        """What the Functions host runs with over this process's environment."""
        env = {n: self.values[n] for n in APP_ENVIRONMENT if n in self.values}
        if self.chaos or self.tag_callers:
            env[USER_AGENT_ENV] = APP_CALLER
        return env

    def _node_environment(self) -> dict[str, str]:
        """What the node image sets for every task: keyless, where its instance metadata
        service answers and the certificate it trusts; the chaos stack's caller tag."""
        tag = {USER_AGENT_ENV: WORKER_CALLER} if self.chaos else {}
        if self.identity is None:
            return tag
        return {
            **tag,
            "AZURE_POD_IDENTITY_AUTHORITY_HOST": self.identity.url,
            "REQUESTS_CA_BUNDLE": str(self.ca_bundle),
        }

    def _write_node_credentials(self) -> Path:
        """What a node image would carry: the storage and Cosmos credentials the worker uses.
        Locally these are the emulators' published development keys; keyless, only the
        certificate to trust (the worker uses the pool's identity)."""
        assert self.azurite and self.cosmos
        path = self.state_dir / "node" / "credentials.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        content = {"DROPBATCH_COSMOS_CA_CERT": str(self.cosmos.ca_cert)}
        if not self.keyless:
            content["AzureWebJobsStorage"] = self.azurite.connection_string
            content["DROPBATCH_COSMOS_KEY"] = self.cosmos.key
        elif self.identity is not None:
            # The node agent fetches the pool identity's tokens for resource and output files.
            content[NODE_IDENTITY_AUTHORITY] = self.identity.url
        path.write_text(json.dumps(content, indent=2))
        path.chmod(0o600)
        return path

    def _settings_values(self, overrides: dict[str, str]) -> dict[str, str]:
        assert self.azurite and self.cosmos and self.batch
        sample = json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]
        values: dict[str, str] = dict(sample)
        values.update(
            {
                "DROPBATCH_BATCH_URL": self.batch.url,
                "DROPBATCH_BATCH_ACCOUNT": self.batch.account,
                "DROPBATCH_COSMOS_ENDPOINT": self.cosmos.endpoint,
                "DROPBATCH_COSMOS_CA_CERT": str(self.cosmos.ca_cert),
                "DROPBATCH_WORKER_COMMAND": f"{sys.executable} -m worker",
            }
        )
        if self.identity is None:
            values["AzureWebJobsStorage"] = self.azurite.connection_string
            values["DROPBATCH_BATCH_KEY"] = self.batch.key or ""
            values["DROPBATCH_COSMOS_KEY"] = self.cosmos.key
        else:
            for name in ("AzureWebJobsStorage", "DROPBATCH_BATCH_KEY", "DROPBATCH_COSMOS_KEY"):
                values.pop(name, None)
            values.update(
                {
                    "AzureWebJobsStorage__blobServiceUri": self.azurite.blob_endpoint,
                    "AzureWebJobsStorage__queueServiceUri": self.azurite.queue_endpoint,
                    "AzureWebJobsStorage__credential": "managedidentity",
                    "IDENTITY_ENDPOINT": self.identity.identity_endpoint,
                    "IDENTITY_HEADER": self.identity.identity_header,
                    "REQUESTS_CA_BUNDLE": str(self.ca_bundle),
                    "DROPBATCH_WORKER_IDENTITY_CLIENT_ID": self.identity.node_client_id,
                }
            )
        values.update(overrides)
        return values

    def processes(self) -> list[ManagedProcess]:
        found: list[ManagedProcess | None] = [
            self.functions,
            self.batch.process if self.batch else None,
            self.cosmos.process if self.cosmos else None,
            self.storage_proxy,
            self.azurite.process if self.azurite else None,
            self.identity.process if self.identity else None,
        ]
        return [p for p in found if p is not None]

    def stop(self) -> None:
        """Stop in reverse order: the host first, so nothing new is submitted mid-shutdown."""
        if self.functions is not None:
            self.functions.stop()
        if self.persist_cosmos and self.cosmos and self.cosmos.process.running() and self.values:
            try:
                saved = cosmos_snapshot.save(self._cosmos_client(), self.snapshot_file)
                log.info("saved %d Cosmos documents to %s", saved, self.snapshot_file)
            except Exception as e:  # stopping matters more than the snapshot
                log.warning("could not snapshot Cosmos data: %s", e)
        for proc in self.processes():
            try:
                proc.stop()
            except Exception as e:  # keep stopping the others
                log.warning("stopping %s failed: %s", proc.name, e)

    def describe(self) -> dict[str, Any]:
        return {
            "blob": self.azurite.blob_endpoint if self.azurite else None,
            "queue": self.azurite.queue_endpoint if self.azurite else None,
            "cosmos": self.cosmos.endpoint if self.cosmos else None,
            "batch": self.batch.url if self.batch else None,
            "identity": self.identity.url if self.identity else None,
            "functions": "running" if self.functions and self.functions.running() else None,
            "status_page": self.status_page,
            "settings": str(self.settings_file),
            "logs": str(self.state_dir / "logs"),
            "pids": {p.name: p.pid for p in self.processes()},
        }


def subscribe(front: str, subscription: dict[str, object], ca_cert: Path | None) -> None:
    """Create (or replace) an event subscription on the storage front; it validates first."""
    context = ssl.create_default_context(cafile=str(ca_cert)) if ca_cert else None
    opener = build_opener(ProxyHandler({}), HTTPSHandler(context=context))
    request = Request(
        f"{front}{SUBSCRIPTIONS}",
        data=json.dumps(subscription).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with opener.open(request, timeout=60):
            pass
    except HTTPError as e:
        raise RuntimeError(
            f"event subscription {subscription['name']} refused: {e.read().decode()[:500]}"
        ) from e


def write_settings(path: Path, values: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"IsEncrypted": False, "Values": values}, indent=2) + "\n")
