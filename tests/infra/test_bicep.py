"""Every Bicep file parses, names only what it declares, calls its modules with parameters
and outputs they have, and agrees with the code on what both must agree on."""

from __future__ import annotations

from pathlib import Path

import pytest

from batch_core.batch_service import autoscale_formula
from batch_core.cosmosdb import CONTAINERS
from batch_core.settings import Settings
from tests.infra.bicep import BicepFile, at, problems, properties, string_array
from tests.infra.conftest import INFRA, mutate

BICEP_FILES = sorted(INFRA.rglob("*.bicep"))


def all_problems(infra: Path) -> list[str]:
    files: dict[Path, BicepFile] = {}
    return [str(p) for path in sorted(infra.rglob("*.bicep")) for p in problems(path, files)]


def test_the_template_has_a_main_file_and_its_modules() -> None:
    names = {p.relative_to(INFRA).as_posix() for p in BICEP_FILES}
    assert "main.bicep" in names
    assert {"app/storage.bicep", "app/functions.bicep", "app/batch.bicep"} <= names


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: p.relative_to(INFRA).as_posix())
def test_a_bicep_file_parses_and_uses_only_what_it_declares(path: Path) -> None:
    assert [str(p) for p in problems(path)] == []


def test_a_syntax_error_is_reported_with_its_file_and_line(infra_copy: Path) -> None:
    mutate(infra_copy / "app" / "storage.bicep", "  sku: { name: 'Standard_LRS' }", "  sku: {")
    found = all_problems(infra_copy)
    assert any("storage.bicep:" in p and "syntax error" in p for p in found), found


def test_an_undeclared_name_is_reported(infra_copy: Path) -> None:
    mutate(infra_copy / "app" / "identity.bicep", "  location: location", "  location: loc")
    found = all_problems(infra_copy)
    assert any("identity.bicep:9: 'loc' is not declared" in p for p in found), found


def test_an_unused_parameter_is_reported(infra_copy: Path) -> None:
    mutate(infra_copy / "app" / "identity.bicep", "  tags: tags\n", "")
    assert any("param 'tags' is never used" in p for p in all_problems(infra_copy))


def test_module_parameters_and_outputs_must_exist(infra_copy: Path) -> None:
    main = infra_copy / "main.bicep"
    mutate(main, "    databaseName: cosmosDatabase\n", "    database: cosmosDatabase\n")
    mutate(
        main,
        "cosmos.outputs.endpoint\n    cosmosDatabase",
        "cosmos.outputs.url\n    cosmosDatabase",
    )
    found = all_problems(infra_copy)
    assert any("cosmos.bicep has no param 'database'" in p for p in found), found
    assert any("required param 'databaseName' is not passed" in p for p in found), found
    assert any("cosmos.bicep has no output 'url'" in p for p in found), found


def test_the_pool_autoscales_with_the_formula_the_code_uses() -> None:
    f = BicepFile.load(INFRA / "app" / "batch.bicep")
    _, var = f.declared["autoScaleFormula"]
    call = var.named_children[-1]
    arguments = call.child_by_field_name("arguments")
    assert arguments is not None
    array = arguments.named_children[0]
    lines = [
        line.replace("${maxNodes}", "7").replace("${taskSlotsPerNode}", "3")
        for line in string_array(f, array)
    ]
    assert "\n".join(lines) == autoscale_formula(7, 3)


def test_cosmos_containers_have_the_partition_keys_the_code_uses() -> None:
    f = BicepFile.load(INFRA / "app" / "cosmos.bicep")
    _, var = f.declared["containers"]
    declared = {
        f.string(properties(f, item)["name"]): f.string(properties(f, item)["partitionKey"])
        for item in var.named_children[-1].named_children
    }
    assert declared == CONTAINERS


def test_the_storage_containers_include_every_one_the_settings_name() -> None:
    f = BicepFile.load(INFRA / "main.bicep")
    _, var = f.declared["containers"]
    declared = {f.string(v) for v in properties(f, var.named_children[-1]).values()}
    defaults = Settings.from_env(
        {
            "AzureWebJobsStorage__accountName": "x",
            "DROPBATCH_BATCH_URL": "https://x",
            "DROPBATCH_BATCH_ACCOUNT": "x",
            "DROPBATCH_COSMOS_ENDPOINT": "https://x",
        }
    )
    wanted = {
        defaults.container_incoming,
        defaults.container_results,
        defaults.container_logs,
        defaults.container_failed,
        defaults.container_archive,
    }
    assert wanted <= declared


def test_the_pool_is_declared_with_the_worker_identity_and_an_identity_fetched_package() -> None:
    f = BicepFile.load(INFRA / "app" / "batch.bicep")
    (pool,) = f.resources_of_type("Microsoft.Batch/batchAccounts/pools")
    body = f.body(pool)
    kind = at(f, body, "identity", "type")
    assert kind is not None and f.string(kind) == "UserAssigned"
    files = at(f, body, "properties", "startTask", "resourceFiles")
    assert files is not None
    for item in files.named_children:
        reference = at(f, item, "identityReference", "resourceId")
        assert reference is not None and f.text(reference) == "workerIdentityId"
