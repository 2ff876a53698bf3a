"""The routebook: the routes and pools in effect, and which route a blob name takes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from batch_core.routebook.globs import compile_glob
from batch_core.routebook.model import Defaults, Route
from batch_core.routebook.pools import Pool

REASON_GLOBS = 6


@dataclass(frozen=True)
class Routebook:
    """Routes in file order and pools by alias; `source` is the routes file as shown in
    messages, None for the built-in routes (no file)."""

    routes: tuple[Route, ...]
    pools: Mapping[str, Pool]
    defaults: Defaults = field(default_factory=Defaults)
    source: str | None = None
    _compiled: tuple[tuple[re.Pattern[str], Route], ...] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        compiled = tuple((compile_glob(g), r) for r in self.routes for g in r.match)
        object.__setattr__(self, "_compiled", compiled)

    def match(self, name: str) -> Route | None:
        """The first route, in file order, with a glob matching blob `name` (case ignored)."""
        for pattern, route in self._compiled:
            if pattern.fullmatch(name):
                return route
        return None

    def route(self, route_name: str) -> Route:
        """The route called `route_name` (KeyError if there is none)."""
        for r in self.routes:
            if r.name == route_name:
                return r
        raise KeyError(route_name)

    def pool_alias(self, route: Route) -> str:
        """The alias of the pool the route runs on: its own, else the routes file's default."""
        return route.pool or self.defaults.pool

    def pool_of(self, route: Route) -> Pool:
        """The pool the route runs on."""
        return self.pools[self.pool_alias(route)]

    def no_route_reason(self, name: str) -> str:
        """Why a file no route matches is rejected (today's text without a routes file)."""
        if self.source is None:
            return f"{name}: no route for this file type; drop .csv or .zip files"
        globs = [g for r in self.routes for g in r.match]
        if not globs:
            return f"{name}: no route for this file; {self.source} has no routes"
        shown = ", ".join(globs[:REASON_GLOBS]) + (", …" if len(globs) > REASON_GLOBS else "")
        return f"{name}: no route in {self.source} matches this name; drop a file matching {shown}"


def is_ignored(name: str, ignore_prefixes: tuple[str, ...] = ()) -> bool:
    """Not ours: a name under an ignored prefix (an upload tool's temp files) or a folder
    marker; no run is recorded, whatever the routes say."""
    return any(name.startswith(p) for p in ignore_prefixes) or not name.rsplit("/", 1)[-1]
