"""Tasks beyond the basics: dependencies, exit conditions, resource and output files, options."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from azure.batch import BatchClient
from azure.batch import models as m
from azure.core.exceptions import HttpResponseError

from tests.devstack.batchsvc.blobstore import Blobs
from tests.devstack.batchsvc.conftest import (
    QUICK_POLL,
    RunningService,
    execution,
    failure,
    job_execution,
    odata_code,
    span,
    task_dir,
    terminating,
    wait_task_completed,
    wait_until,
)

pytestmark = pytest.mark.stack


def test_dependants_wait_for_their_dependencies_to_succeed(
    client: BatchClient, job: Callable[..., str]
) -> None:
    job_id = job(nodes=2, slots=2, uses_task_dependencies=True)
    client.create_tasks(
        job_id,
        [
            m.BatchTaskCreateOptions(id="1", command_line="/bin/sh -c 'sleep 0.5; echo one'"),
            m.BatchTaskCreateOptions(id="2", command_line="true"),
            m.BatchTaskCreateOptions(
                id="after-range",
                command_line="true",
                depends_on=m.BatchTaskDependencies(
                    task_id_ranges=[m.BatchTaskIdRange(start=1, end=2)]
                ),
            ),
            m.BatchTaskCreateOptions(
                id="after-ids",
                command_line="true",
                depends_on=m.BatchTaskDependencies(task_ids=["after-range"]),
            ),
        ],
    )

    last = wait_task_completed(client, job_id, "after-ids")
    middle = client.get_task(job_id, "after-range")
    first = client.get_task(job_id, "1")

    assert span(first)[1] <= span(middle)[0]
    assert span(middle)[1] <= span(last)[0]


def test_a_failed_dependency_blocks_unless_its_exit_condition_satisfies(
    client: BatchClient, job: Callable[..., str]
) -> None:
    job_id = job(nodes=1, slots=2, uses_task_dependencies=True)
    satisfy = m.ExitConditions(
        exit_codes=[
            m.ExitCodeMapping(code=3, exit_options=m.ExitOptions(dependency_action="satisfy"))
        ]
    )
    client.create_tasks(
        job_id,
        [
            m.BatchTaskCreateOptions(id="fails", command_line="false"),
            m.BatchTaskCreateOptions(
                id="fails-ok", command_line="/bin/sh -c 'exit 3'", exit_conditions=satisfy
            ),
            m.BatchTaskCreateOptions(
                id="blocked",
                command_line="true",
                depends_on=m.BatchTaskDependencies(task_ids=["fails"]),
            ),
            m.BatchTaskCreateOptions(
                id="unblocked",
                command_line="true",
                depends_on=m.BatchTaskDependencies(task_ids=["fails-ok"]),
            ),
        ],
    )

    done = wait_task_completed(client, job_id, "unblocked")
    wait_task_completed(client, job_id, "fails")

    assert execution(done).result == m.BatchTaskExecutionResult.SUCCESS
    assert client.get_task(job_id, "blocked").state == m.BatchTaskState.ACTIVE


def test_dependencies_need_a_job_that_uses_them(
    client: BatchClient, job: Callable[..., str]
) -> None:
    job_id = job(nodes=0)

    with pytest.raises(HttpResponseError) as raised:
        client.create_task(
            job_id,
            m.BatchTaskCreateOptions(
                id="d", command_line="true", depends_on=m.BatchTaskDependencies(task_ids=["x"])
            ),
        )

    assert odata_code(raised.value) == "TaskDependenciesNotSpecifiedOnJob"


def test_an_exit_condition_can_terminate_the_job(
    client: BatchClient, job: Callable[..., str]
) -> None:
    job_id = job(nodes=1, task_failure_mode=m.BatchTaskFailureMode.PERFORM_EXIT_OPTIONS_JOB_ACTION)
    client.create_task(
        job_id,
        m.BatchTaskCreateOptions(
            id="fatal",
            command_line="/bin/sh -c 'exit 42'",
            exit_conditions=m.ExitConditions(
                exit_code_ranges=[
                    m.ExitCodeRangeMapping(
                        start=40, end=49, exit_options=m.ExitOptions(job_action="terminate")
                    )
                ]
            ),
        ),
    )

    finished = wait_until(
        lambda: (j := client.get_job(job_id)).state == m.BatchJobState.COMPLETED and j
    )

    assert job_execution(finished).termination_reason == "TaskFailed"


def test_a_multi_instance_task_is_refused_clearly(
    client: BatchClient, job: Callable[..., str]
) -> None:
    job_id = job(nodes=0)

    with pytest.raises(HttpResponseError) as raised:
        client.create_task(
            job_id,
            m.BatchTaskCreateOptions(
                id="mpi",
                command_line="true",
                multi_instance_settings=m.MultiInstanceSettings(
                    coordination_command_line="true", number_of_instances=2
                ),
            ),
        )

    assert raised.value.status_code == 400
    assert "multiInstanceSettings" in str(raised.value)


def test_container_settings_run_on_the_host_with_a_note_in_stderr(
    client: BatchClient, job: Callable[..., str]
) -> None:
    job_id = job(nodes=1)
    client.create_task(
        job_id,
        m.BatchTaskCreateOptions(
            id="boxed",
            command_line="echo hi",
            container_settings=m.BatchTaskContainerSettings(image_name="python:3.11-slim"),
            user_identity=m.UserIdentity(
                auto_user=m.AutoUserSpecification(scope="task", elevation_level="admin")
            ),
        ),
    )

    task = wait_task_completed(client, job_id, "boxed")
    stderr = b"".join(client.download_task_file(job_id, "boxed", "stderr.txt")).decode()

    assert execution(task).exit_code == 0
    assert "containerSettings" in stderr and "python:3.11-slim" in stderr
    assert "userIdentity" in stderr
    assert task.user_identity is not None and task.user_identity.auto_user is not None
    assert task.user_identity.auto_user.elevation_level == "admin"


def test_a_job_can_be_updated_and_replaced(client: BatchClient, job: Callable[..., str]) -> None:
    job_id = job(nodes=0)

    client.update_job(job_id, m.BatchJobUpdateOptions(priority=500, max_parallel_tasks=2))
    updated = client.get_job(job_id)
    client.replace_job(
        job_id,
        m.BatchJob(
            pool_info=m.BatchPoolInfo(pool_id=updated.pool_info.pool_id),
            priority=10,
            constraints=m.BatchJobConstraints(max_task_retry_count=3),
        ),
    )
    replaced = client.get_job(job_id)

    assert updated.priority == 500 and updated.max_parallel_tasks == 2
    assert replaced.priority == 10 and replaced.max_parallel_tasks == -1
    assert replaced.constraints is not None
    assert replaced.constraints.max_task_retry_count == 3


def test_a_job_past_its_max_wall_clock_time_is_terminated(
    client: BatchClient, job: Callable[..., str]
) -> None:
    job_id = job(
        nodes=1, constraints=m.BatchJobConstraints(max_wall_clock_time=dt.timedelta(seconds=1))
    )
    client.create_task(job_id, m.BatchTaskCreateOptions(id="long", command_line="sleep 30"))

    finished = wait_until(
        lambda: (j := client.get_job(job_id)).state == m.BatchJobState.COMPLETED and j
    )

    assert job_execution(finished).termination_reason == "MaxWallClockTimeExpiry"
    assert client.get_task(job_id, "long").state == m.BatchTaskState.COMPLETED


def test_jobs_can_be_filtered_by_state_and_creation_time(
    client: BatchClient, job: Callable[..., str], pool: Callable[..., str]
) -> None:
    pool_id = pool(nodes=0)
    first = job(pool_id=pool_id)
    second = job(pool_id=pool_id)
    client.begin_terminate_job(
        first, options=terminating("x"), polling_interval=QUICK_POLL
    ).result()
    created = client.get_job(second).creation_time.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    completed = {j.id for j in client.list_jobs(filter="state eq 'completed'")}
    recent = {
        j.id
        for j in client.list_jobs(
            filter=f"creationTime ge datetime'{created}' and state eq 'active'"
        )
    }
    either = {
        j.id
        for j in client.list_jobs(
            filter=f"(id eq '{first}' or id eq '{second}') and not (state eq 'deleting')"
        )
    }

    assert first in completed and second not in completed
    assert second in recent and first not in recent
    assert either == {first, second}


def test_an_invalid_filter_is_a_bad_request(client: BatchClient) -> None:
    with pytest.raises(HttpResponseError) as raised:
        list(client.list_jobs(filter="state eq"))

    assert raised.value.status_code == 400
    assert odata_code(raised.value) == "InvalidQueryParameterValue"


def test_resource_files_are_downloaded_before_the_command_runs(
    client: BatchClient, job: Callable[..., str], blobs: Blobs
) -> None:
    container = blobs.service.create_container(f"inputs-{job(nodes=0)}".lower()[:63])
    container.upload_blob("data/a.csv", b"a,b\n1,2\n")
    container.upload_blob("data/sub/b.csv", b"x\n")
    container.upload_blob("other/c.txt", b"no")
    job_id = job(nodes=1)
    client.create_task(
        job_id,
        m.BatchTaskCreateOptions(
            id="reads",
            command_line=(
                "/bin/sh -c 'cat in/data/a.csv in/data/sub/b.csv single.csv; test ! -e in/other'"
            ),
            resource_files=[
                m.ResourceFile(
                    storage_container_url=blobs.container_url(container.container_name),
                    blob_prefix="data/",
                    file_path="in",
                ),
                m.ResourceFile(
                    http_url=f"{blobs.endpoint}/{container.container_name}/data/a.csv?"
                    + blobs.container_url(container.container_name).split("?", 1)[1],
                    file_path="single.csv",
                    file_mode="0600",
                ),
            ],
        ),
    )

    task = wait_task_completed(client, job_id, "reads")
    stdout = b"".join(client.download_task_file(job_id, "reads", "stdout.txt"))

    assert execution(task).exit_code == 0
    assert stdout == b"a,b\n1,2\nx\na,b\n1,2\n"


def test_a_missing_resource_file_fails_the_task_before_it_runs(
    client: BatchClient, job: Callable[..., str], blobs: Blobs
) -> None:
    job_id = job(nodes=1)
    client.create_task(
        job_id,
        m.BatchTaskCreateOptions(
            id="no-input",
            command_line="true",
            resource_files=[
                m.ResourceFile(http_url=f"{blobs.endpoint}/nowhere/x.csv", file_path="x.csv")
            ],
        ),
    )

    task = wait_task_completed(client, job_id, "no-input")

    assert execution(task).result == m.BatchTaskExecutionResult.FAILURE
    assert execution(task).exit_code is None
    assert failure(task).code in ("BlobNotFound", "BlobAccessDenied")
    details = failure(task).details
    assert details and "?" not in str(details[0].value)


def test_output_files_are_uploaded_by_condition(
    client: BatchClient, job: Callable[..., str], blobs: Blobs
) -> None:
    container = blobs.service.create_container(f"outputs-{job(nodes=0)}".lower()[:63])
    url = blobs.container_url(container.container_name, permission="rwl")

    def destination(path: str) -> m.OutputFileDestination:
        return m.OutputFileDestination(
            container=m.OutputFileBlobContainerDestination(container_url=url, path=path)
        )

    job_id = job(nodes=1)
    client.create_task(
        job_id,
        m.BatchTaskCreateOptions(
            id="writes",
            command_line=(
                "/bin/sh -c 'mkdir -p out/deep; echo 1 > out/a.csv; echo 2 > out/deep/b.csv'"
            ),
            output_files=[
                m.OutputFile(
                    file_pattern="out/**/*.csv",
                    destination=destination("results"),
                    upload_options=m.OutputFileUploadConfiguration(upload_condition="taskSuccess"),
                ),
                m.OutputFile(
                    file_pattern="../stdout.txt",
                    destination=destination("logs/writes-stdout.txt"),
                    upload_options=m.OutputFileUploadConfiguration(
                        upload_condition="taskCompletion"
                    ),
                ),
                m.OutputFile(
                    file_pattern="out/a.csv",
                    destination=destination("failures/a.csv"),
                    upload_options=m.OutputFileUploadConfiguration(upload_condition="taskFailure"),
                ),
            ],
        ),
    )

    task = wait_task_completed(client, job_id, "writes")
    names = sorted(b.name for b in container.list_blobs())

    assert execution(task).result == m.BatchTaskExecutionResult.SUCCESS
    assert names == ["logs/writes-stdout.txt", "results/a.csv", "results/deep/b.csv"]
    assert container.download_blob("results/deep/b.csv").readall() == b"2\n"


def test_an_upload_failure_fails_the_task_with_fileuploaderr(
    client: BatchClient, service: RunningService, job: Callable[..., str], blobs: Blobs
) -> None:
    container = blobs.service.create_container(f"readonly-{job(nodes=0)}".lower()[:63])
    read_only = blobs.container_url(container.container_name, permission="rl")
    job_id = job(nodes=1)
    client.create_task(
        job_id,
        m.BatchTaskCreateOptions(
            id="denied",
            command_line="/bin/sh -c 'echo x > r.csv'",
            output_files=[
                m.OutputFile(
                    file_pattern="r.csv",
                    destination=m.OutputFileDestination(
                        container=m.OutputFileBlobContainerDestination(container_url=read_only)
                    ),
                    upload_options=m.OutputFileUploadConfiguration(
                        upload_condition="taskCompletion"
                    ),
                )
            ],
        ),
    )

    task = wait_task_completed(client, job_id, "denied")
    errors = b"".join(client.download_task_file(job_id, "denied", "fileuploaderr.txt")).decode()

    assert execution(task).result == m.BatchTaskExecutionResult.FAILURE
    assert execution(task).exit_code == 0
    assert failure(task).code == "FileUploadAccessDenied"
    assert "HTTP 403" in errors
    assert "sig=" not in errors


def test_a_disabled_job_schedules_nothing_until_enabled(
    client: BatchClient, job: Callable[..., str]
) -> None:
    job_id = job(nodes=1, slots=2)
    client.create_task(job_id, m.BatchTaskCreateOptions(id="first", command_line="sleep 30"))
    wait_until(lambda: client.get_task(job_id, "first").state == m.BatchTaskState.RUNNING)

    client.begin_disable_job(
        job_id, m.BatchJobDisableOptions(disable_tasks="requeue"), polling_interval=QUICK_POLL
    ).result()
    disabled = client.get_job(job_id)
    requeued = client.get_task(job_id, "first")
    client.create_task(job_id, m.BatchTaskCreateOptions(id="second", command_line="true"))
    client.begin_enable_job(job_id, polling_interval=QUICK_POLL).result()

    assert disabled.state == m.BatchJobState.DISABLED
    assert requeued.state == m.BatchTaskState.ACTIVE and execution(requeued).requeue_count == 1
    assert execution(wait_task_completed(client, job_id, "second")).exit_code == 0
    assert client.get_job(job_id).state == m.BatchJobState.ACTIVE
    client.terminate_task(job_id, "first")


def test_a_task_constraints_can_be_replaced(client: BatchClient, job: Callable[..., str]) -> None:
    job_id = job(nodes=0)
    client.create_task(job_id, m.BatchTaskCreateOptions(id="t", command_line="true"))

    client.replace_task(
        job_id,
        "t",
        m.BatchTask(
            constraints=m.BatchTaskConstraints(
                max_task_retry_count=4, retention_time=dt.timedelta(hours=1)
            )
        ),
    )

    constraints = client.get_task(job_id, "t").constraints
    assert constraints is not None and constraints.retention_time is not None
    assert constraints.max_task_retry_count == 4
    assert constraints.retention_time.total_seconds() == 3600


def test_task_files_are_removed_after_the_retention_time(
    client: BatchClient, service: RunningService, job: Callable[..., str]
) -> None:
    job_id = job(nodes=1)
    client.create_task(
        job_id,
        m.BatchTaskCreateOptions(
            id="brief",
            command_line="true",
            constraints=m.BatchTaskConstraints(retention_time=dt.timedelta(seconds=1)),
        ),
    )
    task = wait_task_completed(client, job_id, "brief")
    folder = task_dir(service, task)

    wait_until(lambda: not folder.exists(), timeout=30)

    with pytest.raises(HttpResponseError) as raised:
        list(client.list_task_files(job_id, "brief"))
    assert odata_code(raised.value) == "TaskFilesCleanedup"


def test_node_counts_per_pool_and_kind(client: BatchClient, pool: Callable[..., str]) -> None:
    pool_id = pool(nodes=2, low_priority=1)

    counts = {c.pool_id: c for c in client.list_pool_node_counts()}

    dedicated, low_priority = counts[pool_id].dedicated, counts[pool_id].low_priority
    assert dedicated is not None and low_priority is not None
    assert dedicated.idle == 2 and dedicated.total == 2
    assert low_priority.total == 1


def test_on_task_failure_terminates_the_job_by_default_when_a_task_fails(
    client: BatchClient, job: Callable[..., str]
) -> None:
    job_id = job(nodes=1, task_failure_mode=m.BatchTaskFailureMode.PERFORM_EXIT_OPTIONS_JOB_ACTION)
    client.create_task(job_id, m.BatchTaskCreateOptions(id="ok", command_line="true"))
    wait_task_completed(client, job_id, "ok")
    assert client.get_job(job_id).state == m.BatchJobState.ACTIVE

    client.create_task(job_id, m.BatchTaskCreateOptions(id="bad", command_line="false"))

    finished = wait_until(
        lambda: (j := client.get_job(job_id)).state == m.BatchJobState.COMPLETED and j
    )
    assert job_execution(finished).termination_reason == "TaskFailed"


def test_a_job_action_on_a_job_without_on_task_failure_is_refused(
    client: BatchClient, job: Callable[..., str]
) -> None:
    job_id = job(nodes=0)

    with pytest.raises(HttpResponseError) as raised:
        client.create_task(
            job_id,
            m.BatchTaskCreateOptions(
                id="t",
                command_line="true",
                exit_conditions=m.ExitConditions(default=m.ExitOptions(job_action="terminate")),
            ),
        )

    assert raised.value.status_code == 400
    assert odata_code(raised.value) == "InvalidPropertyValue"


def test_job_preparation_runs_before_tasks_and_release_when_the_job_ends(
    client: BatchClient, job: Callable[..., str]
) -> None:
    job_id = job(
        nodes=1,
        job_preparation_task=m.BatchJobPreparationTask(
            command_line="/bin/sh -c 'echo prepared > $AZ_BATCH_NODE_SHARED_DIR/p-$AZ_BATCH_JOB_ID'"
        ),
        job_release_task=m.BatchJobReleaseTask(command_line="/bin/sh -c 'echo released'"),
    )
    client.create_task(
        job_id,
        m.BatchTaskCreateOptions(
            id="uses-prep",
            command_line=(
                "/bin/sh -c 'cat $AZ_BATCH_NODE_SHARED_DIR/p-$AZ_BATCH_JOB_ID; "
                "test -d $AZ_BATCH_JOB_PREP_DIR'"
            ),
        ),
    )

    task = wait_task_completed(client, job_id, "uses-prep")
    client.begin_terminate_job(
        job_id, options=terminating("done"), polling_interval=QUICK_POLL
    ).result()
    statuses = list(client.list_job_preparation_and_release_task_status(job_id))

    assert execution(task).exit_code == 0
    assert b"".join(client.download_task_file(job_id, "uses-prep", "stdout.txt")) == b"prepared\n"
    assert len(statuses) == 1
    prep = statuses[0].job_preparation_task_execution_info
    release = statuses[0].job_release_task_execution_info
    assert prep is not None and release is not None and prep.end_time is not None
    assert prep.result == m.BatchTaskExecutionResult.SUCCESS and prep.exit_code == 0
    assert release.state == m.BatchJobReleaseTaskState.COMPLETED and release.exit_code == 0
    assert prep.end_time <= span(task)[0]


def test_a_failed_job_preparation_keeps_the_jobs_tasks_off_the_node(
    client: BatchClient, job: Callable[..., str]
) -> None:
    job_id = job(nodes=1, job_preparation_task=m.BatchJobPreparationTask(command_line="false"))
    client.create_task(job_id, m.BatchTaskCreateOptions(id="never", command_line="true"))

    status = wait_until(
        lambda: (
            (s := list(client.list_job_preparation_and_release_task_status(job_id)))
            and (prep := s[0].job_preparation_task_execution_info) is not None
            and prep.state == m.BatchJobPreparationTaskState.COMPLETED
            and s[0]
        )
    )

    assert status.job_preparation_task_execution_info.failure_info.code == "FailureExitCode"
    assert client.get_task(job_id, "never").state == m.BatchTaskState.ACTIVE
