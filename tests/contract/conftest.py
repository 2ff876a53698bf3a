"""Each contract test runs twice: on a port's in-memory twin (no server) and on its real
adapter over the local stack (marked `stack`). The real side gets a Cosmos database, blob
containers, a queue or a job prefix of its own, so every assertion sees only what the test
made."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest
from azure.cosmos import ContainerProxy, PartitionKey

from batch_core.cosmosdb import cosmos_client
from batch_core.settings import Settings
from devstack.stack import Stack

T = TypeVar("T")

SIDES = [
    pytest.param("memory", id="memory"),
    pytest.param("real", id="real", marks=pytest.mark.stack),
]


@pytest.fixture(params=SIDES)
def side(request: pytest.FixtureRequest) -> str:
    """Which implementation the test runs on: the twin or the real adapter."""
    return str(request.param)


def fresh_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class CosmosScratch:
    """A database of the test's own on the local Cosmos server, dropped afterwards."""

    def __init__(self, stack: Stack) -> None:
        self.settings = Settings.from_env(stack.values)
        self._client = cosmos_client(self.settings)
        self._db = self._client.create_database(fresh_name("contract"))

    def container(self, name: str, partition_key: str) -> ContainerProxy:
        return self._db.create_container(name, PartitionKey(partition_key))

    def drop(self) -> None:
        self._client.delete_database(self._db.id)


@pytest.fixture
def cosmos_scratch(request: pytest.FixtureRequest) -> Iterator[CosmosScratch]:
    scratch = CosmosScratch(request.getfixturevalue("stack"))
    yield scratch
    scratch.drop()


def eventually(read: Callable[[], T], done: Callable[[T], bool], timeout: float = 60.0) -> T:
    """Read until `done` holds: a twin answers at once, a real service may take a moment."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still {value!r} after {timeout}s")
        time.sleep(0.2)
