"""Input formats: the registry of readers and content sniffing for ``--format auto``.

Compression comes from magic bytes (curate.io.compression); the format comes from the decompressed
content first (WARC header, Parquet magic, XML root element, JSON shape) and from the file name only
where content cannot tell (CSV vs TSV vs plain text).
"""

from __future__ import annotations

import codecs
import importlib
import re
from dataclasses import dataclass
from pathlib import PurePath

import orjson

from curate.errors import CurateError
from curate.ingest.base import Reader


@dataclass(frozen=True)
class Format:
    name: str
    reader: str  # "module:function", imported lazily so heavy deps load only when needed
    description: str
    text_based: bool = True

    def load(self) -> Reader:
        module, func = self.reader.split(":")
        try:
            return getattr(importlib.import_module(module), func)
        except ImportError as exc:
            raise CurateError(f"format {self.name!r} needs an optional dependency that is not installed "
                              f"({exc.name}); install it with: pip install 'curate[all]'") from exc


FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("warc", "curate.ingest.readers.web:read_warc",
           "WARC/ARC web archives: HTML responses -> main text (trafilatura); WET conversion records as they are", False),
    Format("html", "curate.ingest.readers.web:read_html", "one HTML page per file -> main text (trafilatura)"),
    Format("jsonl", "curate.ingest.readers.records:read_jsonl", "one JSON object per line, field mapping"),
    Format("json", "curate.ingest.readers.records:read_json", "a JSON array of objects (streamed) or one object"),
    Format("csv", "curate.ingest.readers.records:read_csv", "CSV with a header row, field mapping"),
    Format("tsv", "curate.ingest.readers.records:read_tsv", "TSV with a header row, field mapping"),
    Format("text", "curate.ingest.readers.text:read_text", "plain text: one document per line, or per file (--text-unit file)"),
    Format("parquet", "curate.ingest.readers.parquet:read_parquet", "Parquet with column mapping", False),
    Format("uspto", "curate.ingest.readers.uspto:read_uspto",
           "USPTO full-text patents: grant/application XML v4.x, PAP v1.5, SGML-era XML, Green Book text; "
           "weekly bulk files of concatenated documents"),
    Format("stackexchange", "curate.ingest.readers.stackexchange:read_posts",
           "StackExchange Posts.xml -> one document per question thread"),
    Format("squad", "curate.ingest.readers.squad:read_squad", "SQuAD-style JSON: one document per context"),
)}

_COMPRESSION_SUFFIXES = {".gz", ".gzip", ".zst", ".zstd", ".bz2", ".xz"}
_EXTENSION_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "tsv",
                      ".txt": "text", ".text": "text", ".html": "html", ".htm": "html", ".parquet": "parquet",
                      ".warc": "warc", ".arc": "warc", ".wet": "warc", ".greenbook": "uspto"}
# Root element or DOCTYPE name: a long image-entity list in the DOCTYPE can push the root element past
# the sniffed head, the DOCTYPE name cannot be pushed.
_PATENT_ROOT = re.compile(rb"<(?:!DOCTYPE\s+)?(us-patent-grant|us-patent-application|patent-application-publication|PATDOC)[\s>\[]")
_GREENBOOK = re.compile(rb"^(HHHHHT|PATN\r?\n)", re.M)


def format_names() -> list[str]:
    return ["auto", *FORMATS]


def extension_of(name: str) -> str:
    """Last suffix of ``name`` once compression suffixes are removed (``a.jsonl.zst`` -> ``.jsonl``)."""
    path = PurePath(name)
    while path.suffix.lower() in _COMPRESSION_SUFFIXES:
        path = path.with_suffix("")
    return path.suffix.lower()


def is_binary(head: bytes) -> bool:
    """True if ``head`` cannot be the start of a UTF-8 (or ASCII) text file."""
    if b"\x00" in head:
        return True
    try:
        codecs.getincrementaldecoder("utf-8")("strict").decode(head, final=False)
    except UnicodeDecodeError:
        # legacy-encoded HTML/text (EUC-KR, Shift_JIS) is not binary: control bytes are the tell
        controls = sum(1 for b in head[:4096] if b < 9 or 13 < b < 32)
        return controls > len(head[:4096]) * 0.01
    return False


def sniff_format(name: str, head: bytes) -> tuple[str | None, str]:
    """Return ``(format, why)``; format is None when the content is not something we read."""
    ext = extension_of(name)
    if not head:
        return None, "empty"
    if head.startswith(b"PAR1"):
        return "parquet", "Parquet magic bytes"
    if head.startswith(b"WARC/"):
        return "warc", "WARC header"
    if head.startswith(b"filedesc://"):
        return "warc", "ARC header"
    if is_binary(head):
        return None, "binary"
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if _GREENBOOK.match(stripped):
        return "uspto", "USPTO Green Book header"
    if stripped.startswith(b"<"):
        if _PATENT_ROOT.search(head):
            return "uspto", "USPTO patent root element"
        lower = head[:65536].lower()
        if b"<posts" in lower and b"<row " in lower:
            return "stackexchange", "StackExchange <posts><row> layout"
        if b"<html" in lower or b"<!doctype html" in lower or ext in (".html", ".htm"):
            return "html", "HTML markup"
        return None, "XML with an unknown root element"
    if stripped.startswith(b"{"):
        if b'"paragraphs"' in head and b'"qas"' in head:
            return "squad", "SQuAD layout (data/paragraphs/qas)"
        first, newline, _ = stripped.partition(b"\n")
        if newline:
            try:
                if isinstance(orjson.loads(first), dict):
                    return "jsonl", "one JSON object per line"
            except orjson.JSONDecodeError:
                pass
        return ("jsonl", "file extension") if ext in (".jsonl", ".ndjson") else ("json", "JSON object")
    if stripped.startswith(b"["):
        return "json", "JSON array"
    if ext in _EXTENSION_FORMATS and FORMATS[_EXTENSION_FORMATS[ext]].text_based:
        return _EXTENSION_FORMATS[ext], f"file extension {ext}"
    return "text", "plain text (no other format matched)"
