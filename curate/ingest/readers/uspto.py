"""USPTO full-text patents -> one document per patent (docs/ingest/patents.md).

Formats, told apart by content (root element, or the ``PATN`` record of Green Book text):

* ``us-patent-grant`` / ``us-patent-application`` v4.x XML (2005-today, the weekly ``ipg``/``ipa``
  bulk files);
* ``patent-application-publication`` (PAP v1.5/v1.6, applications 2001-2004);
* ``PATDOC`` (ST.32 XML derived from the SGML "Red Book", grants 2001-2004);
* APS "Green Book" fixed-field text (grants 1976-2001).

A bulk file concatenates many documents: XML ones each start with their own ``<?xml ...?>``
declaration at the start of a line, Green Book ones with a ``PATN`` line. The file is split on those
markers while streaming, one document in memory at a time (bounded by ``--max-record-mb``).

Safety: XML is parsed by lxml with DTD loading, entity resolution and network access all off. A
document whose DOCTYPE declares an external parsed entity (``<!ENTITY x SYSTEM "file:///...">``, or
an external parameter entity) is quarantined as ``external_entity`` before parsing; such entities
are never resolved. The character entities the USPTO DTDs define (``&lsquo;``, ``&agr;``...) are
replaced by their characters before parsing, since the DTDs are not loaded.
"""

from __future__ import annotations

import html.entities
import re
from datetime import datetime, timezone
from typing import Iterator

from lxml import etree

from curate.ingest.base import Bad, Doc, Item, ReadContext, Skip

_CHUNK = 1 << 20

# ---------------------------------------------------------------------------------------------------
# Character entities
# ---------------------------------------------------------------------------------------------------

# ISO 8879 Greek sets the USPTO DTDs use and HTML5 does not define (isogrk1, isogrk2; isogrk3's
# "thetas"/"phis"). Everything else (ISOnum, ISOpub, ISOtech, ISOlat1/2, ISOamsX, ISOcyr...) is in HTML5.
_ISO_EXTRA = {
    "agr": "α", "Agr": "Α", "bgr": "β", "Bgr": "Β", "ggr": "γ", "Ggr": "Γ", "dgr": "δ", "Dgr": "Δ",
    "egr": "ε", "Egr": "Ε", "zgr": "ζ", "Zgr": "Ζ", "eegr": "η", "EEgr": "Η", "thgr": "θ", "THgr": "Θ",
    "igr": "ι", "Igr": "Ι", "kgr": "κ", "Kgr": "Κ", "lgr": "λ", "Lgr": "Λ", "mgr": "μ", "Mgr": "Μ",
    "ngr": "ν", "Ngr": "Ν", "xgr": "ξ", "Xgr": "Ξ", "ogr": "ο", "Ogr": "Ο", "pgr": "π", "Pgr": "Π",
    "rgr": "ρ", "Rgr": "Ρ", "sgr": "σ", "Sgr": "Σ", "sfgr": "ς", "tgr": "τ", "Tgr": "Τ", "ugr": "υ",
    "Ugr": "Υ", "phgr": "φ", "PHgr": "Φ", "khgr": "χ", "KHgr": "Χ", "psgr": "ψ", "PSgr": "Ψ",
    "ohgr": "ω", "OHgr": "Ω",
    "aacgr": "ά", "Aacgr": "Ά", "eacgr": "έ", "Eacgr": "Έ", "eeacgr": "ή", "EEacgr": "Ή", "iacgr": "ί",
    "Iacgr": "Ί", "idiagr": "ΐ", "idigr": "ϊ", "Idigr": "Ϊ", "oacgr": "ό", "Oacgr": "Ό", "uacgr": "ύ",
    "Uacgr": "Ύ", "udiagr": "ΰ", "udigr": "ϋ", "Udigr": "Ϋ", "ohacgr": "ώ", "OHacgr": "Ώ",
    "thetas": "θ", "phis": "φ",
}
_XML_BUILTIN = frozenset({"lt", "gt", "amp", "quot", "apos"})
_ENTITY_REF = re.compile(rb"&([A-Za-z][A-Za-z0-9._-]*);")


def entity_char(name: str) -> str | None:
    """The text of a character entity name from the HTML5/ISO 8879 sets, or None if unknown."""
    value = html.entities.html5.get(name + ";")
    if value is None:
        value = _ISO_EXTRA.get(name)
    if value is None and name.startswith("b.") and len(name) > 2:  # isogrk4 bold Greek: b.alpha
        value = html.entities.html5.get(name[2:] + ";")
    return value


