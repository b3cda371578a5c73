"""Web archives and saved pages -> documents: WARC / WARC.gz / ARC / WET via warcio, main text via trafilatura.

What becomes a document (docs/ingest/web.md has the full table):

* a ``response`` (or ``resource``) record whose payload is HTML and whose HTTP status is 2xx (or
  unparseable): main text, title and page date extracted with trafilatura, once per record (one HTML
  parse gives text + metadata);
* a ``conversion`` record (Common Crawl WET): its text exactly as stored, URL from WARC-Target-URI;
* an ``.html`` file (``read_html``): one document per file.

Everything else is a :class:`Skip` with a reason (``warc_request``, ``warc_metadata``, ``warcinfo``,
``revisit``, ``dns``, ``non_html_response``, ``http_redirect``, ``http_not_modified``,
``http_error_status``, ``empty_response`` ...), counted in the manifest. An HTML page where trafilatura
finds no main text is still a document (empty text, ``meta.extraction == "empty"``): filters decide.

``position`` is the ordinal of the record in the file counting *every* record (warcinfo and requests
included), so positions, and therefore ids, do not change when skip rules change.

The runner hands us the decompressed stream (gzip per record or whole-file, zstd, bz2, xz); warcio reads
it as an uncompressed WARC, so ``warc_offset`` is the record's offset in the *decompressed* stream (equal
to the file offset for an uncompressed WARC). A truncated compressed stream raises ``EOFError`` from the
decompressor: the records before it have already been yielded and the runner quarantines the rest.
"""

from __future__ import annotations

import codecs
import html as htmllib
import logging
import re
from datetime import datetime
from typing import Iterator

from warcio.archiveiterator import ArchiveIterator
from warcio.bufferedreaders import BufferedReader, ChunkedDataReader
from warcio.exceptions import ArchiveLoadFailed
from warcio.limitreader import LimitReader
from warcio.statusandheaders import StatusAndHeadersParserException

from curate.errors import CurateError
from curate.ingest.base import Bad, Doc, Item, ReadContext, ReaderOptions, Skip, decode_utf8
from curate.ingest.dates import parse_date

# Libraries log per-page warnings ("discarding data: None") at WARNING; without a handler Python prints
# them to stderr for every empty page. A NullHandler silences that default while still propagating to
# any handler the user configures on the root logger.
for _name in ("trafilatura", "htmldate", "courlan", "justext", "charset_normalizer"):
    logging.getLogger(_name).addHandler(logging.NullHandler())

# --- record classification ------------------------------------------------------------------------

_SKIP_RECORD_TYPES = {
    "request": "warc_request",
    "metadata": "warc_metadata",
    "warcinfo": "warcinfo",
    "revisit": "revisit",
    "continuation": "warc_continuation",
    "arc_header": "warcinfo",
}
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", "application/xhtml", "text/xhtml",
                         "application/vnd.wap.xhtml+xml", "text/x-server-parsed-html"})
_BINARY_PREFIXES = ("image/", "audio/", "video/", "font/", "model/")
_BINARY_TYPES = frozenset({"application/pdf", "application/zip", "application/gzip", "application/x-gzip",
                           "application/x-shockwave-flash", "application/javascript", "text/javascript",
                           "application/x-javascript", "text/css", "application/json", "application/wasm",
                           "application/msword", "application/vnd.ms-excel", "application/x-tar"})
# HTML served without (or with a wrong) Content-Type; <title>/<meta> alone would also match RSS and XSPF
_HTML_SNIFF = re.compile(rb"<(!doctype\s+html|html[\s>]|head[\s>]|body[\s>])", re.I)
_CHARSET_PARAM = re.compile(r"charset\s*=\s*[\"']?\s*([^\"';,\s]+)", re.I)
_META_CHARSET = re.compile(rb"<meta\s[^>]*?charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:+-]+)", re.I)
_HTML_LANG = re.compile(rb"<html\s[^>]*?\blang\s*=\s*[\"']?\s*([A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*)", re.I)
_TITLE = re.compile(r"<title[^>]*>(.*?)</title\s*>", re.I | re.S)
_WS = re.compile(r"\s+")
_BLANK_LINES = re.compile(r"[ \t\u00a0\u3000]*\n[ \t\u00a0\u3000\n]*")

# --- charset ----------------------------------------------------------------------------------------

