"""The check pass keeps a small file's documents for the write pass: the same documents the
second pass would build, each with a size bound never below its size as the SDK sends it;
past the bounds nothing is kept. Local streams, no servers."""

from __future__ import annotations

import io

from worker.batches import SMALL_DOCUMENT_BYTES, request_bytes, sized_batches
from worker.document import Source
from worker.options import CsvOptions
from worker.rows import KeptDocuments, check_file, sized_documents
from worker.summary import CsvTally, RejectsFile

KEY = "0123456789abcdef0123456789abcdef01234567"
SOURCE = Source("incoming", "drop/ünïcode 😀.csv", '"0x1"')
HEADER = "id,city_name,state_abbrv,latitude,longitude,note\n"


def csv_of(rows: list[str], header: str = HEADER) -> bytes:
    return (header + "".join(rows)).encode()


def checked(data: bytes, kept: KeptDocuments, options: CsvOptions | None = None) -> CsvTally:
    options = options or CsvOptions()
    tally = CsvTally(options.group_by)
    with RejectsFile() as rejects:
        check_file(io.BytesIO(data), options, KEY, SOURCE, tally, rejects, kept)
    return tally


def hostile_rows() -> list[str]:
    texts = ["plain", "é" * 300, "😀" * 200, "\x01\x02\x1f" * 100, '"quoted, ""comma"""', "x"]
    return [f"{i},{t},NC,35.{i},-80.{i},{t}\n" for i, t in enumerate(texts, start=1)]


def test_kept_documents_are_the_second_passes_documents_in_file_order() -> None:
    data = csv_of([*hostile_rows(), "7,bad row\n"])
    kept = KeptDocuments()

    tally = checked(data, kept, CsvOptions(max_reject_ratio=0.5))

    second = list(sized_documents(io.BytesIO(data), CsvOptions(max_reject_ratio=0.5), KEY, SOURCE))
    assert tally.good == 6 and tally.rejects == 1
    assert kept.items == second


def test_every_size_bound_is_at_least_the_size_as_sent() -> None:
    kept = KeptDocuments()
    checked(csv_of(hostile_rows()), kept)

    assert kept.items is not None
    for document, bound in kept.items:
        assert bound >= request_bytes(document), document["row"]


def test_a_partition_column_holding_wide_text_stays_under_its_bound() -> None:
    options = CsvOptions(partition_by="note")
    kept = KeptDocuments()
    checked(csv_of(hostile_rows()), kept, options)

    assert kept.items is not None
    assert all(bound >= request_bytes(document) for document, bound in kept.items)


def test_small_bounds_make_full_batches_and_large_ones_are_measured() -> None:
    big = "😀" * 5_000  # over SMALL_DOCUMENT_BYTES once escaped
    rows = [f"{i},Town,NC,35.1,-80.1,x\n" for i in range(1, 151)]
    rows += [f"{i},{big},NC,35.1,-80.1,x\n" for i in range(151, 154)]
    kept = KeptDocuments()
    checked(csv_of(rows), kept)

    assert kept.items is not None
    found = list(sized_batches(kept.items))

    assert [len(b) for b in found] == [100, 53]
    assert kept.items[-1][1] > SMALL_DOCUMENT_BYTES
    # A large one counts with its exact size, the small ones with their bounds.
    sizes = dict(zip((d["row"] for d in found[1].documents), found[1].sizes, strict=True))
    assert sizes[153] == request_bytes(kept.items[-1][0])
    assert sizes[1 + 100] == kept.items[100][1]


def test_past_its_row_bound_nothing_is_kept() -> None:
    rows = [f"{i},Town,NC,35.1,-80.1,x\n" for i in range(1, 12)]
    kept = KeptDocuments(max_rows=10)

    tally = checked(csv_of(rows), kept)

    assert tally.good == 11
    assert kept.items is None


def test_past_its_byte_bound_nothing_is_kept() -> None:
    rows = [f"{i},Town,NC,35.1,-80.1,x\n" for i in range(1, 4)]
    kept = KeptDocuments(max_bytes=1)

    checked(csv_of(rows), kept)

    assert kept.items is None
