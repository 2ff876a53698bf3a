"""azure.yaml: valid against azd's published schema, and pointing at files that exist.

The schema is Azure/azure-dev's `schemas/v1.0/azure.yaml.json` (MIT), read from
tests/data/azd/azure.yaml.json (vendored; see its README)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.infra.conftest import ROOT

AZURE_YAML = ROOT / "azure.yaml"
SCHEMA = ROOT / "tests" / "data" / "azd" / "azure.yaml.json"


def load() -> dict[str, Any]:
    doc = yaml.safe_load(AZURE_YAML.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def schema_errors(doc: dict[str, Any], schema_path: Path) -> list[str]:
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)
    ]


@pytest.fixture(scope="module")
def schema() -> Path:
    return SCHEMA


def test_azure_yaml_is_valid_against_the_azd_schema(schema: Path) -> None:
    assert schema_errors(load(), schema) == []


def test_the_schema_check_bites(schema: Path) -> None:
    doc = load()
    doc["name"] = "Not A Valid Name"
    doc["services"]["app"]["host"] = ["function"]
    errors = schema_errors(doc, schema)
    assert any(e.startswith("name:") for e in errors), errors
    assert any(e.startswith("services/app/host:") for e in errors), errors


def test_the_app_is_this_folder_as_a_python_function_app() -> None:
    app = load()["services"]["app"]
    assert (app["project"], app["language"], app["host"]) == (".", "python", "function")
    assert (ROOT / app["project"] / "function_app.py").is_file()


def test_the_postdeploy_hooks_exist_for_posix_and_windows() -> None:
    hooks = load()["hooks"]["postdeploy"]
    assert (hooks["posix"]["shell"], hooks["windows"]["shell"]) == ("sh", "pwsh")
    for hook in (hooks["posix"], hooks["windows"]):
        assert (ROOT / hook["run"]).is_file(), hook["run"]


def test_the_infra_module_is_main_bicep() -> None:
    infra = load()["infra"]
    assert (ROOT / infra["path"] / f"{infra['module']}.bicep").is_file()
    assert (ROOT / infra["path"] / f"{infra['module']}.parameters.json").is_file()