# WHATWG-style label mapping: legacy labels to the superset codec browsers actually use.
_CODEC_ALIASES = {
    "iso-8859-1": "cp1252", "iso8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252", "l1": "cp1252",
    "us-ascii": "cp1252", "ascii": "cp1252", "ansi_x3.4-1968": "cp1252", "windows-1252": "cp1252",
    "iso-8859-9": "cp1254", "latin5": "cp1254", "tis-620": "cp874", "iso-8859-11": "cp874",
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "gb_2312-80": "gb18030", "euc-cn": "gb18030",
    "euc-kr": "cp949", "ks_c_5601-1987": "cp949", "ksc5601": "cp949", "x-windows-949": "cp949", "uhc": "cp949",
    "shift_jis": "cp932", "shift-jis": "cp932", "sjis": "cp932", "x-sjis": "cp932", "ms_kanji": "cp932",
    "windows-31j": "cp932", "x-euc-jp": "euc_jp", "big5": "big5hkscs", "x-x-big5": "big5hkscs",
    "x-mac-roman": "mac_roman", "macintosh": "mac_roman", "utf8": "utf-8", "unicode-1-1-utf-8": "utf-8",
}
_SINGLE_BYTE = ("cp", "iso8859", "latin", "mac", "koi8", "tis", "windows")


