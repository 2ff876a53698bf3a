"""The built-in routes (no routes file): `*.zip` → zip, `*.csv` → csv, anything else
rejected with a reason that says what to drop; ignored prefixes and folder markers are not
ours."""

from batch_core.routebook import builtin_routebook, is_ignored

BOOK = builtin_routebook()


def kind(name: str) -> str | None:
    route = BOOK.match(name)
    return route.kind if route else None


def test_zip_and_csv_files_have_routes_whatever_the_case() -> None:
    assert kind("a/b/NC1.ZIP") == "zip"
    assert kind("postal_codes_ct.csv") == "csv"
    assert kind("x.Csv") == "csv"


def test_other_files_have_no_route_and_the_reason_says_what_to_drop() -> None:
    assert kind("notes.txt") is None
    assert kind("archive.zip.part") is None
    assert BOOK.no_route_reason("notes.txt") == (
        "notes.txt: no route for this file type; drop .csv or .zip files"
    )


def test_ignored_prefixes_and_folder_markers_are_not_ours() -> None:
    assert is_ignored("_tmp/upload.csv", ("_tmp/",))
    assert is_ignored("folder/")
    assert not is_ignored("_tmpx.csv", ("_tmp/",))
    assert kind("_tmpx.csv") == "csv"
