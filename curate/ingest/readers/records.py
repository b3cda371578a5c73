"""Readers for record dumps: JSONL, JSON (array or single object), CSV and TSV.

Blog and news dumps mostly come as one of these. All stream: JSONL and CSV line by line, a JSON
array object by object with an incremental decoder, so a multi-GB array never sits in memory.
"""

from __future__ import annotations

import codecs
import csv
import json
import re
from typing import Iterator

import orjson

from curate.ingest.base import Bad, Item, ReadContext, Skip, decode_utf8, iter_lines
from curate.ingest.readers.mapping import record_to_doc

_SURROGATE = re.compile("[\udc80-\udcff]")


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    return {bool: "boolean", int: "number", float: "number", str: "string", list: "array"}.get(type(value), "value")


def read_jsonl(ctx: ReadContext) -> Iterator[Item]:
    """One JSON object per line. Blank lines are skipped (counted); every bad line is quarantined."""
    opts = ctx.options
    with ctx.open() as opened:
        for lineno, offset, raw, length in iter_lines(opened.stream, opts.max_record_bytes):
            if raw is None:
                yield Bad("record_too_large", f"line {lineno + 1} is {length:,} bytes, over the "
                          f"{opts.max_record_bytes:,}-byte limit (--max-record-mb)", lineno, offset, None)
                continue
            if lineno == 0 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]  # a UTF-8 byte-order mark (Windows editors write one)
            if not raw.strip():
                yield Skip("blank_line")
                continue
            try:
                obj = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                text = decode_utf8(raw, lineno, offset)
                if isinstance(text, Bad):
                    yield text
                    continue
                try:
                    # orjson is strict where dumps are not: NaN/Infinity (Python's json.dumps writes
                    # them) and lone surrogate escapes ("\ud800"). The stdlib parser takes both; a
                    # lone surrogate then quarantines the record as invalid_unicode when it is written.
                    obj = json.loads(text)
                except (ValueError, RecursionError):
                    yield Bad("malformed_json", f"line {lineno + 1}: {exc}", lineno, offset, raw)
                    continue
            if not isinstance(obj, dict):
                yield Bad("malformed_record", f"line {lineno + 1} is a JSON {_json_type(obj)}, "
                          "not an object", lineno, offset, raw)
                continue
            yield record_to_doc(obj, opts, lineno, offset)


_QUARANTINED = object()


class _ValueSkipper:
    """Find where a JSON value ends by bracket depth and string quoting alone, across chunks.

    Used to step over an array element that does not parse (or is too large to hold), so only that
    element is quarantined and the elements after it are still read.
    """

    _SPECIAL = re.compile(r'[\[\]{},"\\]')

    def __init__(self) -> None:
        self.depth = 0
        self.in_string = False
        self.escaped = False

    def scan(self, buf: str, pos: int) -> int | None:
        """Index in ``buf`` just past the value (after its closing bracket, or at the ``,``/``]``
        after a scalar); None when ``buf`` ends first (call again with the next chunk)."""
        if self.escaped and pos < len(buf):  # a backslash ended the previous chunk
            self.escaped = False
            pos += 1
        skip = -1
        for m in self._SPECIAL.finditer(buf, pos):
            i = m.start()
            if i == skip:  # the character after a backslash inside a string
                continue
            c = m.group()
            if self.in_string:
                if c == "\\":
                    if i + 1 < len(buf):
                        skip = i + 1
                    else:
                        self.escaped = True
                elif c == '"':
                    self.in_string = False
            elif c == '"':
                self.in_string = True
            elif c in "[{":
                self.depth += 1
            elif c in "]}":
                if self.depth == 0:
                    return i
                self.depth -= 1
                if self.depth == 0:
                    return i + 1
            elif c == "," and self.depth == 0:
                return i
        return None


