"""`python -m worker` as a Batch node runs it: outcomes, exit codes and the blobs it writes."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.worker import corpus
from tests.worker.node import (
    INCOMING,
    LOGS,
    RESULTS,
    WorkerStack,
    result_path,
    unique,
    write_credentials,
)
from worker.contract import (
    ENTRY_METADATA,
    MAX_DROPPED_NAME_CHARS,
    REJECTS_FILE,
    STARTED_FILE,
    SUMMARY_FILE,
    child_blob_name,
    child_prefix,
    parts_folder,
    worker_log_path,
)

pytestmark = pytest.mark.stack


def test_a_csv_run_writes_a_summary_an_empty_rejects_file_and_a_task_log(
    worker_stack: WorkerStack,
) -> None:
    name = unique("good.csv")

    run = worker_stack.process("csv", name, corpus.good_csv())

    assert run.code == 0, run.stderr
    summary = run.summary()
    assert summary["schema_version"] == 1
    assert summary["file_key"] == run.key
    assert summary["source"]["container"] == INCOMING
    assert summary["source"]["name"] == name
    assert summary["route"] == "csv"
    assert (summary["outcome"], summary["reason"]) == ("succeeded", None)
    assert (summary["rows"], summary["documents"], summary["rejects"]) == (3, 3, 0)
    assert run.result(REJECTS_FILE) == b"row,line,reason,fields\r\n"
    log = run.task_log()
    assert log["exit_code"] == 0
    assert log["input"]["bytes"] == len(corpus.good_csv())
    assert log["counts"]["documents"] == 3
    assert "write" in log["timings_seconds"]
    assert "DROPBATCH_ROUTE" in log["settings_used"]
    assert log["credential_keys_present"] == [
        "AzureWebJobsStorage",
        "DROPBATCH_COSMOS_CA_CERT",
        "DROPBATCH_COSMOS_KEY",
    ]


def test_no_secret_reaches_the_task_log_or_the_output(worker_stack: WorkerStack) -> None:
    run = worker_stack.process("csv", unique("good.csv"), corpus.good_csv())

    secrets = [
        worker_stack.cosmos.key,
        worker_stack.azurite.connection_string.split("AccountKey=")[1].split(";")[0],
    ]
    log_text = json.dumps(run.task_log())
    for secret in secrets:
        assert secret not in log_text
        assert secret not in run.stdout + run.stderr


def test_a_bad_csv_is_rejected_with_exit_3_and_a_reason_naming_file_row_and_cause(
    worker_stack: WorkerStack,
) -> None:
    name = unique("ragged.csv")
    data = corpus.csv_text(corpus.GOOD_ROWS[0], "2,x,=1+1", corpus.GOOD_ROWS[1]).encode()

    run = worker_stack.process("csv", name, data)

    assert run.code == 3, run.stderr
    summary = run.summary()
    assert summary["outcome"] == "rejected"
    assert summary["reason"] == (
        f"{INCOMING}/{name}: 1 of 3 rows are bad, more than the share 0.1 allowed by"
        " DROPBATCH_MAX_REJECT_RATIO; first: row 2 (line 3): expected 7 fields, found 3"
    )
    assert summary["documents"] == 0
    rejects = list(csv.reader(io.StringIO(run.result(REJECTS_FILE).decode(), newline="")))
    assert rejects == [
        ["row", "line", "reason", "fields"],
        ["2", "3", "expected 7 fields, found 3", "2", "x", "'=1+1"],
    ]
    assert worker_stack.documents(run.key) == []
    assert run.task_log()["outcome"] == "rejected"


def test_an_empty_csv_is_rejected_with_exit_3(worker_stack: WorkerStack) -> None:
    name = unique("empty.csv")

    run = worker_stack.process("csv", name, b"")

    assert run.code == 3
    assert run.summary()["reason"] == f"{INCOMING}/{name}: file is empty (no header)"


def test_a_hostile_zip_is_rejected_with_exit_3_and_no_children(worker_stack: WorkerStack) -> None:
    name = unique("evil.zip")
    data = corpus.zip_of([("a.csv", corpus.good_csv()), ("../../evil.csv", b"x\n")])

    run = worker_stack.process("zip", name, data)

    assert run.code == 3, run.stderr
    summary = run.summary()
    assert (summary["outcome"], summary["reason"]) == (
        "rejected",
        f"{INCOMING}/{name}: entry '../../evil.csv': path traversal ('..')",
    )
    assert summary["children"] == []
    assert worker_stack.list_blobs(INCOMING, f"{parts_folder(name)}/") == []


def test_a_zip_that_is_not_a_zip_is_rejected(worker_stack: WorkerStack) -> None:
    name = unique("fake.zip")

    run = worker_stack.process("zip", name, corpus.good_csv())

    assert run.code == 3
    assert run.summary()["reason"] == (
        f"{INCOMING}/{name}: not a zip archive (no end of central directory record)"
    )


def test_a_zip_without_csv_entries_is_rejected(worker_stack: WorkerStack) -> None:
    name = unique("nothing.zip")

    run = worker_stack.process("zip", name, corpus.zip_of([("readme.txt", b"hi")]))

    assert run.code == 3
    summary = run.summary()
    assert summary["reason"] == f"{INCOMING}/{name}: the archive holds no CSV entries"
    assert summary["skipped"] == [{"entry": "readme.txt", "reason": "not a CSV file"}]


def test_a_zip_lists_skipped_entries_and_uploads_only_csv_children(
    worker_stack: WorkerStack,
) -> None:
    name = unique("mixed.zip")

    run = worker_stack.process("zip", name, corpus.mixed_zip())

    assert run.code == 0, run.stderr
    summary = run.summary()
    prefix = f"{child_prefix(name, run.key)}/"
    assert summary["children"] == [
        {"entry": "data/a.csv", "blob": prefix + "data/a.csv", "bytes": len(corpus.good_csv())},
        {
            "entry": "data/b.CSV",
            "blob": prefix + "data/b.CSV",
            "bytes": len(corpus.good_csv(newline="\r\n")),
        },
    ]
    assert [s["entry"] for s in summary["skipped"]] == [
        "docs/readme.txt",
        "__MACOSX/data/._a.csv",
        "image.png",
    ]
    assert worker_stack.list_blobs(INCOMING, prefix) == [
        prefix + "data/a.csv",
        prefix + "data/b.CSV",
    ]


def test_a_non_ascii_entry_name_is_percent_encoded_in_metadata(worker_stack: WorkerStack) -> None:
    name = unique("names.zip")

    run = worker_stack.process("zip", name, corpus.zip_of([("données/é.csv", corpus.good_csv())]))

    assert run.code == 0, run.stderr
    child = run.summary()["children"][0]
    assert child["entry"] == "données/é.csv"
    props = worker_stack.blobs.get_blob_client(INCOMING, child["blob"]).get_blob_properties()
    assert props.metadata[ENTRY_METADATA] == "donn%C3%A9es/%C3%A9.csv"


def test_rerunning_a_csv_gives_byte_identical_results_and_no_new_documents(
    worker_stack: WorkerStack,
) -> None:
    name = unique("rerun.csv")
    data = corpus.csv_text(*corpus.GOOD_ROWS, "4,x", *[f"{i},1,US,T,NC,1,1" for i in range(5, 25)])

    first = worker_stack.process("csv", name, data.encode())
    summary, rejects = first.result(SUMMARY_FILE), first.result(REJECTS_FILE)
    documents = {d["id"]: d["values"] for d in worker_stack.documents(first.key)}
    second = worker_stack.process("csv", name)

    assert (first.code, second.code) == (0, 0)
    assert second.key == first.key
    assert second.result(SUMMARY_FILE) == summary
    assert second.result(REJECTS_FILE) == rejects
    assert {d["id"]: d["values"] for d in worker_stack.documents(second.key)} == documents
    assert len(documents) == 23


def test_rerunning_a_zip_uploads_nothing_new_and_gives_an_identical_summary(
    worker_stack: WorkerStack,
) -> None:
    name = unique("rerun.zip")
    data = corpus.zip_of([("a.csv", corpus.good_csv()), ("b.csv", corpus.good_csv())])

    first = worker_stack.process("zip", name, data)
    summary = first.result(SUMMARY_FILE)
    children = worker_stack.list_blobs(INCOMING, f"{parts_folder(name)}/")
    etags = [
        worker_stack.blobs.get_blob_client(INCOMING, c).get_blob_properties().etag for c in children
    ]
    second = worker_stack.process("zip", name)

    assert (first.code, second.code) == (0, 0)
    assert second.result(SUMMARY_FILE) == summary
    assert worker_stack.list_blobs(INCOMING, f"{parts_folder(name)}/") == children
    assert [
        worker_stack.blobs.get_blob_client(INCOMING, c).get_blob_properties().etag for c in children
    ] == etags
    log = second.task_log()["counts"]
    assert (log["children_uploaded"], log["children_already_there"]) == (0, 2)


def test_reprocessing_a_replaced_file_leaves_exactly_the_new_versions_documents(
    worker_stack: WorkerStack,
) -> None:
    name = unique("replaced.csv")

    old = worker_stack.process("csv", name, corpus.good_csv())
    new = worker_stack.process("csv", name, corpus.csv_text(corpus.GOOD_ROWS[2]).encode())

    assert (old.code, new.code) == (0, 0)
    assert old.key != new.key
    remaining = worker_stack.documents_of(name)
    assert [(d["file_key"], d["values"]["city_name"]) for d in remaining] == [(new.key, "Avon")]
    assert new.task_log()["counts"]["older_version_documents_deleted"] == 3


def test_a_blob_replaced_before_the_task_ran_exits_4_and_writes_nothing(
    worker_stack: WorkerStack,
) -> None:
    name = unique("superseded.csv")
    old_etag, old_key = worker_stack.upload(name, corpus.good_csv())
    worker_stack.upload(name, corpus.good_csv(newline="\r\n"))

    proc = worker_stack.run_worker(worker_stack.task_env("csv", name, old_etag, old_key))

    assert proc.returncode == 4, proc.stderr
    assert worker_stack.documents(old_key) == []
    assert not worker_stack.exists(RESULTS, result_path(name, old_key, SUMMARY_FILE))


def test_a_blob_deleted_before_the_task_ran_exits_4(worker_stack: WorkerStack) -> None:
    name = unique("gone.csv")
    etag, key = worker_stack.upload(name, corpus.good_csv())
    worker_stack.blobs.get_blob_client(INCOMING, name).delete_blob()

    proc = worker_stack.run_worker(worker_stack.task_env("zip", name, etag, key))

    assert proc.returncode == 4, proc.stderr
    assert not worker_stack.exists(RESULTS, result_path(name, key, SUMMARY_FILE))


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"DROPBATCH_ROUTE": ""}, "DROPBATCH_ROUTE: missing (required)"),
        ({"DROPBATCH_ROUTE": "xlsx"}, "DROPBATCH_ROUTE: must be 'csv' or 'zip'"),
        ({"DROPBATCH_FILE_KEY": "not-hex"}, "DROPBATCH_FILE_KEY: must be 8 to 128 lowercase hex"),
        (
            {"DROPBATCH_BLOB_ENDPOINT": "ftp://x"},
            "DROPBATCH_BLOB_ENDPOINT: must be an http:// or https:// URL",
        ),
        (
            {"DROPBATCH_CSV_MAX_ROW_CHARS": "lots"},
            "DROPBATCH_CSV_MAX_ROW_CHARS: must be an integer",
        ),
        (
            {"DROPBATCH_MAX_REJECT_RATIO": "2"},
            "DROPBATCH_MAX_REJECT_RATIO: must be between 0 and 1",
        ),
        (
            {"DROPBATCH_CSV_ENCODING": "klingon"},
            "DROPBATCH_CSV_ENCODING: not an encoding Python knows",
        ),
    ],
)
def test_a_missing_or_malformed_setting_exits_2_naming_it(
    worker_stack: WorkerStack, change: dict[str, str], named: str
) -> None:
    name = unique("cfg.csv")
    etag, key = worker_stack.upload(name, corpus.good_csv())

    proc = worker_stack.run_worker(worker_stack.task_env("csv", name, etag, key, **change))

    assert proc.returncode == 2
    assert named in proc.stderr
    assert worker_stack.documents(key) == []


def test_a_malformed_credentials_file_exits_2_without_echoing_it(
    worker_stack: WorkerStack, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    path = write_credentials(shared, {})
    path.write_text('{"DROPBATCH_COSMOS_KEY": "s3cret-value", oops')
    name = unique("creds.csv")
    etag, key = worker_stack.upload(name, corpus.good_csv())
    env = worker_stack.task_env("csv", name, etag, key, AZ_BATCH_NODE_SHARED_DIR=str(shared))

    proc = worker_stack.run_worker(env)

    assert proc.returncode == 2
    assert "unreadable or not JSON" in proc.stderr
    assert "s3cret-value" not in proc.stderr + proc.stdout


def test_storage_unreachable_exits_75(worker_stack: WorkerStack) -> None:
    from devstack.process import free_port

    name = unique("down.csv")
    etag, key = worker_stack.upload(name, corpus.good_csv())
    env = worker_stack.task_env(
        "csv",
        name,
        etag,
        key,
        DROPBATCH_BLOB_ENDPOINT=f"http://127.0.0.1:{free_port()}/devstoreaccount1",
        DROPBATCH_SERVICE_RETRIES="0",
    )

    proc = worker_stack.run_worker(env)

    assert proc.returncode == 75, proc.stderr
    assert "storage unreachable" in proc.stderr


def test_cosmos_unreachable_exits_75_and_writes_no_summary(worker_stack: WorkerStack) -> None:
    from devstack.process import free_port

    name = unique("nocosmos.csv")
    etag, key = worker_stack.upload(name, corpus.good_csv())
    env = worker_stack.task_env(
        "csv",
        name,
        etag,
        key,
        DROPBATCH_COSMOS_ENDPOINT=f"https://127.0.0.1:{free_port()}/",
        DROPBATCH_SERVICE_RETRIES="0",
    )

    proc = worker_stack.run_worker(env)

    assert proc.returncode == 75, proc.stderr
    assert not worker_stack.exists(RESULTS, result_path(name, key, SUMMARY_FILE))
    log = json.loads(worker_stack.read(LOGS, worker_log_path(name, key)))
    assert log["exit_code"] == 75
    assert log["error"].startswith("WorkerTransientError")


def test_an_input_larger_than_the_cap_is_rejected_before_download(
    worker_stack: WorkerStack,
) -> None:
    name = unique("huge.csv")

    run = worker_stack.process("csv", name, corpus.good_csv(), DROPBATCH_MAX_INPUT_BYTES="100")

    assert run.code == 3
    assert run.summary()["reason"] == (
        f"{INCOMING}/{name}: file is {len(corpus.good_csv())} bytes, more than the limit of 100"
        " bytes (DROPBATCH_MAX_INPUT_BYTES)"
    )


def test_an_entry_whose_child_blob_name_would_be_too_long_is_refused(
    worker_stack: WorkerStack,
) -> None:
    # Under storage's 1,024 characters, but too long for the child's own member logs.
    name = unique("z" * 600 + ".zip")
    short = child_blob_name(name, "0" * 64, "")
    entry = "d" * (MAX_DROPPED_NAME_CHARS - len(short) - len(".csv") + 1) + ".csv"

    run = worker_stack.process("zip", name, corpus.zip_of([(entry, corpus.good_csv())]))

    assert run.code == 3
    assert run.summary()["reason"] == (
        f"{INCOMING}/{name}: entry {entry!r}: child blob name would pass"
        f" {MAX_DROPPED_NAME_CHARS} characters, the longest a file's results and logs can be"
        " named under"
    )
    assert len(short + entry) < 1024


def test_without_a_credentials_file_a_plain_http_endpoint_is_a_configuration_error(
    worker_stack: WorkerStack, tmp_path: Path
) -> None:
    name = unique("nocreds.csv")
    etag, key = worker_stack.upload(name, corpus.good_csv())
    env = worker_stack.task_env(
        "csv", name, etag, key, AZ_BATCH_NODE_SHARED_DIR=str(tmp_path / "empty-shared")
    )

    proc = worker_stack.run_worker(env)

    assert proc.returncode == 2
    assert "DROPBATCH_BLOB_ENDPOINT: the managed identity needs an https:// endpoint" in proc.stderr


def test_an_empty_csv_entry_becomes_an_empty_child_that_its_own_task_rejects(
    worker_stack: WorkerStack,
) -> None:
    name = unique("withempty.zip")

    run = worker_stack.process(
        "zip", name, corpus.zip_of([("empty.csv", b""), ("a.csv", corpus.good_csv())])
    )

    assert run.code == 0, run.stderr
    children = {c["entry"]: c for c in run.summary()["children"]}
    assert children["empty.csv"]["bytes"] == 0
    assert worker_stack.read(INCOMING, children["empty.csv"]["blob"]) == b""
    child = worker_stack.process("csv", children["empty.csv"]["blob"])
    assert child.code == 3
    assert child.summary()["reason"].endswith("empty.csv: file is empty (no header)")


def test_a_wrong_storage_key_is_a_configuration_error(
    worker_stack: WorkerStack, tmp_path: Path
) -> None:
    name = unique("wrongkey.csv")
    etag, key = worker_stack.upload(name, corpus.good_csv())
    wrong = worker_stack.azurite.connection_string.replace("AccountKey=", "AccountKey=AAAA")
    shared = tmp_path / "shared"
    write_credentials(shared, {"AzureWebJobsStorage": wrong})
    env = worker_stack.task_env("zip", name, etag, key, AZ_BATCH_NODE_SHARED_DIR=str(shared))

    proc = worker_stack.run_worker(env)

    assert proc.returncode == 2, proc.stderr
    assert "storage credential:" in proc.stderr


def test_a_version_that_died_after_writing_is_cleaned_by_the_next_one(
    worker_stack: WorkerStack,
) -> None:
    # Given a version whose task wrote its documents but died before its summary
    name = unique("died.csv")
    old = worker_stack.process("csv", name, corpus.good_csv())
    worker_stack.blobs.get_blob_client(
        RESULTS, result_path(name, old.key, SUMMARY_FILE)
    ).delete_blob()
    assert worker_stack.exists(RESULTS, result_path(name, old.key, STARTED_FILE))

    # When the file is replaced and processed
    new = worker_stack.process("csv", name, corpus.csv_text(corpus.GOOD_ROWS[2]).encode())

    # Then only the new version's documents remain
    assert new.code == 0
    assert {d["file_key"] for d in worker_stack.documents_of(name)} == {new.key}


def test_a_replaced_zip_leaves_only_the_new_versions_rows_for_each_entry(
    worker_stack: WorkerStack,
) -> None:
    # Given a zip whose CSV entry was extracted and processed
    name = unique("again.zip")
    first = worker_stack.process("zip", name, corpus.zip_of([("a.csv", corpus.good_csv())]))
    (old_child,) = worker_stack.list_blobs(INCOMING, f"{child_prefix(name, first.key)}/")
    old = worker_stack.process("csv", old_child)

    # When the zip is replaced by a version with fewer rows, and its entry processed
    smaller = corpus.zip_of([("a.csv", corpus.csv_text(corpus.GOOD_ROWS[2]).encode())])
    second = worker_stack.process("zip", name, smaller)
    (new_child,) = worker_stack.list_blobs(INCOMING, f"{child_prefix(name, second.key)}/")
    new = worker_stack.process("csv", new_child)

    # Then the entry's documents are the new version's only
    assert (first.code, old.code, second.code, new.code) == (0, 0, 0, 0)
    assert worker_stack.documents(old.key) == []
    assert len(worker_stack.documents(new.key)) == 1
