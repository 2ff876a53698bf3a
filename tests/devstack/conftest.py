"""Tests of the local stack itself (the Batch service, the Functions host, the stack): every
test here gets the `devstack` mark, so `pytest -m "not devstack"` runs the product's only."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.devstack)
