"""checkov over infra/: no parsing error, no failed check; the custom checks in infra/checks
catch what the built-ins miss, and every skipped built-in check has a reason and still
applies (a skip that would pass anyway is stale).

checkov lives in its own virtual environment (`make infra-deps`): in CI a missing one fails
the run, elsewhere these tests are skipped with that instruction."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import INFRA, ROOT, mutate

# Each test runs checkov (a few seconds on a quiet machine, much longer on a busy one).
pytestmark = pytest.mark.timeout(300)

CHECKOV = ROOT / ".venv-infra" / "bin" / "checkov"
CONFIG = ROOT / ".checkov.yaml"
CHECKS = INFRA / "checks"
SKIP_LINE = re.compile(r"^\s+- (CKV\w+)\s*(?:#\s*(.*))?$")


@pytest.fixture(scope="module")
def checkov() -> Path:
    if not CHECKOV.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHECKOV} is missing: run `make infra-deps`")
        pytest.skip("checkov is not installed: run `make infra-deps`")
    return CHECKOV


def checkov_report(checkov: Path, args: list[str], cwd: Path) -> dict[str, Any]:
    done = subprocess.run(
        [str(checkov), *args, "-o", "json"], capture_output=True, text=True, timeout=240, cwd=cwd
    )
    assert done.returncode in (0, 1), done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert isinstance(report, dict), "one framework, one report"
    return report


def run(checkov: Path, directory: Path, *extra: str) -> dict[str, Any]:
    """checkov's JSON report over `directory`, with the custom checks and no config file
    (it runs in `directory`, where none is found)."""
    args = ["-d", ".", "--framework", "bicep", "--skip-download"]
    return checkov_report(checkov, [*args, "--external-checks-dir", str(CHECKS), *extra], directory)


def skips() -> dict[str, str]:
    """Skipped check id → its reason, as .checkov.yaml lists them."""
    found: dict[str, str] = {}
    lines = CONFIG.read_text().splitlines()
    start = lines.index("skip-check:")
    for line in lines[start + 1 :]:
        m = SKIP_LINE.match(line)
        if m is None:
            break
        found[m.group(1)] = (m.group(2) or "").strip()
    return found


def failed(report: dict[str, Any]) -> set[tuple[str, str]]:
    return {(r["check_id"], r["resource"]) for r in report["results"].get("failed_checks", [])}


def skip_args() -> list[str]:
    return ["--skip-check", ",".join(skips())]


def test_the_template_passes_as_configured_with_no_parsing_error(checkov: Path) -> None:
    # As `make infra-check` runs it: .checkov.yaml from the project root.
    report = checkov_report(checkov, ["--config-file", str(CONFIG)], ROOT)
    assert report["summary"]["parsing_errors"] == 0
    assert failed(report) == set()
    assert report["summary"]["passed"] > 0


def test_every_custom_check_runs_and_passes(checkov: Path) -> None:
    report = run(checkov, INFRA, *skip_args())
    passed = {r["check_id"] for r in report["results"].get("passed_checks", [])}
    assert {f"CKV_DROPBATCH_{n}" for n in range(1, 9)} <= passed


def test_every_skipped_check_has_a_reason_and_still_applies(checkov: Path) -> None:
    listed = skips()
    assert listed and all(len(reason) > 20 for reason in listed.values()), listed
    report = run(checkov, INFRA, "--check", ",".join(listed))
    assert {check for check, _ in failed(report)} == set(listed)


def test_the_custom_checks_catch_keys_public_access_and_a_pool_without_identity(
    checkov: Path, infra_copy: Path
) -> None:
    app = infra_copy / "app"
    mutate(app / "storage.bicep", "allowSharedKeyAccess: false", "allowSharedKeyAccess: true")
    mutate(app / "storage.bicep", "allowBlobPublicAccess: false", "allowBlobPublicAccess: true")
    mutate(app / "batch.bicep", "allowedAuthenticationModes: ['AAD']",
           "allowedAuthenticationModes: ['AAD', 'SharedKey']")  # fmt: skip
    pool_identity = (
        "  identity: {\n    type: 'UserAssigned'\n    userAssignedIdentities: {\n"
        "      '${workerIdentityId}': {}\n    }\n  }\n"
    )
    mutate(app / "batch.bicep", pool_identity, "")
    mutate(
        app / "batch.bicep", "          identityReference: { resourceId: workerIdentityId }\n", ""
    )
    mutate(app / "cosmos.bicep", "disableLocalAuth: true", "disableLocalAuth: false")
    report = run(checkov, infra_copy, *skip_args())
    assert failed(report) == {
        ("CKV_DROPBATCH_1", "Microsoft.Storage/storageAccounts.account"),
        ("CKV_DROPBATCH_2", "Microsoft.Storage/storageAccounts.account"),
        ("CKV_DROPBATCH_3", "Microsoft.Batch/batchAccounts.account"),
        ("CKV_DROPBATCH_4", "Microsoft.Batch/batchAccounts/pools.pool"),
        ("CKV_DROPBATCH_5", "Microsoft.Batch/batchAccounts/pools.pool"),
        ("CKV_DROPBATCH_6", "Microsoft.DocumentDB/databaseAccounts.account"),
        # the built-in twin of CKV_DROPBATCH_6
        ("CKV_AZURE_140", "Microsoft.DocumentDB/databaseAccounts.account"),
    }


def test_a_file_checkov_cannot_parse_is_a_parsing_error(checkov: Path, infra_copy: Path) -> None:
    # checkov exits 0 on a file it cannot parse: the report's count is what tells.
    mutate(infra_copy / "app" / "identity.bicep", "  name: name\n", "  name: name\n  }}\n")
    report = run(checkov, infra_copy, *skip_args())
    assert report["summary"]["parsing_errors"] == 1