def _numeric_refs(text: str) -> bytes:
    return "".join(f"&#x{ord(c):x};" for c in text).encode("ascii")


def substitute_entities(data: bytes, start: int, declared: frozenset[str]) -> bytes:
    """Replace character entity references after ``start`` (the end of the DOCTYPE) with numeric refs.

    The five XML built-ins and names the document declares itself stay as they are; an unknown name
    is written as literal text (``&amp;name;``) so the parser neither fails nor drops it silently.
    """

    def sub(m: re.Match) -> bytes:
        name = m.group(1).decode("ascii")
        if name in _XML_BUILTIN or name in declared:
            return m.group(0)
        value = entity_char(name)
        if value is None:
            return b"&amp;" + m.group(1) + b";"
        return _numeric_refs(value)

    if b"&" not in data[start:]:
        return data
    return data[:start] + _ENTITY_REF.sub(sub, data[start:])


# ---------------------------------------------------------------------------------------------------
# DOCTYPE inspection (external entity policy)
# ---------------------------------------------------------------------------------------------------

_WS = b" \t\r\n"
_NAME = re.compile(rb"[^\s\[>\"']+")
_LITERAL = rb"(?:\"[^\"]*\"|'[^']*')"
_MARKUP_DECL = re.compile(rb"<!([A-Z]+)((?:[^\"'>]|\"[^\"]*\"|'[^']*')*)>")
_PE_REF = re.compile(rb"%[^\s;%]+;")
_EXTERNAL_ID = re.compile(rb"\s*(?:SYSTEM\s*" + _LITERAL + rb"|PUBLIC\s*" + _LITERAL + rb"(?:\s*" + _LITERAL + rb")?)")
_ENTITY_DECL = re.compile(
    rb"\s+(%\s+)?([^\s%;\"']+)\s+(?:(SYSTEM)\s*(" + _LITERAL + rb")|(PUBLIC)\s*(" + _LITERAL + rb")\s*(" + _LITERAL
    + rb")|(" + _LITERAL + rb"))(?:\s+NDATA\s+(\S+))?\s*$")
_ANY_EXTERNAL = re.compile(rb"<!ENTITY\s+(%\s+)?([^\s%;\"']+)\s+(SYSTEM|PUBLIC)\b((?:[^\"'>]|\"[^\"]*\"|'[^']*')*)>")


class Prolog:
    """What the prolog of one XML document declares."""

    __slots__ = ("end", "declared", "external", "error")

    def __init__(self) -> None:
        self.end = 0  # offset just past the DOCTYPE (0 when there is none)
        self.declared: dict[str, str] = {}  # internal general entities: name -> literal value
        self.external: tuple[str, str, str] | None = None  # (name, SYSTEM|PUBLIC, identifier)
        self.error: str | None = None


def _unquote(lit: bytes) -> str:
    return lit[1:-1].decode("utf-8", "replace")


def inspect_prolog(data: bytes) -> Prolog:
    """Find the DOCTYPE and the entities its internal subset declares, without an XML parser.

    Unparsed entities (``NDATA``, the TIFF drawings of PAP/ST.32 files) are harmless: they can only
    be named in attributes, never expanded into text. External parsed entities, external parameter
    entities and parameter entities whose value declares further entities are reported in
    ``external``.
    """
    info = Prolog()
    n = len(data)
    pos = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    while True:  # skip the XML declaration, comments, PIs and whitespace before the DOCTYPE
        while pos < n and data[pos] in _WS:
            pos += 1
        if data.startswith(b"<?", pos):
            end = data.find(b"?>", pos)
            if end < 0:
                return info
            pos = end + 2
        elif data.startswith(b"<!--", pos):
            end = data.find(b"-->", pos + 4)
            if end < 0:
                return info
            pos = end + 3
        else:
            break
    if not data.startswith(b"<!DOCTYPE", pos):
        return info
    pos += 9
    while pos < n and data[pos] in _WS:
        pos += 1
    m = _NAME.match(data, pos)
    if m is None:
        info.error = "DOCTYPE without a root element name"
        return _fallback(data, info)
    pos = m.end()
    m = _EXTERNAL_ID.match(data, pos)
    if m is not None:
        pos = m.end()
    while pos < n and data[pos] in _WS:
        pos += 1
    if pos < n and data[pos:pos + 1] == b"[":
        pos += 1
        while True:
            while pos < n and data[pos] in _WS:
                pos += 1
            if pos >= n:
                info.error = "DOCTYPE internal subset is not closed"
                return _fallback(data, info)
            if data[pos:pos + 1] == b"]":
                pos += 1
                break
            if data.startswith(b"<!--", pos):
                end = data.find(b"-->", pos + 4)
                if end < 0:
                    info.error = "unclosed comment in the DOCTYPE"
                    return _fallback(data, info)
                pos = end + 3
                continue
            if data.startswith(b"<?", pos):
                end = data.find(b"?>", pos)
                if end < 0:
                    info.error = "unclosed processing instruction in the DOCTYPE"
                    return _fallback(data, info)
                pos = end + 2
                continue
            m = _PE_REF.match(data, pos)
            if m is not None:
                pos = m.end()
                continue
            m = _MARKUP_DECL.match(data, pos)
            if m is None:
                info.error = f"unreadable DOCTYPE internal subset at byte {pos}"
                return _fallback(data, info)
            pos = m.end()
            if m.group(1) == b"ENTITY":
                _entity_decl(m.group(2), info)
                if info.external is not None:
                    return info
    while pos < n and data[pos] in _WS:
        pos += 1
    if data[pos:pos + 1] != b">":
        info.error = "DOCTYPE is not closed"
        return _fallback(data, info)
    info.end = pos + 1
    return info


