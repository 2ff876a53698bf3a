"""The routes in effect without a routes file: today's behaviour, `**.zip` → zip and
`**.csv` → csv on the app's pool, anything else rejected with "no route"."""

from __future__ import annotations

from collections.abc import Mapping

from batch_core.routebook.book import Routebook
from batch_core.routebook.model import Route
from batch_core.routebook.pools import DEFAULT_POOL, Pool
from batch_core.routebook.programs import csv_options_from, zip_options_from


def builtin_routebook(worker_settings: Mapping[str, str] | None = None) -> Routebook:
    """The built-in routes; their csv and zip options are the app's `DROPBATCH_WORKER_*`
    settings (`Settings.worker_settings`), the rest are the worker's defaults."""
    ws = worker_settings or {}
    return Routebook(
        routes=(
            Route(name="zip", match=["**.zip"], kind="zip", zip=zip_options_from(ws)),
            Route(name="csv", match=["**.csv"], kind="csv", csv=csv_options_from(ws)),
        ),
        pools={DEFAULT_POOL: Pool()},
    )
