"""The api-versions current Azure tools send, each with its own request and response shapes."""

from __future__ import annotations

import http.client
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from azure.batch import BatchClient
from azure.core.credentials import AzureNamedKeyCredential

from tests.devstack.batchsvc import contract
from tests.devstack.batchsvc.conftest import RunningService, wait_until

pytestmark = pytest.mark.stack

V19 = "2024-02-01.19.0"  # Azure CLI 2.6x-2.9x (azure-batch 15.0.0b1), azure-batch 14.x
V20 = "2024-07-01.20.0"  # azure-batch 15.0.0b2
V25 = "2025-06-01"  # azure-batch 15.x
VERSIONS = (V19, V20, V25)

_IMAGE = {
    "publisher": "canonical",
    "offer": "0001-com-ubuntu-server-jammy",
    "sku": "22_04-lts",
    "version": "latest",
}


def _pool_body(pool_id: str, nodes: int | str = 0, **more: Any) -> dict[str, Any]:
    return {
        "id": pool_id,
        "vmSize": "standard_d2s_v3",
        "targetDedicatedNodes": nodes,
        "virtualMachineConfiguration": {
            "imageReference": dict(_IMAGE),
            "nodeAgentSKUId": "batch.node.ubuntu 22.04",
        },
        **more,
    }


class Versions:
    """Signed raw requests at a chosen api-version; 2025-06-01's answers are checked against
    its swagger (the vendored one), older versions' answers by the assertions of each test."""

    def __init__(self, service: RunningService, checked: BatchClient) -> None:
        self.service = service
        self._checked = checked
        self._plain = BatchClient(
            service.url, AzureNamedKeyCredential(service.account, service.key)
        )

    def send(self, method: str, path: str, body: Any, version: str) -> tuple[int, Any, Any]:
        client = self._checked if version == V25 else self._plain
        return contract.raw(client, method, path, body, version)


@pytest.fixture(scope="module")
def api(service: RunningService, client: BatchClient) -> Versions:
    return Versions(service, client)


def _ok(result: tuple[int, Any, Any], status: int = 200) -> Any:
    code, body, _ = result
    assert code == status, body
    return body


@pytest.mark.parametrize("version", VERSIONS)
def test_each_version_creates_gets_and_lists_pools_jobs_and_tasks(
    service: RunningService, api: Versions, ids: Callable[[str], str], version: str
) -> None:
    pool_id, job_id = ids("pool"), ids("job")

    _ok(api.send("POST", "/pools", _pool_body(pool_id, 1), version), 201)
    _ok(
        api.send("POST", "/jobs", {"id": job_id, "poolInfo": {"poolId": pool_id}}, version),
        201,
    )
    task = {"id": "hello", "commandLine": "/bin/sh -c 'echo hi'"}
    _ok(api.send("POST", f"/jobs/{job_id}/tasks", task, version), 201)

    pool = _ok(api.send("GET", f"/pools/{pool_id}", None, version))
    pools = _ok(api.send("GET", "/pools", None, version))
    job = _ok(api.send("GET", f"/jobs/{job_id}", None, version))
    jobs = _ok(api.send("GET", "/jobs", None, version))
    done = wait_until(
        lambda: (
            (t := _ok(api.send("GET", f"/jobs/{job_id}/tasks/hello", None, version)))["state"]
            == "completed"
            and t
        )
    )
    tasks = _ok(api.send("GET", f"/jobs/{job_id}/tasks", None, version))
    nodes = _ok(api.send("GET", f"/pools/{pool_id}/nodes", None, version))

    assert pool["id"] == pool_id and pool["targetDedicatedNodes"] == 1
    assert pool["virtualMachineConfiguration"]["imageReference"] == _IMAGE
    assert pool_id in [p["id"] for p in pools["value"]]
    assert job["poolInfo"] == {"poolId": pool_id}
    assert job_id in [j["id"] for j in jobs["value"]]
    assert done["executionInfo"]["exitCode"] == 0
    assert [t["id"] for t in tasks["value"]] == ["hello"]
    assert len(nodes["value"]) == 1
    for body in (pool, pools, job, jobs, done, tasks, nodes):
        assert body["odata.metadata"].startswith(f"{service.url}/$metadata#")