def _entity_decl(body: bytes, info: Prolog) -> None:
    m = _ENTITY_DECL.match(body)
    if m is None:
        if re.search(rb"\b(SYSTEM|PUBLIC)\b", body) and not re.search(rb"\bNDATA\b", body):
            name = body.split()[0].decode("utf-8", "replace") if body.split() else "?"
            info.external = (name, "SYSTEM/PUBLIC", body.strip().decode("utf-8", "replace")[:200])
        else:
            info.error = f"unreadable ENTITY declaration {body.strip()[:80]!r}"
        return
    parameter, name = m.group(1) is not None, m.group(2).decode("utf-8", "replace")
    if m.group(3) or m.group(5):  # external
        if m.group(9) is None or parameter:  # not an unparsed (NDATA) entity
            kind = "SYSTEM" if m.group(3) else "PUBLIC"
            ident = _unquote(m.group(4)) if m.group(3) else f"{_unquote(m.group(6))} {_unquote(m.group(7))}"
            info.external = (("%" if parameter else "") + name, kind, ident)
        return
    value = _unquote(m.group(8))
    if "<!ENTITY" in value:  # an entity that declares entities when expanded: refuse it too
        info.external = (("%" if parameter else "") + name, "declaring", value[:200])
        return
    if not parameter:
        info.declared[name] = value


def _fallback(data: bytes, info: Prolog) -> Prolog:
    """The subset could not be tokenized: refuse any SYSTEM/PUBLIC entity that is not NDATA."""
    for m in _ANY_EXTERNAL.finditer(data):
        if m.group(1) is None and re.search(rb"\bNDATA\b", m.group(4)):
            continue
        literal = re.search(_LITERAL, m.group(4))
        ident = _unquote(literal.group(0)) if literal else ""
        info.external = (("%" if m.group(1) else "") + m.group(2).decode("utf-8", "replace"),
                         m.group(3).decode(), ident)
        return info
    return info


# ---------------------------------------------------------------------------------------------------
# Splitting a bulk file into documents
# ---------------------------------------------------------------------------------------------------

_XML_START = re.compile(rb"\n(?=<\?xml[ \t\r\n?])")
_GREENBOOK_START = re.compile(rb"\n(?=PATN[ \t]{0,8}\r?\n)")
_LOOKAHEAD = 16  # longest marker is under this many bytes


