"""Archive checks on generated hostile zips, read from local files (no servers)."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.worker import corpus
from worker.archive import Archive, unsafe_name_reason
from worker.errors import RejectedInput
from worker.options import ZipLimits


def open_archive(tmp_path: Path, data: bytes, limits: ZipLimits | None = None) -> Archive:
    path = tmp_path / "input.zip"
    path.write_bytes(data)
    return Archive(path, limits or ZipLimits())


def rejection(tmp_path: Path, data: bytes, limits: ZipLimits | None = None) -> RejectedInput:
    """Open and fully verify the archive; return why it was refused."""
    with pytest.raises(RejectedInput) as caught, open_archive(tmp_path, data, limits) as archive:
        archive.verify()
    return caught.value


def test_a_plain_archive_lists_its_csv_entries_and_their_sizes(tmp_path: Path) -> None:
    data = corpus.zip_of([("a.csv", corpus.good_csv()), ("sub/b.csv", b"x\n1\n")])
    with open_archive(tmp_path, data) as archive:
        sizes = archive.verify()
        assert [i.filename for i in archive.plan.csv] == ["a.csv", "sub/b.csv"]
        assert archive.plan.skipped == []
        assert archive.plan.entries == 2
    assert sizes == {"a.csv": len(corpus.good_csv()), "sub/b.csv": 4}


def test_non_csv_entries_and_macos_metadata_are_skipped_and_listed(tmp_path: Path) -> None:
    with open_archive(tmp_path, corpus.mixed_zip()) as archive:
        archive.verify()
        assert [i.filename for i in archive.plan.csv] == ["data/a.csv", "data/b.CSV"]
        assert [(s.entry, s.reason) for s in archive.plan.skipped] == [
            ("docs/readme.txt", "not a CSV file"),
            ("__MACOSX/data/._a.csv", "macOS metadata"),
            ("image.png", "not a CSV file"),
        ]
        assert archive.plan.entries == 6


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../evil.csv", "path traversal ('..')"),
        ("a/../../evil.csv", "path traversal ('..')"),
        ("/etc/evil.csv", "absolute path"),
        ("C:/evil.csv", "drive letter in the name"),
        ("c:evil.csv", "drive letter in the name"),
        ("..\\evil.csv", "backslash in the name (a Windows path)"),
        ("a\\b.csv", "backslash in the name (a Windows path)"),
        ("a//b.csv", "empty or '.' path segment"),
        ("./a.csv", "empty or '.' path segment"),
        ("a\x00.csv", "control character in the name"),
        ("a\nb.csv", "control character in the name"),
    ],
)
def test_an_entry_whose_path_could_escape_is_refused_naming_the_entry(
    tmp_path: Path, name: str, reason: str
) -> None:
    # zipfile cuts a name at NUL when writing, so that name is patched in afterwards.
    written = name.replace("\x00", "X")
    data = corpus.zip_of([("ok.csv", corpus.good_csv()), (written, b"x\n")])
    data = data.replace(written.encode(), name.encode())
    error = rejection(tmp_path, data)
    assert (error.where, error.cause) == (f"entry {name!r}", reason)


def test_a_very_long_entry_name_is_refused() -> None:
    assert unsafe_name_reason("a" * 600 + ".csv") == "name longer than 512 characters"


@pytest.mark.parametrize(
    ("build", "entry", "cause"),
    [
        (corpus.symlink_zip, "link.csv", "entry is a symbolic link"),
        (corpus.device_zip, "dev.csv", "entry is a character device"),
        (corpus.fifo_zip, "pipe.csv", "entry is a named pipe"),
        (
            corpus.unknown_type_zip,
            "hard.csv",
            "entry is an unknown file type (mode 0o30000), such as a hard link",
        ),
        (
            corpus.windows_reparse_point_zip,
            "junction.csv",
            "entry is a link (Windows reparse point)",
        ),
    ],
)
def test_links_devices_and_unknown_file_types_are_refused(
    tmp_path: Path, build: Callable[[], bytes], entry: str, cause: str
) -> None:
    error = rejection(tmp_path, build())
    assert (error.where, error.cause) == (f"entry {entry!r}", cause)


def test_an_encrypted_entry_is_refused(tmp_path: Path) -> None:
    error = rejection(tmp_path, corpus.encrypted_zip())
    assert (error.where, error.cause) == ("entry 'secret.csv'", "encrypted entry")


@pytest.mark.parametrize(
    ("data", "cause"),
    [
        (
            corpus.bzip2_zip(),
            "unsupported compression method 12 (bzip2); only stored and deflate are read",
        ),
        (
            corpus.method_zip(99),
            "unsupported compression method 99 (AES encryption); only stored and deflate are read",
        ),
        (
            corpus.method_zip(77),
            "unsupported compression method 77 (unknown); only stored and deflate are read",
        ),
    ],
)
def test_an_unsupported_compression_method_is_refused(
    tmp_path: Path, data: bytes, cause: str
) -> None:
    error = rejection(tmp_path, data)
    assert (error.where, error.cause) == ("entry 'data.csv'", cause)


def test_duplicate_entry_names_are_refused(tmp_path: Path) -> None:
    error = rejection(tmp_path, corpus.duplicate_zip())
    assert (error.where, error.cause) == ("entry 'a.csv'", "duplicate entry name")


def test_an_entry_whose_content_does_not_match_its_crc_is_refused(tmp_path: Path) -> None:
    error = rejection(tmp_path, corpus.crc_mismatch_zip())
    assert (error.where, error.cause) == (
        "entry 'a.csv'",
        "corrupt entry (Bad CRC-32 for file 'a.csv')",
    )


def test_a_garbled_deflate_stream_is_refused_as_corrupt(tmp_path: Path) -> None:
    error = rejection(tmp_path, corpus.corrupt_deflate_zip())
    assert (error.where, error.cause) == (
        "entry 'a.csv'",
        "corrupt or truncated entry (error: Error -3 while decompressing data: invalid block type)",
    )


def test_a_truncated_archive_is_refused(tmp_path: Path) -> None:
    error = rejection(tmp_path, corpus.truncated_zip())
    assert (error.where, error.cause) == (
        None,
        "not a zip archive (no end of central directory record)",
    )


@pytest.mark.parametrize("data", [b"", b"id,name\n1,x\n", b"PK\x03\x04 and then nothing"])
def test_a_file_that_is_not_a_zip_is_refused(tmp_path: Path, data: bytes) -> None:
    error = rejection(tmp_path, data)
    assert error.cause == "not a zip archive (no end of central directory record)"


def test_a_zip_entry_is_refused_as_a_nested_archive(tmp_path: Path) -> None:
    error = rejection(tmp_path, corpus.nested_zip())
    assert (error.where, error.cause) == (
        "entry 'inner.zip'",
        "nested archive (a zip inside the zip)",
    )


def test_a_zip_disguised_as_a_csv_entry_is_refused_as_a_nested_archive(tmp_path: Path) -> None:
    error = rejection(tmp_path, corpus.disguised_nested_zip())
    assert (error.where, error.cause) == (
        "entry 'inner.csv'",
        "nested archive (a zip inside the zip)",
    )


def test_more_entries_than_the_cap_are_refused_before_reading_the_directory(
    tmp_path: Path,
) -> None:
    error = rejection(tmp_path, corpus.many_entries_zip(4), ZipLimits(max_entries=3))
    assert (error.where, error.cause) == (
        None,
        "4 entries, more than the limit of 3 (DROPBATCH_ZIP_MAX_ENTRIES)",
    )


def test_an_entry_expanding_past_the_per_entry_cap_is_refused(tmp_path: Path) -> None:
    limits = ZipLimits(max_entry_bytes=100_000, max_ratio=1e9)
    error = rejection(tmp_path, corpus.zeros_zip(300_000), limits)
    assert (error.where, error.cause) == (
        "entry 'zeros.csv'",
        "expands to more than 100000 bytes (DROPBATCH_ZIP_MAX_ENTRY_BYTES)",
    )


def test_entries_expanding_past_the_total_cap_are_refused(tmp_path: Path) -> None:
    data = corpus.zip_of([("a.csv", b"x\n" * 40_000), ("b.csv", b"y\n" * 40_000)])
    error = rejection(tmp_path, data, ZipLimits(max_total_bytes=100_000, max_ratio=1e9))
    assert (error.where, error.cause) == (
        "entry 'b.csv'",
        "archive expands to more than 100000 bytes (DROPBATCH_ZIP_MAX_TOTAL_BYTES)",
    )


def test_a_compression_ratio_above_the_cap_is_refused(tmp_path: Path) -> None:
    error = rejection(tmp_path, corpus.zeros_zip(4 * 1024 * 1024))
    assert (error.where, error.cause) == (
        "entry 'zeros.csv'",
        "compression ratio above 200 (DROPBATCH_ZIP_MAX_RATIO)",
    )


def test_a_small_very_repetitive_entry_is_not_a_bomb(tmp_path: Path) -> None:
    with open_archive(tmp_path, corpus.zeros_zip(500_000)) as archive:
        assert archive.verify() == {"zeros.csv": 500_002}


def test_header_sizes_are_not_trusted_a_lying_size_fails_the_crc(tmp_path: Path) -> None:
    data = corpus.zip_of([("a.csv", corpus.good_csv())], method=zipfile.ZIP_STORED)
    # Uncompressed size field: local header offset 22, central directory offset 24.
    lying = corpus._patch_headers(data, 22, 24, "<L", 10)
    error = rejection(tmp_path, lying)
    assert (error.where, error.cause) == (
        "entry 'a.csv'",
        "corrupt entry (Bad CRC-32 for file 'a.csv')",
    )


def test_the_entry_cap_reads_the_zip64_end_record_of_a_huge_directory(tmp_path: Path) -> None:
    # More than 65535 entries: the count lives only in the zip64 end record.
    path = tmp_path / "many.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for i in range(65_600):
            archive.writestr(f"e{i}", b"")
    with pytest.raises(RejectedInput) as caught:
        Archive(path, ZipLimits())
    assert (
        caught.value.cause
        == "65600 entries, more than the limit of 10000 (DROPBATCH_ZIP_MAX_ENTRIES)"
    )


def test_a_central_directory_cut_short_is_refused(tmp_path: Path) -> None:
    error = rejection(tmp_path, corpus.cut_directory_zip())
    assert (error.where, error.cause) == (
        None,
        "corrupt or not a zip archive (Bad magic number for central directory)",
    )


def test_entry_data_cut_short_is_refused_naming_the_entry(tmp_path: Path) -> None:
    error = rejection(tmp_path, corpus.cut_entry_data_zip())
    assert (error.where, error.cause) == (
        "entry 'a.csv'",
        "corrupt or truncated entry (OSError: [Errno 22] Invalid argument)",
    )


def test_a_zip64_end_record_is_believed_as_zipfile_would(tmp_path: Path) -> None:
    error = rejection(tmp_path, corpus.zip64_lie_zip(count=1, directory_bytes=900_000_000))
    assert error.cause == "central directory of 900000000 bytes is implausibly large"
    error = rejection(tmp_path, corpus.zip64_lie_zip(count=10**9, directory_bytes=100))
    assert (
        error.cause
        == "1000000000 entries, more than the limit of 10000 (DROPBATCH_ZIP_MAX_ENTRIES)"
    )
