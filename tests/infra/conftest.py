"""Infrastructure checks: offline, on copies of infra/ where a test breaks something."""

from __future__ import annotations

import importlib
import os
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.infra.bicep import BicepFile, app_settings

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
FUNCTIONS = INFRA / "app" / "functions.bicep"


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


def placeholder_env(path: Path) -> dict[str, str]:
    """App settings of a template with a stand-in for every value an expression computes."""
    f = BicepFile.load(path)
    env = {}
    for name, value in app_settings(f).items():
        literal = all(c.type == "string_content" for c in value.named_children)
        if value.type == "string" and literal:
            env[name] = f.string(value)
        elif value.type == "call_expression" and f.text(value).startswith("string("):
            env[name] = "2"
        elif re.search(r"URL|ENDPOINT|CONNECTION_STRING", name):
            env[name] = "https://placeholder.invalid"
        else:
            env[name] = "placeholder"
    return env


@pytest.fixture(scope="module")
def function_app() -> Iterator[ModuleType]:
    """function_app.py imported with only the template's app settings in the environment:
    the import reads every setting, so a missing one fails here, naming it."""
    before = sys.modules.pop("function_app", None)
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if n.startswith("DROPBATCH_")]:
            mp.delenv(name)
        mp.delenv("AzureWebJobsStorage", raising=False)
        for name, value in placeholder_env(FUNCTIONS).items():
            mp.setenv(name, value)
        module = importlib.import_module("function_app")
        yield module
    sys.modules.pop("function_app", None)
    if before is not None:
        sys.modules["function_app"] = before
