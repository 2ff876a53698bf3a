"""Launchers for the local stack's servers: Azurite, the Cosmos DB-compatible server, the
Batch-compatible service, the Functions host and, for the keyless stack, the managed identity
endpoint. Each returns a running ManagedProcess.

Keyless, each service is what its Azure counterpart is with local auth disabled: Azurite over
HTTPS with OAuth (`--oauth basic`) and an account key nobody is given, the Cosmos server
accepting Entra ID tokens only, the Batch service AAD-only over HTTPS. They share one
certificate (`tls.ensure_certificate`) that the clients trust through their settings."""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from devstack.identity.tokens import ISSUER
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
    keyless: bool = False  # HTTPS, bearer tokens only (the well-known key is refused)

    @property
    def scheme(self) -> str:
        return "https" if self.keyless else "http"

    @property
    def blob_endpoint(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.blob_port}/{AZURITE_ACCOUNT}"

    @property
    def queue_endpoint(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.queue_port}/{AZURITE_ACCOUNT}"

    @property
    def debug_log(self) -> Path:
        """Azurite's debug log (written when keyless): each request's authentication."""
        return self.process.log_path.with_name("azurite-debug.log")

    @property
    def connection_string(self) -> str:
        if self.keyless:
            raise ValueError("a keyless Azurite has no connection string: use a token")
        return (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
            f"AccountKey={AZURITE_KEY};BlobEndpoint={self.blob_endpoint};"
            f"QueueEndpoint={self.queue_endpoint};"
        )


def start_azurite(
    state_dir: Path, blob_port: int = 0, queue_port: int = 0, keyless: bool = False
) -> Azurite:
    """Azurite on HTTP with the well-known key; keyless: on HTTPS with OAuth, the account's
    key a random one that is given to no one (Azurite checks a token's issuer, audience and
    lifetime, not its signature)."""
    blob_port = blob_port or free_port()
    queue_port = queue_port or free_port()
    data = state_dir / "azurite"
    data.mkdir(parents=True, exist_ok=True)
    log_path = state_dir / "logs" / "azurite.log"
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
    env = None
    if keyless:
        cert, key = ensure_certificate(state_dir / "tls")
        argv += ["--cert", str(cert), "--key", str(key), "--oauth", "basic"]
        argv += ["--debug", str(log_path.with_name("azurite-debug.log"))]
        unknown_key = base64.b64encode(secrets.token_bytes(64)).decode("ascii")
        env = {**os.environ, "AZURITE_ACCOUNTS": f"{AZURITE_ACCOUNT}:{unknown_key}"}
    proc = ManagedProcess(
        "azurite",
        argv,
        log_path,
        cwd=ROOT,
        env=env,
        ready_line=False,
        ready_check=lambda: port_open(blob_port) and port_open(queue_port),
    ).start()
    return Azurite(proc, blob_port, queue_port, keyless)


@dataclass(frozen=True)
class IdentityEndpoint:
    """The managed identity endpoint: the app's IDENTITY_ENDPOINT/IDENTITY_HEADER, the
    nodes' instance metadata host, the identities' client ids and the tokens' public key."""

    process: ManagedProcess
    url: str
    identity_endpoint: str
    identity_header: str
    public_key: Path
    app_client_id: str
    node_client_id: str
    node_resource_id: str


# The pool's user-assigned identity, as Bicep would name it.
NODE_IDENTITY_RESOURCE_ID = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/dropbatch-local"
    "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/dropbatch-worker"
)


def start_identity(
    state_dir: Path, app_client_id: str, node_client_id: str, port: int = 0
) -> IdentityEndpoint:
    """The identity endpoint with a fresh signing key and X-IDENTITY-HEADER secret."""
    from devstack.identity.tokens import make_signing_key

    private, public = make_signing_key(state_dir / "identity")
    header = secrets.token_urlsafe(24)
    argv = [
        sys.executable, "-m", "devstack.identity",
        "--host", "127.0.0.1", "--port", str(port),
        "--signing-key", str(private),
        "--app-identity", app_client_id,
        "--node-identity", f"{node_client_id}={NODE_IDENTITY_RESOURCE_ID}",
    ]  # fmt: skip
    proc = ManagedProcess(
        "identity",
        argv,
        state_dir / "logs" / "identity.log",
        cwd=ROOT,
        env={**os.environ, "IDENTITY_HEADER": header},
    ).start()
    info = proc.ready_info
    return IdentityEndpoint(
        proc,
        str(info["url"]),
        str(info["identity_endpoint"]),
        header,
        public,
        app_client_id,
        node_client_id,
        NODE_IDENTITY_RESOURCE_ID,
    )


@dataclass(frozen=True)
class CosmosServer:
    process: ManagedProcess
    endpoint: str
    key: str
    ca_cert: Path


