"""Reading an untrusted zip archive under limits, one entry at a time.

Nothing is extracted to disk: entries are streamed, in one pass (`Archive.extract`), each
block handed to a sink as it is decompressed. Sizes in headers are used only to refuse
early; the caps are enforced on bytes actually decompressed. A sink must not publish what
it got before `extract` has returned (the whole archive passed): the zip route stages
blocks that only become a child blob once every entry has been read.

Over 300 lines because the name checks, the limits and the streaming reader each guard the
same untrusted bytes; they are split apart once the fan-out work on entries has landed.
"""

from __future__ import annotations

import io
import logging
import re
import stat
import struct
import unicodedata
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from worker.contract import (
    ZIP_MAX_ENTRIES,
    ZIP_MAX_ENTRY_BYTES,
    ZIP_MAX_RATIO,
    ZIP_MAX_TOTAL_BYTES,
)
from worker.errors import RejectedInput
from worker.options import MiB, ZipLimits
from worker.summary import Skipped

log = logging.getLogger(__name__)

# The ratio cap applies once an entry has produced this much: small, very repetitive files
# (a column of zeros) compress extremely well and are harmless.
RATIO_FLOOR_BYTES = 1 * MiB
# Each central directory record is 46 bytes plus name, extra field and comment.
_MAX_CENTRAL_DIRECTORY_BYTES_PER_ENTRY = 2048
# The largest piece read at once, and so the size of a block handed to a sink: memory per
# read, and how far past a cap a read may go before it is refused.
MAX_READ = 4 * MiB
_SUPPORTED_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate"}
_METHOD_NAMES = {
    zipfile.ZIP_BZIP2: "bzip2",
    zipfile.ZIP_LZMA: "lzma",
    9: "deflate64",
    93: "zstandard",
    98: "ppmd",
    99: "AES encryption",
}
_FILE_TYPES = {
    stat.S_IFLNK: "a symbolic link",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a named pipe",
    stat.S_IFSOCK: "a socket",
}
_UNIX = 3
_WINDOWS_REPARSE_POINT = 0x400  # symbolic links and junctions written on Windows
_DRIVE = re.compile(r"^[A-Za-z]:")
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
MAX_NAME_CHARS = 512


class EntrySink(Protocol):
    """Where one entry's decompressed blocks go (a staged blob, a file, nowhere)."""

    def write(self, block: bytes, /) -> object:
        """Take the next decompressed block of the entry."""
        ...


class _Discard:
    def write(self, block: bytes, /) -> None:
        pass


DISCARD: EntrySink = _Discard()


@dataclass(frozen=True)
class Plan:
    """What the archive holds: CSV entries to extract, and entries skipped with a reason."""

    entries: int
    csv: list[zipfile.ZipInfo]
    skipped: list[Skipped]


def entry_where(name: str) -> str:
    """How a message names an entry of the zip."""
    return f"entry {name!r}"


def unsafe_name_reason(name: str) -> str | None:
    """Why an entry name may not become a blob path, or None when it is safe."""
    if name == "":
        return "empty name"
    if len(name) > MAX_NAME_CHARS:
        return f"name longer than {MAX_NAME_CHARS} characters"
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name):
        return "control character in the name"
    if "\\" in name:
        return "backslash in the name (a Windows path)"
    if name.startswith("/"):
        return "absolute path"
    if _DRIVE.match(name):
        return "drive letter in the name"
    parts = name.rstrip("/").split("/")
    if ".." in parts:
        return "path traversal ('..')"
    if "." in parts or "" in parts:
        return "empty or '.' path segment"
    return None


def folded_name(name: str) -> str:
    """An entry name as a case-insensitive, normalising file system sees it: two entries with
    the same folded name would overwrite each other there, and look alike to an operator."""
    return unicodedata.normalize("NFC", name.rstrip("/")).casefold()


def _check_name(name: str, where: str, seen: set[str], folded: dict[str, str]) -> None:
    """Refuse an unsafe name, a repeated one, or one that another entry's name equals once
    letter case and Unicode normalization are set aside (they would overwrite each other)."""
    reason = unsafe_name_reason(name)
    if reason:
        raise RejectedInput(reason, where)
    if name in seen:
        raise RejectedInput("duplicate entry name", where)
    seen.add(name)
    other = folded.setdefault(folded_name(name), name)
    if other != name:
        raise RejectedInput(
            f"entries {other!r} and {name!r} differ only in letter case or Unicode"
            " normalization; they would overwrite each other when unpacked",
            where,
        )


