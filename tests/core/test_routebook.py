"""The routes file: what a valid file means, which route a blob takes, how placeholders
render, and that no file at all means today's routing."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from pathlib import Path

import pytest

from batch_core.errors import SettingError, UnsafeValueError
from batch_core.routebook import (
    Routebook,
    builtin_routebook,
    csv_options_from,
    is_ignored,
    load_routes,
    load_routes_from_env,
    parse_routes,
    render,
    worker_env,
)
from batch_core.routebook.values import parse_duration, parse_tolerance

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "ROUTES.md"


def toml_blocks() -> list[str]:
    return re.findall(r"```toml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)


def routes(*globs_by_name: tuple[str, list[str]]) -> str:
    text = "version = 1\n"
    for name, globs in globs_by_name:
        text += f'\n[[route]]\nname = "{name}"\nmatch = {globs!r}\nkind = "csv"\n'.replace("'", '"')
    return text


def test_every_toml_example_in_the_reference_is_a_valid_routes_file() -> None:
    blocks = toml_blocks()
    assert blocks, "docs/ROUTES.md has no ```toml blocks"
    for block in blocks:
        parse_routes(block, "docs example")


def test_the_reference_example_means_what_its_comments_say() -> None:
    book = parse_routes(toml_blocks()[0])
    assert [r.name for r in book.routes] == ["zips", "postal-csv", "hexgrid", "sum-of-powers"]
    assert sorted(book.pools) == ["bigmem", "default"]
    hexgrid = book.route("hexgrid")
    assert book.pool_alias(hexgrid) == "bigmem"
    assert hexgrid.exit_codes.reject == [3] and hexgrid.exit_codes.no_retry == [2, 137]
    assert hexgrid.task is not None and hexgrid.task.max_wall_clock == dt.timedelta(hours=2)
    assert book.defaults.backoff == dt.timedelta(seconds=30)
    assert book.pools["bigmem"].delete_when_idle == dt.timedelta(hours=2)
    sweep = book.route("sum-of-powers")
    assert sweep.fanout is not None and sweep.fanout.tolerate.allowed(500) == 0
    assert sweep.merge is not None and sweep.merge.outputs[0].upload == "task_success"
    postal = book.route("postal-csv")
    assert postal.csv is not None and postal.csv.group_by == "state_abbrv"


def matched(book: Routebook, name: str) -> str | None:
    """The name of the route the blob name matches, if any."""
    route = book.match(name)
    return route.name if route else None


def test_star_stays_in_one_folder_and_double_star_crosses_folders() -> None:
    book = parse_routes(
        routes(("top", ["reports/*.csv"]), ("deep", ["reports/**/*.csv"]), ("any", ["**.tsv"]))
    )
    assert matched(book, "reports/a.csv") == "top"
    assert matched(book, "reports/2024/01/a.csv") == "deep"
    assert book.match("reports/a.tsv") is not None
    assert book.match("x/y/z.tsv") is not None and book.match("z.tsv") is not None
    assert book.match("other/a.csv") is None


def test_double_star_slash_also_matches_no_folder_and_question_mark_is_one_character() -> None:
    book = parse_routes(routes(("deep", ["a/**/b.csv"]), ("q", ["day-?.csv"])))
    assert book.match("a/b.csv") is not None
    assert book.match("a/x/y/b.csv") is not None
    assert book.match("day-1.csv") is not None
    assert book.match("day-12.csv") is None and book.match("day-/.csv") is None


def test_matching_ignores_case_and_the_first_route_in_file_order_wins() -> None:
    book = parse_routes(routes(("special", ["vip/*.csv"]), ("general", ["**.csv"])))
    assert matched(book, "VIP/Client.CSV") == "special"
    assert matched(book, "vip/deeper/x.csv") == "general"
    reordered = parse_routes(routes(("general", ["**.csv"]), ("special", ["vip/*.csv"])))
    assert matched(reordered, "vip/client.csv") == "general"


def test_a_name_no_route_matches_is_rejected_with_the_globs_to_use() -> None:
    book = parse_routes(routes(("a", ["in/*.csv"])), "routes.toml")
    assert book.match("notes.txt") is None
    assert book.no_route_reason("notes.txt") == (
        "notes.txt: no route in routes.toml matches this name; drop a file matching in/*.csv"
    )


# Name → what the built-in routes do with it: its route's kind, "none" (rejected), or
# "ignore" (not ours), with "_tmp/" ignored.
NAMES = {
    "a/b/NC1.ZIP": "zip",
    "postal_codes_ct.csv": "csv",
    "x.Csv": "csv",
    "notes.txt": "none",
    "archive.zip.part": "none",
    "dir.zip/inner.txt": "none",
    ".csv": "csv",
    "deep/er/than/that/file.zip": "zip",
    "folder/": "ignore",
    "_tmp/upload.csv": "ignore",
    "_tmpx.csv": "csv",
    "z.parts/abc/child.csv": "csv",
    "no-extension": "none",
    "a.csv.gz": "none",
}


@pytest.mark.parametrize(("name", "expected"), sorted(NAMES.items()))
def test_without_a_routes_file_every_name_takes_the_built_in_route(
    name: str, expected: str
) -> None:
    book = load_routes(None)
    route = book.match(name)
    got = "ignore" if is_ignored(name, ("_tmp/",)) else route.kind if route else "none"
    assert got == expected
    if expected == "none":
        assert book.no_route_reason(name) == (
            f"{name}: no route for this file type; drop .csv or .zip files"
        )


def test_the_built_in_routes_take_their_csv_and_zip_options_from_the_app_settings() -> None:
    # Settings.worker_settings: the app's DROPBATCH_WORKER_* settings under the worker's names
    worker = {
        "DROPBATCH_GROUP_BY": "county",
        "DROPBATCH_NUMERIC_COLUMNS": "pop, area",
        "DROPBATCH_CSV_DELIMITER": "\t",
        "DROPBATCH_MAX_REJECT_RATIO": "0.25",
        "DROPBATCH_ZIP_MAX_ENTRIES": "50",
    }
    book = builtin_routebook(worker)
    csv = book.route("csv").csv
    assert csv is not None
    assert (csv.group_by, csv.numeric_columns, csv.delimiter) == ("county", ["pop", "area"], "\t")
    assert csv.max_reject_ratio == 0.25 and csv.latitude is None
    assert worker_env(csv) == {
        "DROPBATCH_GROUP_BY": "county",
        "DROPBATCH_NUMERIC_COLUMNS": "pop,area",
        "DROPBATCH_CSV_DELIMITER": "\t",
        "DROPBATCH_MAX_REJECT_RATIO": "0.25",
    }
    zip_options = book.route("zip").zip
    assert zip_options is not None and zip_options.max_entries == 50
    assert list(book.pools) == ["default"] and book.source is None


def test_a_malformed_app_setting_for_the_built_in_routes_is_named() -> None:
    with pytest.raises(SettingError) as caught:
        csv_options_from({"DROPBATCH_CSV_MAX_COLUMNS": "many"})
    assert str(caught.value) == (
        "setting DROPBATCH_WORKER_CSV_MAX_COLUMNS: 'many' is not a valid max_columns"
    )


def test_durations_and_tolerances() -> None:
    assert parse_duration("30s") == dt.timedelta(seconds=30)
    assert parse_duration("15m") == dt.timedelta(minutes=15)
    assert parse_duration("2h30m") == dt.timedelta(hours=2, minutes=30)
    assert parse_duration("1d") == dt.timedelta(days=1)
    for bad in ("", "1", "1 h", "1w", "-1s", 30):
        with pytest.raises(ValueError):
            parse_duration(bad)
    assert parse_tolerance(3).allowed(1000) == 3
    assert parse_tolerance("5%").allowed(999) == 49
    for bad_tolerance in (-1, "101%", "5 %", True):
        with pytest.raises(ValueError):
            parse_tolerance(bad_tolerance)


def test_render_fills_placeholders_and_keeps_escaped_braces() -> None:
    values = {"base": "a.json", "var.mode": "fast", "item.seed": "7"}
    assert render("awk '{{print $1}}' {base} --{var.mode}", values) == (
        "awk '{print $1}' a.json --fast"
    )
    assert render("{item.seed}", values, command_line=True) == "7"


def test_render_rejects_an_unsafe_uploaded_value_in_a_command_line_only() -> None:
    values = {"base": "x'; rm -rf ~; '.json", "row.city": "São Paulo", "var.note": "a b"}
    with pytest.raises(UnsafeValueError) as caught:
        render('run "{base}"', values, command_line=True)
    assert str(caught.value) == (
        "{base} is \"x'; rm -rf ~; '.json\", which may not go into a command line "
        "(allowed: letters, digits and . _ / -)"
    )
    with pytest.raises(UnsafeValueError):
        render("--city {row.city}", values, command_line=True)
    # Environment values and paths are passed as they are; the route's own vars are trusted.
    assert render("{row.city}", values) == "São Paulo"
    assert render("--note '{var.note}'", values, command_line=True) == "--note 'a b'"


def test_routes_toml_next_to_the_app_is_used_and_the_setting_names_another(
    tmp_path: Path,
) -> None:
    assert load_routes_from_env({}, tmp_path).source is None
    (tmp_path / "routes.toml").write_text(routes(("here", ["*.csv"])), encoding="utf-8")
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "other.toml").write_text(routes(("there", ["*.csv"])), encoding="utf-8")
    assert load_routes_from_env({}, tmp_path).routes[0].name == "here"
    other = load_routes_from_env({"DROPBATCH_ROUTES_FILE": "conf/other.toml"}, tmp_path)
    assert other.routes[0].name == "there" and other.source == "conf/other.toml"
    with pytest.raises(SettingError) as caught:
        load_routes_from_env({"DROPBATCH_ROUTES_FILE": "gone.toml"}, tmp_path)
    assert str(caught.value) == "setting DROPBATCH_ROUTES_FILE: gone.toml: file not found"


def dropbatch(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "batch_core.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_routes_check_needs_no_other_settings(tmp_path: Path) -> None:
    (tmp_path / "routes.toml").write_text(toml_blocks()[0], encoding="utf-8")
    (tmp_path / "bad.toml").write_text("version = 1\n[[route]]\nname = 3\n", encoding="utf-8")

    good = dropbatch(tmp_path, "routes", "check")
    bad = dropbatch(tmp_path, "routes", "check", "bad.toml")

    assert (good.returncode, good.stdout) == (0, "routes.toml: 4 routes, 2 pools OK\n")
    assert bad.returncode == 1
    assert bad.stderr.splitlines() == [
        "dropbatch: settings from the environment",
        "setting DROPBATCH_ROUTES_FILE: bad.toml:2 route #1: name: expected a string",
    ]


def test_routes_check_without_a_file_reports_the_built_in_routes(tmp_path: Path) -> None:
    result = dropbatch(tmp_path, "routes", "check")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "no routes.toml here: the built-in routes apply (2 routes, 1 pool OK)\n"


def test_render_and_parse_reject_unbalanced_braces() -> None:
    for template, message in (
        ("run {base", "'{base' is not a placeholder; write {{ and }} for literal braces"),
        ("run }", "unbalanced '}'; write }} for a literal brace"),
    ):
        with pytest.raises(ValueError) as caught:
            render(template, {"base": "a"})
        assert str(caught.value) == message


def test_pool_default_is_implicit_only_when_a_route_uses_it() -> None:
    own = 'version = 1\n[pool.big]\nid = "big"\ninstall_worker = true\n'
    only_big = parse_routes(
        own + '[[route]]\nname = "a"\nmatch = ["*"]\nkind = "csv"\npool = "big"\n'
    )
    with_default = parse_routes(own + '[[route]]\nname = "a"\nmatch = ["*"]\nkind = "csv"\n')
    assert list(only_big.pools) == ["big"]
    assert sorted(with_default.pools) == ["big", "default"]
    assert with_default.pool_of(with_default.route("a")).id is None  # the app's pool
