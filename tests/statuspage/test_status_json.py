"""status.json and the page over real HTTP from the Functions host on the live stack: the
runs `dropbatch status --json` prints, filtered and paged; nothing without the key."""

from __future__ import annotations

import datetime as dt

import pytest

from batch_core.clock import utcnow
from batch_core.run import SCHEMA_VERSION
from batch_core.states import RunState
from tests.statuspage.conftest import Site

pytestmark = pytest.mark.stack


def names(answer_runs: list[dict[str, object]]) -> list[str]:
    return [str(r["name"]).split("/", 1)[1] for r in answer_runs]


def test_status_json_filters_by_state_route_and_name(site: Site) -> None:
    # Given runs of every kind written into the ledger
    now = utcnow()
    site.write_run("a.csv", RunState.SUCCEEDED, updated_at=now - dt.timedelta(seconds=3))
    site.write_run("b.csv", RunState.FAILED, "worker crashed", updated_at=now)
    site.write_run("c.zip", RunState.SUCCEEDED, route="zip", updated_at=now)
    site.write_run("Notes.TXT", RunState.REJECTED, "no route", route="none", updated_at=now)

    # When an operator asks with each filter
    every = site.get("status.json", q=site.prefix).json()["runs"]
    failed = site.get("status.json", q=site.prefix, state="failed").json()["runs"]
    zips = site.get("status.json", q=site.prefix, route="zip").json()["runs"]
    notes = site.get("status.json", q=f"{site.prefix}/notes").json()["runs"]  # any case

    # Then each answer holds what it asked for, as run documents, newest first
    assert sorted(names(every)) == ["Notes.TXT", "a.csv", "b.csv", "c.zip"]
    assert names(every)[-1] == "a.csv"
    assert names(failed) == ["b.csv"] and failed[0]["reason"] == "worker crashed"
    assert failed[0]["schema_version"] == SCHEMA_VERSION and failed[0]["state"] == "failed"
    assert names(zips) == ["c.zip"]
    assert names(notes) == ["Notes.TXT"]


def test_status_json_pages_through_every_run_once_even_when_they_share_a_moment(
    site: Site,
) -> None:
    # Given 7 runs, 5 of them updated at the very same moment
    now = utcnow()
    for i in range(5):
        site.write_run(f"same-{i}.csv", RunState.SUCCEEDED, updated_at=now)
    site.write_run("older.csv", RunState.SUCCEEDED, updated_at=now - dt.timedelta(minutes=1))
    site.write_run("newer.csv", RunState.SUCCEEDED, updated_at=now + dt.timedelta(seconds=1))

    # When they are read 2 at a time
    seen: list[str] = []
    pages = 0
    token: str | None = None
    while True:
        params = {"q": site.prefix, "limit": "2", **({"continuation": token} if token else {})}
        answer = site.get("status.json", params=params)
        assert answer.status == 200, answer.body
        body = answer.json()
        seen += names(body["runs"])
        pages += 1
        token = body["continuation"]
        if token is None:
            break
        assert pages < 10, "paging does not end"

    # Then every run came exactly once, newest first
    assert len(seen) == 7 and len(set(seen)) == 7
    assert seen[0] == "newer.csv" and seen[-1] == "older.csv"
    assert pages == 4


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"state": "exploded"}, "state"),
        ({"route": "Not A Route!"}, "route"),
        ({"limit": "0"}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"continuation": "not-a-token"}, "continuation"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_a_bad_parameter_gets_400_naming_it(
    site: Site, params: dict[str, str], parameter: str
) -> None:
    answer = site.get("status.json", params=params)

    assert answer.status == 400
    assert answer.json()["parameter"] == parameter
    assert parameter in answer.json()["error"]


@pytest.mark.parametrize("path", ["status", "status.json"])
def test_without_the_function_key_the_page_and_the_api_answer_401(site: Site, path: str) -> None:
    assert site.get(path, key=False).status == 401
    assert site.get(path, key=False, code="wrong-key").status == 401


def test_the_page_is_html_with_a_content_security_policy(site: Site) -> None:
    page = site.get("status")

    assert page.status == 200
    assert page.headers["Content-Type"].startswith("text/html")
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "default-src 'none'" in policy
    assert b"<script>" not in page.body  # no inline script: data travels as JSON


def test_static_files_are_served_and_nothing_else_is(site: Site) -> None:
    script = site.get("static/uPlot.iife.min.js", key=False)
    style = site.get("static/status.css", key=False)

    assert script.status == 200 and script.headers["Content-Type"].startswith("text/javascript")
    assert script.body.startswith(b"/*! https://github.com/leeoniya/uPlot (v1.6.32) */")
    assert style.status == 200 and style.headers["Content-Type"].startswith("text/css")
    assert site.get("static/README.md", key=False).status == 404
    assert site.get("static/..%2Frender.py", key=False).status == 404
    assert site.get("static/nothing.js", key=False).status == 404
