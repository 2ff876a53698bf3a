"""`[route.task]`, `[route.merge]` and `[route.fanout]`: the user's own command, once per
file or once per member, and the one task that merges the members' results."""

from __future__ import annotations

import re
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, Field, model_validator

from batch_core.routebook.globs import Glob
from batch_core.routebook.sources import Destination, ResourceSource, is_prefix
from batch_core.routebook.values import (
    Env,
    FieldError,
    Model,
    PositiveDuration,
    RelativePath,
    Tolerance,
    TolerateValue,
)

MAX_MEMBERS = 10_000


class ResourceFile(Model):
    """A file a route's task downloads: its source and its path in the task's folder."""

    source: ResourceSource
    path: RelativePath

    @model_validator(mode="after")
    def _prefix_goes_to_a_folder(self) -> Self:
        if is_prefix(self.source) and not self.path.endswith("/"):
            raise FieldError("path", f"{self.source} is a prefix; expected a folder ending in /")
        return self


class Output(Model):
    """Files a route's task uploads: which, where to, and on which ending of the task."""

    pattern: RelativePath
    to: Destination
    upload: Literal["task_success", "task_failure", "task_completion"] = "task_success"


class TaskContainer(Model):
    """The container image a route's task runs in, with its run options."""

    image: Annotated[str, Field(min_length=1)]
    run_options: str = ""
    working_directory: Literal["task", "image"] = "task"


class Task(Model):
    """A command Batch runs; None fields take the route's (then `[defaults]`') value."""

    command: Annotated[str, Field(min_length=1)]
    env: Env = {}
    resource_files: list[ResourceFile] = []
    outputs: list[Output] = []
    container: TaskContainer | None = None
    required_slots: Annotated[int, Field(ge=1, le=256)] = 1
    max_wall_clock: PositiveDuration | None = None
    retention: PositiveDuration | None = None
    elevated: bool = False


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as e:
        raise ValueError(f"not a regular expression: {e}") from None
    return value


class FanoutField(Model):
    """A declared field of a row or item: checked when the file is planned."""

    type: Literal["int", "float", "str"] = "str"
    min: float | None = None
    max: float | None = None
    pattern: Annotated[str, AfterValidator(_regex)] | None = None

    @model_validator(mode="after")
    def _bounds_are_for_numbers(self) -> Self:
        if self.type == "str" and (self.min is not None or self.max is not None):
            raise FieldError("min" if self.min is not None else "max", "needs type = int or float")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise FieldError("min", "is above max")
        return self


class Range(Model):
    """A range of numbers (start included, stop excluded)."""

    start: int = 0
    stop: int


def _max_members(value: int) -> int:
    if not 1 <= value <= MAX_MEMBERS:
        raise ValueError(f"expected 1 to {MAX_MEMBERS:,} (the hard cap)")
    return value


class Fanout(Model):
    """One member task per item, row, zip entry or number of a range."""

    source: Literal["items", "rows", "entries", "range"]
    entries: Glob | None = None
    range: Range | None = None
    max_members: Annotated[int, AfterValidator(_max_members)] = MAX_MEMBERS
    tolerate: TolerateValue = Tolerance(count=0)
    fail_fast: bool = False
    max_parallel: Annotated[int, Field(ge=1)] | None = None
    allow_empty: bool = False
    fields: dict[str, FanoutField] = {}

    @model_validator(mode="after")
    def _source_has_what_it_needs(self) -> Self:
        if self.source == "entries" and self.entries is None:
            raise FieldError("entries", 'required for source = "entries" (a glob on entry names)')
        if self.source != "entries" and self.entries is not None:
            raise FieldError("entries", 'only for source = "entries"')
        if self.source == "range":
            if self.range is None:
                raise FieldError("range", 'required for source = "range": range = { start, stop }')
            if self.range.stop <= self.range.start:
                raise FieldError(("range", "stop"), "expected a number above start")
            if self.range.stop - self.range.start > self.max_members:
                raise FieldError("range", f"more members than max_members ({self.max_members})")
        elif self.range is not None:
            raise FieldError("range", 'only for source = "range"')
        if self.fields and self.source not in ("rows", "items"):
            raise FieldError("fields", 'only for source = "rows" or "items"')
        return self
