"""Every setting the function app reads is documented in the README and in the sample
settings file, so a user can find what to set."""

from __future__ import annotations

import json
from pathlib import Path

import batch_core.settings as settings_module

ROOT = Path(__file__).resolve().parents[2]


def _setting_names() -> set[str]:
    return {
        value
        for name, value in vars(settings_module).items()
        if name.isupper()
        and isinstance(value, str)
        and (value.startswith("DROPBATCH_") or value == "AzureWebJobsStorage")
        and not value.endswith("_")
    }


def test_the_settings_module_names_its_settings() -> None:
    assert {"AzureWebJobsStorage", "DROPBATCH_BATCH_URL", "DROPBATCH_TASK_MAX_SECONDS"} <= (
        _setting_names()
    )


def test_every_setting_is_in_the_readme_settings_table() -> None:
    readme = ROOT.joinpath("README.md").read_text(encoding="utf-8")
    missing = sorted(n for n in _setting_names() if f"`{n}`" not in readme)
    assert missing == []


def test_every_setting_is_in_the_sample_settings_file() -> None:
    sample = json.loads(ROOT.joinpath("local.settings.sample.json").read_text(encoding="utf-8"))
    missing = sorted(n for n in _setting_names() if n not in sample["Values"])
    assert missing == []
