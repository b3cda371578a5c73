"""Readers for record dumps: JSONL, JSON (array or single object), CSV and TSV.

Blog and news dumps mostly come as one of these. All stream: JSONL and CSV line by line, a JSON
array object by object with an incremental decoder, so a multi-GB array never sits in memory.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from typing import Iterator

import orjson

from curate.ingest.base import Bad, Item, ReadContext, Skip, decode_utf8, iter_lines
from curate.ingest.readers.mapping import record_to_doc

_SURROGATE = re.compile("[\udc80-\udcff]")


def read_jsonl(ctx: ReadContext) -> Iterator[Item]:
    """One JSON object per line. Blank lines are skipped (counted); every bad line is quarantined."""
    opts = ctx.options
    with ctx.open() as opened:
        for lineno, offset, raw, length in iter_lines(opened.stream, opts.max_record_bytes):
            if raw is None:
                yield Bad("record_too_large", f"line {lineno + 1} is {length:,} bytes, over the "
                          f"{opts.max_record_bytes:,}-byte limit (--max-record-bytes)", lineno, offset, None)
                continue
            if not raw.strip():
                yield Skip("blank_line")
                continue
            try:
                obj = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                text = decode_utf8(raw, lineno, offset)
                if isinstance(text, Bad):
                    yield text
                else:
                    yield Bad("malformed_json", f"line {lineno + 1}: {exc}", lineno, offset, raw)
                continue
            if not isinstance(obj, dict):
                yield Bad("malformed_record", f"line {lineno + 1} is a JSON {type(obj).__name__}, "
                          "not an object", lineno, offset, raw)
                continue
            yield record_to_doc(obj, opts, lineno, offset)


def read_json(ctx: ReadContext) -> Iterator[Item]:
    """A JSON array of objects (streamed element by element) or a single JSON object."""
    opts = ctx.options
    decoder = json.JSONDecoder()
    utf8 = codecs.getincrementaldecoder("utf-8")("strict")
    with ctx.open() as opened:
        stream = opened.stream
        buf = ""
        eof = False
        consumed_chars = 0

        def fill() -> bool:
            nonlocal buf, eof
            if eof:
                return False
            chunk = stream.read(1 << 20)
            if not chunk:
                buf += utf8.decode(b"", final=True)
                eof = True
                return False
            buf += utf8.decode(chunk)
            return True

        try:
            while not eof and not buf.lstrip():
                fill()
            buf = buf.lstrip().lstrip("\ufeff")
            if not buf:
                return
            if buf[0] == "{":  # a single object: read it whole (bounded)
                while fill():
                    if len(buf) > opts.max_record_bytes:
                        yield Bad("record_too_large", f"JSON object over {opts.max_record_bytes:,} bytes", 0, 0)
                        return
                try:
                    obj = json.loads(buf)
                except json.JSONDecodeError as exc:
                    yield Bad("malformed_json", f"not valid JSON: {exc}", 0, 0, buf.encode("utf-8", "replace"))
                    return
                yield record_to_doc(obj, opts, 0, 0)
                return
            if buf[0] != "[":
                yield Bad("malformed_json", "JSON file does not start with an array or object", None, 0)
                return
            pos = 1
            index = 0
            while True:
                # skip whitespace and the comma between elements
                while True:
                    while pos < len(buf) and buf[pos] in " \t\r\n,":
                        pos += 1
                    if pos < len(buf) or not fill():
                        break
                if pos >= len(buf):
                    yield Bad("truncated_stream", f"JSON array not closed after {index} elements", None, None)
                    return
                if buf[pos] == "]":
                    return
                while True:
                    try:
                        obj, end = decoder.raw_decode(buf, pos)
                        break
                    except json.JSONDecodeError as exc:
                        if len(buf) - pos > opts.max_record_bytes:
                            yield Bad("record_too_large", f"array element {index} is over "
                                      f"{opts.max_record_bytes:,} bytes or malformed: {exc}", index, None)
                            return
                        if not fill():
                            yield Bad("malformed_json", f"array element {index}: {exc}; the rest of the file "
                                      "cannot be read", index, None)
                            return
                if isinstance(obj, dict):
                    yield record_to_doc(obj, opts, index)
                else:
                    yield Bad("malformed_record", f"array element {index} is a JSON {type(obj).__name__}, "
                              "not an object", index, None)
                index += 1
                consumed_chars += end
                buf = buf[end:]  # drop what was parsed so memory stays bounded by one element
                pos = 0
        except UnicodeDecodeError as exc:
            yield Bad("invalid_utf8", f"invalid UTF-8 in JSON file ({exc.reason}); the rest of the file "
                      "cannot be read", None, None)


def _read_delimited(ctx: ReadContext, delimiter: str) -> Iterator[Item]:
    opts = ctx.options
    csv.field_size_limit(max(opts.max_record_bytes, 131072))
    with ctx.open() as opened:
        text = io.TextIOWrapper(opened.stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
        reader = csv.reader(text, delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield Bad("malformed_csv", f"header row: {exc}", 0, None)
            return
        if any(_SURROGATE.search(h) for h in header):
            yield Bad("invalid_utf8", "invalid UTF-8 in the header row; cannot map columns", 0, None)
            return
        position = 0
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield Bad("malformed_csv", f"row {position + 1} (line {reader.line_num}): {exc}", position, None)
                position += 1
                continue
            if not row or (len(row) == 1 and not row[0].strip()):
                yield Skip("blank_line")
                continue
            if len(row) != len(header):
                yield Bad("malformed_csv", f"row {position + 1} (line {reader.line_num}) has {len(row)} "
                          f"fields, header has {len(header)}", position, None,
                          delimiter.join(row).encode("utf-8", "surrogateescape"))
            elif any(_SURROGATE.search(v) for v in row):
                yield Bad("invalid_utf8", f"row {position + 1} (line {reader.line_num}) has invalid UTF-8",
                          position, None, delimiter.join(row).encode("utf-8", "surrogateescape"))
            else:
                yield record_to_doc(dict(zip(header, row)), opts, position)
            position += 1


def read_csv(ctx: ReadContext) -> Iterator[Item]:
    """Comma-separated values with a header row (RFC 4180 quoting, multi-line fields)."""
    return _read_delimited(ctx, ",")


def read_tsv(ctx: ReadContext) -> Iterator[Item]:
    """Tab-separated values with a header row."""
    return _read_delimited(ctx, "\t")
