from batch_core.routes import Route, no_route_reason, route_for


def test_zip_and_csv_files_have_routes_whatever_the_case() -> None:
    assert route_for("a/b/NC1.ZIP") is Route.ZIP
    assert route_for("postal_codes_ct.csv") is Route.CSV
    assert route_for("x.Csv") is Route.CSV


def test_other_files_have_no_route_and_the_reason_says_what_to_drop() -> None:
    assert route_for("notes.txt") is Route.NONE
    assert route_for("archive.zip.part") is Route.NONE
    assert "notes.txt" in no_route_reason("notes.txt")
    assert ".csv or .zip" in no_route_reason("notes.txt")


def test_ignored_prefixes_and_folder_markers_are_not_ours() -> None:
    assert route_for("_tmp/upload.csv", ("_tmp/",)) is Route.IGNORE
    assert route_for("folder/") is Route.IGNORE
    assert route_for("_tmpx.csv", ("_tmp/",)) is Route.CSV
