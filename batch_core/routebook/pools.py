"""`[pool.<alias>]`: the Batch pools routes run on. A field left out takes the function
app's `DROPBATCH_BATCH_*` setting (image, VM size, slots, node count, autoscale), so
`[pool.default]`, declared or not, is today's pool."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import AfterValidator, Field, PlainValidator, model_validator

from batch_core.routebook.sources import check_source
from batch_core.routebook.values import (
    POOL_ID,
    Env,
    FieldError,
    Model,
    PositiveDuration,
    RelativePath,
)

DEFAULT_POOL = "default"
# Fields an external pool (created outside dropbatch, e.g. by Bicep) may set: the rest
# describe how dropbatch would create it, which it never does for an external pool.
EXTERNAL_FIELDS = frozenset({"id", "managed", "task_slots_per_node", "install_worker"})


def _pool_id(value: str) -> str:
    if not POOL_ID.fullmatch(value):
        raise ValueError("expected 1 to 64 of letters, digits, - and _")
    return value


def _image(value: str) -> str:
    parts = value.split(":")
    if len(parts) != 4 or not all(parts):
        raise ValueError("expected publisher:offer:sku:version")
    return value


def _autoscale(value: object) -> bool | str:
    if isinstance(value, bool) or (isinstance(value, str) and value.strip()):
        return value
    raise ValueError("expected true, false or an autoscale formula (a string)")


def _start_task_source(value: str) -> str:
    if not (value.startswith("config:") or value.startswith("https://")):
        raise ValueError("a start task's files come from config:<path> or https://… only")
    return check_source(value)


class StartResourceFile(Model):
    """A file the pool's start task downloads: where from and where to on the node."""

    source: Annotated[str, AfterValidator(_start_task_source)]
    path: RelativePath


class StartTask(Model):
    """Runs once per node when it joins the pool; tasks wait for it to succeed."""

    command: Annotated[str, Field(min_length=1)]
    resource_files: list[StartResourceFile] = []
    env: Env = {}
    elevated: bool = False
    max_retries: Annotated[int, Field(ge=0, le=100)] = 0


class Registry(Model):
    """A container registry the pool's nodes pull images from."""

    server: Annotated[str, Field(min_length=1)]


class Containers(Model):
    """The container images the pool's nodes pull before tasks run."""

    images: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)]
    registry: Registry | None = None


class Pool(Model):
    """One pool; None means "the function app's setting" (or, for `id` of a pool other than
    `default`, is an error reported by the routes file checks)."""

    id: Annotated[str, AfterValidator(_pool_id)] | None = None
    vm_size: Annotated[str, Field(min_length=1)] | None = None
    image: Annotated[str, AfterValidator(_image)] | None = None
    node_agent_sku: Annotated[str, Field(min_length=1)] | None = None
    task_slots_per_node: Annotated[int, Field(ge=1, le=256)] | None = None
    node_fill: Literal["spread", "pack"] | None = None
    dedicated_max: Annotated[int, Field(ge=0)] | None = None
    spot_max: Annotated[int, Field(ge=0)] | None = None
    autoscale: Annotated[bool | str, PlainValidator(_autoscale)] | None = None
    delete_when_idle: PositiveDuration | None = None
    install_worker: bool | None = None
    start_task: StartTask | None = None
    containers: Containers | None = None
    managed: Literal["data", "external"] = "data"

    @model_validator(mode="after")
    def _external_pools_are_described_elsewhere(self) -> Self:
        if self.managed == "external":
            extra = sorted(f for f in self.model_fields_set if f not in EXTERNAL_FIELDS)
            if extra:
                raise FieldError(
                    extra[0],
                    "may not be set on an external pool (dropbatch never creates one); "
                    "allowed there: " + ", ".join(sorted(EXTERNAL_FIELDS)),
                )
        return self

    def installs_worker(self, alias: str) -> bool:
        """Whether the built-in programs can run here: by default only on `default`."""
        return self.install_worker if self.install_worker is not None else alias == DEFAULT_POOL
