"""Keyless and private by construction: each check passes only on a literal value in the
template (a parameter or expression could be anything, so it fails)."""

from __future__ import annotations

from typing import Any

from checkov.bicep.checks.resource.base_resource_check import BaseResourceCheck
from checkov.common.models.enums import CheckCategories, CheckResult


def _at(conf: dict[str, Any], *path: str) -> Any:
    value: Any = conf
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _result(ok: bool) -> CheckResult:
    return CheckResult.PASSED if ok else CheckResult.FAILED


class StorageSharedKeyDisabled(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Storage account refuses shared-key (account key and SAS) access",
            id="CKV_DROPBATCH_1",
            categories=[CheckCategories.IAM],
            supported_resources=["Microsoft.Storage/storageAccounts"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        return _result(_at(conf, "properties", "allowSharedKeyAccess") is False)


class StorageBlobPublicAccessDisabled(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Storage account allows no anonymous blob access",
            id="CKV_DROPBATCH_2",
            categories=[CheckCategories.GENERAL_SECURITY],
            supported_resources=["Microsoft.Storage/storageAccounts"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        return _result(_at(conf, "properties", "allowBlobPublicAccess") is False)


class BatchEntraOnly(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Batch account accepts Entra ID tokens only (no shared key)",
            id="CKV_DROPBATCH_3",
            categories=[CheckCategories.IAM],
            supported_resources=["Microsoft.Batch/batchAccounts"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        return _result(_at(conf, "properties", "allowedAuthenticationModes") == ["AAD"])


class BatchPoolUserAssignedIdentity(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Batch pool carries a user-assigned identity (the worker's)",
            id="CKV_DROPBATCH_4",
            categories=[CheckCategories.IAM],
            supported_resources=["Microsoft.Batch/batchAccounts/pools"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        identities = _at(conf, "identity", "userAssignedIdentities")
        return _result(
            _at(conf, "identity", "type") == "UserAssigned"
            and isinstance(identities, dict)
            and len(identities) > 0
        )


class BatchPoolFilesByIdentity(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Batch pool start task fetches its files with the identity, never a SAS URL",
            id="CKV_DROPBATCH_5",
            categories=[CheckCategories.SECRETS],
            supported_resources=["Microsoft.Batch/batchAccounts/pools"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        files = _at(conf, "properties", "startTask", "resourceFiles") or []
        if not isinstance(files, list):
            return CheckResult.FAILED
        return _result(
            all(
                isinstance(f, dict)
                and _at(f, "identityReference", "resourceId")
                and "sig=" not in str(f.get("httpUrl", ""))
                for f in files
            )
        )


class CosmosLocalAuthDisabled(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Cosmos DB account refuses its keys (Entra data-plane RBAC only)",
            id="CKV_DROPBATCH_6",
            categories=[CheckCategories.IAM],
            supported_resources=["Microsoft.DocumentDB/databaseAccounts"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        return _result(_at(conf, "properties", "disableLocalAuth") is True)


class AppInsightsLocalAuthDisabled(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Application Insights ingests with Entra tokens only",
            id="CKV_DROPBATCH_7",
            categories=[CheckCategories.IAM],
            supported_resources=["Microsoft.Insights/components"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        return _result(_at(conf, "properties", "DisableLocalAuth") is True)


class FunctionAppSystemIdentity(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Function app has a system-assigned identity",
            id="CKV_DROPBATCH_8",
            categories=[CheckCategories.IAM],
            supported_resources=["Microsoft.Web/sites"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        return _result("SystemAssigned" in str(_at(conf, "identity", "type") or ""))


checks = [
    StorageSharedKeyDisabled(),
    StorageBlobPublicAccessDisabled(),
    BatchEntraOnly(),
    BatchPoolUserAssignedIdentity(),
    BatchPoolFilesByIdentity(),
    CosmosLocalAuthDisabled(),
    AppInsightsLocalAuthDisabled(),
    FunctionAppSystemIdentity(),
]
