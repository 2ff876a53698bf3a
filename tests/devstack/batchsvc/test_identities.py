"""Resource and output files read and written as the pool's identity (`identityReference`),
with no SAS anywhere: the node's credentials file stands in for the managed identity."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.batch import BatchClient
from azure.batch import models as m

from tests.devstack.batchsvc.blobstore import DEV_ACCOUNT, DEV_KEY, Blobs
from tests.devstack.batchsvc.conftest import (
    RunningService,
    execution,
    failure,
    start_service,
    wait_task_completed,
    wait_until,
)

pytestmark = pytest.mark.stack

IDENTITY = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/"
    "Microsoft.ManagedIdentity/userAssignedIdentities/dropbatch-pool"
)
STRANGER = IDENTITY.replace("dropbatch-pool", "someone-else")


@pytest.fixture(scope="module")
def node_service(
    tmp_path_factory: pytest.TempPathFactory, blobs: Blobs
) -> Iterator[RunningService]:
    """A service whose nodes carry a credentials file naming the pool's one identity."""
    image = tmp_path_factory.mktemp("identity-image")
    credentials = image / "credentials.json"
    credentials.write_text(
        json.dumps(
            {
                "AzureWebJobsStorage": (
                    f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};"
                    f"AccountKey={DEV_KEY};BlobEndpoint={blobs.endpoint};"
                ),
                "DROPBATCH_POOL_IDENTITIES": [IDENTITY],
            }
        )
    )
    running = start_service(
        tmp_path_factory.mktemp("identity-state"),
        "--node-file",
        f"{credentials}:dropbatch/credentials.json",
    )
    yield running
    assert running.stop() == 0, "".join(running.stderr_lines)


@pytest.fixture(scope="module")
def batch(node_service: RunningService) -> BatchClient:
    return node_service.client()


@pytest.fixture
def container(blobs: Blobs, ids: Callable[[str], str]) -> str:
    """A private container (no anonymous access) holding data/a.csv and data/b.csv."""
    name = ids("identity").lower()
    client = blobs.service.create_container(name)
    client.upload_blob("data/a.csv", b"a,1\n")
    client.upload_blob("data/b.csv", b"b,2\n")
    return name


def _ref(resource_id: str = IDENTITY) -> m.BatchNodeIdentityReference:
    return m.BatchNodeIdentityReference(resource_id=resource_id)


def _job(batch: BatchClient, ids: Callable[[str], str], **pool: Any) -> str:
    pool_id, job_id = ids("pool"), ids("job")
    batch.create_pool(
        m.BatchPoolCreateOptions(
            id=pool_id, vm_size="standard_d2s_v3", target_dedicated_nodes=1, **pool
        )
    )
    batch.create_job(m.BatchJobCreateOptions(id=job_id, pool_info=m.BatchPoolInfo(pool_id=pool_id)))
    return job_id


def _output(url: str, reference: m.BatchNodeIdentityReference | None) -> m.OutputFile:
    return m.OutputFile(
        file_pattern="out/*.csv",
        destination=m.OutputFileDestination(
            container=m.OutputFileBlobContainerDestination(
                container_url=url, path="results", identity_reference=reference
            )
        ),
        upload_options=m.OutputFileUploadConfiguration(upload_condition="taskCompletion"),
    )


def _details(info: Any) -> dict[str, str]:
    return {d.name: d.value for d in info.failure_info.details or []}


def test_a_task_reads_and_writes_blobs_as_the_pool_identity_without_any_sas(
    batch: BatchClient, blobs: Blobs, container: str, ids: Callable[[str], str]
) -> None:
    job_id = _job(batch, ids)
    url = f"{blobs.endpoint}/{container}"
    batch.create_task(
        job_id,
        m.BatchTaskCreateOptions(
            id="mi",
            command_line="/bin/sh -c 'mkdir -p out && cat in/data/*.csv one.csv > out/all.csv'",
            resource_files=[
                m.ResourceFile(
                    storage_container_url=url,
                    blob_prefix="data/",
                    file_path="in",
                    identity_reference=_ref(),
                ),
                m.ResourceFile(
                    http_url=f"{url}/data/a.csv", file_path="one.csv", identity_reference=_ref()
                ),
            ],
            output_files=[_output(url, _ref())],
        ),
    )

    task = wait_task_completed(batch, job_id, "mi")
    written = blobs.service.get_blob_client(container, "results/all.csv").download_blob()

    assert execution(task).result == m.BatchTaskExecutionResult.SUCCESS, task.execution_info
    assert written.readall() == b"a,1\nb,2\na,1\n"
    assert "sig=" not in json.dumps(task.as_dict())


