"""Hostile input beyond the corpus of test_csv and test_archive: files that are not text,
formula cells in every column of the rejects file, zip entries that collide once a file
system folds their names (no servers)."""

from __future__ import annotations

import csv
import io
import unicodedata
from pathlib import Path

import pytest

from tests.worker import corpus
from tests.worker.test_archive import open_archive, rejection
from tests.worker.test_csv import check
from tests.worker.test_csv import rejection as csv_rejection
from worker.summary import RejectsFile, escape_cell
from worker.table import BadRow

NOT_UTF8 = "; set DROPBATCH_CSV_ENCODING if the file uses another encoding"


@pytest.mark.parametrize(
    ("data", "where", "cause"),
    [
        (
            corpus.csv_text("1,27006,US,Adv\x00ance,NC,1,1").encode(),
            "row 1 (line 2)",
            "a NUL byte (0x00) at character 15 of line 2: the file is binary, not CSV text",
        ),
        (
            b"id\x00,postal_cd\n1,2\n",
            "header",
            "a NUL byte (0x00) at character 3 of line 1: the file is binary, not CSV text",
        ),
        (
            bytes(range(256)),
            "header",
            "a NUL byte (0x00) at character 1 of line 1: the file is binary, not CSV text",
        ),
        (
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
            "header",
            "not valid utf-8 (byte 0x89)" + NOT_UTF8,
        ),
        (b"\x1f\x8b\x08\x00\x00\x00\x00\x00", "header", "not valid utf-8 (byte 0x8b)" + NOT_UTF8),
        (  # an overlong encoding of "/"
            corpus.csv_text("1,\xc0\xaf").encode("latin-1"),
            "row 1 (line 2)",
            "not valid utf-8 (byte 0xc0)" + NOT_UTF8,
        ),
        (  # a UTF-16 surrogate encoded as UTF-8
            corpus.good_csv() + b"4,\xed\xa0\x80,US,X,NC,1,1\n",
            "row 4 (line 5)",
            "not valid utf-8 (byte 0xed)" + NOT_UTF8,
        ),
        (  # a sequence cut short by the end of the file
            corpus.good_csv() + b"4,ab\xe2\x82",
            "row 4 (line 5)",
            "not valid utf-8 (byte 0xe2)" + NOT_UTF8,
        ),
    ],
    ids=["nul-in-row", "nul-in-header", "all-bytes", "png", "gzip", "overlong", "surrogate", "cut"],
)
def test_a_csv_that_is_not_text_is_rejected_naming_the_row_and_the_byte(
    data: bytes, where: str, cause: str
) -> None:
    error = csv_rejection(data)
    assert (error.where, error.cause) == (where, cause)


def test_a_nul_byte_rejects_the_file_even_among_many_good_rows() -> None:
    # One bad row in a thousand would be within the reject share: a NUL is not a bad row,
    # it says the file is not text at all.
    rows = [f"{i},27006,US,Advance,NC,35.9,-80.4" for i in range(1, 1000)]
    data = corpus.csv_text(*rows, "1000,27006,US,\x00,NC,35.9,-80.4").encode()
    error = csv_rejection(data)
    assert error.where == "row 1000 (line 1001)"
    assert "NUL byte" in error.cause


FORMULA_STARTS = ["=", "+", "-", "@", "\t", "\r"]


@pytest.mark.parametrize("start", FORMULA_STARTS, ids=["eq", "plus", "minus", "at", "tab", "cr"])
def test_every_cell_of_the_rejects_file_is_escaped_whatever_column_it_is_in(start: str) -> None:
    # Given a row with a formula start in every field, and a reason that starts with one
    bad = BadRow(7, 9, f"{start}reason", tuple(f"{start}cmd|' /C calc'!A{i}" for i in range(3)))

    # When the rejects file is written
    with RejectsFile() as rejects:
        rejects.add(bad)
        text = rejects.stream().read().decode()

    # Then a spreadsheet opening it sees text in every cell, never a formula
    header, row = list(csv.reader(io.StringIO(text, newline="")))
    assert header == ["row", "line", "reason", "fields"]
    assert row[:2] == ["7", "9"]
    assert all(cell.startswith("'" + start) for cell in row[2:]), row


def test_rejects_of_a_real_file_keep_formula_cells_escaped() -> None:
    data = corpus.csv_text(
        *corpus.GOOD_ROWS * 4, '13,=1+1,"+SUM(A1)",-3,@x,"\tT","\rC",extra'
    ).encode()
    result = check(data)
    assert len(result.rejects) == 1
    cells = result.rejects[0][3:]
    assert cells == ["13", "'=1+1", "'+SUM(A1)", "'-3", "'@x", "'\tT", "'\rC", "extra"]


def test_cells_that_merely_contain_formula_characters_are_left_as_they_are() -> None:
    assert [escape_cell(c) for c in ("a=b", "1+1", " x", "", "'=x")] == [
        "a=b",
        "1+1",
        " x",
        "",
        "'=x",
    ]


NFC = unicodedata.normalize("NFC", "caf\u00e9.csv")
NFD = unicodedata.normalize("NFD", "caf\u00e9.csv")


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("A.csv", "a.csv"),
        ("Data/x.csv", "data/x.csv"),
        (NFC, NFD),
        ("STRASSE.csv", "stra\u00dfe.csv"),
        ("x/a.csv", "X/A.CSV"),
    ],
    ids=["case", "folder-case", "nfc-nfd", "casefold", "both"],
)
def test_zip_entries_that_collide_once_names_are_folded_are_refused_naming_both(
    tmp_path: Path, first: str, second: str
) -> None:
    data = corpus.zip_of([(first, corpus.good_csv()), (second, corpus.good_csv())])
    error = rejection(tmp_path, data)
    assert error.where == f"entry {second!r}"
    assert error.cause == (
        f"entries {first!r} and {second!r} differ only in letter case or Unicode"
        " normalization; they would overwrite each other when unpacked"
    )


def test_a_traversal_that_would_land_on_another_entry_is_refused_as_traversal(
    tmp_path: Path,
) -> None:
    data = corpus.zip_of([("a.csv", corpus.good_csv()), ("x/../a.csv", corpus.good_csv())])
    error = rejection(tmp_path, data)
    assert (error.where, error.cause) == ("entry 'x/../a.csv'", "path traversal ('..')")


def test_distinct_unicode_names_are_not_a_collision(tmp_path: Path) -> None:
    data = corpus.zip_of(
        [(NFC, corpus.good_csv()), ("cafe.csv", corpus.good_csv()), ("日本.csv", b"id\n1\n")]
    )
    with open_archive(tmp_path, data) as archive:
        assert sorted(archive.verify()) == sorted([NFC, "cafe.csv", "日本.csv"])