def split_documents(stream, first: bytes, marker: re.Pattern, max_bytes: int,
                    chunk: int = _CHUNK) -> Iterator[tuple[int, bytes | None, int]]:
    """Yield ``(byte_offset, data, length)`` per document; ``data`` is None when over ``max_bytes``.

    A document starts at the beginning of the stream and at each line that ``marker`` recognises.
    Only the current document is held; an oversized one is drained without being kept. Pieces that
    are only whitespace (blank lines before the first document) are not documents.
    """
    buf = bytearray(first)
    base = 0  # stream offset of buf[0]
    start = 0  # index in buf where the current document begins
    doc_start = 0  # stream offset where the current document began (before base if it was dropped)
    scan = 0
    eof = False
    while True:
        m = marker.search(buf, scan)
        if m is not None:
            cut = m.start() + 1
            yield from _emit(buf, start, cut, base, doc_start, max_bytes)
            start = scan = cut
            doc_start = base + cut
            continue
        if eof:
            yield from _emit(buf, start, len(buf), base, doc_start, max_bytes)
            return
        if start:  # forget finished documents before reading on
            del buf[:start]
            base += start
            start = 0
        scan = max(len(buf) - _LOOKAHEAD, 0)
        if base + len(buf) - doc_start > max_bytes and len(buf) > _LOOKAHEAD:
            drop = len(buf) - _LOOKAHEAD  # too large: keep only the bytes a marker could start in
            del buf[:drop]
            base += drop
            scan = 0
        data = stream.read(chunk)
        if data:
            buf += data
        else:
            eof = True


def _emit(buf: bytearray, start: int, cut: int, base: int, doc_start: int,
          max_bytes: int) -> Iterator[tuple[int, bytes | None, int]]:
    length = base + cut - doc_start
    if base + start != doc_start or length > max_bytes:  # part of it was dropped, or too large
        if base + start == doc_start and not bytes(buf[start:cut]).strip():
            return
        yield doc_start, None, length
        return
    piece = bytes(buf[start:cut])
    body = piece.lstrip(b" \t\r\n")
    if not body:
        return
    lead = len(piece) - len(body)
    yield doc_start + lead, body.rstrip(b" \t\r\n"), length - lead


# ---------------------------------------------------------------------------------------------------
# Text extraction (all XML formats)
# ---------------------------------------------------------------------------------------------------

_SPACE = re.compile(r"\s+")
_SKIP = frozenset({"img", "image", "figure", "figures", "drawings", "emi", "sdodr", "subdoc-drawings",
                   "mathematica", "representative-figure"})
_TABLES = frozenset({"table", "tables", "table-cwu", "table-us", "table-cals"})
_LINES = frozenset({"li", "dt", "dd", "claim-text", "clmstep"})
_BLOCKS = frozenset({"p", "paragraph", "para", "heading", "h", "ul", "ol", "dl"}) | _TABLES
_HEADINGS = frozenset({"heading", "h"})
_INVISIBLE = re.compile("[\u2061-\u2064]")  # MathML invisible operators (function application, times...)


def _tag(el) -> str | None:
    tag = el.tag
    return tag.lower() if isinstance(tag, str) else None


_NL, _TAB = "\x00", "\x01"  # structural line break / cell separator: XML text can never contain these
_NL_RUN = re.compile(" ?\x00[ \x00]*")
_TAB_RUN = re.compile(" ?\x01 ?")


class _Text:
    """Collects inline text. Source whitespace is collapsed once at the end; structure (``<br/>``,
    list items, nested claim elements, table rows and cells) becomes line breaks and tabs."""

    __slots__ = ("parts", "skip", "lines", "declared")

    def __init__(self, skip: frozenset[str], lines: frozenset[str], declared: dict[str, str]) -> None:
        self.parts: list[str] = []
        self.skip = skip
        self.lines = lines
        self.declared = declared

    def walk(self, el) -> None:
        parts = self.parts
        if el.text:
            parts.append(el.text)
        for child in el:
            tag = child.tag
            if isinstance(tag, str):
                name = tag.lower()
                if name in self.skip:
                    pass
                elif name == "br":
                    parts.append(_NL)
                elif name in _TABLES:
                    parts.append(_NL)
                    self.table(child)
                    parts.append(_NL)
                elif name in self.lines:
                    parts.append(_NL)
                    self.walk(child)
                elif name == "dependent-claim-reference":  # PAP: <claim-text>claim 1</claim-text> inside
                    lines, self.lines = self.lines, frozenset()
                    self.walk(child)
                    self.lines = lines
                elif name in ("ul", "ol", "dl"):
                    parts.append(_NL)
                    self.walk(child)
                    parts.append(_NL)
                else:
                    self.walk(child)
            elif tag is etree.Entity:  # only entities the document declared itself remain
                value = self.declared.get(child.name, "")
                if len(value) <= 1024 and "<" not in value and "&" not in value:
                    parts.append(value)
            # comments and processing instructions (<?in-line-formulae?>, <?BRFSUM?>) add nothing
            if child.tail:
                parts.append(child.tail)

    def table(self, el) -> None:
        rows = [r for r in el.iter() if isinstance(r.tag, str) and r.tag.lower() == "row"]
        if not rows:  # a table given only as an image, or a non-CALS table: take its text
            self.walk(el)
            return
        for row in rows:
            cells = []
            for entry in row:
                if isinstance(entry.tag, str) and entry.tag.lower() == "entry":
                    sub = _Text(self.skip, frozenset(), self.declared)
                    sub.walk(entry)
                    cells.append(sub.result().replace("\n", " "))
            while cells and not cells[-1]:
                cells.pop()
            if any(cells):
                self.parts.append(_NL + _TAB.join(cells))

    def result(self) -> str:
        text = _SPACE.sub(" ", "".join(self.parts))
        if _INVISIBLE.search(text):
            text = _INVISIBLE.sub("", text)
            text = _SPACE.sub(" ", text)
        if _NL in text:
            text = _NL_RUN.sub("\n", text)
        if _TAB in text:
            text = _TAB_RUN.sub("\t", text)
        return text.strip(" \n")


