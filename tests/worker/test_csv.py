"""CSV reading on generated hostile files, read from local streams (no servers)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, replace
from typing import Any

import pytest

from tests.worker import corpus
from worker.document import FirstRows, Source, document_id
from worker.errors import RejectedInput
from worker.options import CsvOptions
from worker.rows import check_file, documents
from worker.summary import CsvTally, RejectsFile

KEY = "0123456789abcdef0123456789abcdef01234567"
SOURCE = Source("incoming", "drop/file.csv", '"0x1"')


@dataclass
class Checked:
    tally: CsvTally
    rejects: list[list[str]]
    documents: list[dict[str, Any]]


def check(data: bytes, options: CsvOptions | None = None) -> Checked:
    """Both passes over `data`, as the worker runs them."""
    options = options or CsvOptions()
    tally = CsvTally(options.group_by)
    with RejectsFile() as rejects:
        check_file(io.BytesIO(data), options, KEY, SOURCE, tally, rejects)
        rows = list(csv.reader(io.StringIO(rejects.stream().read().decode(), newline="")))
    docs = list(documents(io.BytesIO(data), options, KEY, SOURCE))
    return Checked(tally, rows[1:], docs)


def rejection(data: bytes, options: CsvOptions | None = None) -> RejectedInput:
    with pytest.raises(RejectedInput) as caught:
        check(data, options)
    return caught.value


def test_a_good_file_gives_one_document_per_row_with_numbers_and_a_point() -> None:
    result = check(corpus.good_csv())
    assert result.tally.rows == 3
    assert result.tally.rejects == 0
    first = result.documents[0]
    assert first["id"] == document_id(KEY, "row:1")
    assert first["pk"] == KEY
    assert first["row"] == 1
    assert first["values"]["postal_cd"] == "27006"
    assert first["numbers"] == {"latitude": 35.944562, "longitude": -80.437631}
    assert first["location"] == {"type": "Point", "coordinates": [-80.437631, 35.944562]}
    assert first["source"] == {"container": "incoming", "name": "drop/file.csv", "etag": '"0x1"'}


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_lf_crlf_and_cr_line_ends_read_the_same(newline: str) -> None:
    result = check(corpus.good_csv(newline=newline))
    assert [d["values"]["city_name"] for d in result.documents] == ["Advance", "Ararat", "Avon"]
    assert [d["values"]["longitude"] for d in result.documents][-1] == "-72.8545260000"


def test_a_utf8_byte_order_mark_is_not_part_of_the_first_column_name() -> None:
    result = check(b"\xef\xbb\xbf" + corpus.good_csv())
    assert result.tally.columns[0] == "id"
    assert result.documents[0]["values"]["id"] == "1"


def test_a_quoted_field_may_hold_newlines_and_commas() -> None:
    data = corpus.csv_text(
        '1,27006,US,"Advance\nNorth, the old town",NC,35.9,-80.4', "2,27007,US,Ararat,NC,36.3,-80.5"
    ).encode()
    result = check(data)
    assert result.documents[0]["values"]["city_name"] == "Advance\nNorth, the old town"
    assert result.documents[1]["row"] == 2
    assert result.tally.rejects == 0


def test_a_utf16_file_is_rejected_as_such() -> None:
    error = rejection(corpus.good_csv().decode().encode("utf-16"))
    assert error.cause == (
        "file is UTF-16 encoded (byte order mark); only UTF-8 is read unless"
        " DROPBATCH_CSV_ENCODING names the encoding"
    )


def test_bytes_that_are_not_utf8_reject_the_file_naming_the_row() -> None:
    data = corpus.csv_text(*corpus.GOOD_ROWS, "4,28001,US,Bogot\xe1,NC,35.1,-80.1").encode(
        "latin-1"
    )
    error = rejection(data)
    assert (error.where, error.cause) == (
        "row 4 (line 5)",
        "not valid utf-8 (byte 0xe1); set DROPBATCH_CSV_ENCODING if the file uses another encoding",
    )


def test_a_declared_encoding_decodes_the_file() -> None:
    data = corpus.csv_text("4,28001,US,Bogot\xe1,NC,35.1,-80.1").encode("latin-1")
    result = check(data, CsvOptions(encoding="latin-1"))
    assert result.documents[0]["values"]["city_name"] == "Bogot\xe1"


@pytest.mark.parametrize("data", [b"", b"\xef\xbb\xbf", b"\n\n\r\n"])
def test_an_empty_file_is_rejected(data: bytes) -> None:
    error = rejection(data)
    assert (error.where, error.cause) == (None, "file is empty (no header)")


def test_a_header_only_file_succeeds_with_no_rows() -> None:
    result = check((corpus.HEADER + "\n").encode())
    assert (result.tally.rows, result.tally.rejects, result.documents) == (0, 0, [])


def test_duplicate_column_names_reject_the_file() -> None:
    error = rejection(b"a,b,a\n1,2,3\n")
    assert (error.where, error.cause) == ("header", "duplicate column name 'a' (columns 1 and 3)")


def test_an_unnamed_column_rejects_the_file() -> None:
    error = rejection(b"a,,c\n1,2,3\n")
    assert (error.where, error.cause) == ("header", "column 2 has no name")


def test_more_columns_than_the_cap_reject_the_file() -> None:
    error = rejection(b"a,b,c,d,e\n", CsvOptions(max_columns=4))
    assert (error.where, error.cause) == (
        "header",
        "5 columns, more than the limit of 4 (DROPBATCH_CSV_MAX_COLUMNS)",
    )


def test_a_field_longer_than_the_cap_rejects_the_file_naming_the_row() -> None:
    data = corpus.csv_text(corpus.GOOD_ROWS[0], "2,27007,US," + "x" * 150 + ",NC,36.3,-80.5")
    error = rejection(data.encode(), CsvOptions(max_field_chars=100))
    assert (error.where, error.cause) == (
        "row 2 (line 3)",
        "a field is longer than 100 characters (DROPBATCH_CSV_MAX_FIELD_CHARS)",
    )


def test_a_row_longer_than_the_cap_rejects_the_file_naming_the_row() -> None:
    long_row = ",".join(["y" * 30] * 7)
    data = corpus.csv_text(corpus.GOOD_ROWS[0], long_row)
    error = rejection(data.encode(), CsvOptions(max_row_chars=200))
    assert (error.where, error.cause) == (
        "row 2 (line 3)",
        "longer than 200 characters (DROPBATCH_CSV_MAX_ROW_CHARS)",
    )


def test_a_quoted_newline_row_past_the_row_cap_is_caught_across_lines() -> None:
    row = '2,27007,US,"' + "\n".join(["z" * 50] * 6) + '",NC,36.3,-80.5'
    data = corpus.csv_text(corpus.GOOD_ROWS[0], row)
    error = rejection(data.encode(), CsvOptions(max_row_chars=200))
    assert error.where == "row 2 (line 3)"


def test_a_quoted_field_left_open_rejects_the_file() -> None:
    data = corpus.csv_text(corpus.GOOD_ROWS[0], '2,27007,US,"Ararat,NC,36.3,-80.5')
    error = rejection(data.encode())
    assert (error.where, error.cause) == (
        "row 2 (line 3)",
        "quoted field not closed before the end of the file",
    )


def test_ragged_rows_are_reported_never_shifted() -> None:
    rows = [
        *corpus.GOOD_ROWS,
        "4,27009,US,Belews Creek,NC,36.2239300000",
        "5,27010,US,Bethania,NC,36.18,-80.33,extra",
        *[f"{i},27011,US,Town{i},NC,36.0,-80.0" for i in range(6, 30)],
    ]
    result = check(corpus.csv_text(*rows).encode())
    assert result.tally.rows == 29
    assert result.tally.rejects == 2
    assert result.rejects == [
        [
            "4",
            "5",
            "expected 7 fields, found 6",
            "4",
            "27009",
            "US",
            "Belews Creek",
            "NC",
            "36.2239300000",
        ],
        [
            "5",
            "6",
            "expected 7 fields, found 8",
            "5",
            "27010",
            "US",
            "Bethania",
            "NC",
            "36.18",
            "'-80.33",
            "extra",
        ],
    ]
    assert [d["row"] for d in result.documents] == [1, 2, 3, *range(6, 30)]
    assert result.documents[3]["values"]["city_name"] == "Town6"


def test_bad_quoting_inside_a_row_is_that_rows_problem() -> None:
    rows = [
        *corpus.GOOD_ROWS,
        '4,27009,US,"Belews" Creek,NC,36.2,-80.1',
        *[f"{i},1,US,T,NC,1,1" for i in range(5, 15)],
    ]
    result = check(corpus.csv_text(*rows).encode())
    assert result.rejects == [["4", "5", "malformed CSV: ',' expected after '\"'"]]
    assert len(result.documents) == 13


def test_invalid_numbers_are_counted_and_kept_as_text_without_a_point() -> None:
    data = corpus.csv_text(
        "1,27006,US,A,NC,abc,-80.4",
        "2,27007,US,B,NC,91.5,-80.5",
        "3,27008,US,C,NC,35.0,-181",
        "4,27009,US,D,NC,nan,1_000",
        "5,27010,US,E,NC,,",
        "6,27011,US,F,NC, 35.5 ,-80.25",
    ).encode()
    result = check(data)
    assert result.tally.rejects == 0
    assert dict(result.tally.invalid_numbers) == {"latitude": 3, "longitude": 2}
    assert result.tally.rows_without_coordinates == 5
    assert [d.get("location") for d in result.documents][:5] == [None] * 5
    assert result.documents[0]["values"]["latitude"] == "abc"
    assert result.documents[0]["numbers"] == {"longitude": -80.4}
    assert result.documents[5]["location"] == {"type": "Point", "coordinates": [-80.25, 35.5]}


def test_extra_numeric_columns_are_parsed_when_configured() -> None:
    result = check(corpus.good_csv(), CsvOptions(numeric_columns=("postal_cd", "city_name")))
    assert result.documents[2]["numbers"]["postal_cd"] == 6001.0
    assert "city_name" not in result.documents[2]["numbers"]
    assert result.tally.invalid_numbers["city_name"] == 3


def test_too_many_bad_rows_reject_the_file_with_the_first_one() -> None:
    data = corpus.csv_text(corpus.GOOD_ROWS[0], "2,x", corpus.GOOD_ROWS[1], "4,y").encode()
    error = rejection(data)
    assert (error.where, error.cause) == (
        None,
        "2 of 4 rows are bad, more than the share 0.1 allowed by DROPBATCH_MAX_REJECT_RATIO;"
        " first: row 2 (line 3): expected 7 fields, found 2",
    )


def test_the_reject_share_is_a_setting() -> None:
    data = corpus.csv_text(corpus.GOOD_ROWS[0], "2,x", corpus.GOOD_ROWS[1], "4,y").encode()
    result = check(data, CsvOptions(max_reject_ratio=0.5))
    assert (result.tally.rejects, len(result.documents)) == (2, 2)


def test_rejects_escape_cells_that_a_spreadsheet_would_run() -> None:
    data = corpus.csv_text(
        *[f"{i},1,US,T,NC,1,1" for i in range(1, 20)],
        '20,"=HYPERLINK(""x"")",+1,-2,@SUM(A1),\tTAB,"\rCR",extra',
    ).encode()
    result = check(data)
    assert result.rejects[0][3:] == [
        "20",
        '\'=HYPERLINK("x")',
        "'+1",
        "'-2",
        "'@SUM(A1)",
        "'\tTAB",
        "'\rCR",
        "extra",
    ]


def test_an_id_column_names_documents_and_catches_duplicates_and_blanks() -> None:
    rows = [*corpus.GOOD_ROWS, "2,27012,US,Dup,NC,1,1", ",27013,US,Blank,NC,1,1"]
    rows += [f"{i},1,US,T,NC,1,1" for i in range(10, 30)]
    result = check(corpus.csv_text(*rows).encode(), CsvOptions(id_column="id"))
    assert result.documents[0]["id"] == document_id(KEY, "id:1")
    assert [r[:3] for r in result.rejects] == [
        ["4", "5", "duplicate id (first at row 2)"],
        ["5", "6", "empty id"],
    ]


def test_a_configured_id_column_missing_from_the_header_rejects_the_file() -> None:
    error = rejection(corpus.good_csv(), CsvOptions(id_column="uid"))
    assert (error.where, error.cause) == (
        "header",
        "no column 'uid' (named by DROPBATCH_ID_COLUMN)",
    )


def test_the_partition_key_can_be_a_column() -> None:
    result = check(corpus.good_csv(), CsvOptions(partition_by="state_abbrv"))
    assert [d["pk"] for d in result.documents] == ["NC", "NC", "CT"]


def test_groups_count_rows_and_average_only_valid_coordinates() -> None:
    data = corpus.csv_text(
        "1,1,US,A,NC,35.0,-80.0",
        "2,1,US,B,NC,36.0,-81.0",
        "3,1,US,C,NC,,",
        "4,1,US,D,CT,41.5,-72.5",
    ).encode()
    groups = check(data).tally.groups_json()
    assert groups == {
        "CT": {"count": 1, "coordinates": 1, "mean_latitude": 41.5, "mean_longitude": -72.5},
        "NC": {"count": 3, "coordinates": 2, "mean_latitude": 35.5, "mean_longitude": -80.5},
    }


def test_without_the_group_column_there_are_no_groups() -> None:
    assert check(b"a,b\n1,2\n").tally.groups_json() is None
    assert check(
        corpus.good_csv(), replace(CsvOptions(), group_by="city_name")
    ).tally.groups_json() == {
        "Advance": {
            "count": 1,
            "coordinates": 1,
            "mean_latitude": 35.944562,
            "mean_longitude": -80.437631,
        },
        "Ararat": {
            "count": 1,
            "coordinates": 1,
            "mean_latitude": 36.376884,
            "mean_longitude": -80.596265,
        },
        "Avon": {
            "count": 1,
            "coordinates": 1,
            "mean_latitude": 41.79163,
            "mean_longitude": -72.854526,
        },
    }


def test_a_row_whose_document_would_pass_cosmos_dbs_size_limit_is_a_bad_row() -> None:
    huge = "\u20ac" * 200_000  # three bytes each in UTF-8
    rows = [f"{i},1,US,T,NC,1,1" for i in range(1, 20)]
    rows.append(",".join(["20", huge, huge, huge, huge, "1", "1"]))
    options = CsvOptions(max_row_chars=10_000_000, max_field_chars=1_000_000)
    result = check(corpus.csv_text(*rows).encode(), options)
    assert result.rejects == [
        ["20", "21", "document would exceed Cosmos DB's limit of 2000000 bytes"]
    ]
    assert len(result.documents) == 19


def test_first_rows_of_ids_spill_to_disk_and_still_find_duplicates() -> None:
    seen = FirstRows()
    seen.SPILL_AFTER = 10
    try:
        assert [seen.setdefault(f"k{i}", i) for i in range(1, 31)] == list(range(1, 31))
        assert seen.setdefault("k3", 99) == 3
        assert seen.setdefault("k25", 100) == 25
        assert seen.setdefault("new", 101) == 101
    finally:
        seen.close()


def test_a_configured_delimiter_splits_the_fields() -> None:
    data = corpus.good_csv().decode().replace(",", "\t").encode()
    result = check(data, CsvOptions(delimiter="\t"))
    assert result.documents[2]["values"]["city_name"] == "Avon"
    assert result.documents[2]["location"] == {
        "type": "Point",
        "coordinates": [-72.854526, 41.79163],
    }
