"""A local service that speaks the Azure Batch REST API and runs tasks as local processes.

The real `azure.batch.BatchClient` (15.x, api-version 2025-06-01) talks to it unchanged with
`AzureNamedKeyCredential(account, key)`, and so do clients of api-versions 2024-02-01.19.0
(the Azure CLI, azure-batch 14.x) and 2024-07-01.20.0, each answered in its own shapes
(see `apiversions.py`)::

    python -m devstack.batchsvc --host 127.0.0.1 --port 0 --state-dir DIR \\
        --account NAME --key BASE64KEY [--nodes-root DIR] [--node-file SRC:RELPATH ...] \\
        [--node-env NAME=VALUE ...] [--fault SPEC ...] [--autoscale-interval SECONDS] \\
        [--active-job-quota N] [--token-key PEM] [--tls-cert PEM --tls-key PEM]

Authentication follows the account's modes: SharedKey with `--key`, Microsoft Entra ID bearer
tokens with `--token-key` (the local identity endpoint's public key: signature, issuer,
audience `https://batch.core.windows.net/` and lifetime are checked; a refusal is 401 with
Batch's error body and a `WWW-Authenticate` challenge). Without `--key` the account is
AAD-only, as one created with `allowedAuthenticationModes: ['AAD']`. Clients send bearer
tokens over HTTPS only, hence `--tls-cert`/`--tls-key`.

When it listens it prints one line on stdout,
`{"event": "ready", "service": "batch", "url": "http://127.0.0.1:PORT"}`; logs are JSON lines
on stderr. SIGTERM or SIGINT stops it: no new connections, every running task's process group
killed, state kept in SQLite under the state dir (those tasks are requeued at the next start).

In-process use (tests): `BatchService(ServiceConfig(...)).start()`, then `.url`, then `.stop()`.

Nodes are directories `<nodes-root>/<pool>/<node>/` with Batch's layout (`shared/`,
`startup/`, `workitems/<job>/job-1/<task>/wd`); `--node-file` copies a file into every node's
`shared/` as if baked into the image. A task's command line is split into words as on Linux,
without a shell; it runs in its own process group with only the Batch environment
(`AZ_BATCH_*`, a plain PATH, HOME, LANG, the job's and task's environment settings and any
`--node-env`), never this service's own environment.

Task dependencies (`dependsOn` ids and ranges, exit-condition dependency actions, see
`dependencies.py`), task reactivation, a job's `maxParallelTasks` and the account's active job
quota (`--active-job-quota`, default 100 unfinished jobs) follow Batch's documented rules.

Admin endpoints (no auth, loopback clients only):
`GET /_devstack/stats`, `POST /_devstack/stats/reset` (requests per swagger operationId,
and authentications by scheme, accepted or refused),
`GET|POST|DELETE /_devstack/faults` (the stack's rules: `devstack/faultrules.py`; scoped by
operationId and User-Agent), `POST /_devstack/preempt`
(`{"jobId", "taskId"}` or `{"poolId", "nodeId"}`: a spot eviction), `GET /_devstack/health`.

Where this service differs from Azure Batch it says so: in the error message of what it does
not support (multi-instance tasks, job manager tasks, job schedules, auto pools, node user
accounts, autoStorageContainerName, autoscale variables without a local meaning) or in the
task's stderr (containerSettings: no container runtime, the command runs on the host;
userIdentity: every task runs as this service's user).
"""

from devstack.batchsvc.server import BatchServiceServer, ServiceConfig

__all__ = ["BatchServiceServer", "ServiceConfig"]