def start_cosmos(
    state_dir: Path, port: int = 0, latency_ms: int = 0, token_key: Path | None = None
) -> CosmosServer:
    """The Cosmos DB-compatible server; with `token_key`, Entra ID tokens only (audience the
    account's own host, as the SDK asks, or https://cosmos.azure.com)."""
    cert, key = ensure_certificate(state_dir / "tls")
    node = shutil.which("node") or "node"
    argv = [
        node, str(ROOT / "devstack" / "cosmos_server.js"),
        "--host", "127.0.0.1", "--port", str(port or free_port()),
        "--cert", str(cert), "--key", str(key),
        "--latency-ms", str(latency_ms),
    ]  # fmt: skip
    if token_key is not None:
        argv += ["--aad-key", str(token_key), "--aad-issuer", ISSUER]
        argv += ["--aad-audience", "https://127.0.0.1,https://cosmos.azure.com"]
    proc = ManagedProcess("cosmos", argv, state_dir / "logs" / "cosmos.log", cwd=ROOT).start()
    return CosmosServer(proc, str(proc.ready_info["url"]), COSMOS_KEY, cert)


@dataclass(frozen=True)
class BatchService:
    process: ManagedProcess
    url: str
    account: str
    key: str | None  # None: the account allows Entra ID tokens only


def start_batch(
    state_dir: Path,
    port: int = 0,
    node_files: dict[str, Path] | None = None,
    extra_args: list[str] | None = None,
    token_key: Path | None = None,
    env: dict[str, str] | None = None,
) -> BatchService:
    """The Batch service with the well-known key; with `token_key`, an AAD-only account over
    HTTPS that accepts the identity endpoint's tokens."""
    argv = [
        sys.executable, "-m", "devstack.batchsvc",
        "--host", "127.0.0.1", "--port", str(port),
        "--state-dir", str(state_dir / "batch"),
        "--nodes-root", str(state_dir / "batch-nodes"),
        "--account", BATCH_ACCOUNT,
    ]  # fmt: skip
    key: str | None = BATCH_KEY
    if token_key is None:
        argv += ["--key", BATCH_KEY]
    else:
        cert, tls_key = ensure_certificate(state_dir / "tls")
        argv += ["--token-key", str(token_key), "--tls-cert", str(cert), "--tls-key", str(tls_key)]
        key = None
    for rel, src in (node_files or {}).items():
        argv += ["--node-file", f"{src}:{rel}"]
    argv += extra_args or []
    process_env = {**os.environ, **env} if env else None
    log_path = state_dir / "logs" / "batch.log"
    proc = ManagedProcess("batch", argv, log_path, cwd=ROOT, env=process_env).start()
    return BatchService(proc, str(proc.ready_info["url"]), BATCH_ACCOUNT, key)


def start_functions(
    state_dir: Path,
    app_dir: Path,
    settings_file: Path,
    http_port: int = 0,
    env: dict[str, str] | None = None,
    event_grid: bool = False,
) -> ManagedProcess:
    """The Functions host; its HTTP triggers on `http_port` (0: a free one), their keys in
    `state_dir/function-keys.json` (made on the first start, kept after). `env` goes over
    this process's environment (which wins over the settings file, as with Core Tools).
    `event_grid`: EventGrid-source blob triggers are served by the blobs webhook."""
    argv = [
        sys.executable, "-m", "devstack.funchost",
        "--app-dir", str(app_dir), "--settings", str(settings_file),
        "--http-port", str(http_port), "--keys", str(state_dir / FUNCTION_KEYS),
    ]  # fmt: skip
    if event_grid:
        argv.append("--event-grid")
    return ManagedProcess(
        "functions",
        argv,
        state_dir / "logs" / "functions.log",
        cwd=app_dir,
        env={**os.environ, **env} if env else None,
    ).start()


def start_fault_proxy(
    state_dir: Path, upstream_port: int, port: int = 0, tls: bool = False
) -> tuple[ManagedProcess, int]:
    """The storage front (`devstack.faultproxy`) in front of Azurite's blob endpoint; its
    port. `tls`: Azurite serves HTTPS, and so does the front, with the stack's certificate."""
    argv = [sys.executable, "-m", "devstack.faultproxy", "--upstream", f"127.0.0.1:{upstream_port}"]
    argv += ["--port", str(port)]
    if tls:
        cert, key = ensure_certificate(state_dir / "tls")
        argv += ["--cert", str(cert), "--key", str(key), "--upstream-tls"]
    proc = ManagedProcess("storage-proxy", argv, state_dir / "logs" / "storage-proxy.log", cwd=ROOT)
    proc.start()
    return proc, int(str(proc.ready_info["url"]).rsplit(":", 1)[1])
