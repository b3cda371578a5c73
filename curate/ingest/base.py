"""The contract between the ingest runner and the readers.

A reader is a function ``read(ctx: ReadContext) -> Iterator[Doc | Bad | Skip]``:

* :class:`Doc` — one document found in the input;
* :class:`Bad` — one unit that could not be read (malformed record, invalid UTF-8, ...): it becomes
  a quarantine row and counts in ``read`` and ``quarantined``;
* :class:`Skip` — a record that is not a document by design (a WARC request record, an image
  response): counted per reason in the manifest, not in ``read``;
* ``None`` — a heartbeat with no record, so the progress bar moves while a reader works through
  input that yields nothing yet (the first pass of a two-pass reader).

The runner fills ``id``, ``source``, ``input_file`` and ``position`` defaults, enforces the schema,
writes Parquet and turns any exception a reader raises mid-stream (truncated gzip, I/O error) into one
quarantine record for the rest of that file. Readers therefore only describe *what* is in a file.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterator, Union

import codecs
import io

from curate.io.compression import OpenedInput, Utf8Transcoder

# Formats whose bytes are text in one encoding for the whole file; web pages and XML declare their own.
TRANSCODED_FORMATS = frozenset({"jsonl", "json", "csv", "tsv", "text"})

DEFAULT_MAX_RECORD_BYTES = 32 << 20  # 32 MiB: a "record" larger than this is quarantined, not parsed


@dataclass(slots=True)
class Doc:
    text: str
    url: str | None = None
    title: str | None = None
    created: datetime | str | None = None  # str values are parsed by curate.ingest.dates
    lang: str | None = None
    meta: dict = field(default_factory=dict)
    position: int | None = None  # record number in the file; the runner counts if None


@dataclass(slots=True)
class Bad:
    error_type: str
    error: str
    position: int | None = None
    byte_offset: int | None = None
    content: bytes | None = None  # hashed and measured, never stored

    @property
    def content_sha1(self) -> str | None:
        return hashlib.sha1(self.content).hexdigest() if self.content is not None else None


@dataclass(slots=True)
class Skip:
    reason: str


Item = Union[Doc, Bad, Skip, None]


@dataclass(frozen=True)
class ReaderOptions:
    """Options shared by readers; each reader documents the ones it uses (docs/ingest.md)."""

    text_field: str | None = None
    id_field: str | None = None
    url_field: str | None = None
    title_field: str | None = None
    date_field: str | None = None
    lang_field: str | None = None
    meta_fields: tuple[str, ...] = ()
    text_unit: str = "line"  # plain text: "line" (one document per line) or "file"
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
    lang: str | None = None  # language of every document, when the dump is known to be one language
    extract: str = "trafilatura"  # web: main-text extractor
    encoding: str | None = None  # record/text formats: legacy encoding of the dump (cp949, euc-kr...); default UTF-8

    def as_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


@dataclass
class ReadContext:
    path: Path
    input_file: str
    compression: str
    options: ReaderOptions
    fmt: str = ""

    def open(self) -> OpenedInput:
        """Open the decompressed stream. The runner owns progress accounting via ``opened``.

        With ``options.encoding`` set (and a format in :data:`TRANSCODED_FORMATS`), the stream is
        transcoded to UTF-8 so readers never see the legacy encoding."""
        self.opened = OpenedInput(self.path, self.compression)
        enc = self.options.encoding
        if enc and self.fmt in TRANSCODED_FORMATS and codecs.lookup(enc).name != "utf-8":
            self.opened.stream = io.BufferedReader(Utf8Transcoder(self.opened.stream, enc))  # type: ignore[assignment]
        return self.opened


Reader = Callable[[ReadContext], Iterator[Item]]


def iter_lines(stream, max_bytes: int, chunk: int = 1 << 20) -> Iterator[tuple[int, int, bytes | None, int]]:
    """Yield ``(line_number, byte_offset, line, length)`` for each line of a binary stream.

    ``line`` excludes the newline. A line longer than ``max_bytes`` is never held in memory: it is
    skipped in chunks and yielded as ``None`` with its true length so the caller can quarantine it.
    """
    lineno = 0
    offset = 0
    while True:
        line = stream.readline(max_bytes + 1)
        if not line:
            return
        length = len(line)
        if len(line) > max_bytes and not line.endswith(b"\n"):
            while True:  # drain the rest of the oversized line without keeping it
                rest = stream.readline(chunk)
                length += len(rest)
                if not rest or rest.endswith(b"\n"):
                    break
            yield lineno, offset, None, length
        else:
            yield lineno, offset, line.rstrip(b"\r\n") if line.endswith(b"\n") else line.rstrip(b"\r"), length
        lineno += 1
        offset += length


def decode_utf8(raw: bytes, position: int | None, byte_offset: int | None) -> str | Bad:
    """Decode strictly; invalid UTF-8 becomes a :class:`Bad` naming the first bad byte's offset."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        where = f" at byte {byte_offset + exc.start}" if byte_offset is not None else f" at byte {exc.start} of the record"
        return Bad("invalid_utf8", f"invalid UTF-8{where}: {exc.reason}", position, byte_offset, raw)
