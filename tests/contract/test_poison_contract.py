"""The poison queue's promises, kept by the Storage Queues adapter (on Azurite) and the twin."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.queue import QueueClient

from batch_core.errors import NotFoundError
from batch_core.poison import PoisonQueue
from batch_core.ports import PoisonPort
from batch_core.testing import FakeClock, MemoryPoison
from tests.contract.conftest import fresh_name


@dataclass
class PoisonSide:
    port: PoisonPort
    put: Callable[[str, str, str], None]  # the host gives up on (container, name, etag)


@pytest.fixture
def poison(side: str, request: pytest.FixtureRequest) -> PoisonSide:
    if side == "memory":
        twin = MemoryPoison(FakeClock())
        return PoisonSide(twin, lambda c, n, e: twin.put(c, n, e, "Host.Functions.on_blob"))
    stack = request.getfixturevalue("stack")
    queue = QueueClient.from_connection_string(
        stack.values["AzureWebJobsStorage"], fresh_name("poison")
    )
    request.addfinalizer(lambda: queue.delete_queue() if _exists(queue) else None)

    def put(container: str, name: str, etag: str) -> None:
        if not _exists(queue):
            queue.create_queue()
        body = {"Type": "BlobTrigger", "FunctionId": "Host.Functions.on_blob",
                "ContainerName": container, "BlobName": name, "ETag": f'"{etag}"'}  # fmt: skip
        queue.send_message(base64.b64encode(json.dumps(body).encode()).decode())

    return PoisonSide(PoisonQueue(queue), put)


def _exists(queue: QueueClient) -> bool:
    try:
        queue.get_queue_properties()
    except ResourceNotFoundError:
        return False
    return True


def test_a_queue_nothing_was_ever_poisoned_into_has_no_messages(poison: PoisonSide) -> None:
    assert poison.port.take() == []


def test_a_message_is_taken_once_hidden_then_deleted_for_good(poison: PoisonSide) -> None:
    poison.put("incoming", "a.csv", "0x8D1")
    [message] = poison.port.take()
    assert (message.container, message.name, message.etag) == ("incoming", "a.csv", "0x8D1")
    assert message.function == "Host.Functions.on_blob"
    assert poison.port.take() == []  # hidden while it is handled
    poison.port.delete(message)
    with pytest.raises(NotFoundError):
        poison.port.delete(message)
