"""`python -m devstack.identity`: run the local managed identity endpoint until SIGTERM/SIGINT.

The X-IDENTITY-HEADER secret is read from the environment variable IDENTITY_HEADER (the name
App Service gives it), never from the command line.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from devstack.identity.server import IdentityConfig, IdentityServer
from devstack.identity.tokens import LIFETIME_SECONDS, TokenIdentity, TokenIssuer

log = logging.getLogger("devstack.identity")
HEADER_ENV = "IDENTITY_HEADER"


def _identity(text: str) -> TokenIdentity:
    client_id, _, resource_id = text.partition("=")
    if not client_id:
        raise argparse.ArgumentTypeError(f"wants CLIENT_ID[=RESOURCE_ID], got {text!r}")
    return TokenIdentity(client_id, resource_id)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devstack.identity", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    parser.add_argument("--port", type=int, default=0, help="TCP port; 0 picks a free one")
    parser.add_argument(
        "--signing-key", type=Path, required=True, help="PEM RSA private key tokens are signed with"
    )
    parser.add_argument(
        "--app-identity",
        type=_identity,
        default=None,
        metavar="CLIENT_ID",
        help="the function app's system-assigned identity (App Service endpoint)",
    )
    parser.add_argument(
        "--node-identity",
        type=_identity,
        action="append",
        default=[],
        metavar="CLIENT_ID[=RESOURCE_ID]",
        help="a user-assigned identity of the Batch pool (instance metadata endpoint)",
    )
    parser.add_argument("--lifetime", type=int, default=LIFETIME_SECONDS, help="token seconds")
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(message)s")
    secret = os.environ.get(HEADER_ENV, "")
    if args.app_identity is not None and not secret:
        log.error("cannot start: %s must hold the X-IDENTITY-HEADER secret", HEADER_ENV)
        return 2
    try:
        issuer = TokenIssuer.from_file(args.signing_key, args.lifetime)
    except (OSError, ValueError) as e:
        log.error("cannot start: signing key %s: %s", args.signing_key, e)
        return 2
    config = IdentityConfig(
        issuer=issuer,
        header_secret=secret,
        app_identity=args.app_identity,
        node_identities=tuple(args.node_identity),
    )
    server = IdentityServer(config, args.host, args.port).start()
    done = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    ready = {
        "event": "ready",
        "service": "identity",
        "url": server.url,
        "identity_endpoint": server.app_service_endpoint,
    }
    sys.stdout.write(json.dumps(ready) + "\n")
    sys.stdout.flush()
    while not done.wait(timeout=1.0):
        pass
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