def _inline(el, declared: dict[str, str], skip: frozenset[str] = _SKIP, lines: frozenset[str] = _LINES) -> str:
    t = _Text(skip, lines, declared)
    t.walk(el)
    return t.result()


def _blocks(el, declared: dict[str, str], skip: frozenset[str] = _SKIP, headings: bool = True) -> list[str]:
    """Paragraph-level blocks of a section (description, abstract), containers walked through."""
    out: list[str] = []
    if el is None:
        return out
    for child in el:
        name = _tag(child)
        if name is None or name in skip:
            continue
        if name in _BLOCKS:
            if name in _HEADINGS and not headings:
                continue
            text = _inline(child, declared, skip)
            if text:
                out.append(text)
        else:
            out.extend(_blocks(child, declared, skip, headings))
    return out


_CLAIM_NUMBER = re.compile(r"^(\d+)\s*\.\s*(?=\S)")


def _claim_text(el, declared: dict[str, str], lines: frozenset[str] = _LINES) -> str:
    text = _inline(el, declared, lines=lines)
    return _CLAIM_NUMBER.sub(r"\1. ", text)


def _first(el, path: str):
    return None if el is None else el.find(path)


def _text_of(el, path: str | None = None) -> str | None:
    node = el if path is None else _first(el, path)
    if node is None:
        return None
    text = _SPACE.sub(" ", "".join(node.itertext())).strip()
    return text or None


def _iso_date(value: str | None) -> str | None:
    if value and re.fullmatch(r"\d{8}", value):
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return value or None


def _datetime(value: str | None) -> datetime | str | None:
    if value and re.fullmatch(r"\d{8}", value):
        try:
            return datetime(int(value[:4]), int(value[4:6]), int(value[6:]), tzinfo=timezone.utc)
        except ValueError:
            return value  # kept as meta.created_raw by the runner
    return value or None


def _compact(classes: dict[str, list[str]]) -> dict[str, list[str]]:
    out = {}
    for key, values in classes.items():
        seen = list(dict.fromkeys(v for v in values if v))
        if seen:
            out[key] = seen
    return out


class _Patent:
    def __init__(self) -> None:
        self.title: str | None = None
        self.abstract: list[str] = []
        self.description: list[str] = []
        self.claims: list[str] = []
        self.meta: dict = {}
        self.created: datetime | str | None = None
        self.lang: str | None = None

    def text(self) -> str:
        parts = []
        if self.title:
            parts.append(self.title)
        for heading, blocks in (("Abstract", self.abstract), ("Description", self.description),
                                ("Claims", self.claims)):
            if blocks:
                parts.append(heading)
                parts.extend(blocks)
        return "\n\n".join(parts)

    def doc(self, position: int) -> Doc:
        return Doc(self.text(), title=self.title, created=self.created, lang=self.lang, meta=self.meta,
                   position=position)


def _meta(number, kind, country, date, app_number, app_date, classification, doc_type, fmt, **extra) -> dict:
    meta = {"number": number, "kind": kind, "country": country, "date": _iso_date(date),
            "application_number": app_number, "application_date": _iso_date(app_date),
            "classification": _compact(classification), "doc_type": doc_type, "format": fmt}
    meta.update({k: v for k, v in extra.items() if v is not None})
    return meta


