"""Task files: stdout.txt, stderr.txt and the working dir, listed and read over the Batch API."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from azure.batch import BatchClient
from azure.batch import models as m
from azure.core.exceptions import ResourceNotFoundError
from azure.core.rest import HttpResponse

from tests.devstack.batchsvc.conftest import wait_task_completed
from tests.devstack.batchsvc.contract import raw, validate

pytestmark = pytest.mark.stack


@pytest.fixture
def finished(client: BatchClient, job: Callable[..., str]) -> str:
    job_id = job(nodes=1)
    client.create_task(
        job_id,
        m.BatchTaskCreateOptions(
            id="writer",
            command_line=(
                "/bin/sh -c 'printf 0123456789; printf oops >&2; "
                "mkdir -p out/deep; echo x > out/deep/r.csv'"
            ),
        ),
    )
    wait_task_completed(client, job_id, "writer")
    return job_id


def test_stdout_and_stderr_can_be_downloaded(client: BatchClient, finished: str) -> None:
    stdout = b"".join(client.download_task_file(finished, "writer", "stdout.txt"))
    stderr = b"".join(client.download_task_file(finished, "writer", "stderr.txt"))

    assert stdout == b"0123456789"
    assert stderr == b"oops"


def test_a_byte_range_of_a_file_can_be_downloaded(client: BatchClient, finished: str) -> None:
    middle = b"".join(
        client.download_task_file(finished, "writer", "stdout.txt", ocp_range="bytes=2-5")
    )
    tail = b"".join(
        client.download_task_file(finished, "writer", "stdout.txt", ocp_range="bytes=7-")
    )

    assert middle == b"2345"
    assert tail == b"789"


def test_files_in_the_working_dir_can_be_read_by_relative_path(
    client: BatchClient, finished: str
) -> None:
    content = b"".join(client.download_task_file(finished, "writer", "wd/out/deep/r.csv"))

    assert content == b"x\n"


def test_file_properties_report_size_and_kind(client: BatchClient, finished: str) -> None:
    props = client.get_task_file_properties(finished, "writer", "stdout.txt")

    assert int(props.content_length) == 10
    assert props.is_directory is False
    assert props.url is not None and props.url.endswith("/files/stdout.txt")


def test_listing_is_flat_by_default_and_recursive_on_request(
    client: BatchClient, finished: str
) -> None:
    top = {f.name: f for f in client.list_task_files(finished, "writer")}
    everything = {f.name for f in client.list_task_files(finished, "writer", recursive=True)}

    assert {"stdout.txt", "stderr.txt", "wd"} <= set(top)
    assert top["wd"].is_directory is True
    stdout = top["stdout.txt"].properties
    assert stdout is not None and stdout.content_length == 10
    assert {"wd/out", "wd/out/deep", "wd/out/deep/r.csv"} <= everything


def test_a_missing_file_is_file_not_found(client: BatchClient, finished: str) -> None:
    with pytest.raises(ResourceNotFoundError) as raised:
        b"".join(client.download_task_file(finished, "writer", "no-such.txt"))
    # The SDK leaves the streamed error response open; close it so its socket is released.
    assert isinstance(raised.value.response, HttpResponse)
    raised.value.response.close()
    status, body, _ = raw(client, "GET", f"/jobs/{finished}/tasks/writer/files/no-such.txt")

    # A streamed download does not parse the error body; the status says enough.
    assert raised.value.status_code == 404
    assert status == 404 and body["code"] == "FileNotFound"


def test_a_path_outside_the_task_dir_is_refused(client: BatchClient, finished: str) -> None:
    status, body, _ = raw(
        client, "GET", f"/jobs/{finished}/tasks/writer/files/..%2F..%2F..%2Fshared"
    )

    assert status == 400
    validate("BatchError", body)


def test_the_file_list_matches_the_swagger(client: BatchClient, finished: str) -> None:
    status, body, _ = raw(client, "GET", f"/jobs/{finished}/tasks/writer/files", recursive="true")

    assert status == 200
    validate("BatchNodeFileListResult", body)


def test_a_task_file_can_be_deleted(client: BatchClient, finished: str) -> None:
    client.delete_task_file(finished, "writer", "wd/out/deep/r.csv")

    names = {f.name for f in client.list_task_files(finished, "writer", recursive=True)}
    assert "wd/out/deep/r.csv" not in names and "wd/out/deep" in names
