"""A Batch node for the worker's tests: real Azurite and Cosmos servers, a node shared dir
holding the credentials file, and `python -m worker` run as a subprocess with a task's
environment (names and endpoints only, never secrets)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azure.cosmos import ContainerProxy, CosmosClient, PartitionKey
from azure.cosmos.documents import SSLConfiguration
from azure.storage.blob import BlobServiceClient

from devstack.servers import (
    AZURITE_ACCOUNT,
    AZURITE_KEY,
    Azurite,
    CosmosServer,
    start_azurite,
    start_cosmos,
)
from worker import contract as task
from worker.contract import SUMMARY_FILE, output_prefix, worker_log_path

ROOT = Path(__file__).resolve().parents[2]
# The worker's tests use their own containers: tests of the pipeline sharing these servers
# sweep the pipeline's incoming container and must not pick these blobs up.
INCOMING = "worker-incoming"
RESULTS = "worker-results"
LOGS = "worker-logs"
CONTAINERS = (INCOMING, RESULTS, LOGS)


@dataclass
class Run:
    """One worker run: its exit code, output and the blobs it wrote."""

    code: int
    stdout: str
    stderr: str
    stack: WorkerStack
    name: str
    key: str

    def result(self, leaf: str) -> bytes:
        return self.stack.read(RESULTS, result_path(self.name, self.key, leaf))

    def summary(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.result(SUMMARY_FILE))
        return data

    def task_log(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(
            self.stack.read(LOGS, worker_log_path(self.name, self.key))
        )
        return data


@dataclass
class WorkerStack:
    azurite: Azurite
    cosmos: CosmosServer
    root: Path
    blobs: BlobServiceClient
    records: ContainerProxy
    shared_dir: Path
    owns_servers: bool = False
    extra_env: dict[str, str] = field(default_factory=dict)

    def stop(self) -> None:
        self.blobs.close()
        if self.owns_servers:
            self.cosmos.process.stop()
            self.azurite.process.stop()

    def upload(self, name: str, data: bytes, container: str = INCOMING) -> tuple[str, str]:
        """Drop a file; return (etag, file key) as batch_core computes them."""
        client = self.blobs.get_blob_client(container, name)
        etag = str(client.upload_blob(data, overwrite=True)["etag"])
        return etag, file_key(container, name, etag)

    def read(self, container: str, name: str) -> bytes:
        return bytes(self.blobs.get_blob_client(container, name).download_blob().readall())

    def exists(self, container: str, name: str) -> bool:
        return bool(self.blobs.get_blob_client(container, name).exists())

    def list_blobs(self, container: str, prefix: str) -> list[str]:
        return sorted(b.name for b in self.blobs.get_container_client(container).list_blobs(prefix))

    def documents(self, key: str) -> list[dict[str, Any]]:
        return list(
            self.records.query_items(
                "SELECT * FROM c WHERE c.file_key = @k",
                parameters=[{"name": "@k", "value": key}],
                enable_cross_partition_query=True,
            )
        )

    def documents_of(self, name: str) -> list[dict[str, Any]]:
        return list(
            self.records.query_items(
                "SELECT * FROM c WHERE c.source.name = @n",
                parameters=[{"name": "@n", "value": name}],
                enable_cross_partition_query=True,
            )
        )

    def task_env(
        self, route: str, name: str, etag: str, key: str, **settings: str
    ) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "AZ_BATCH_NODE_SHARED_DIR": str(self.shared_dir),
            "AZ_BATCH_TASK_ID": f"task-{key[:12]}",
            "AZ_BATCH_JOB_ID": "job-test",
            task.ROUTE: route,
            task.FILE_KEY: key,
            task.INPUT_CONTAINER: INCOMING,
            task.CONTAINER_INCOMING: INCOMING,
            task.CONTAINER_RESULTS: RESULTS,
            task.CONTAINER_LOGS: LOGS,
            task.INPUT_BLOB: name,
            task.INPUT_ETAG: etag,
            task.BLOB_ENDPOINT: self.azurite.blob_endpoint,
            task.COSMOS_ENDPOINT: self.cosmos.endpoint,
            # Tests do not wait for backoff.
            task.SERVICE_RETRY_BACKOFF_SECONDS: "0",
            **self.extra_env,
        }
        env.update(settings)
        return env

    def run_worker(
        self, env: dict[str, str], timeout: float = 240
    ) -> subprocess.CompletedProcess[str]:
        workdir = self.root / "tasks" / uuid.uuid4().hex
        workdir.mkdir(parents=True)
        env = {**env, "AZ_BATCH_TASK_WORKING_DIR": str(workdir)}
        proc = subprocess.run(
            [sys.executable, "-m", "worker"],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        # The worker cleans its temporary files up.
        assert list(workdir.iterdir()) == [], list(workdir.iterdir())
        return proc

    def process(self, route: str, name: str, data: bytes | None = None, **settings: str) -> Run:
        """Drop `data` as `name` (unless None: the blob is already there) and run the worker."""
        if data is not None:
            etag, key = self.upload(name, data)
        else:
            props = self.blobs.get_blob_client(INCOMING, name).get_blob_properties()
            etag, key = str(props.etag), file_key(INCOMING, name, str(props.etag))
        proc = self.run_worker(self.task_env(route, name, etag, key, **settings))
        return Run(proc.returncode, proc.stdout, proc.stderr, self, name, key)


def file_key(container: str, name: str, etag: str) -> str:
    raw = f"{AZURITE_ACCOUNT}/{container}/{name}@{etag.strip().strip(chr(34))}"
    return hashlib.sha256(raw.encode()).hexdigest()[:40]


def result_path(name: str, key: str, leaf: str) -> str:
    """Where a file version's result `leaf` lives in the results container."""
    return f"{output_prefix(name, key)}/{leaf}"


