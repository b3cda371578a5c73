"""StackExchange ``Posts.xml`` (the archive.org data dump) -> one document per question thread.

A thread document is the question's title, its text, then every answer, best first::

    How should I store whole bean coffee?

    I just got a pound of microroasted, local coffee and am curious ...

    Accepted answer (score 12)

    Keep it in an airtight container ...

    Answer (score 5)

    ...

Answers of a question are scattered over the whole file (they are written in post-Id order, so a
2009 question's answers may come from 2009 to 2024), and a real dump is ~100 GB (StackOverflow), so
the reader never holds the posts in memory. It works in two passes:

1. stream the XML (``lxml`` pull parser: no entity expansion, no network, elements cleared as they
   are read); each row's HTML body is converted to text at once (:mod:`html_text`) and the compact
   row (ids, type, score, dates, title, tags, text) is written to temporary Parquet chunks;
2. DuckDB joins answers to their questions and sorts by (question's row, answers by score desc,
   Id) over those chunks with a memory limit and a temp directory, so it spills to disk instead of
   growing; the sorted result is streamed back in batches and each thread becomes one document.

Memory is therefore bounded by one chunk of rows plus one thread plus DuckDB's limit, whatever the
dump's size; temporary disk is about the size of the dump's text (compressed with zstd).

Settings (environment): ``CURATE_DUCKDB_MEMORY_LIMIT`` (default :data:`DUCKDB_MEMORY_LIMIT`; DuckDB's
external sort needs about 512MB per thread whatever the data size), ``CURATE_DUCKDB_THREADS``
(default 1: pass 2 is quick next to pass 1's HTML conversion), ``CURATE_TMPDIR`` (where the
temporary chunks and DuckDB's spill files go; default: the system temp dir, which honours
``TMPDIR``). See docs/ingest/qa.md.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from lxml import etree

from curate.io.duck import connect, sql_str
from curate.errors import CurateError
from curate.ingest.base import Bad, Doc, Item, ReadContext, ReaderOptions, Skip
from curate.ingest.readers.html_text import html_to_text
from curate.io.compression import STREAM_ERRORS, stream_error_type

DUCKDB_MEMORY_LIMIT = "1GB"  # per reading process; override with CURATE_DUCKDB_MEMORY_LIMIT
CHUNK_ROWS = 50_000  # rows per temporary Parquet chunk ...
CHUNK_TEXT_BYTES = 32 << 20  # ... or this much body text, whichever comes first
ROW_GROUP_ROWS = 4096  # small row groups: DuckDB reads a row group at a time
READ_BYTES = 1 << 20  # bytes fed to the XML parser at a time
RESULT_BATCH_ROWS = 2048  # rows per batch streamed back from DuckDB
MAX_PROLOG_BYTES = 16 << 20  # the root element must start within this many bytes

_SITE = re.compile(r"(?<![a-z0-9.-])((?:[a-z0-9-]+\.)*(?:stackexchange\.com|stackoverflow\.com|superuser\.com|"
                   r"serverfault\.com|askubuntu\.com|mathoverflow\.net|stackapps\.com))(?![a-z0-9])")
_ELEMENT_START = re.compile(rb"<([A-Za-z_][\w.:-]*)")
_TAGS_ANGLE = re.compile(r"<([^<>]+)>")
_MEMORY = re.compile(r"^\d+(\.\d+)?\s*([KMGT]i?B|[KMGT])$", re.I)

ROW_SCHEMA = pa.schema([
    ("seq", pa.int64()),          # 0-based row number in the file: the document position of a question
    ("id", pa.int64()),
    ("type", pa.int8()),          # 1 question, 2 answer
    ("thread", pa.int64()),       # the question's Id (its own Id for a question, ParentId for an answer)
    ("score", pa.int64()),
    ("created", pa.string()),
    ("title", pa.string()),
    ("tags", pa.string()),
    ("view_count", pa.int64()),
    ("accepted", pa.int64()),     # AcceptedAnswerId of a question
    ("license", pa.string()),     # ContentLicense (dumps from 2018 on), e.g. "CC BY-SA 4.0"
    ("body", pa.string()),        # already converted to text
])


def site_from_path(path: str | Path) -> str | None:
    """The StackExchange site named by the deepest folder (or the file name) of ``path``.

    ``dumps/coffee.stackexchange.com/Posts.xml`` -> ``coffee.stackexchange.com``;
    ``stackoverflow.com-Posts/Posts.xml`` -> ``stackoverflow.com``; otherwise None.
    """
    for part in reversed(Path(path).absolute().parts):
        m = _SITE.search(part.lower())
        if m:
            return m.group(1)
    return None


def parse_tags(raw: str | None) -> list[str]:
    """``<a><b>`` (dumps up to 2023) or ``|a|b|`` (2024 on) -> ``["a", "b"]``."""
    if not raw:
        return []
    if "<" in raw:
        return _TAGS_ANGLE.findall(raw)
    return [t for t in raw.split("|") if t]


def _memory_limit() -> str:
    value = (os.environ.get("CURATE_DUCKDB_MEMORY_LIMIT") or DUCKDB_MEMORY_LIMIT).strip()
    if not _MEMORY.match(value):
        raise CurateError(f"CURATE_DUCKDB_MEMORY_LIMIT={value!r}: expected a size such as 512MB or 4GB")
    return value


def _duckdb_threads() -> int:
    value = os.environ.get("CURATE_DUCKDB_THREADS")
    if not value:
        return 1  # measured: DuckDB's external sort needs ~0.5 GB per thread to merge spilled runs
    if not value.strip().isdigit() or int(value) < 1:
        raise CurateError(f"CURATE_DUCKDB_THREADS={value!r}: expected a positive integer")
    return int(value)


class _RowError(ValueError):
    pass


def _int(attrib, name: str, required: bool) -> int | None:
    value = attrib.get(name)
    if value is None or value == "":
        if required:
            raise _RowError(f"{name} is missing")
        return None
    try:
        return int(value)
    except ValueError:
        raise _RowError(f"{name} is not an integer ({value[:40]!r})") from None


class _Chunks:
    """Buffer compact rows and write them as Parquet chunks into ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True)
        self.buffer: list[tuple] = []
        self.text_bytes = 0
        self.files = 0
        self.rows = 0

    def add(self, row: tuple) -> None:
        self.buffer.append(row)
        self.text_bytes += len(row[-1])
        self.rows += 1
        if len(self.buffer) >= CHUNK_ROWS or self.text_bytes >= CHUNK_TEXT_BYTES:
            self.flush()

    def flush(self) -> None:
        if not self.buffer:
            return
        columns = zip(*self.buffer)
        table = pa.Table.from_arrays([pa.array(c, type=f.type) for c, f in zip(columns, ROW_SCHEMA)],
                                     schema=ROW_SCHEMA)
        pq.write_table(table, self.directory / f"rows-{self.files:06d}.parquet", compression="zstd",
                       compression_level=1, row_group_size=ROW_GROUP_ROWS)
        self.files += 1
        self.buffer = []
        self.text_bytes = 0