def _codec(label: str | None) -> str | None:
    """Python codec name for a charset label, or None if the label is unknown or unusable for HTML."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    label = _CODEC_ALIASES.get(label, label)
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None
    if name.startswith(("utf-16", "utf-32")):
        return "utf-8"  # a label read from ASCII-compatible bytes cannot be UTF-16 (HTML spec does the same)
    return name


def _is_single_byte(codec: str) -> bool:
    return codec.startswith(_SINGLE_BYTE) and codec not in ("cp932", "cp949", "cp950", "cp936")


def decode_html(raw: bytes, http_charset: str | None = None) -> tuple[str, dict]:
    """Decode an HTML payload; return ``(text, meta)`` where meta names the charset and its source.

    Order: BOM; valid UTF-8 (a non-ASCII byte string that decodes as UTF-8 is UTF-8 whatever the label
    says, the commonest mislabel on the web); the declared charsets decoded strictly (HTTP header, then
    ``<meta charset>``; multi-byte labels before single-byte ones, since "ISO-8859-1" is often a server
    default that never fails to decode); a declared charset with at most 1% undecodable bytes (replaced
    by U+FFFD, counted in ``charset_errors``); detection with charset-normalizer; UTF-8 with replacement.
    """
    if raw.startswith(codecs.BOM_UTF8):
        return raw[3:].decode("utf-8", "replace"), {"charset": "utf-8", "charset_source": "bom"}
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return raw.decode("utf-16", "replace"), {"charset": "utf-16", "charset_source": "bom"}
    declared: list[tuple[str, str]] = []
    if (c := _codec(http_charset)) is not None:
        declared.append((c, "http"))
    m = _META_CHARSET.search(raw, 0, 8192)
    if m and (c := _codec(m.group(1).decode("ascii", "replace"))) is not None and c not in (d[0] for d in declared):
        declared.append((c, "html_meta"))
    labels = {"charset_declared": declared[0][0]} if declared else {}
    try:
        text = raw.decode("utf-8")
        source = next((s for c, s in declared if c == "utf-8"), "utf8_valid")
        return text, {"charset": "utf-8", "charset_source": source}
    except UnicodeDecodeError:
        pass
    ordered = [d for d in declared if not _is_single_byte(d[0])] + [d for d in declared if _is_single_byte(d[0])]
    for codec, source in ordered:
        if codec == "utf-8":
            continue
        try:
            return raw.decode(codec), {"charset": codec, "charset_source": source}
        except UnicodeDecodeError:
            continue
    for codec, source in ordered:
        text = raw.decode(codec, "replace")
        errors = text.count("\ufffd")
        if errors <= max(4, len(text) // 100):
            return text, {"charset": codec, "charset_source": source, "charset_errors": errors}
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(raw[:262144]).best()
        if best is not None and (codec := _codec(best.encoding)) not in (None, "utf-8"):  # not UTF-8: tried
            text = raw.decode(codec, "replace")
            return text, {"charset": codec, "charset_source": "detected", **labels,
                          "charset_errors": text.count("\ufffd")}
    except Exception:  # noqa: BLE001 - detection is best effort; fall through to lossy UTF-8
        pass
    text = raw.decode("utf-8", "replace")
    return text, {"charset": "utf-8", "charset_source": "fallback", **labels, "charset_errors": text.count("\ufffd")}


# --- extraction -------------------------------------------------------------------------------------

_CONFIGS: dict[int, object] = {}


def _config(max_bytes: int):
    """trafilatura config whose MAX_FILE_SIZE follows --max-record-mb (its own default is 20 MB)."""
    cfg = _CONFIGS.get(max_bytes)
    if cfg is None:
        from trafilatura.settings import use_config

        cfg = use_config()
        cfg.set("DEFAULT", "MAX_FILE_SIZE", str(max(max_bytes, 1 << 20) * 4))  # chars may exceed bytes
        cfg.set("DEFAULT", "EXTRACTION_TIMEOUT", "0")
        _CONFIGS[max_bytes] = cfg
    return cfg


def _block_text(body) -> str:
    """Main text with one blank line between blocks (paragraphs, headings, lists, tables, code, quotes)
    and single newlines kept inside a block (``<br>``, list items, table rows)."""
    from trafilatura.xml import xmltotxt

    blocks: list[str] = []

    def walk(container) -> None:
        if container.text and container.text.strip():
            blocks.append(container.text.strip())
        for child in container:
            if child.tag in ("div", "main", "body", "doc", "section", "article"):
                walk(child)
                if child.tail and child.tail.strip():
                    blocks.append(child.tail.strip())
                continue
            text = xmltotxt(child, False)
            text = _BLANK_LINES.sub("\n", text).strip()
            if text:
                blocks.append(text)

    walk(body)
    return "\n\n".join(blocks)


def _title_from_html(text: str) -> str | None:
    m = _TITLE.search(text, 0, 200_000)
    if not m:
        return None
    title = _WS.sub(" ", htmllib.unescape(m.group(1))).strip()
    return title or None


def extract_html(raw: bytes, opts: ReaderOptions, url: str | None = None, http_charset: str | None = None,
                 max_date: datetime | None = None) -> tuple[str, str | None, str | None, dict]:
    """Decode and extract one HTML page. Return ``(text, title, page_date, meta)``; exceptions from
    trafilatura propagate (the caller turns them into ``Bad("extraction_error")``)."""
    from trafilatura import bare_extraction

    html, meta = decode_html(raw, http_charset)
    if m := _HTML_LANG.search(raw, 0, 65536):
        meta["html_lang"] = m.group(1).decode("ascii").lower().replace("_", "-")
    date_params = {"original_date": True, "extensive_search": False,
                   "max_date": (max_date or datetime.now()).strftime("%Y-%m-%d")}
    # output_format="txt": trafilatura leaves the body tree unserialized and _block_text renders it once
    document = bare_extraction(html, url=url, with_metadata=True, include_comments=False, include_tables=True,
                               output_format="txt", date_extraction_params=date_params,
                               config=_config(opts.max_record_bytes))
    text = _block_text(document.body) if document is not None and document.body is not None else ""
    title = (document.title if document is not None else None) or _title_from_html(html)
    page_date = document.date if document is not None else None
    meta["extraction"] = "trafilatura" if text else "empty"
    if page_date:
        meta["page_date"] = page_date
    if document is not None and document.url and document.url != url:
        meta["page_url"] = document.url  # canonical link / og:url as the page declares it
    return text, title, page_date, meta


def _check_extractor(opts: ReaderOptions) -> None:
    if opts.extract != "trafilatura":
        raise CurateError(f"web readers: extract={opts.extract!r} is not supported (only 'trafilatura')")


# --- WARC -------------------------------------------------------------------------------------------


class _GuardedStream:
    """Pass reads through, count the bytes (``tell`` of the decompressed stream, which a raw pipe cannot
    give) and remember the first exception of the underlying stream.

    warcio treats an ``EOFError`` raised while parsing record headers as the end of the file; a
    truncated gzip raises exactly that. We re-raise it after the loop so the rest of the file is
    quarantined as ``truncated_stream`` instead of silently ending.
    """

    def __init__(self, stream) -> None:
        self._stream = stream
        self.position = 0
        self.error: BaseException | None = None

    def _counted(self, fn, n: int) -> bytes:
        try:
            data = fn(n)
        except Exception as exc:
            self.error = self.error or exc
            raise
        self.position += len(data)
        return data

    def read(self, n: int = -1) -> bytes:
        return self._counted(self._stream.read, n)

    def readline(self, n: int = -1) -> bytes:
        return self._counted(self._stream.readline, n)

    def tell(self) -> int:
        return self.position

    def close(self) -> None:  # the runner owns closing
        pass


def _mime(value: str | None) -> str:
    return (value or "").split(";", 1)[0].strip().lower()


def _status(http) -> tuple[int | None, str]:
    raw = (http.get_statuscode() or "").strip()
    return (int(raw) if raw.isdigit() and len(raw) == 3 else None), raw


def _missing_bytes(record) -> int:
    """Drain what is left of the record; return how many bytes its Content-Length promised but the file
    did not have (> 0 only when an uncompressed file ends inside this record)."""
    stream = record.raw_stream
    while stream.read(1 << 16):
        pass
    return stream.limit if isinstance(stream, LimitReader) else 0


def _truncated(ordinal: int, uri: str | None, record, missing: int) -> Bad:
    return Bad("truncated_stream", f"the file ends inside record {ordinal} ({uri}): {missing:,} of its "
               f"{record.length:,} declared bytes are missing", ordinal, None)


def _read_payload(record, http, max_bytes: int) -> bytes | Bad:
    """HTTP payload with chunked transfer and content encoding removed, at most ``max_bytes``.

    warcio undoes chunking and gzip/deflate (falling back to the raw bytes when a payload labelled
    gzip is not); brotli and zstd we decode here, bounded, since warcio's brotli hook does not work
    with brotli >= 1.2. Mislabelled payloads that do not decode are kept as they are.
    """
    encoding = (http.get_header("Content-Encoding") or "").strip().lower() if http is not None else ""
    if encoding in ("identity", "none", "utf-8", "utf8", "binary", "text", "plain", "8bit", "7bit"):
        encoding = ""
    encoding = {"x-gzip": "gzip", "x-deflate": "deflate"}.get(encoding, encoding)
    if encoding not in ("", "gzip", "deflate", "br", "zstd"):
        return Bad("unsupported_content_encoding", f"HTTP Content-Encoding {encoding!r} is not supported", None)
    if encoding == "br":
        try:
            import brotli
        except ImportError:
            return Bad("unsupported_content_encoding", "HTTP Content-Encoding 'br' needs the brotli package "
                       "(pip install brotli, or curate[web])", None)
    decomp = encoding if encoding in ("gzip", "deflate") else None
    chunked = http is not None and "chunked" in (http.get_header("Transfer-Encoding") or "").lower()
    if chunked:
        stream = ChunkedDataReader(record.raw_stream, decomp_type=decomp)
    elif decomp:
        stream = BufferedReader(record.raw_stream, decomp_type=decomp)
    else:
        stream = record.raw_stream
    data = stream.read(max_bytes + 1)
    if encoding == "br" and data and len(data) <= max_bytes:
        try:
            decoder = brotli.Decompressor()
            out = decoder.process(data, output_buffer_limit=max_bytes + 1)
            data = out if decoder.is_finished() or len(out) > max_bytes else data
        except brotli.error:
            pass
    elif encoding == "zstd" and data and len(data) <= max_bytes:
        import zstandard

        try:
            data = zstandard.ZstdDecompressor().stream_reader(data).read(max_bytes + 1)
        except zstandard.ZstdError:
            pass
    if len(data) > max_bytes:
        return Bad("record_too_large", f"payload is over the {max_bytes:,}-byte limit (--max-record-mb)", None)
    return data


def read_warc(ctx: ReadContext) -> Iterator[Item]:
    """WARC / ARC / WET records -> documents (see the module docstring for the rules)."""
    opts = ctx.options
    _check_extractor(opts)
    with ctx.open() as opened:
        stream = opened.stream
        is_arc = stream.peek(16)[:11] == b"filedesc://" if hasattr(stream, "peek") else False
        guarded = _GuardedStream(stream)
        archive = ArchiveIterator(guarded, arc2warc=True)
        ordinal = -1
        records = iter(archive)
        last = None
        reported = False
        while True:
            try:
                record = next(records)
            except StopIteration:
                if guarded.error is not None:  # warcio took a truncated stream's EOFError for the end
                    raise guarded.error
                # an uncompressed file that ends inside a skipped record: say so (a document record
                # that ends early was already reported by _record_item)
                if last is not None and not reported and isinstance(last.raw_stream, LimitReader) \
                        and last.raw_stream.limit > 0:
                    yield _truncated(ordinal, last.rec_headers.get_header("WARC-Target-URI"), last,
                                     last.raw_stream.limit)
                elif isinstance(end := getattr(archive, "offset", None), int) and guarded.tell() > end:
                    # warcio also stops quietly when the file ends inside a record's headers
                    yield Bad("truncated_stream", f"the last {guarded.tell() - end:,} bytes (from byte {end:,} of "
                              "the decompressed stream) are not a complete WARC record: the file ends early",
                              ordinal + 1, end)
                break
            except (EOFError, OSError):
                raise  # the stream broke (truncated gzip, I/O error): the runner quarantines the rest
            except Exception as exc:  # noqa: BLE001 - warcio raises many kinds on malformed headers
                if guarded.error is not None:
                    raise guarded.error from exc
                why = str(exc) if isinstance(exc, (ArchiveLoadFailed, StatusAndHeadersParserException)) \
                    else f"{type(exc).__name__}: {exc}"
                yield Bad("malformed_warc", f"record {ordinal + 1} at byte {getattr(archive, 'offset', '?')} of the "
                          f"decompressed stream cannot be parsed ({why}); the rest of the file cannot be read",
                          ordinal + 1, getattr(archive, "offset", None))
                return
            ordinal += 1
            offset = getattr(archive, "offset", None)  # start of this record (warcio sets it before yielding)
            last = record
            try:
                item = _record_item(record, ordinal, offset, opts, is_arc)
            except (EOFError, OSError, KeyboardInterrupt, MemoryError):
                raise
            except Exception as exc:  # noqa: BLE001 - a malformed record costs that record only
                item = Bad("malformed_record", f"record {ordinal} cannot be read ({type(exc).__name__}: {exc})",
                           ordinal, offset)
            if guarded.error is not None:  # the decompressor failed under warcio (corrupt gzip): not this
                raise guarded.error        # record's fault; the runner quarantines the rest of the file
            if isinstance(item, Bad):
                reported = item.error_type == "truncated_stream"
                if item.byte_offset is None:
                    item.byte_offset = offset
            else:
                reported = False
            yield item


def _record_item(record, ordinal: int, offset: int | None, opts: ReaderOptions, is_arc: bool) -> Item:
    rtype = (record.rec_type or "").lower()
    headers = record.rec_headers
    if record.length is None or not rtype:
        return Bad("malformed_record", f"record {ordinal} has no {'WARC-Type' if not rtype else 'Content-Length'} "
                   "header (the file may end inside the record's header)", ordinal, offset)
    if rtype in _SKIP_RECORD_TYPES:
        return Skip(_SKIP_RECORD_TYPES[rtype])
    uri = headers.get_header("WARC-Target-URI") or None
    warc_date = headers.get_header("WARC-Date")
    meta: dict = {"warc_type": rtype, "warc_offset": offset}
    if not is_arc:  # warcio invents a random uuid for ARC records: keep only real, stable ids
        meta["warc_record_id"] = headers.get_header("WARC-Record-ID")
    if warc_date:
        meta["warc_date"] = warc_date
    crawl_date = parse_date(warc_date) if warc_date else None
    if rtype == "conversion":
        return _wet_doc(record, ordinal, uri, crawl_date, meta, opts)
    if rtype not in ("response", "resource"):
        return Skip("warc_other_record")
    if uri and uri.startswith(("dns:", "whois:")):
        return Skip("dns")
    http = record.http_headers if rtype == "response" else None
    if rtype == "response":
        if http is None:
            return Skip("empty_response" if not record.length else "non_http_response")
        status, status_raw = _status(http)
        if status is not None:
            meta["http_status"] = status
            if status == 304:
                return Skip("http_not_modified")
            if 300 <= status < 400:
                return Skip("http_redirect")
            if status >= 400:
                return Skip("http_error_status")
            if status < 200:
                return Skip("http_informational")
        else:
            meta["http_status_raw"] = status_raw
        content_type = http.get_header("Content-Type")
    else:
        content_type = headers.get_header("Content-Type")
    mime = _mime(content_type)
    meta["content_type"] = content_type
    if is_arc:
        meta["archive_format"] = "arc"
    if mime not in _HTML_TYPES and (mime.startswith(_BINARY_PREFIXES) or mime in _BINARY_TYPES):
        return Skip("non_html_response" if rtype == "response" else "non_html_resource")
    if record.length is not None and record.length > opts.max_record_bytes:
        return Bad("record_too_large", f"record {ordinal} ({uri}) is {record.length:,} bytes, over the "
                   f"{opts.max_record_bytes:,}-byte limit (--max-record-mb)", ordinal, offset)
    try:
        payload = _read_payload(record, http, opts.max_record_bytes)
    except (EOFError, OSError):
        raise  # the stream itself broke: the runner quarantines the rest of the file
    except Exception as exc:  # noqa: BLE001 - a broken chunked/compressed payload spoils one record only
        return Bad("malformed_record", f"record {ordinal} ({uri}): cannot decode the HTTP payload "
                   f"({type(exc).__name__}: {exc})", ordinal, offset)
    if isinstance(payload, Bad):
        payload.position = ordinal
        payload.error = f"record {ordinal} ({uri}): {payload.error}"
        return payload
    if missing := _missing_bytes(record):
        return _truncated(ordinal, uri, record, missing)
    if not payload.strip():
        return Skip("empty_response")
    if mime not in _HTML_TYPES:
        if not _HTML_SNIFF.search(payload, 0, 1024):
            return Skip("non_html_response" if rtype == "response" else "non_html_resource")
        meta["html_sniffed"] = True
    http_charset = None
    if content_type and (m := _CHARSET_PARAM.search(content_type)):
        http_charset = m.group(1)
    try:
        text, title, page_date, emeta = extract_html(payload, opts, uri, http_charset, crawl_date)
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - one page must not stop the file
        return Bad("extraction_error", f"record {ordinal} ({uri}): trafilatura failed "
                   f"({type(exc).__name__}: {exc})", ordinal, offset, payload)
    meta.update(emeta)
    created = parse_date(page_date) if page_date else None
    return Doc(text=text, url=uri, title=title, created=created or crawl_date, lang=opts.lang, meta=meta,
               position=ordinal)


def _wet_doc(record, ordinal: int, uri: str | None, crawl_date, meta: dict, opts: ReaderOptions) -> Item:
    headers = record.rec_headers
    if record.length is not None and record.length > opts.max_record_bytes:
        return Bad("record_too_large", f"record {ordinal} ({uri}) is {record.length:,} bytes, over the "
                   f"{opts.max_record_bytes:,}-byte limit (--max-record-mb)", ordinal, meta["warc_offset"])
    raw = record.raw_stream.read(opts.max_record_bytes + 1)
    if missing := _missing_bytes(record):
        return _truncated(ordinal, uri, record, missing)
    text = decode_utf8(raw, ordinal, None)
    if isinstance(text, Bad):
        text.error = f"record {ordinal} ({uri}): WET text is not UTF-8: {text.error}"
        text.byte_offset = meta["warc_offset"]
        return text
    meta["content_type"] = headers.get_header("Content-Type")
    meta["extraction"] = "wet"
    if refers := headers.get_header("WARC-Refers-To"):
        meta["warc_refers_to"] = refers
    if langs := headers.get_header("WARC-Identified-Content-Language"):
        meta["cc_languages"] = langs  # ISO 639-3 codes by Common Crawl's CLD2, comma-separated
    return Doc(text=text, url=uri, title=None, created=crawl_date, lang=opts.lang, meta=meta, position=ordinal)


# --- single HTML files ------------------------------------------------------------------------------


def read_html(ctx: ReadContext) -> Iterator[Item]:
    """One HTML page per file -> one document (position 0). The URL is the page's canonical link or
    og:url when it declares one; ``meta.file_name`` keeps the file name."""
    opts = ctx.options
    _check_extractor(opts)
    with ctx.open() as opened:
        raw = opened.stream.read(opts.max_record_bytes + 1)
    if len(raw) > opts.max_record_bytes:
        yield Bad("record_too_large", f"HTML file is over the {opts.max_record_bytes:,}-byte limit "
                  "(--max-record-mb)", 0, 0, None)
        return
    try:
        text, title, page_date, meta = extract_html(raw, opts)
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001
        yield Bad("extraction_error", f"trafilatura failed ({type(exc).__name__}: {exc})", 0, 0, raw)
        return
    url = meta.pop("page_url", None)
    meta["file_name"] = ctx.path.name
    yield Doc(text=text, url=url, title=title, created=parse_date(page_date) if page_date else None,
              lang=opts.lang, meta=meta, position=0)