def unique(name: str) -> str:
    """A blob name no other test uses (tests share one stack)."""
    return f"t-{uuid.uuid4().hex[:10]}/{name}"


def write_credentials(shared_dir: Path, values: dict[str, str]) -> Path:
    path = shared_dir / "dropbatch" / "credentials.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(values))
    path.chmod(0o600)
    return path


def records_container(cosmos: CosmosServer) -> ContainerProxy:
    """The worker's `records` container on this server (made if missing), with a client of
    the tests' own."""
    client = CosmosClient(
        cosmos.endpoint,
        credential=cosmos.key,
        connection_verify=str(cosmos.ca_cert),
        ssl_config=SSLConfiguration(),
    )
    database = client.create_database_if_not_exists("dropbatch")
    return database.create_container_if_not_exists("records", PartitionKey("/pk"))


def attach_worker_stack(
    azurite: Azurite, cosmos: CosmosServer, root: Path, owns_servers: bool = False
) -> WorkerStack:
    """Clients, the worker's containers and a node shared dir on running servers."""
    blobs = BlobServiceClient(
        azurite.blob_endpoint,
        credential={"account_name": AZURITE_ACCOUNT, "account_key": AZURITE_KEY},
    )
    for container in CONTAINERS:
        if not blobs.get_container_client(container).exists():
            blobs.create_container(container)
    records = records_container(cosmos)
    shared = root / "node-shared"
    write_credentials(
        shared,
        {
            "AzureWebJobsStorage": azurite.connection_string,
            "DROPBATCH_COSMOS_KEY": cosmos.key,
            "DROPBATCH_COSMOS_CA_CERT": str(cosmos.ca_cert),
        },
    )
    return WorkerStack(azurite, cosmos, root, blobs, records, shared, owns_servers=owns_servers)


def start_worker_stack(root: Path) -> WorkerStack:
    """Servers of its own (for scripts run outside pytest)."""
    azurite = start_azurite(root)
    try:
        cosmos = start_cosmos(root)
    except BaseException:
        azurite.process.stop()
        raise
    try:
        return attach_worker_stack(azurite, cosmos, root, owns_servers=True)
    except BaseException:
        cosmos.process.stop()
        azurite.process.stop()
        raise