def read_json(ctx: ReadContext) -> Iterator[Item]:
    """A JSON array of objects (streamed element by element), one JSON object, or several objects
    one after another (concatenated JSON, or JSON Lines with lines too long to sniff).

    Memory stays bounded by one element plus one 1 MiB chunk. An element that does not parse is
    quarantined on its own and reading goes on after it; an element over ``--max-record-mb`` is
    skipped without being held.
    """
    opts = ctx.options
    limit = opts.max_record_bytes
    decoder = json.JSONDecoder()
    utf8 = codecs.getincrementaldecoder("utf-8")("strict")
    with ctx.open() as opened:
        stream = opened.stream
        buf = ""
        pos = 0
        eof = False
        fills = 0

        def fill() -> bool:
            """Append the next chunk; drop what was parsed so memory stays bounded."""
            nonlocal buf, pos, eof, fills
            if eof:
                return False
            fills += 1
            chunk = stream.read(1 << 20)
            if pos:
                buf, pos = buf[pos:], 0
            if not chunk:
                buf += utf8.decode(b"", final=True)
                eof = True
                return False
            buf += utf8.decode(chunk)
            return True

        def skip_blank(chars: str) -> bool:
            """Move ``pos`` over ``chars``; False at the end of the input."""
            nonlocal pos
            while True:
                while pos < len(buf) and buf[pos] in chars:
                    pos += 1
                if pos < len(buf):
                    return True
                if not fill():
                    return False

        def skip_value(skipper: _ValueSkipper) -> bool:
            """Move ``pos`` past the element the skipper is in; False if the input ends first."""
            nonlocal pos
            while True:
                end = skipper.scan(buf, pos)
                if end is not None:
                    pos = end
                    return True
                pos = len(buf)
                if not fill():
                    return False

        try:
            if not skip_blank(" \t\r\n\ufeff"):
                yield Bad("empty_file", "JSON file holds only whitespace", None, 0)
                return
            opener = buf[pos]
            if opener not in "[{":
                yield Bad("malformed_json", f"JSON file starts with {opener!r}, not an array or an object", None, 0)
                return
            in_array = opener == "["
            if in_array:
                pos += 1
            index = 0
            while True:
                if not skip_blank(" \t\r\n," if in_array else " \t\r\n"):
                    if in_array:
                        yield Bad("truncated_stream", f"JSON array not closed after {index} elements; the file "
                                  "ends early", None, None)
                    return
                if in_array and buf[pos] == "]":
                    pos += 1
                    if skip_blank(" \t\r\n"):
                        yield Bad("malformed_json", f"data after the end of the JSON array ({buf[pos:pos + 20]!r}...)",
                                  None, None)
                    return
                where = f"array element {index}" if in_array else f"JSON value {index}"
                while True:
                    try:
                        obj, end = decoder.raw_decode(buf, pos)
                        if end < len(buf) or eof or not fill():  # a scalar may go on in the next chunk
                            break
                    except json.JSONDecodeError as exc:
                        # At the end of the buffer the element may just be incomplete: read more.
                        incomplete = exc.pos >= len(buf) - 5 or exc.msg.startswith("Unterminated string")
                        if incomplete and len(buf) - pos <= limit and fill():
                            continue
                        if len(buf) - pos > limit:
                            kind, problem = "record_too_large", f"is over the {limit:,}-byte limit (--max-record-mb)"
                        elif incomplete and eof:
                            yield Bad("truncated_stream", f"{where} is cut off: the file ends inside it", index, None)
                            return
                        else:
                            kind, problem = "malformed_json", f"is not valid JSON ({exc.msg})"
                        start, before = pos, fills
                        if not skip_value(_ValueSkipper()):
                            yield Bad(kind, f"{where} {problem}; the file ends inside it", index, None)
                            return
                        if pos == start:  # a stray ',', ']' or '}' where a value should start
                            pos += 1
                        held = fills == before and kind == "malformed_json"  # still in memory: hash it
                        content = buf[start:pos].encode("utf-8", "surrogatepass") if held else None
                        yield Bad(kind, f"{where} {problem}", index, None, content)
                        obj, end = _QUARANTINED, pos
                        break
                if obj is not _QUARANTINED and end - pos > limit:  # parsed whole in one chunk; same rule
                    yield Bad("record_too_large", f"{where} is {end - pos:,} characters, over the {limit:,}-byte "
                              "limit (--max-record-mb)", index, None)
                    obj = _QUARANTINED
                pos = end
                if obj is not _QUARANTINED:
                    if isinstance(obj, dict):
                        yield record_to_doc(obj, opts, index)
                    else:
                        yield Bad("malformed_record", f"{where} is a JSON {_json_type(obj)}, not an object",
                                  index, None)
                index += 1
        except UnicodeDecodeError as exc:
            yield Bad("invalid_utf8", f"invalid UTF-8 in JSON file ({exc.reason}); the rest of the file "
                      "cannot be read", None, None)


_TOO_LARGE = "\x00curate:line-over-limit\x00"


def _limited_lines(stream, max_bytes: int, oversized: list[int]) -> Iterator[str]:
    """Decoded lines (line ends kept, as the csv module wants) of at most ``max_bytes`` each.

    A longer line is drained in 1 MiB pieces, never held, and replaced by a marker row the CSV
    loop quarantines as ``record_too_large`` (its length goes to ``oversized``). Invalid UTF-8
    becomes surrogate escapes, which the row loop quarantines.
    """
    first = True
    while True:
        line = stream.readline(max_bytes + 1)
        if not line:
            return
        if len(line) > max_bytes and not line.endswith(b"\n"):
            length = len(line)
            while rest := stream.readline(1 << 20):
                length += len(rest)
                if rest.endswith(b"\n"):
                    break
            oversized.append(length)
            yield _TOO_LARGE + "\n"
            continue
        text = line.decode("utf-8", "surrogateescape")
        if first:
            text, first = text.lstrip("\ufeff"), False
        yield text


def _read_delimited(ctx: ReadContext, delimiter: str) -> Iterator[Item]:
    opts = ctx.options
    csv.field_size_limit(max(opts.max_record_bytes, 131072))
    oversized: list[int] = []
    with ctx.open() as opened:
        reader = csv.reader(_limited_lines(opened.stream, opts.max_record_bytes, oversized), delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield Bad("malformed_csv", f"header row: {exc}", 0, None)
            return
        if any(_TOO_LARGE in h for h in header):
            yield Bad("record_too_large", f"header row is over the {opts.max_record_bytes:,}-byte limit "
                      "(--max-record-mb); cannot map columns", 0, 0)
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
            if any(_TOO_LARGE in v for v in row):
                size = f"{oversized.pop(0):,} bytes" if oversized else "too large"
                yield Bad("record_too_large", f"row {position + 1} (line {reader.line_num}) has a line of {size}, "
                          f"over the {opts.max_record_bytes:,}-byte limit (--max-record-mb)", position, None)
            elif len(row) != len(header):
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