def _entry_type_problem(info: zipfile.ZipInfo) -> str | None:
    if info.external_attr & _WINDOWS_REPARSE_POINT:
        return "a link (Windows reparse point)"
    if info.create_system == _UNIX:
        mode = info.external_attr >> 16
        kind = stat.S_IFMT(mode)
        if kind in _FILE_TYPES:
            return _FILE_TYPES[kind]
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            return f"an unknown file type (mode 0o{kind:o}), such as a hard link"
    return None


def _declared_directory(fp: IO[bytes]) -> tuple[int, int] | None:
    """(entry count, central directory size) from the end record, or None if none is found."""
    fp.seek(0, io.SEEK_END)
    size = fp.tell()
    tail_len = min(size, 22 + 65535)
    fp.seek(size - tail_len)
    tail = fp.read(tail_len)
    pos = tail.rfind(b"PK\x05\x06")
    if pos < 0 or len(tail) - pos < 22:
        return None
    _, _, _, _, count, cd_size, _, _ = struct.unpack("<4s4H2LH", tail[pos : pos + 22])
    # zipfile reads the zip64 end record whenever its locator is there, whatever the 32-bit
    # fields say; so do we, keeping the larger figures.
    locator_at = size - tail_len + pos - 20
    if locator_at >= 0:
        fp.seek(locator_at)
        locator = fp.read(20)
        # zipfile takes the record that sits just before the locator.
        if len(locator) == 20 and locator[:4] == b"PK\x06\x07" and locator_at >= 56:
            fp.seek(locator_at - 56)
            record = fp.read(56)
            if record[:4] == b"PK\x06\x06":
                count64, cd_size64 = struct.unpack("<QQ", record[32:48])
                count, cd_size = max(count, count64), max(cd_size, cd_size64)
    return int(count), int(cd_size)


class _Counter:
    def __init__(self) -> None:
        self.total = 0


class EntryReader:
    """One entry's decompressed bytes, refusing past the caps and on corruption."""

    def __init__(
        self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: ZipLimits, counter: _Counter
    ) -> None:
        self._info = info
        self._limits = limits
        self._counter = counter
        self._where = entry_where(info.filename)
        self.bytes_read = 0
        with _zip_errors(self._where):
            self._inner: IO[bytes] = archive.open(info)

    def read(self) -> bytes:
        """The next block: `MAX_READ` bytes, fewer only at the end, b"" after it (the CRC is
        checked on the way to the end)."""
        with _zip_errors(self._where):
            data = self._inner.read(MAX_READ)
        if self.bytes_read == 0 and data[:4] in _ZIP_MAGIC:
            raise RejectedInput("nested archive (a zip inside the zip)", self._where)
        self.bytes_read += len(data)
        self._counter.total += len(data)
        self._check()
        return data

    def _check(self) -> None:
        limits = self._limits
        if self.bytes_read > limits.max_entry_bytes:
            raise RejectedInput(
                f"expands to more than {limits.max_entry_bytes} bytes ({ZIP_MAX_ENTRY_BYTES})",
                self._where,
            )
        if self._counter.total > limits.max_total_bytes:
            raise RejectedInput(
                f"archive expands to more than {limits.max_total_bytes} bytes"
                f" ({ZIP_MAX_TOTAL_BYTES})",
                self._where,
            )
        if self.bytes_read > RATIO_FLOOR_BYTES and self.bytes_read > limits.max_ratio * max(
            self._info.compress_size, 1
        ):
            raise RejectedInput(
                f"compression ratio above {limits.max_ratio:g} ({ZIP_MAX_RATIO})", self._where
            )

    def close(self) -> None:
        """Close the entry's stream."""
        self._inner.close()


