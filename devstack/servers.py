"""Launchers for the local stack's servers: Azurite, the Cosmos DB-compatible server, the
Batch-compatible service and the Functions host. Each returns a running ManagedProcess."""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from devstack.process import ManagedProcess, free_port, port_open
from devstack.tls import ensure_certificate

ROOT = Path(__file__).resolve().parent.parent

# Well-known development credentials. They are published with the emulators (Azurite's
# devstoreaccount1, the Cosmos DB emulator's key) and guard nothing; our Batch service uses
# one of the same kind. Real accounts never use these.
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
COSMOS_KEY = (
    "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="
)
BATCH_ACCOUNT = "devbatchaccount"
BATCH_KEY = "ZGV2YmF0Y2hhY2NvdW50LXdlbGwta25vd24tZGV2ZWxvcG1lbnQta2V5LTAwMDA="


FUNCTION_KEYS = "function-keys.json"


def node_bin(name: str) -> str:
    path = ROOT / "node_modules" / ".bin" / name
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: run `npm ci` in the project folder (make does it for you)"
        )
    return str(path)


@dataclass(frozen=True)
class Azurite:
    process: ManagedProcess
    blob_port: int
    queue_port: int

    @property
    def blob_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.blob_port}/{AZURITE_ACCOUNT}"

    @property
    def queue_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.queue_port}/{AZURITE_ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
            f"AccountKey={AZURITE_KEY};BlobEndpoint={self.blob_endpoint};"
            f"QueueEndpoint={self.queue_endpoint};"
        )


def start_azurite(state_dir: Path, blob_port: int = 0, queue_port: int = 0) -> Azurite:
    blob_port = blob_port or free_port()
    queue_port = queue_port or free_port()
    data = state_dir / "azurite"
    data.mkdir(parents=True, exist_ok=True)
    argv = [
        node_bin("azurite"),
        "--silent",
        "--disableTelemetry",
        "--skipApiVersionCheck",
        "--location", str(data),
        "--blobHost", "127.0.0.1", "--blobPort", str(blob_port),
        "--queueHost", "127.0.0.1", "--queuePort", str(queue_port),
        "--tableHost", "127.0.0.1", "--tablePort", str(free_port()),
    ]  # fmt: skip
    proc = ManagedProcess(
        "azurite",
        argv,
        state_dir / "logs" / "azurite.log",
        cwd=ROOT,
        ready_line=False,
        ready_check=lambda: port_open(blob_port) and port_open(queue_port),
    ).start()
    return Azurite(proc, blob_port, queue_port)


@dataclass(frozen=True)
class CosmosServer:
    process: ManagedProcess
    endpoint: str
    key: str
    ca_cert: Path


def start_cosmos(state_dir: Path, port: int = 0, latency_ms: int = 0) -> CosmosServer:
    cert, key = ensure_certificate(state_dir / "tls")
    node = shutil.which("node") or "node"
    argv = [
        node, str(ROOT / "devstack" / "cosmos_server.js"),
        "--host", "127.0.0.1", "--port", str(port or free_port()),
        "--cert", str(cert), "--key", str(key),
        "--latency-ms", str(latency_ms),
    ]  # fmt: skip
    proc = ManagedProcess("cosmos", argv, state_dir / "logs" / "cosmos.log", cwd=ROOT).start()
    return CosmosServer(proc, str(proc.ready_info["url"]), COSMOS_KEY, cert)


@dataclass(frozen=True)
class BatchService:
    process: ManagedProcess
    url: str
    account: str
    key: str


def start_batch(
    state_dir: Path,
    port: int = 0,
    node_files: dict[str, Path] | None = None,
    extra_args: list[str] | None = None,
) -> BatchService:
    argv = [
        sys.executable, "-m", "devstack.batchsvc",
        "--host", "127.0.0.1", "--port", str(port),
        "--state-dir", str(state_dir / "batch"),
        "--nodes-root", str(state_dir / "batch-nodes"),
        "--account", BATCH_ACCOUNT, "--key", BATCH_KEY,
    ]  # fmt: skip
    for rel, src in (node_files or {}).items():
        argv += ["--node-file", f"{src}:{rel}"]
    argv += extra_args or []
    proc = ManagedProcess("batch", argv, state_dir / "logs" / "batch.log", cwd=ROOT).start()
    return BatchService(proc, str(proc.ready_info["url"]), BATCH_ACCOUNT, BATCH_KEY)


def start_functions(
    state_dir: Path, app_dir: Path, settings_file: Path, http_port: int = 0
) -> ManagedProcess:
    """The Functions host; its HTTP triggers on `http_port` (0: a free one), their keys in
    `state_dir/function-keys.json` (made on the first start, kept after)."""
    argv = [
        sys.executable, "-m", "devstack.funchost",
        "--app-dir", str(app_dir), "--settings", str(settings_file),
        "--http-port", str(http_port), "--keys", str(state_dir / FUNCTION_KEYS),
    ]  # fmt: skip
    return ManagedProcess(
        "functions", argv, state_dir / "logs" / "functions.log", cwd=app_dir
    ).start()