def _convert_row(el, seq: int, opts: ReaderOptions) -> tuple | Bad | Skip:
    attrib = el.attrib
    try:
        post_id = _int(attrib, "Id", True)
        post_type = _int(attrib, "PostTypeId", True)
        if post_type not in (1, 2):
            return Skip(f"post_type_{post_type}")
        thread = post_id if post_type == 1 else _int(attrib, "ParentId", True)
        score = _int(attrib, "Score", False)
        view_count = _int(attrib, "ViewCount", False) if post_type == 1 else None
        accepted = _int(attrib, "AcceptedAnswerId", False) if post_type == 1 else None
    except _RowError as exc:
        return Bad("malformed_record", f"row {seq + 1}: {exc}", seq, None, etree.tostring(el)[:1 << 20])
    body = attrib.get("Body") or ""
    if len(body) > opts.max_record_bytes:
        return Bad("record_too_large", f"row {seq + 1} (post {post_id}): Body is {len(body):,} characters, over the "
                   f"{opts.max_record_bytes:,}-byte limit (--max-record-mb)", seq, None, None)
    title = attrib.get("Title") if post_type == 1 else None
    tags = attrib.get("Tags") if post_type == 1 else None
    license_ = attrib.get("ContentLicense") if post_type == 1 else None
    return (seq, post_id, post_type, thread, score, attrib.get("CreationDate"), title, tags, view_count, accepted,
            license_, html_to_text(body))


