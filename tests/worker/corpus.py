"""Hostile inputs, generated on the fly: nothing binary is checked in.

Each builder returns the bytes of one file. Zips are made with the zipfile module and, where
it refuses to write a bad thing (encryption flags, odd methods), patched at the byte level.
"""

from __future__ import annotations

import io
import stat
import struct
import warnings
import zipfile
from collections.abc import Iterable

HEADER = "id,postal_cd,country_cd,city_name,state_abbrv,latitude,longitude"
GOOD_ROWS = (
    "1,27006,US,Advance,NC,35.9445620000,-80.4376310000",
    "2,27007,US,Ararat,NC,36.3768840000,-80.5962650000",
    "3,06001,US,Avon,CT,41.7916300000,-72.8545260000",
)


def csv_text(*rows: str, header: str = HEADER, newline: str = "\n") -> str:
    return newline.join((header, *rows)) + newline


def good_csv(newline: str = "\n") -> bytes:
    return csv_text(*GOOD_ROWS, newline=newline).encode()


def zip_of(
    entries: Iterable[tuple[str | zipfile.ZipInfo, bytes]],
    method: int = zipfile.ZIP_DEFLATED,
) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # zipfile warns about duplicate names; writing them is the point of some cases.
        warnings.simplefilter("ignore", UserWarning)
        with zipfile.ZipFile(buffer, "w", compression=method) as archive:
            for name, data in entries:
                archive.writestr(name, data)
    return buffer.getvalue()


def unix_entry(name: str, file_type: int, permissions: int = 0o777) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (file_type | permissions) << 16
    return info


def symlink_zip() -> bytes:
    return zip_of([("a.csv", good_csv()), (unix_entry("link.csv", stat.S_IFLNK), b"/etc/passwd")])


def device_zip() -> bytes:
    return zip_of([(unix_entry("dev.csv", stat.S_IFCHR), b"")])


def fifo_zip() -> bytes:
    return zip_of([(unix_entry("pipe.csv", stat.S_IFIFO), b"")])


def unknown_type_zip() -> bytes:
    # Not a type Unix defines: what a converter might write for a hard link.
    return zip_of([(unix_entry("hard.csv", 0o030000), b"")])


def windows_reparse_point_zip() -> bytes:
    info = zipfile.ZipInfo("junction.csv")
    info.create_system = 0
    info.external_attr = 0x400 | 0x20
    return zip_of([(info, good_csv())])


def _patch_headers(
    data: bytes, offset_local: int, offset_central: int, fmt: str, value: int
) -> bytes:
    out = bytearray(data)
    for signature, offset in ((b"PK\x03\x04", offset_local), (b"PK\x01\x02", offset_central)):
        start = 0
        while (pos := out.find(signature, start)) >= 0:
            struct.pack_into(fmt, out, pos + offset, value)
            start = pos + 4
    return bytes(out)


def encrypted_zip() -> bytes:
    """The traditional encryption flag (bit 0) set on the entry."""
    data = zip_of([("secret.csv", good_csv())])
    out = bytearray(data)
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        pos = out.find(signature)
        (flags,) = struct.unpack_from("<H", out, pos + offset)
        struct.pack_into("<H", out, pos + offset, flags | 0x1)
    return bytes(out)


def method_zip(method: int) -> bytes:
    """An entry whose compression method field says `method`."""
    data = zip_of([("data.csv", good_csv())], method=zipfile.ZIP_STORED)
    return _patch_headers(data, 8, 10, "<H", method)


def bzip2_zip() -> bytes:
    return zip_of([("data.csv", good_csv())], method=zipfile.ZIP_BZIP2)


def duplicate_zip() -> bytes:
    return zip_of([("a.csv", good_csv()), ("a.csv", good_csv())])


def crc_mismatch_zip() -> bytes:
    """A stored entry whose content was altered after the CRC was written."""
    data = bytearray(zip_of([("a.csv", good_csv())], method=zipfile.ZIP_STORED))
    pos = data.find(b"Advance")
    data[pos] = ord("X")
    return bytes(data)


def truncated_zip() -> bytes:
    data = zip_of([("a.csv", good_csv() * 50)])
    return data[: len(data) // 2]


def corrupt_deflate_zip() -> bytes:
    """A deflated entry whose compressed stream is garbage (the header sizes are right)."""
    payload = good_csv() * 20
    data = bytearray(zip_of([("a.csv", payload)]))
    start = data.find(b"a.csv") + len("a.csv")
    for i in range(start, start + 40):
        data[i] = 0xFF
    return bytes(data)


def zeros_zip(size: int, name: str = "zeros.csv") -> bytes:
    """A very repetitive entry: megabytes that compress to a few kilobytes."""
    return zip_of([(name, b"a\n" + b"0\n" * (size // 2))])


def many_entries_zip(count: int) -> bytes:
    return zip_of([(f"f{i}.csv", good_csv()) for i in range(count)])


def nested_zip() -> bytes:
    inner = zip_of([("a.csv", good_csv())])
    return zip_of([("a.csv", good_csv()), ("inner.zip", inner)])


def disguised_nested_zip() -> bytes:
    inner = zip_of([("a.csv", good_csv())])
    return zip_of([("inner.csv", inner)])


def mixed_zip() -> bytes:
    return zip_of(
        [
            ("docs/", b""),
            ("docs/readme.txt", b"hello"),
            ("data/a.csv", good_csv()),
            ("__MACOSX/data/._a.csv", b"\x00\x05\x16\x07"),
            ("data/b.CSV", good_csv(newline="\r\n")),
            ("image.png", b"\x89PNG"),
        ]
    )


def cut_directory_zip() -> bytes:
    """The end record is intact but the central directory before it lost bytes."""
    data = zip_of([("a.csv", good_csv()), ("b.csv", good_csv())])
    return data[: -22 - 30] + data[-22:]


def cut_entry_data_zip() -> bytes:
    """The directory is intact but 500 bytes of entry data are missing before it."""
    data = zip_of([("a.csv", good_csv() * 100)])
    directory = data.find(b"PK\x01\x02")
    return data[: directory - 500] + data[directory:]


def zip64_lie_zip(count: int, directory_bytes: int) -> bytes:
    """A small zip with a zip64 end record (which zipfile believes) claiming other figures."""
    data = zip_of([("a.csv", good_csv())])
    end = data.rfind(b"PK\x05\x06")
    directory_at = data.find(b"PK\x01\x02")
    record = b"PK\x06\x06" + struct.pack(
        "<QHHLLQQQQ", 44, 45, 45, 0, 0, count, count, directory_bytes, directory_at
    )
    locator = b"PK\x06\x07" + struct.pack("<LQL", 0, end, 1)
    return data[:end] + record + locator + data[end:]
