"""`dropbatch assets push` and `dropbatch pools check`: the assets container and the pools of
the routes file, from the operator's command line."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from batch_core.assets import Assets, Pushed
from batch_core.batch_service import BatchService
from batch_core.batchclient import batch_client
from batch_core.blobstore import blob_service
from batch_core.errors import DropbatchError
from batch_core.pools import PoolPlan, plan_pools
from batch_core.routebook import load_routes_from_env
from batch_core.settings import Settings, local_settings_values, settings_with_file


def run(args: argparse.Namespace) -> int:
    """Run `assets …` or `pools …`; 0 when all went well, 1 (with the reason) otherwise."""
    try:
        settings = settings_with_file(args.settings)
        if args.command == "assets":
            return push_assets(settings, Path(args.folder), args.prefix)
        return check_pools(settings, args.settings)
    except DropbatchError as e:
        print(f"dropbatch: {e}", file=sys.stderr)
        return 1


def upload_worker_wheel(settings: Settings) -> str:
    """Create the assets container if missing and upload the worker wheel unless there."""
    assets = Assets(blob_service(settings), settings)
    assets.provision()
    return f"{assets.container}/{assets.ensure_worker_wheel()}"


def push_assets(settings: Settings, folder: Path, prefix: str) -> int:
    """Upload the files of `folder` under `prefix` to the assets container, printing each; the exit
    code."""
    assets = Assets(blob_service(settings), settings)
    assets.provision()

    def progress(p: Pushed) -> None:
        print(f"{assets.container}/{p.name}  {p.size} bytes")

    pushed = assets.push(folder, prefix, progress)
    total = sum(p.size for p in pushed)
    print(f"{len(pushed)} files, {total} bytes pushed to {assets.container}/{prefix.strip('/')}/")
    return 0


def describe(plan: PoolPlan) -> str:
    """One line about a pool plan: its alias, id and how dropbatch treats it."""
    how = "external (must exist)" if plan.managed == "external" else "created by dropbatch"
    extras = [how]
    if plan.worker_wheel:
        extras.append("installs the worker")
    if plan.delete_when_idle:
        extras.append(f"deleted after {plan.delete_when_idle} idle")
    return f"pool '{plan.alias}' = {plan.pool_id}: " + ", ".join(extras)


def check_pools(settings: Settings, settings_file: str | None) -> int:
    """Print each pool of the routes file and how the pool Batch has differs from it."""
    env = dict(os.environ)
    if settings_file:
        env.update(local_settings_values(settings_file))
    book = load_routes_from_env(env, os.getcwd(), settings.worker_settings)
    batch = BatchService(batch_client(settings), settings)
    failed = False
    for plan in plan_pools(book, settings).values():
        print(describe(plan))
        problems = batch.pool_problems(plan)
        if problems is None:
            print("  not created yet: dropbatch creates it when a file needs it")
        elif not problems:
            print("  OK")
        for p in problems or []:
            failed = True
            print(f"  problem: {p.message}")
    return 1 if failed else 0
