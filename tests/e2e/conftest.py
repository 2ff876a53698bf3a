from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.stack import Stack
from tests.conftest import TEST_OVERRIDES, _start


@pytest.fixture(scope="session")
def live_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The whole local stack, Functions host included: files are picked up by the blob
    trigger and moved on by the reconcile timer, with no test calling batch_core."""
    tmp: Path = tmp_path_factory.mktemp("live")
    s = _start(tmp, True, TEST_OVERRIDES)
    yield s
    s.stop()
