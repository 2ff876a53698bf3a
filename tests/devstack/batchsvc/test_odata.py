"""The $filter language of Batch lists: comparisons, and/or/not, parentheses, functions."""

from __future__ import annotations

import pytest

from devstack.batchsvc.errors import BadRequest
from devstack.batchsvc.odata import ListQuery, page, parse_filter

DOCS = [
    {
        "id": "files-1",
        "state": "active",
        "creationTime": "2026-11-22T06:00:00.000000Z",
        "priority": 5,
        "executionInfo": {"exitCode": 3},
    },
    {
        "id": "files-2",
        "state": "completed",
        "creationTime": "2026-11-20T06:00:00.000000Z",
        "priority": 0,
        "executionInfo": {"exitCode": 0},
    },
    {
        "id": "other",
        "state": "Completed",
        "creationTime": "2026-11-21T06:00:00.000000Z",
        "priority": -1,
    },
]


def matching(expression: str) -> list[str]:
    predicate = parse_filter(expression)
    assert predicate is not None
    return [str(d["id"]) for d in DOCS if predicate(d)]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("state eq 'completed'", ["files-2", "other"]),
        ("state ne 'completed'", ["files-1"]),
        ("priority gt 0", ["files-1"]),
        ("priority ge 0", ["files-1", "files-2"]),
        ("priority lt 0", ["other"]),
        ("priority le 0", ["files-2", "other"]),
        ("executionInfo/exitCode eq 0", ["files-2"]),
        ("state eq 'completed' and priority eq 0", ["files-2"]),
        ("priority eq 5 or id eq 'other'", ["files-1", "other"]),
        ("not (state eq 'completed')", ["files-1"]),
        ("(priority eq 5 or priority eq 0) and not startswith(id, 'files-2')", ["files-1"]),
        ("creationTime ge datetime'2026-11-21T00:00:00Z'", ["files-1", "other"]),
        ("creationTime lt DateTime'2026-11-21T00:00:00Z'", ["files-2"]),
        ("startswith(id, 'files')", ["files-1", "files-2"]),
        ("id eq 'it''s'", []),
    ],
)
def test_a_filter_selects_the_documents_it_describes(expression: str, expected: list[str]) -> None:
    assert matching(expression) == expected


@pytest.mark.parametrize(
    "expression", ["state eq", "state is 'a'", "(state eq 'a'", "nosuch(id, 'a')", "'a' eq id"]
)
def test_a_malformed_filter_is_an_invalid_query_parameter(expression: str) -> None:
    with pytest.raises(BadRequest) as raised:
        parse_filter(expression)

    assert raised.value.code == "InvalidQueryParameterValue"


def test_pages_follow_the_skip_token_until_the_end() -> None:
    items = [(i, {"id": f"t{i}", "state": "active"}) for i in range(7)]
    seen: list[str] = []
    query = ListQuery.from_params({"maxresults": "3", "$select": "id"})

    while True:
        body = page(items, query, "http://x/jobs/j/tasks")
        seen.extend(d["id"] for d in body["value"])
        assert all(set(d) == {"id"} for d in body["value"])
        link = body.get("odata.nextLink")
        if not link:
            break
        query = ListQuery.from_params({"$skiptoken": link.split("$skiptoken=")[1]})

    assert seen == [f"t{i}" for i in range(7)]
