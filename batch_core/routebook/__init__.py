"""Routes: which program Batch runs when a file lands, read from the routes file
(`routes.toml`, setting DROPBATCH_ROUTES_FILE) or built in when there is none."""

from batch_core.routebook.book import Routebook, is_ignored
from batch_core.routebook.builtin import builtin_routebook
from batch_core.routebook.loader import (
    DEFAULT_ROUTES_FILE,
    ROUTES_FILE,
    load_routes,
    load_routes_from_env,
    parse_routes,
)
from batch_core.routebook.model import Defaults, ExitCodes, Route, RoutesFile
from batch_core.routebook.placeholders import render
from batch_core.routebook.pools import Pool
from batch_core.routebook.programs import CsvRouteOptions, ZipOptions, csv_options_from, worker_env
from batch_core.routebook.tasks import Fanout, Task

__all__ = [
    "DEFAULT_ROUTES_FILE",
    "ROUTES_FILE",
    "CsvRouteOptions",
    "Defaults",
    "ExitCodes",
    "Fanout",
    "Pool",
    "Route",
    "Routebook",
    "RoutesFile",
    "Task",
    "ZipOptions",
    "builtin_routebook",
    "csv_options_from",
    "is_ignored",
    "load_routes",
    "load_routes_from_env",
    "parse_routes",
    "render",
    "worker_env",
]
