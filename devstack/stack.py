"""The local stack: Azurite, the Cosmos DB-compatible server, the Batch-compatible service and
the Functions host, started in order, with the settings file that points everything at them."""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azure.cosmos import CosmosClient

from devstack import cosmos_snapshot
from devstack.funchost.httpkeys import FunctionKeys
from devstack.process import ManagedProcess
from devstack.servers import (
    FUNCTION_KEYS,
    ROOT,
    Azurite,
    BatchService,
    CosmosServer,
    start_azurite,
    start_batch,
    start_cosmos,
    start_functions,
)

log = logging.getLogger(__name__)

NODE_CREDENTIALS = "dropbatch/credentials.json"
AUTOSCALE_SECONDS = "3"


@dataclass(frozen=True)
class Ports:
    """Fixed ports for the long-running stack; 0 everywhere picks free ports (tests)."""

    blob: int = 0
    queue: int = 0
    batch: int = 0
    cosmos: int = 0
    functions: int = 0  # the Functions host's HTTP triggers (the status page)

    @classmethod
    def standard(cls) -> Ports:
        return cls(blob=10000, queue=10001, batch=10100, cosmos=10200, functions=7071)


@dataclass
class Stack:
    state_dir: Path
    azurite: Azurite | None = None
    cosmos: CosmosServer | None = None
    batch: BatchService | None = None
    functions: ManagedProcess | None = None
    values: dict[str, str] = field(default_factory=dict)
    # The Cosmos server keeps data in memory; the long-running stack snapshots it on stop.
    persist_cosmos: bool = False
    # Added to every Cosmos response, to stand in for a network round trip (benchmarks).
    cosmos_latency_ms: int = 0

    @property
    def settings_file(self) -> Path:
        return self.state_dir / "local.settings.json"

    def start(
        self,
        ports: Ports | None = None,
        with_functions: bool = True,
        overrides: dict[str, str] | None = None,
    ) -> Stack:
        """Start every server, write the settings file, create containers and the database,
        then start the Functions host. Stops what it started if any step fails."""
        ports = ports or Ports()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        try:
            self.azurite = start_azurite(self.state_dir, ports.blob, ports.queue)
            self.cosmos = start_cosmos(self.state_dir, ports.cosmos, self.cosmos_latency_ms)
            credentials = self._write_node_credentials()
            self.batch = start_batch(
                self.state_dir,
                ports.batch,
                {NODE_CREDENTIALS: credentials},
                # Batch evaluates autoscale formulas every 5 minutes at the least; the local
                # service does it every few seconds so the pool follows the demo's queue.
                ["--autoscale-interval", AUTOSCALE_SECONDS],
            )
            self.values = self._settings_values(overrides or {})
            write_settings(self.settings_file, self.values)
            self.provision()
            if self.persist_cosmos:
                loaded = cosmos_snapshot.load(self._cosmos_client(), self.snapshot_file)
                log.info("restored %d Cosmos documents from %s", loaded, self.snapshot_file)
            if with_functions:
                self.functions = start_functions(
                    self.state_dir, ROOT, self.settings_file, ports.functions
                )
        except BaseException:
            self.stop()
            raise
        return self

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

    def provision(self) -> None:
        from batch_core.pipeline import Pipeline
        from batch_core.settings import Settings

        Pipeline.build(Settings.from_env(self.values)).provision()

    def _write_node_credentials(self) -> Path:
        """What a node image would carry: the storage and Cosmos credentials the worker uses.
        Locally these are the emulators' published development keys."""
        assert self.azurite and self.cosmos
        path = self.state_dir / "node" / "credentials.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            json.dumps(
                {
                    "AzureWebJobsStorage": self.azurite.connection_string,
                    "DROPBATCH_COSMOS_KEY": self.cosmos.key,
                    "DROPBATCH_COSMOS_CA_CERT": str(self.cosmos.ca_cert),
                },
                indent=2,
            )
        )
        path.chmod(0o600)
        return path

    def _settings_values(self, overrides: dict[str, str]) -> dict[str, str]:
        assert self.azurite and self.cosmos and self.batch
        sample = json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]
        values: dict[str, str] = dict(sample)
        values.update(
            {
                "AzureWebJobsStorage": self.azurite.connection_string,
                "DROPBATCH_BATCH_URL": self.batch.url,
                "DROPBATCH_BATCH_ACCOUNT": self.batch.account,
                "DROPBATCH_BATCH_KEY": self.batch.key,
                "DROPBATCH_COSMOS_ENDPOINT": self.cosmos.endpoint,
                "DROPBATCH_COSMOS_KEY": self.cosmos.key,
                "DROPBATCH_COSMOS_CA_CERT": str(self.cosmos.ca_cert),
                "DROPBATCH_WORKER_COMMAND": f"{sys.executable} -m worker",
            }
        )
        values.update(overrides)
        return values

    def processes(self) -> list[ManagedProcess]:
        found: list[ManagedProcess | None] = [
            self.functions,
            self.batch.process if self.batch else None,
            self.cosmos.process if self.cosmos else None,
            self.azurite.process if self.azurite else None,
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
            "functions": "running" if self.functions and self.functions.running() else None,
            "status_page": self.status_page,
            "settings": str(self.settings_file),
            "logs": str(self.state_dir / "logs"),
            "pids": {p.name: p.pid for p in self.processes()},
        }


def write_settings(path: Path, values: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"IsEncrypted": False, "Values": values}, indent=2) + "\n")