def _prolog_problem(head: bytes) -> str | None:
    """Why the bytes before the root element are refused, or None.

    Dumps have no DOCTYPE. One that declares entities or points to an external DTD is refused
    outright: entities are how XML external entity (XXE) reads and "billion laughs" expansion
    work, and none of them belongs in a data dump.
    """
    start = head.find(b"<!DOCTYPE")
    if start < 0:
        start = head.find(b"<!doctype")
    if start < 0:
        return None
    doctype = head[start:]
    if b"<!ENTITY" in doctype:
        return ("the file's DOCTYPE declares XML entities (<!ENTITY ...>); curate never expands entities "
                "(XML external entity / entity-expansion protection) and a StackExchange dump declares none, "
                "so the file is refused")
    if b"[" in doctype or re.search(rb"\b(SYSTEM|PUBLIC)\b", doctype):
        return ("the file's DOCTYPE has an internal subset or an external DTD; curate does not load DTDs "
                "and a StackExchange dump has no DOCTYPE, so the file is refused")
    return None


def _parse(stream, chunks: _Chunks, opts: ReaderOptions) -> Iterator[Item]:
    """Pass 1: stream rows into ``chunks``; yield Bad/Skip as found. Returns the Bad that ended the
    file early (malformed XML, broken stream), or None when the whole file was read."""
    seq = 0
    head = b""
    try:
        while not _ELEMENT_START.search(head) and len(head) < MAX_PROLOG_BYTES:
            chunk = stream.read(READ_BYTES)
            if not chunk:
                break
            head += chunk
    except STREAM_ERRORS as exc:
        return Bad(stream_error_type(exc), f"stream broke before the first row ({type(exc).__name__}: {exc})", None, 0)
    m = _ELEMENT_START.search(head)
    if m is None and len(head) >= MAX_PROLOG_BYTES:
        return Bad("malformed_xml", f"no root element in the first {MAX_PROLOG_BYTES:,} bytes; not a StackExchange "
                   "Posts.xml", None, 0)
    problem = _prolog_problem(head[:m.start()] if m else head)
    if problem:
        return Bad("xml_entities", problem, None, 0)
    if m and m.group(1) != b"posts":
        root = m.group(1).decode("utf-8", "replace")
        return Bad("unknown_layout", f"the root element is <{root}>, not <posts>: not a StackExchange Posts.xml "
                   "(Comments.xml, Users.xml, Votes.xml... are not read)", None, 0)
    parser = etree.XMLPullParser(events=("end",), tag="row", resolve_entities=False, no_network=True,
                                 huge_tree=True, load_dtd=False, dtd_validation=False, remove_comments=True,
                                 remove_pis=True)

    def rows() -> Iterator[Item]:
        nonlocal seq
        for _, el in parser.read_events():
            item = _convert_row(el, seq, opts)
            if isinstance(item, tuple):
                chunks.add(item)
            else:
                yield item
            seq += 1
            el.clear(keep_tail=False)
            parent = el.getparent()
            if parent is not None:
                while el.getprevious() is not None:  # drop finished rows so the tree stays empty
                    del parent[0]

    try:
        data = head
        while data:
            parser.feed(data)
            yield from rows()
            yield None  # heartbeat: lets the runner's progress bar follow pass 1 (see curate.ingest.base)
            data = stream.read(READ_BYTES)
        parser.close()
        yield from rows()
    except etree.XMLSyntaxError as exc:
        yield from rows()  # rows completed before the error are kept
        line = f" at line {exc.lineno}" if exc.lineno else ""
        return Bad("malformed_xml", f"XML error{line}: {exc.msg}; {seq:,} rows before it were read, the rest of "
                   "the file could not be", None, None)
    except STREAM_ERRORS as exc:
        return Bad(stream_error_type(exc), f"stream broke after {seq:,} rows ({type(exc).__name__}: {exc}); the "
                   "rest of the file could not be read", None, None)
    return None


def _thread_doc(question: dict, answers: list[dict], site: str | None) -> Doc:
    accepted = question["accepted"]
    parts = [p for p in (question["title"], question["body"]) if p]
    for a in answers:
        label = "Accepted answer" if accepted is not None and a["id"] == accepted else "Answer"
        parts.append(f"{label} (score {a['score']})" if a["score"] is not None else label)
        if a["body"]:
            parts.append(a["body"])
    site_url = f"https://{site}/questions/{question['id']}" if site else None
    meta = {"post_id": question["id"], "score": question["score"], "answer_count": len(answers),
            "accepted_answer_id": accepted, "answer_ids": [a["id"] for a in answers],
            "tags": parse_tags(question["tags"]), "view_count": question["view_count"], "site": site,
            "license": question["license"]}
    return Doc(text="\n\n".join(parts), url=site_url, title=question["title"] or None, created=question["created"],
               meta=meta, position=question["seq"])


