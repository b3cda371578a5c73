"""Open possibly-compressed files by their magic bytes, never by their names.

Dumps arrive as ``.jsonl.zst`` named ``.jsonl``, gzip named ``.warc`` and so on; the first bytes
say what a file really is. Streams are decompressed incrementally so memory stays flat.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
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
            # read_across_frames: zstd files written in several frames (pzstd, seekable zstd) read whole.
            reader = zstandard.ZstdDecompressor(max_window_size=1 << 31).stream_reader(raw, read_across_frames=True)
            self.stream = io.BufferedReader(reader, buffer_size)  # type: ignore[arg-type]
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


def sniff(path: Path, n: int = 65536) -> tuple[str, bytes, str | None]:
    """Return ``(compression, first n decompressed bytes, error)`` of ``path``.

    Reads in small chunks so a truncated or corrupt compressed stream still yields the bytes before
    the damage; ``error`` describes the damage (None when the head decompressed cleanly).
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
    except (OSError, EOFError, lzma.LZMAError, zstandard.ZstdError, ValueError) as exc:
        error = f"{type(exc).__name__}: {exc}"
    return compression, b"".join(chunks), error
