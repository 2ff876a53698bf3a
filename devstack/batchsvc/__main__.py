"""`python -m devstack.batchsvc`: run the local Batch-compatible service until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from devstack.batchsvc import logs
from devstack.batchsvc.errors import ConfigurationError
from devstack.batchsvc.faults import FaultRule
from devstack.batchsvc.nodes import NodeFile
from devstack.batchsvc.server import BatchServiceServer, ServiceConfig

log = logging.getLogger("devstack.batchsvc")


def _env_pair(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"--node-env wants NAME=VALUE, got {text!r}")
    return name, value


def _node_file(text: str) -> NodeFile:
    try:
        return NodeFile.parse(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from e


def _fault(text: str) -> FaultRule:
    try:
        return FaultRule.parse(text)
    except (ValueError, TypeError) as e:
        raise argparse.ArgumentTypeError(f"--fault {text!r}: {e}") from e


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"--active-job-quota wants a number >= 1, got {text!r}")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devstack.batchsvc", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    parser.add_argument("--port", type=int, default=0, help="TCP port; 0 picks a free one")
    parser.add_argument(
        "--state-dir", type=Path, required=True, help="where the SQLite state lives"
    )
    parser.add_argument("--account", required=True, help="Batch account name (SharedKey)")
    parser.add_argument(
        "--key", default=None, help="base64 account key (SharedKey); none: Entra ID tokens only"
    )
    parser.add_argument(
        "--token-key",
        type=Path,
        default=None,
        metavar="PEM",
        help="the local identity endpoint's public key: accept its bearer tokens "
        "(audience https://batch.core.windows.net/)",
    )
    parser.add_argument("--tls-cert", type=Path, default=None, help="serve HTTPS: certificate")
    parser.add_argument("--tls-key", type=Path, default=None, help="serve HTTPS: private key")
    parser.add_argument(
        "--nodes-root",
        type=Path,
        default=None,
        help="root of the simulated nodes' directories (default STATE_DIR/nodes)",
    )
    parser.add_argument(
        "--node-file",
        type=_node_file,
        action="append",
        default=[],
        metavar="SRC:RELPATH",
        help="copy SRC into every node's shared dir at RELPATH (as if baked in the image)",
    )
    parser.add_argument(
        "--node-env",
        type=_env_pair,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="environment variable every task gets (as if set in the node image)",
    )
    parser.add_argument(
        "--fault",
        type=_fault,
        action="append",
        default=[],
        metavar="SPEC",
        help="inject a fault: KIND:key=value,... or JSON; kinds: "
        "throttle, error, latency, timeout, drop, reject, garbage, preempt "
        "(see devstack.faultrules)",
    )
    parser.add_argument(
        "--autoscale-interval",
        type=float,
        default=None,
        metavar="SECONDS",
        help="evaluate autoscale formulas this often instead of each pool's "
        "autoScaleEvaluationInterval (at least 5 minutes in Batch)",
    )
    parser.add_argument(
        "--active-job-quota",
        type=_positive,
        default=100,
        metavar="N",
        help="jobs not yet completed the account may hold, as a Batch account's active job "
        "and job schedule quota; adding one more is ActiveJobAndScheduleQuotaReached",
    )
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logs.configure(args.log_level)
    config = ServiceConfig(
        state_dir=args.state_dir.resolve(),
        account=args.account,
        key=args.key,
        host=args.host,
        port=args.port,
        nodes_root=args.nodes_root.resolve() if args.nodes_root else None,
        node_files=list(args.node_file),
        node_env=dict(args.node_env),
        faults=list(args.fault),
        autoscale_every=args.autoscale_interval,
        active_job_quota=args.active_job_quota,
        token_key=args.token_key,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
    )
    try:
        service = BatchServiceServer(config)
    except (ConfigurationError, ValueError, OSError) as e:
        log.error("cannot start: %s", e)
        return 2
    done = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received signal %s, stopping", signum)
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    service.start()
    sys.stdout.write(json.dumps({"event": "ready", "service": "batch", "url": service.url}) + "\n")
    sys.stdout.flush()
    while not done.wait(timeout=1.0):
        pass
    service.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