def _threads(workdir: Path, site: str | None, memory_limit: str, threads: int) -> Iterator[Item]:
    """Pass 2: group answers under their questions with DuckDB (spilling to disk) and yield docs."""
    con = connect(memory_limit, threads, workdir / "duckdb")
    try:
        con.execute(f"CREATE VIEW raw AS SELECT * FROM read_parquet({sql_str(workdir / 'rows' / '*.parquet')})")
        # A post Id seen twice (a damaged or concatenated dump): the first row wins, the others are
        # quarantined, so no answer is counted in two threads.
        con.execute("""CREATE TEMP TABLE dup AS
            SELECT r.seq, r.id, d.first FROM raw r
            JOIN (SELECT id, min(seq) AS first FROM raw GROUP BY id HAVING count(*) > 1) d
              ON r.id = d.id AND r.seq > d.first""")
        for seq, post_id, first in con.execute("SELECT seq, id, first FROM dup ORDER BY seq").fetchall():
            yield Bad("malformed_record", f"row {seq + 1}: post Id {post_id} already appeared at row {first + 1}",
                      seq, None)
        con.execute("CREATE VIEW posts AS SELECT r.* FROM raw r ANTI JOIN dup d ON r.seq = d.seq")
        orphans = con.execute("""SELECT count(*) FROM posts a WHERE a.type = 2 AND NOT EXISTS
            (SELECT 1 FROM posts q WHERE q.type = 1 AND q.id = a.thread)""").fetchall()[0][0]
        for _ in range(orphans):
            yield Skip("orphan_answer")
        reader = con.sql("""
            SELECT q.qseq, p.seq, p.id, p.type, p.score, p.created, p.title, p.tags, p.view_count, p.accepted,
                   p.license, p.body
            FROM posts p JOIN (SELECT id, seq AS qseq FROM posts WHERE type = 1) q ON p.thread = q.id
            ORDER BY q.qseq, p.type, p.score DESC NULLS LAST, p.id""").to_arrow_reader(RESULT_BATCH_ROWS)
        question: dict | None = None
        answers: list[dict] = []
        for batch in reader:
            for row in batch.to_pylist():
                if row["type"] == 1:
                    if question is not None:
                        yield _thread_doc(question, answers, site)
                    question, answers = row, []
                else:
                    answers.append(row)
        if question is not None:
            yield _thread_doc(question, answers, site)
    except duckdb.Error as exc:  # out of memory or temp disk: a setting to change, not bad input
        raise CurateError(f"grouping StackExchange posts with DuckDB failed ({type(exc).__name__}: {exc}); "
                          f"raise CURATE_DUCKDB_MEMORY_LIMIT (now {memory_limit}) or point CURATE_TMPDIR at a disk "
                          "with more free space") from exc
    finally:
        con.close()


def read_posts(ctx: ReadContext) -> Iterator[Item]:
    """One document per question (with its answers); answers, tag wikis and the like are not documents.

    Skips: ``post_type_<n>`` (tag wiki excerpts 4, tag wikis 5, moderator nominations 6, wiki
    placeholders 7, privilege wikis 8, ...), ``orphan_answer`` (the answer's question is not in the
    file). Quarantined:
    malformed rows, duplicate post Ids, bodies over ``max_record_bytes``, the unreadable rest of a
    malformed or truncated file (after the threads read so far), files declaring XML entities.
    """
    site = site_from_path(ctx.path)
    memory_limit, threads = _memory_limit(), _duckdb_threads()  # a bad setting fails before hours of pass 1
    root = os.environ.get("CURATE_TMPDIR") or None
    if root:
        Path(root).mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="curate-stackexchange-", dir=root))
    try:
        chunks = _Chunks(workdir / "rows")
        with ctx.open() as opened:
            failure = yield from _parse(opened.stream, chunks, ctx.options)
        chunks.flush()
        if chunks.rows:
            yield from _threads(workdir, site, memory_limit, threads)
        if failure is not None:
            yield failure
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