def test_pool_properties_only_older_versions_define_are_kept_for_them(
    api: Versions, ids: Callable[[str], str]
) -> None:
    # Given a pool created by a 2024-02-01 client with properties 2025-06-01 no longer has
    pool_id = ids("pool")
    body = _pool_body(
        pool_id,
        resourceTags={"team": "ingest"},
        targetNodeCommunicationMode="simplified",
        applicationLicenses=["maya"],
    )
    _ok(api.send("POST", "/pools", body, V19), 201)

    # When each version reads it
    seen = {v: _ok(api.send("GET", f"/pools/{pool_id}", None, v)) for v in VERSIONS}
    listed = _ok(api.send("GET", "/pools", None, V25))

    # Then each sees only what its REST description defines
    assert seen[V19]["resourceTags"] == {"team": "ingest"}
    assert seen[V19]["targetNodeCommunicationMode"] == "simplified"
    assert seen[V19]["applicationLicenses"] == ["maya"]
    assert seen[V20]["resourceTags"] == {"team": "ingest"}
    assert "applicationLicenses" not in seen[V20]
    for doc in (seen[V25], next(p for p in listed["value"] if p["id"] == pool_id)):
        assert not {"resourceTags", "targetNodeCommunicationMode", "applicationLicenses"} & set(doc)
    contract.validate("BatchPool", seen[V25])


def test_properties_newer_than_the_requested_version_are_left_out(
    api: Versions, ids: Callable[[str], str]
) -> None:
    pool_id = ids("pool")
    body = _pool_body(
        pool_id, taskSchedulingPolicy={"nodeFillType": "pack", "jobDefaultOrder": "none"}
    )
    body["virtualMachineConfiguration"]["imageReference"] = {
        "sharedGalleryImageId": "/SharedGalleries/g/Images/i/Versions/1.0.0"
    }
    _ok(api.send("POST", "/pools", body, V25), 201)

    seen = {v: _ok(api.send("GET", f"/pools/{pool_id}", None, v)) for v in VERSIONS}

    assert seen[V19]["virtualMachineConfiguration"]["imageReference"] == {}
    assert seen[V19]["taskSchedulingPolicy"] == {"nodeFillType": "pack"}
    assert "sharedGalleryImageId" in seen[V20]["virtualMachineConfiguration"]["imageReference"]
    assert seen[V20]["taskSchedulingPolicy"] == {"nodeFillType": "pack"}
    assert seen[V25]["taskSchedulingPolicy"]["jobDefaultOrder"] == "none"


def test_node_counts_have_deallocated_states_from_2024_07_01_on(
    api: Versions, pool: Callable[..., str]
) -> None:
    pool_id = pool(nodes=1)

    def counts(version: str) -> dict[str, Any]:
        body = _ok(api.send("GET", "/nodecounts", None, version))
        return dict(next(c for c in body["value"] if c["poolId"] == pool_id)["dedicated"])

    assert "deallocated" not in counts(V19) and counts(V19)["total"] == 1
    assert counts(V20)["deallocated"] == 0 and counts(V20)["deallocating"] == 0
    assert counts(V25)["deallocated"] == 0


def test_a_number_sent_as_a_string_is_read_as_the_azure_cli_sends_it(
    api: Versions, ids: Callable[[str], str]
) -> None:
    pool_id = ids("pool")

    _ok(api.send("POST", "/pools", _pool_body(pool_id, "1"), V19), 201)

    assert _ok(api.send("GET", f"/pools/{pool_id}", None, V19))["targetDedicatedNodes"] == 1


@pytest.mark.parametrize(
    ("version", "name", "value"),
    [
        (V19, "cloudServiceConfiguration", {"osFamily": "6"}),
        (V19, "certificateReferences", [{"thumbprint": "ab", "thumbprintAlgorithm": "sha1"}]),
        (V20, "certificateReferences", [{"thumbprint": "ab", "thumbprintAlgorithm": "sha1"}]),
    ],
)
def test_retired_pool_features_of_older_versions_are_refused_by_name(
    api: Versions, ids: Callable[[str], str], version: str, name: str, value: Any
) -> None:
    status, error, _ = api.send("POST", "/pools", _pool_body(ids("pool"), **{name: value}), version)

    assert status == 400
    assert error["code"] == "FeatureNotSupported"
    assert {"key": "PropertyName", "value": name} in error["values"]


def test_an_unknown_version_gets_batch_error_naming_the_supported_ones(api: Versions) -> None:
    status, error, _ = api.send("GET", "/pools", None, "2023-05-01.17.0")

    assert status == 400 and error["code"] == "InvalidQueryParameterValue"
    values = {item["key"]: item["value"] for item in error["values"]}
    assert values["QueryParameterValue"] == "2023-05-01.17.0"
    assert all(v in values["Reason"] for v in VERSIONS)


@pytest.mark.parametrize("path", ["/pools?api-version=2025-06-01", "/_devstack/health"])
def test_every_response_has_exactly_one_date_header(service: RunningService, path: str) -> None:
    where = urlsplit(service.url)
    connection = http.client.HTTPConnection(where.hostname or "", where.port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
    finally:
        connection.close()

    assert len(response.msg.get_all("Date") or []) == 1
