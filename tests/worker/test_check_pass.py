"""The check pass's own machinery: lines read in chunks (a line end or a row may straddle two),
the exact coordinate sums, and the collector paused while documents are kept."""

from __future__ import annotations

import csv
import gc
import io
import math
import random

import pytest

from tests.worker import corpus
from worker.document import Source
from worker.errors import RejectedInput
from worker.options import CsvOptions
from worker.rows import CollectorPause, KeptDocuments, check_file
from worker.summary import CsvTally, ExactSum, RejectsFile
from worker.table import Table

KEY = "0123456789abcdef0123456789abcdef01234567"
SOURCE = Source("incoming", "drop/file.csv", '"0x1"')
# Text the table reads at once (worker.table); a test file puts its seams across it.
CHUNK = 64 * 1024


def seam_at(boundary: int, before: str, after: str) -> str:
    """CSV text with rows up to `boundary` characters, where `before` ends and `after`
    begins (both parts of one row, or of a line end); then one more row."""
    text = corpus.csv_text().replace("\n", "\r\n")
    n = 1
    while len(text) < boundary - 200:
        text += f"{n},27006,US,Advance,NC,35.9,-80.4\r\n"
        n += 1
    prefix = f"{n},27006,US,"
    city = "x" * (boundary - len(text) - len(prefix) - len(before))
    text += prefix + city + before
    assert len(text) == boundary
    return text + after + f"{n + 1},27007,US,Ararat,NC,36.3,-80.5\r\n"


def read_by_csv(text: str) -> list[tuple[int, int, list[str]]]:
    """The rows as the csv module reads the whole text, numbered as the table numbers them."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    next(reader)
    rows: list[tuple[int, int, list[str]]] = []
    start = reader.line_num + 1
    for values in reader:
        if values:
            rows.append((len(rows) + 1, start, values))
        start = reader.line_num + 1
    return rows


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (",NC,35.9,-80.4\r", "\n"),
        (",NC,35.9,-80.4", "\r\n"),
        (",NC,35.9,-80.4\r\n", ""),
        (",NC,35.9,-80.4\r", ""),
        (',NC,35.9,"-80\n', '4"\r\n'),
        (',NC,35.9,"-80\r', '\n4"\r\n'),
    ],
    ids=["cr-lf-split", "before-cr-lf", "after-cr-lf", "lone-cr", "quoted-lf", "quoted-cr-lf"],
)
def test_a_line_end_or_a_row_across_a_chunk_boundary_reads_as_one(before: str, after: str) -> None:
    text = seam_at(CHUNK, before, after)
    rows = list(Table(io.BytesIO(text.encode()), CsvOptions()).records())
    assert rows == read_by_csv(text)
    assert len(rows) > 1000


def test_a_nul_byte_past_the_first_chunk_names_its_line() -> None:
    rows = [f"{i},27006,US,Advance,NC,35.9,-80.4" for i in range(1, 5001)]
    data = corpus.csv_text(*rows, "5001,27006,US,Adv\x00nce,NC,35.9,-80.4").encode()
    assert len(data) > 2 * CHUNK
    with pytest.raises(RejectedInput) as caught:
        list(Table(io.BytesIO(data), CsvOptions()).records())
    assert caught.value.where == "row 5001 (line 5002)"
    assert "at character 18 of line 5002" in caught.value.cause


def test_a_row_longer_than_the_cap_across_chunks_is_caught() -> None:
    long_row = "1,27006,US," + "y" * (3 * CHUNK) + ",NC,35.9,-80.4"
    data = corpus.csv_text(corpus.GOOD_ROWS[0], long_row).encode()
    with pytest.raises(RejectedInput) as caught:
        list(Table(io.BytesIO(data), CsvOptions(max_row_chars=2 * CHUNK)).records())
    assert caught.value.where == "row 2 (line 3)"


def test_exact_sums_are_correctly_rounded_past_many_folds() -> None:
    rng = random.Random(7)
    values = [rng.uniform(-90, 90) * 10.0 ** rng.randrange(-20, 3) for _ in range(5000)]
    total = ExactSum()
    for x in values:
        total.add(x)
    assert total.value() == math.fsum(values)


def test_an_exact_sum_keeps_what_cancellation_leaves() -> None:
    rng = random.Random(8)
    values = [rng.uniform(-180, 180) for _ in range(3 * ExactSum.FOLD_AT)]
    total = ExactSum()
    for x in [*values, 1e-300, *(-x for x in values)]:
        total.add(x)
    assert total.value() == 1e-300


def test_the_collector_is_paused_while_documents_are_kept_and_on_again_after() -> None:
    assert gc.isenabled()
    data = corpus.csv_text(*corpus.GOOD_ROWS).encode()
    with CollectorPause() as pause:
        check_file(
            io.BytesIO(data), CsvOptions(), KEY, SOURCE, CsvTally(None), RejectsFile(),
            KeptDocuments(),
        )  # fmt: skip
        # The check pass's own pause, inside this one, leaves the collector off.
        assert not gc.isenabled()
        pause.resume()
        assert gc.isenabled()
    assert gc.isenabled()


def test_a_pause_of_a_paused_collector_leaves_it_paused() -> None:
    gc.disable()
    try:
        with CollectorPause():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
