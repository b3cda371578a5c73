"""Open possibly-compressed files by their magic bytes, never by their names.

Dumps arrive as ``.jsonl.zst`` named ``.jsonl``, gzip named ``.warc`` and so on; the first bytes
say what a file really is. Streams are decompressed incrementally so memory stays flat.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zlib
from pathlib import Path
from typing import BinaryIO

import zstandard

# (name, magic prefix). Order matters only for readability; prefixes do not overlap.
MAGIC: tuple[tuple[str, bytes], ...] = (
    ("gzip", b"\x1f\x8b"),
    ("zstd", b"\x28\xb5\x2f\xfd"),
    ("bz2", b"BZh"),
    ("xz", b"\xfd7zXZ\x00"),
)


# What a damaged compressed stream raises while it is read (gzip: EOFError, BadGzipFile (an OSError)
# or zlib.error; bz2: EOFError or OSError; xz: EOFError or LZMAError; zstd: EOFError or ZstdError).
STREAM_ERRORS: tuple[type[BaseException], ...] = (EOFError, OSError, zlib.error, lzma.LZMAError, zstandard.ZstdError)


def stream_error_type(exc: BaseException) -> str:
    """Quarantine error type of a stream exception: ``truncated_stream`` (the data stops early),
    ``corrupt_stream`` (the compressed data is damaged) or ``read_error`` (the OS failed to read)."""
    if isinstance(exc, EOFError):
        return "truncated_stream"
    if isinstance(exc, (zlib.error, lzma.LZMAError, zstandard.ZstdError)):
        return "corrupt_stream"
    if isinstance(exc, OSError) and exc.errno is None:  # BadGzipFile, bz2's "Invalid data stream"
        return "corrupt_stream"
    return "read_error"


def detect_compression(head: bytes) -> str:
    """Return ``gzip``, ``zstd``, ``bz2``, ``xz`` or ``none`` from a file's first bytes."""
    for name, magic in MAGIC:
        if head.startswith(magic):
            if name == "bz2" and not (len(head) > 3 and head[3:4].isdigit()):
                continue  # "BZh" followed by a block-size digit; plain text may start with "BZh"
            return name
    return "none"


class CountingReader(io.RawIOBase):
    """Wrap a raw file and count the bytes read from disk (for MB/s on compressed input)."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        n = self._raw.readinto(buffer)
        self.bytes_read += n or 0
        return n or 0

    def close(self) -> None:
        self._raw.close()
        super().close()


class ZstdReader(io.RawIOBase):
    """Decompress a (multi-frame) zstd stream and fail loudly on a truncated one.

    ``zstandard``'s own ``stream_reader`` returns a clean end of file when the input stops in the
    middle of a frame, which would lose the rest of a truncated dump silently. This reader feeds
    small compressed pieces to a ``decompressobj`` (so output per piece stays bounded) and raises
    :class:`EOFError` when the input ends before the frame does, as gzip/bz2/xz do.
    """

    def __init__(self, raw: BinaryIO, chunk: int = 8192) -> None:
        self._raw = raw
        self._chunk = chunk
        self._dctx = zstandard.ZstdDecompressor(max_window_size=1 << 31)
        self._obj = self._dctx.decompressobj()
        self._in_frame = False  # compressed bytes were fed to the current frame and it has not ended
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def _feed(self, data: bytes) -> bytes:
        out = []
        while data:
            self._in_frame = True
            out.append(self._obj.decompress(data))
            if not self._obj.eof:
                break
            data = self._obj.unused_data  # the next frame (pzstd and seekable zstd write several)
            self._obj = self._dctx.decompressobj()
            self._in_frame = False
        return b"".join(out)

    def readinto(self, buffer) -> int:  # type: ignore[override]
        while not self._pending:
            data = self._raw.read(self._chunk)
            if not data:
                if self._in_frame:
                    raise EOFError("zstd stream ended before the end of the frame (truncated file)")
                return 0
            self._pending = memoryview(self._feed(data))
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


class OpenedInput:
    """A decompressed binary stream over a file plus the count of on-disk bytes consumed."""

    def __init__(self, path: Path, compression: str, buffer_size: int = 1 << 20) -> None:
        self.path = path
        self.compression = compression
        self._counter = CountingReader(open(path, "rb", buffering=0))
        raw = io.BufferedReader(self._counter, buffer_size)
        if compression == "none":
            self.stream: BinaryIO = raw
        elif compression == "gzip":
            self.stream = gzip.GzipFile(fileobj=raw, mode="rb")  # handles multi-member (per-record) gzip
        elif compression == "zstd":
            self.stream = io.BufferedReader(ZstdReader(raw), buffer_size)
        elif compression == "bz2":
            self.stream = bz2.BZ2File(raw, mode="rb")
        elif compression == "xz":
            self.stream = lzma.LZMAFile(raw, mode="rb")
        else:  # pragma: no cover - detect_compression only returns the names above
            raise ValueError(f"unknown compression {compression!r}")

    @property
    def disk_bytes_read(self) -> int:
        return self._counter.bytes_read

    def close(self) -> None:
        try:
            self.stream.close()
        finally:
            self._counter.close()

    def __enter__(self) -> "OpenedInput":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def sniff(path: Path, n: int = 65536) -> tuple[str, bytes, BaseException | None]:
    """Return ``(compression, first n decompressed bytes, error)`` of ``path``.

    Reads in small chunks so a truncated or corrupt compressed stream still yields the bytes before
    the damage; ``error`` is the exception the damage raised (None when the head decompressed
    cleanly; :func:`stream_error_type` classifies it).
    """
    with open(path, "rb") as fh:
        magic = fh.read(8)
    compression = detect_compression(magic)
    chunks: list[bytes] = []
    size = 0
    error = None
    try:
        with OpenedInput(path, compression, buffer_size=8192) as opened:
            while size < n:
                chunk = opened.stream.read(min(1024, n - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
    except STREAM_ERRORS + (ValueError,) as exc:
        error = exc
    return compression, b"".join(chunks), error


class Utf8Transcoder(io.RawIOBase):
    """Decode a byte stream from a legacy encoding (CP949, EUC-KR, Shift_JIS...) and re-encode it as
    UTF-8, incrementally, so readers that expect UTF-8 read legacy dumps unchanged.

    Bytes that are invalid in the declared encoding raise ``UnicodeDecodeError``: the runner
    quarantines the rest of that file with the message, rather than guessing.
    """

    def __init__(self, raw: BinaryIO, encoding: str, chunk: int = 1 << 20) -> None:
        import codecs

        self._raw = raw
        self._decoder = codecs.getincrementaldecoder(encoding)("strict")
        self._chunk = chunk
        self._pending = b""
        self._eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        while not self._pending and not self._eof:
            data = self._raw.read(self._chunk)
            if not data:
                self._eof = True
                self._pending = self._decoder.decode(b"", final=True).encode("utf-8")
            else:
                self._pending = self._decoder.decode(data).encode("utf-8")
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n