def _v4(root, declared: dict[str, str]) -> _Patent:
    """us-patent-grant / us-patent-application, DTD v4.0 (2004) to v4.7."""
    p = _Patent()
    grant = root.tag == "us-patent-grant"
    biblio = root.find("us-bibliographic-data-grant" if grant else "us-bibliographic-data-application")
    pub = _first(biblio, "publication-reference")
    app = _first(biblio, "application-reference")
    classes: dict[str, list[str]] = {"ipc": [], "cpc": [], "national": [], "locarno": []}
    if biblio is not None:
        classes["ipc"] = [_ipcr(c) for c in biblio.iterfind("classifications-ipcr/classification-ipcr")]
        classes["ipc"] += _main_further(biblio, "classification-ipc")  # v4.0/v4.1: "G06F015/00"
        classes["cpc"] = [_ipcr(c) for c in biblio.iterfind("classifications-cpc//classification-cpc")]
        classes["national"] = _main_further(biblio, "classification-national")
        classes["locarno"] = _main_further(biblio, "classification-locarno")
    version = re.sub(r"[^0-9]", "", (root.get("dtd-version") or "").split(" ")[0])
    p.meta = _meta(_text_of(pub, ".//doc-number"), _text_of(pub, ".//kind"), _text_of(pub, ".//country"),
                   _text_of(pub, ".//date"), _text_of(app, ".//doc-number"), _text_of(app, ".//date"), classes,
                   "grant" if grant else "application", f"{root.tag}-v{version}" if version else root.tag,
                   application_type=app.get("appl-type") if app is not None else None)
    p.title = _text_of(biblio, "invention-title")
    p.created = _datetime(_text_of(pub, ".//date"))
    lang = (root.get("lang") or "").lower()
    p.lang = lang if re.fullmatch(r"[a-z]{2}", lang) else None
    for abstract in root.iterfind("abstract"):
        p.abstract += _blocks(abstract, declared, headings=False)
    p.description = _blocks(root.find("description"), declared)
    claims = root.find("claims")
    if claims is not None:
        p.claims = [t for c in claims.iterfind("claim") if (t := _claim_text(c, declared))]
    return p


def _main_further(biblio, path: str) -> list[str | None]:
    return [_text_of(x) for c in biblio.iterfind(path) for x in c
            if x.tag in ("main-classification", "further-classification")]


def _ipcr(c) -> str | None:
    parts = {x.tag: (x.text or "").strip() for x in c if isinstance(x.tag, str)}
    if not parts.get("section"):
        return None
    head = f"{parts.get('section', '')}{parts.get('class', '')}{parts.get('subclass', '')}"
    return f"{head} {parts.get('main-group', '')}/{parts.get('subgroup', '')}".strip()


def _pap(root, declared: dict[str, str], system_id: str | None) -> _Patent:
    """patent-application-publication (PAP v1.5/v1.6, 2001-2004)."""
    p = _Patent()
    biblio = root.find("subdoc-bibliographic-information")
    docid = _first(biblio, "document-id")
    filing = _first(biblio, "domestic-filing-data")
    tech = _first(biblio, "technical-information")
    classes: dict[str, list[str]] = {"ipc": [], "national": []}
    if tech is not None:
        classes["ipc"] = [_text_of(x) for x in tech.iterfind("classification-ipc//ipc")]
        for uspc in tech.iterfind("classification-us//uspc"):
            cls, sub = _text_of(uspc, "class"), _text_of(uspc, "subclass")
            classes["national"].append(f"{cls}/{sub}" if cls and sub else cls or sub)
    m = re.search(r"pap-v(\d+)", system_id or "")
    date = _text_of(docid, "document-date")
    p.meta = _meta(_text_of(docid, "doc-number"), _text_of(docid, "kind-code"),
                   _text_of(docid, "country-code") or "US", date,
                   _text_of(filing, "application-number/doc-number"), _text_of(filing, "filing-date"), classes,
                   "application", f"pap-v{m.group(1)}" if m else "pap")
    p.title = _text_of(tech, "title-of-invention")
    p.created = _datetime(date)
    skip = _SKIP | {"number"}  # the "[0001]"-style paragraph numbers; v4.x keeps them in attributes
    p.abstract = _blocks(root.find("subdoc-abstract"), declared, skip, headings=False)
    p.description = _blocks(root.find("subdoc-description"), declared, skip)
    claims = root.find("subdoc-claims")
    if claims is not None:
        p.claims = [t for c in claims.iter("claim") if (t := _claim_text(c, declared))]
    return p