class Archive:
    """An opened, inspected archive. Construction refuses what can be seen without reading."""

    def __init__(self, path: Path, limits: ZipLimits) -> None:
        self._limits = limits
        self._file = open(path, "rb")  # noqa: SIM115 - closed in close()
        try:
            self._zip = self._open()
            self.plan = self._inspect()
        except BaseException:
            self._file.close()
            raise

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the zip and its file."""
        self._zip.close()
        self._file.close()

    def _open(self) -> zipfile.ZipFile:
        declared = _declared_directory(self._file)
        if declared is None:
            raise RejectedInput("not a zip archive (no end of central directory record)")
        count, cd_size = declared
        if count > self._limits.max_entries:
            raise RejectedInput(
                f"{count} entries, more than the limit of {self._limits.max_entries}"
                f" ({ZIP_MAX_ENTRIES})"
            )
        if cd_size > max(self._limits.max_entries, 1) * _MAX_CENTRAL_DIRECTORY_BYTES_PER_ENTRY:
            raise RejectedInput(f"central directory of {cd_size} bytes is implausibly large")
        self._file.seek(0)
        try:
            return zipfile.ZipFile(self._file)
        except zipfile.BadZipFile as e:
            raise RejectedInput(f"corrupt or not a zip archive ({e})") from None
        except NotImplementedError as e:
            raise RejectedInput(f"unsupported zip feature ({e})") from None
        except (OSError, EOFError, ValueError, struct.error) as e:
            raise RejectedInput(f"corrupt zip archive ({type(e).__name__}: {e})") from None

    def _inspect(self) -> Plan:
        infos = self._zip.infolist()
        limits = self._limits
        if len(infos) > limits.max_entries:
            raise RejectedInput(
                f"{len(infos)} entries, more than the limit of {limits.max_entries}"
                f" ({ZIP_MAX_ENTRIES})"
            )
        seen: set[str] = set()
        folded: dict[str, str] = {}
        csv_entries: list[zipfile.ZipInfo] = []
        skipped: list[Skipped] = []
        for info in infos:
            name = info.orig_filename
            where = entry_where(name)
            _check_name(name, where, seen, folded)
            problem = _entry_type_problem(info)
            if problem:
                raise RejectedInput(f"entry is {problem}", where)
            if info.flag_bits & 0x1:
                raise RejectedInput("encrypted entry", where)
            if info.is_dir():
                continue
            if name.lower().endswith(".zip"):
                raise RejectedInput("nested archive (a zip inside the zip)", where)
            if info.compress_type not in _SUPPORTED_METHODS:
                method = _METHOD_NAMES.get(info.compress_type, "unknown")
                raise RejectedInput(
                    f"unsupported compression method {info.compress_type} ({method});"
                    " only stored and deflate are read",
                    where,
                )
            base = name.rsplit("/", 1)[-1]
            if name.startswith("__MACOSX/") or base.startswith("._"):
                skipped.append(Skipped(name, "macOS metadata"))
                continue
            if not name.lower().endswith(".csv"):
                skipped.append(Skipped(name, "not a CSV file"))
                continue
            csv_entries.append(info)
        return Plan(len(infos), csv_entries, skipped)

    def extract(self, sink_for: Callable[[zipfile.ZipInfo], EntrySink]) -> dict[str, int]:
        """Decompress every CSV entry once, in order, under the caps, handing its blocks to
        the sink `sink_for` gives it; return bytes per entry.

        A cap, a CRC mismatch or corrupt data raises `RejectedInput` part-way, once sinks
        hold blocks of earlier entries (and part of this one): nothing a sink got may be
        published before this returns."""
        counter = _Counter()
        sizes: dict[str, int] = {}
        for info in self.plan.csv:
            sink = sink_for(info)
            with self._entry(info, counter) as reader:
                while block := reader.read():
                    sink.write(block)
                sizes[info.orig_filename] = reader.bytes_read
        return sizes

    def verify(self) -> dict[str, int]:
        """Decompress every CSV entry once, under the caps, keeping nothing."""
        return self.extract(lambda info: DISCARD)

    def open_entry(self, info: zipfile.ZipInfo) -> AbstractContextManager[EntryReader]:
        """A reader of one entry's blocks (`read()` until b""), under the caps."""
        return self._entry(info, _Counter())

    @contextmanager
    def _entry(self, info: zipfile.ZipInfo, counter: _Counter) -> Iterator[EntryReader]:
        reader = EntryReader(self._zip, info, self._limits, counter)
        try:
            yield reader
        finally:
            reader.close()


@contextmanager
def _zip_errors(where: str) -> Iterator[None]:
    try:
        yield
    except RejectedInput:
        raise
    except zipfile.BadZipFile as e:
        raise RejectedInput(f"corrupt entry ({e})", where) from None
    except NotImplementedError as e:
        raise RejectedInput(f"unsupported zip feature ({e})", where) from None
    except RuntimeError as e:
        # zipfile raises RuntimeError for encrypted entries read without a password.
        raise RejectedInput(f"cannot read the entry ({e})", where) from None
    except (zlib.error, EOFError, OSError, ValueError, struct.error) as e:
        raise RejectedInput(
            f"corrupt or truncated entry ({type(e).__name__}: {e})", where
        ) from None
