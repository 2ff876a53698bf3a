"""The routes file as a whole: `version`, `[defaults]`, `[pool.<alias>]`, `[[route]]`.
Checks of one table live on its model; checks across tables are in `checks`."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from batch_core.routebook.globs import Glob
from batch_core.routebook.pools import DEFAULT_POOL, Pool
from batch_core.routebook.programs import CsvRouteOptions, ZipOptions
from batch_core.routebook.tasks import Fanout, Task
from batch_core.routebook.values import Duration, FieldError, Model, PositiveDuration, RouteName

Kind = Literal["zip", "csv", "command"]
ExitCode = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]
# Fields that only make sense for one family of routes.
COMMAND_ONLY = ("task", "fanout", "merge", "vars", "exit_codes")
BUILTIN_ONLY = {"csv": ("csv",), "zip": ("zip", "children")}


class ExitCodes(Model):
    """What a command's exit code means; 0 is always success, unlisted codes are retried."""

    success: list[ExitCode] = []
    reject: list[ExitCode] = []
    no_retry: list[ExitCode] = []

    @model_validator(mode="after")
    def _each_code_means_one_thing(self) -> Self:
        seen: dict[int, str] = {0: "success"}
        for field in ("success", "reject", "no_retry"):
            for i, code in enumerate(getattr(self, field)):
                if seen.get(code, field) != field:
                    raise FieldError((field, i), f"{code} is already listed as {seen[code]}")
                seen[code] = field
        return self


class Defaults(Model):
    """Values every route takes unless it sets its own; None: the app's setting
    (DROPBATCH_MAX_ATTEMPTS, DROPBATCH_RETRY_BACKOFF_SECONDS, DROPBATCH_TASK_MAX_SECONDS)."""

    pool: str = DEFAULT_POOL
    max_attempts: Annotated[int, Field(ge=1, le=100)] | None = None
    backoff: Duration | None = None
    max_wall_clock: PositiveDuration | None = None


class Route(Model):
    """One `[[route]]`: which blobs (match), which program (kind) on which pool."""

    name: RouteName
    match: Annotated[list[Glob], Field(min_length=1)]
    kind: Kind
    pool: str | None = None
    max_attempts: Annotated[int, Field(ge=1, le=100)] | None = None
    backoff: Duration | None = None
    max_wall_clock: PositiveDuration | None = None
    vars: dict[str, str] = {}
    exit_codes: ExitCodes = ExitCodes()
    children: RouteName | None = None
    csv: CsvRouteOptions | None = None
    zip: ZipOptions | None = None
    task: Task | None = None
    fanout: Fanout | None = None
    merge: Task | None = None

    @model_validator(mode="after")
    def _fields_fit_the_kind(self) -> Self:
        for field, kinds in (*((f, ("command",)) for f in COMMAND_ONLY), *_builtin_fields()):
            if field in self.model_fields_set and self.kind not in kinds:
                raise FieldError(field, f"only for kind = {' or '.join(kinds)} routes")
        if self.kind == "command" and self.task is None:
            raise FieldError("task", "required for kind = command: add a [route.task] table")
        if self.merge is not None and self.fanout is None:
            raise FieldError("merge", "needs [route.fanout]: a merge combines fan-out members")
        return self

    @property
    def is_fanout(self) -> bool:
        """Whether the route runs one task per member (a fan-out) instead of one per file."""
        return self.fanout is not None


def _builtin_fields() -> list[tuple[str, tuple[str, ...]]]:
    return [(f, (kind,)) for kind, fields in BUILTIN_ONLY.items() for f in fields]


class RoutesFile(Model):
    """The whole file, before cross-table checks."""

    version: Literal[1]
    defaults: Defaults = Defaults()
    pool: dict[str, Pool] = {}
    route: list[Route] = []
