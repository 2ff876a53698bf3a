import re

import pytest

from batch_core.keys import file_key, normalize_etag, task_attempt, task_id

TASK_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def test_the_file_key_is_stable_for_one_version_and_new_for_a_new_etag() -> None:
    a = file_key("acct", "incoming", "data/a.csv", "0x8DC1")
    assert a == file_key("acct", "incoming", "data/a.csv", '"0x8DC1"')
    assert a != file_key("acct", "incoming", "data/a.csv", "0x8DC2")
    assert a != file_key("other", "incoming", "data/a.csv", "0x8DC1")
    assert re.fullmatch(r"[0-9a-f]{40}", a)


def test_etags_are_compared_without_their_quotes() -> None:
    assert normalize_etag('"0x1"') == normalize_etag("0x1") == "0x1"


def test_task_ids_are_valid_batch_ids_with_a_readable_prefix() -> None:
    key = file_key("acct", "incoming", "x", "1")
    tid = task_id("folder/postal codes (ct).csv", key)
    assert TASK_ID.match(tid)
    assert tid.startswith("postal_codes_ct_csv-")
    assert key[:32] in tid


def test_task_ids_stay_within_64_characters_for_long_and_foreign_names() -> None:
    key = file_key("acct", "incoming", "x", "1")
    for name in ["a" * 500 + ".csv", "données/été 2026.csv", "日本語.csv", "....csv", "/"]:
        for attempt in (1, 2, 17):
            tid = task_id(name, key, attempt)
            assert TASK_ID.match(tid), (name, tid)


def test_each_attempt_has_its_own_task_id() -> None:
    key = file_key("acct", "incoming", "x", "1")
    ids = {task_id("a.csv", key, n) for n in (1, 2, 3)}
    assert len(ids) == 3
    assert task_id("a.csv", key, 1) == task_id("a.csv", key)


@pytest.mark.parametrize("name", ["in/a.csv", "ünïcødé/" + "x" * 200 + ".csv", "!!!.csv"])
@pytest.mark.parametrize("attempt", [1, 2, 17])
def test_a_task_id_reads_back_as_its_key_and_attempt(name: str, attempt: int) -> None:
    key = "0123456789abcdef" * 2 + "01234567"

    assert task_attempt(task_id(name, key, attempt)) == (key[:32], attempt)


def test_a_task_id_the_pipeline_did_not_make_reads_as_none() -> None:
    assert task_attempt("merge") is None
    assert task_attempt("someone-elses-task") is None