def _st32(root, declared: dict[str, str]) -> _Patent:
    """PATDOC: ST.32 XML converted from the SGML Red Book (grants 2001-2004)."""
    p = _Patent()
    b = root.find("SDOBI")
    kind = _text_of(b, "B100/B130")
    design = bool(kind and kind.startswith("S"))
    classes: dict[str, list[str]] = {"ipc": [], "locarno": [], "national": []}
    if b is not None:
        intl = [_text_of(x) for x in b.iterfind("B500/B510/*") if x.tag in ("B511", "B512")]
        classes["locarno" if design else "ipc"] = intl
        classes["national"] = [_text_of(x) for x in b.iterfind("B500/B520/*") if x.tag in ("B521", "B522")]
    date = _text_of(b, "B100/B140")
    p.meta = _meta(_text_of(b, "B100/B110"), kind, _text_of(b, "B100/B190") or "US", date,
                   _text_of(b, "B200/B210"), _text_of(b, "B200/B220"), classes, "grant", "st32-sgml")
    p.title = _text_of(b, "B500/B540")
    p.created = _datetime(date)
    p.abstract = _blocks(root.find("SDOAB"), declared, headings=False)
    p.description = _blocks(root.find("SDODE"), declared)
    claims = root.find("SDOCL")
    if claims is not None:
        lines = _LINES | {"para"}
        p.claims = [t for c in claims.iter("CLM") if (t := _claim_text(c, declared, lines))]
    return p


_SEQUENCE_ROOTS = frozenset({"sequence-cwu", "us-sequence-listing", "sequence-listing", "ST26SequenceListing"})


def _parse_xml(data: bytes, position: int, offset: int, parser) -> Item:
    where = f"document {position} at byte {offset}"
    prolog = inspect_prolog(data)
    if prolog.external is not None:
        name, kind, ident = prolog.external
        return Bad("external_entity", f"{where} declares external entity {name!r} ({kind} {ident}); external "
                   "entities are never resolved", position, offset, data)
    prepared = substitute_entities(data, prolog.end, frozenset(prolog.declared))
    try:
        root = etree.fromstring(prepared, parser)
    except etree.XMLSyntaxError as exc:
        return Bad("malformed_xml", f"{where}: {exc}", position, offset, data)
    if root is None:
        return Bad("malformed_xml", f"{where}: no root element", position, offset, data)
    tag = root.tag if isinstance(root.tag, str) else ""
    try:
        if tag in ("us-patent-grant", "us-patent-application"):
            patent = _v4(root, prolog.declared)
        elif tag == "patent-application-publication":
            docinfo = root.getroottree().docinfo
            patent = _pap(root, prolog.declared, docinfo.system_url)
        elif tag == "PATDOC":
            patent = _st32(root, prolog.declared)
        elif tag in _SEQUENCE_ROOTS:
            return Skip("uspto_sequence_listing")
        else:
            return Bad("unknown_root", f"{where}: root element <{tag}> is not a USPTO patent document "
                       "(us-patent-grant, us-patent-application, patent-application-publication, PATDOC)",
                       position, offset, data)
    except RecursionError:
        return Bad("malformed_xml", f"{where}: elements nested too deeply to extract", position, offset, data)
    return patent.doc(position)


# ---------------------------------------------------------------------------------------------------
# Green Book (APS fixed-field text, 1976-2001)
# ---------------------------------------------------------------------------------------------------

_GB_SECTIONS = frozenset({"PATN", "INVT", "ASSG", "PRIR", "REIS", "RLAP", "CLAS", "UREF", "FREF", "OREF",
                          "LREP", "PCTA", "ABST", "GOVT", "PARN", "BSUM", "DRWD", "DETD", "CLMS", "DCLM"})
_GB_PRESERVE = frozenset({"TBL", "EQU", "TBL3"})  # layout matters: keep their lines
_GB_TEXT = frozenset({"ABST", "GOVT", "PARN", "BSUM", "DRWD", "DETD", "CLMS", "DCLM"})
_GB_KIND_PREFIX = (("RE", "E"), ("PP", "P"), ("D", "S"), ("H", "H"))  # reissue, plant, design, SIR