@pytest.mark.parametrize(
    ("resource_file", "code"),
    [
        ({"httpUrl": "/data/a.csv", "filePath": "a.csv"}, "BlobAccessDenied"),
        ({"storageContainerUrl": "", "blobPrefix": "data/"}, "ResourceContainerAccessDenied"),
    ],
)
def test_a_blob_url_with_neither_sas_nor_identity_fails_the_task_as_azure_does(
    batch: BatchClient,
    blobs: Blobs,
    container: str,
    ids: Callable[[str], str],
    resource_file: dict[str, str],
    code: str,
) -> None:
    job_id = _job(batch, ids)
    url = f"{blobs.endpoint}/{container}"
    spec = {k: (url + v if k.endswith("Url") else v) for k, v in resource_file.items()}
    batch.create_task(
        job_id,
        m.BatchTaskCreateOptions(
            id="anon", command_line="true", resource_files=[m.ResourceFile(spec)]
        ),
    )

    task = wait_task_completed(batch, job_id, "anon")

    assert failure(task).category == m.BatchErrorSourceCategory.USER_ERROR
    assert failure(task).code == code
    assert _details(task.execution_info)["HttpStatusCode"] == "403"


def test_an_output_file_with_neither_sas_nor_identity_fails_the_upload(
    batch: BatchClient, blobs: Blobs, container: str, ids: Callable[[str], str]
) -> None:
    job_id = _job(batch, ids)
    batch.create_task(
        job_id,
        m.BatchTaskCreateOptions(
            id="anon-out",
            command_line="/bin/sh -c 'mkdir -p out && echo x > out/r.csv'",
            output_files=[_output(f"{blobs.endpoint}/{container}", None)],
        ),
    )

    task = wait_task_completed(batch, job_id, "anon-out")

    assert execution(task).exit_code == 0
    assert execution(task).result == m.BatchTaskExecutionResult.FAILURE
    assert failure(task).code == "FileUploadAccessDenied"
    assert not list(blobs.service.get_container_client(container).list_blobs("results/"))


def test_an_identity_the_pool_does_not_have_is_refused_for_downloads_and_uploads(
    batch: BatchClient, blobs: Blobs, container: str, ids: Callable[[str], str]
) -> None:
    job_id = _job(batch, ids)
    url = f"{blobs.endpoint}/{container}"
    batch.create_task(
        job_id,
        m.BatchTaskCreateOptions(
            id="stranger-in",
            command_line="true",
            resource_files=[
                m.ResourceFile(storage_container_url=url, identity_reference=_ref(STRANGER))
            ],
        ),
    )
    batch.create_task(
        job_id,
        m.BatchTaskCreateOptions(
            id="stranger-out",
            command_line="/bin/sh -c 'mkdir -p out && echo x > out/r.csv'",
            output_files=[_output(url, _ref(STRANGER))],
        ),
    )

    reading = wait_task_completed(batch, job_id, "stranger-in")
    writing = wait_task_completed(batch, job_id, "stranger-out")

    assert failure(reading).code == "ResourceContainerListMiscError"
    assert _details(reading.execution_info)["HttpStatusCode"] == "400"
    assert failure(writing).code == "FileUploadMiscError"
    details = failure(writing).details
    assert details and "HTTP 400" in str(details[0].value)


def _start_task_node(batch: BatchClient, pool_id: str, state: m.BatchNodeState) -> m.BatchNode:
    node: m.BatchNode = wait_until(
        lambda: (nodes := list(batch.list_nodes(pool_id))) and nodes[0].state == state and nodes[0]
    )
    return node


def test_a_start_task_downloads_as_the_pool_identity_and_fails_without_one(
    batch: BatchClient, blobs: Blobs, container: str, ids: Callable[[str], str]
) -> None:
    url = f"{blobs.endpoint}/{container}/data/b.csv"
    with_identity, without = ids("pool"), ids("pool")
    for pool_id, reference in ((with_identity, _ref()), (without, None)):
        batch.create_pool(
            m.BatchPoolCreateOptions(
                id=pool_id,
                vm_size="standard_d2s_v3",
                target_dedicated_nodes=1,
                start_task=m.BatchStartTask(
                    command_line="/bin/sh -c 'cat b.csv'",
                    resource_files=[
                        m.ResourceFile(
                            http_url=url, file_path="b.csv", identity_reference=reference
                        )
                    ],
                    wait_for_success=True,
                ),
            )
        )

    ready = _start_task_node(batch, with_identity, m.BatchNodeState.IDLE)
    failed = _start_task_node(batch, without, m.BatchNodeState.START_TASK_FAILED)
    output = b"".join(batch.download_node_file(with_identity, ready.id, "startup/stdout.txt"))

    assert ready.start_task_info is not None and failed.start_task_info is not None
    assert ready.start_task_info.exit_code == 0
    assert output == b"b,2\n"
    assert failed.start_task_info.failure_info is not None
    assert failed.start_task_info.failure_info.code == "BlobAccessDenied"
    assert _details(failed.start_task_info)["HttpStatusCode"] == "403"
    assert Path(_details(failed.start_task_info)["ResourceFileUrl"]).name == "b.csv"
