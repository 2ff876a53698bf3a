"""The api-versions this service answers, and where their bodies differ from 2025-06-01's.

Documents are stored in the 2025-06-01 shape, plus the few pool properties that only older
versions have (`resourceTags`, `targetNodeCommunicationMode`, `applicationLicenses`), kept so
that a client of those versions reads back what it wrote. Every response is then cut to the
requested version: what that version's REST description does not define is left out.

The differences below were read from the REST descriptions of each version (the
azure-rest-api-specs data-plane `BatchService.json` files and the SDKs generated from them),
limited to responses this service can produce; the envelope (`odata.metadata`, paging, the
error body, headers) is the same in all three.

- 2024-02-01.19.0 (Azure CLI 2.6x-2.9x, azure-batch 14.2 and 15.0.0b1): pools still carry
  `cloudServiceConfiguration`, `applicationLicenses`, `certificateReferences`, `resourceTags`
  and the node communication modes; no gallery image ids, container bind mounts, deallocated
  node counts, IPv6 or disk-encryption-set properties.
- 2024-07-01.20.0 (azure-batch 15.0.0b2): `cloudServiceConfiguration` and
  `applicationLicenses` are gone; gallery image ids, `containerHostBatchBindMounts`,
  `deallocated`/`deallocating` counts and `skipWithdrawFromVNet` arrive.
- 2025-06-01 (azure-batch 15.x): `certificateReferences`, `resourceTags` and the node
  communication modes are gone; `ipv6Address`, `ipFamilies`, `ipTags`, `jobDefaultOrder`,
  `dataDisks.managedDisk`, `customerManagedKey`, `diskEncryptionSet`, `proxyAgentSettings`
  arrive.

Cloud Services pools and Batch account certificates were retired in February 2024, so the
versions that still describe them get a refusal naming the property rather than a pool that
silently lacks it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from devstack.batchsvc import validation as v
from devstack.batchsvc.errors import BadRequest

CURRENT = "2025-06-01"

# The operations whose response body is one entity, or a page of them (`value`), of a kind.
_ENTITY_OF: dict[str, str] = {
    "Pools_GetPool": "pool",
    "Pools_ListPools": "pool",
    "Nodes_GetNode": "node",
    "Nodes_ListNodes": "node",
    "Pools_ListPoolNodeCounts": "nodeCounts",
    "Pools_ListSupportedImages": "image",
    "Jobs_GetJob": "job",
    "Jobs_ListJobs": "job",
    "Tasks_GetTask": "task",
    "Tasks_ListTasks": "task",
}

# Pool properties only the older versions define (see the module docstring).
_POOL_BEFORE_2025 = (
    "pool.certificateReferences",
    "pool.currentNodeCommunicationMode",
    "pool.resourceTags",
    "pool.targetNodeCommunicationMode",
    "node.certificateReferences",
)
_ONLY_IN_19 = ("pool.applicationLicenses", "pool.cloudServiceConfiguration")

# What 2025-06-01 added after 2024-07-01.20.0.
_ADDED_IN_2025 = (
    "node.ipv6Address",
    "pool.networkConfiguration.publicIPAddressConfiguration.ipFamilies",
    "pool.networkConfiguration.publicIPAddressConfiguration.ipTags",
    "pool.taskSchedulingPolicy.jobDefaultOrder",
    "pool.virtualMachineConfiguration.dataDisks.managedDisk",
    "pool.virtualMachineConfiguration.diskEncryptionConfiguration.customerManagedKey",
    "pool.virtualMachineConfiguration.osDisk.managedDisk.diskEncryptionSet",
    "pool.virtualMachineConfiguration.securityProfile.proxyAgentSettings",
)

# What 2024-07-01.20.0 added after 2024-02-01.19.0.
_BIND_MOUNTS = "containerSettings.containerHostBatchBindMounts"
_GALLERY_IDS = ("imageReference.communityGalleryImageId", "imageReference.sharedGalleryImageId")
_ADDED_IN_20 = (
    *(f"image.{p}" for p in _GALLERY_IDS),
    *(f"pool.virtualMachineConfiguration.{p}" for p in _GALLERY_IDS),
    *(f"node.virtualMachineInfo.{p}" for p in _GALLERY_IDS),
    f"pool.startTask.{_BIND_MOUNTS}",
    f"node.startTask.{_BIND_MOUNTS}",
    f"task.{_BIND_MOUNTS}",
    f"job.jobManagerTask.{_BIND_MOUNTS}",
    f"job.jobPreparationTask.{_BIND_MOUNTS}",
    f"job.jobReleaseTask.{_BIND_MOUNTS}",
    "job.networkConfiguration.skipWithdrawFromVNet",
    "nodeCounts.dedicated.deallocated",
    "nodeCounts.dedicated.deallocating",
    "nodeCounts.lowPriority.deallocated",
    "nodeCounts.lowPriority.deallocating",
    "pool.virtualMachineConfiguration.osDisk.managedDisk.securityProfile",
)


@dataclass(frozen=True)
class ApiVersion:
    """One accepted api-version: the response paths it lacks and the request paths it refuses."""

    name: str
    absent: tuple[str, ...]  # "<entity>.<property>.<property>..." (lists are walked through)
    retired: tuple[tuple[str, str], ...] = ()  # (pool create property, why it is refused)

    def check_request(self, operation: str, body: bytes) -> None:
        """Refuse a request property this version describes but Azure no longer honours."""
        if operation != "Pools_CreatePool" or not self.retired or not body.strip():
            return
        try:
            doc = json.loads(body)
        except ValueError:
            return  # the handler answers malformed JSON in Batch's words
        if not isinstance(doc, dict):
            return
        for name, reason in self.retired:
            if doc.get(name):
                raise v.unsupported(name, reason)

    def shape(self, operation: str, body: Any) -> Any:
        """The response body as this version defines it (a copy; the input is not changed)."""
        kind = _ENTITY_OF.get(operation)
        if kind is None or not isinstance(body, dict) or not self.absent:
            return body
        paths = [p.split(".")[1:] for p in self.absent if p.split(".", 1)[0] == kind]
        if not paths:
            return body
        if operation.partition("_")[2].startswith("List"):
            return {**body, "value": [_without(item, paths) for item in body.get("value") or []]}
        return _without(body, paths)


def _without(doc: Any, paths: list[list[str]]) -> Any:
    if isinstance(doc, list):
        return [_without(item, paths) for item in doc]
    if not isinstance(doc, dict):
        return doc
    out = dict(doc)
    for path in paths:
        head, rest = path[0], path[1:]
        if head not in out:
            continue
        if not rest:
            del out[head]
        else:
            out[head] = _without(out[head], [rest])
    return out


_CLOUD_SERVICES = (
    "cloudServiceConfiguration",
    "Cloud Services Configuration pools were retired on 29 February 2024; "
    "use virtualMachineConfiguration.",
)
_CERTIFICATES = (
    "certificateReferences",
    "Batch account certificates were retired on 29 February 2024; "
    "use the Azure Key Vault VM extension.",
)

VERSIONS: dict[str, ApiVersion] = {
    version.name: version
    for version in (
        ApiVersion(
            "2024-02-01.19.0",
            absent=(*_ADDED_IN_20, *_ADDED_IN_2025),
            retired=(_CLOUD_SERVICES, _CERTIFICATES),
        ),
        ApiVersion(
            "2024-07-01.20.0", absent=(*_ONLY_IN_19, *_ADDED_IN_2025), retired=(_CERTIFICATES,)
        ),
        ApiVersion(CURRENT, absent=(*_ONLY_IN_19, *_POOL_BEFORE_2025)),
        # Accepted by this service from the start; the same shapes as 2025-06-01.
        ApiVersion(f"{CURRENT}.21.0", absent=(*_ONLY_IN_19, *_POOL_BEFORE_2025)),
    )
}


def resolve(params: dict[str, str]) -> ApiVersion:
    """The requested version, or Batch's error for a missing or unknown `api-version`."""
    name = params.get("api-version")
    if not name:
        raise BadRequest(
            "A query parameter that's mandatory for this request is not specified.",
            code="MissingRequiredQueryParameter",
            values={"QueryParameterName": "api-version"},
        )
    version = VERSIONS.get(name)
    if version is None:
        raise BadRequest(
            "The value for one of the HTTP query parameters is not in the correct format.",
            code="InvalidQueryParameterValue",
            values={
                "QueryParameterName": "api-version",
                "QueryParameterValue": name,
                "Reason": "This service supports api-version " + ", ".join(sorted(VERSIONS)) + ".",
            },
        )
    return version
