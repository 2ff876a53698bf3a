"""Infrastructure checks: offline, on copies of infra/ where a test breaks something."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"


def mutate(path: Path, old: str, new: str) -> None:
    """Replace one exact passage of a file (the test fails if it is not there once)."""
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{path.name}: the passage to change is not there exactly once"
    path.write_text(text.replace(old, new), encoding="utf-8")


@pytest.fixture
def infra_copy(tmp_path: Path) -> Path:
    """A copy of infra/ to break; returns the copy's infra folder."""
    target = tmp_path / "infra"
    shutil.copytree(INFRA, target, ignore=shutil.ignore_patterns("__pycache__", "checks"))
    return target
