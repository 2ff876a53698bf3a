"""The function app's settings in the template are exactly what the code needs: every
required setting is there (in its keyless form), every name there is one the code or the
Functions platform reads, and the app starts with them."""

from __future__ import annotations

import functools
import re
from collections.abc import ItemsView, Iterator, Mapping
from pathlib import Path
from types import ModuleType

from batch_core.credentials import STORAGE_ACCOUNT_NAME, STORAGE_IDENTITY_SETTINGS
from batch_core.settings import REQUIRED_SETTINGS, WORKER_OPTION_SETTINGS, Settings
from tests.infra.bicep import BicepFile, app_settings
from tests.infra.conftest import FUNCTIONS, INFRA, mutate, placeholder_env

MAIN = INFRA / "main.bicep"
# Read by the Functions host and its telemetry, not by dropbatch's code.
PLATFORM_SETTINGS = {
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
    "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY",
    # Read by the Azure Monitor distro the Python worker configures (its instrumentations).
    "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS",
    # The Python worker's pool for sync functions (how many invocations run at once).
    "PYTHON_THREADPOOL_THREAD_COUNT",
}


class RecordingEnv(Mapping[str, str]):
    """An environment that remembers which names were looked up."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self.known = dict(values)
        self.read: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.read.add(name)
        return self.known[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.known)

    def __len__(self) -> int:
        return len(self.known)

    def items(self) -> ItemsView[str, str]:
        # Listing every setting (to pick the worker pass-through ones) reads none of them.
        return self.known.items()


@functools.cache  # FunctionApp.get_functions() may be called once only
def binding_settings(app: ModuleType) -> frozenset[str]:
    """Settings the triggers' binding expressions name (%NAME%), read by the host."""
    return frozenset(
        name
        for function in app.app.get_functions()
        for raw in function.get_raw_bindings()
        for name in re.findall(r"%([A-Za-z0-9_]+)%", raw)
    )


def names_the_code_reads(env: Mapping[str, str]) -> set[str]:
    recording = RecordingEnv(env)
    Settings.from_env(recording)
    passthrough = set(WORKER_OPTION_SETTINGS)
    return recording.read | (set(env) & passthrough)


def missing_settings(path: Path, app: ModuleType) -> set[str]:
    names = set(app_settings(BicepFile.load(path)))
    required = set(REQUIRED_SETTINGS) | binding_settings(app) | {STORAGE_ACCOUNT_NAME}
    return required - names


def unknown_settings(path: Path, app: ModuleType) -> set[str]:
    env = placeholder_env(path)
    return set(env) - names_the_code_reads(env) - binding_settings(app) - PLATFORM_SETTINGS


def test_the_app_settings_cover_every_required_setting(function_app: ModuleType) -> None:
    assert missing_settings(FUNCTIONS, function_app) == set()


def test_every_app_setting_is_one_the_code_or_the_platform_reads(
    function_app: ModuleType,
) -> None:
    assert unknown_settings(FUNCTIONS, function_app) == set()


def test_the_app_settings_are_keyless(function_app: ModuleType) -> None:
    s = function_app.SETTINGS
    assert s.storage_connection_string is None
    assert s.batch_key is None and s.cosmos_key is None
    assert s.identity.managed and s.identity.client_id is None  # the system-assigned identity
    names = set(placeholder_env(FUNCTIONS))
    assert not names & {"AzureWebJobsStorage", "DROPBATCH_BATCH_KEY", "DROPBATCH_COSMOS_KEY"}


def test_a_missing_required_setting_is_named(function_app: ModuleType, infra_copy: Path) -> None:
    path = infra_copy / "app" / "functions.bicep"
    mutate(path, "        { name: 'DROPBATCH_COSMOS_ENDPOINT', value: cosmosEndpoint }\n", "")
    mutate(path, "        { name: 'DROPBATCH_RECONCILE_SCHEDULE', value: reconcileSchedule }\n", "")
    assert missing_settings(path, function_app) == {
        "DROPBATCH_COSMOS_ENDPOINT",
        "DROPBATCH_RECONCILE_SCHEDULE",
    }


def test_a_setting_the_code_does_not_read_is_named(
    function_app: ModuleType, infra_copy: Path
) -> None:
    path = infra_copy / "app" / "functions.bicep"
    mutate(path, "'DROPBATCH_COSMOS_DATABASE'", "'DROPBATCH_COSMOS_DATABSE'")
    assert unknown_settings(path, function_app) == {"DROPBATCH_COSMOS_DATABSE"}


def test_the_outputs_named_like_settings_configure_the_command_line() -> None:
    # `azd env get-values` holds main.bicep's outputs; loaded as the environment, they are
    # settings the CLI accepts (keyless: DefaultAzureCredential, e.g. `az login`).
    f = BicepFile.load(MAIN)
    env = {
        name: "https://placeholder.invalid" if "URL" in name or "ENDPOINT" in name else "place"
        for name in f.outputs
        if name.startswith("DROPBATCH_") or name in STORAGE_IDENTITY_SETTINGS
    }
    assert set(env) - names_the_code_reads(env) == set()
    s = Settings.from_env(env)
    assert s.storage_connection_string is None and not s.identity.managed