def _greenbook_fields(text: str) -> list[tuple[str, str, str]]:
    """``(section, field, value)`` triples; continuation lines joined (kept as lines for tables)."""
    fields: list[list] = []
    section = "PATN"
    for line in text.splitlines():
        line = line.rstrip()
        if not line:
            continue
        if line[0] in " \t":
            if fields:
                fields[-1][2].append(line)
            continue
        tag = line[:4].strip()
        value = line[5:] if len(line) > 5 else line[4:]
        if tag in _GB_SECTIONS and not value.strip():
            section = tag
            continue
        fields.append([section, tag, [value]])
    out = []
    for section, tag, lines in fields:
        if tag in _GB_PRESERVE:
            body = [lines[0].strip()] + [ln[5:].rstrip() if ln[:5].isspace() else ln.rstrip() for ln in lines[1:]]
            value = "\n".join(ln for ln in body if ln.strip())
        else:
            value = _SPACE.sub(" ", " ".join(ln.strip() for ln in lines)).strip()
        out.append((section, tag, value))
    return out


def _parse_greenbook(data: bytes, position: int, offset: int) -> Item:
    where = f"document {position} at byte {offset}"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("cp1252", "replace")  # APS text predates UTF-8; keep every byte readable
    fields = _greenbook_fields(text)
    if not text.startswith("PATN") or not fields:
        return Bad("malformed_greenbook", f"{where}: not a Green Book patent record (expected a PATN line)",
                   position, offset, data)
    first: dict[tuple[str, str], str] = {}
    for section, tag, value in fields:
        first.setdefault((section, tag), value)
    wku = first.get(("PATN", "WKU"), "")
    number = wku[:-1] if len(wku) == 9 else (wku or None)  # the 9th character is a check digit
    kind = None
    if number:
        kind = next((k for prefix, k in _GB_KIND_PREFIX if number.startswith(prefix)), None)
        if kind is None and number[:1].isdigit():
            kind = "A"  # utility grant (the B1/B2 codes start in 2001)
    classes = {"ipc": [v for s, t, v in fields if s == "CLAS" and t == "ICL"],
               "national": [v for s, t, v in fields if s == "CLAS" and t in ("OCL", "XCL")]}
    date = first.get(("PATN", "ISD"))
    p = _Patent()
    p.meta = _meta(number, kind, "US", date, first.get(("PATN", "APN")), first.get(("PATN", "APD")), classes,
                   "grant", "greenbook")
    p.title = first.get(("PATN", "TTL"))
    p.created = _datetime(date)
    claim: list[str] = []
    for section, tag, value in fields:
        if section not in _GB_TEXT or not value:
            continue
        if section == "ABST":
            p.abstract.append(value)
        elif section in ("CLMS", "DCLM"):
            if tag == "STM":  # "What is claimed is:"; the "Claims" heading stands for it
                continue
            if tag == "NUM":
                if claim:
                    p.claims.append(_CLAIM_NUMBER.sub(r"\1. ", "\n".join(claim)))
                claim = []
                continue
            claim.append(value)
        else:
            p.description.append(value)
    if claim:
        p.claims.append(_CLAIM_NUMBER.sub(r"\1. ", "\n".join(claim)))
    return p.doc(position)


# ---------------------------------------------------------------------------------------------------
# The reader
# ---------------------------------------------------------------------------------------------------

def _parser() -> etree.XMLParser:
    # The safe parser: no DTD loading, no entity resolution, no network; huge_tree lifts libxml2's
    # 10 MB text-node limit (long tables), the document size itself is bounded by --max-record-mb.
    return etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True, huge_tree=True,
                           recover=False)


def read_uspto(ctx: ReadContext) -> Iterator[Item]:
    """One :class:`Doc` per patent in a single-patent file or a weekly bulk file (XML or Green Book)."""
    max_bytes = ctx.options.max_record_bytes
    with ctx.open() as opened:
        stream = opened.stream
        first = stream.read(_CHUNK)
        head = first.lstrip(b"\xef\xbb\xbf \t\r\n")
        greenbook = head.startswith(b"PATN") or head.startswith(b"HHHHHT")
        marker = _GREENBOOK_START if greenbook else _XML_START
        parser = None if greenbook else _parser()
        position = 0
        for offset, data, length in split_documents(stream, first, marker, max_bytes):
            if data is None:
                yield Bad("record_too_large", f"document {position} at byte {offset} is {length:,} bytes, over the "
                          f"{max_bytes:,}-byte limit (--max-record-mb)", position, offset, None)
            elif greenbook:
                if data.startswith(b"HHHHHT"):  # the file header of a weekly APS file, not a patent
                    yield Skip("greenbook_file_header")
                    continue
                yield _parse_greenbook(data, position, offset)
            else:
                yield _parse_xml(data, position, offset, parser)
            position += 1
