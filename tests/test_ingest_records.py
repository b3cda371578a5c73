"""Record and text readers end to end: JSONL (every compression, any file name), JSON arrays and
objects, CSV/TSV, plain text, Parquet, field mapping and date parsing."""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import json
import lzma
import random
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from curate.ingest import ReaderOptions, ingest, make_id
from curate.ingest.base import ReadContext
from curate.ingest.readers.records import read_json
from ingest_util import NEWS_EN, NEWS_KO, check_accounting, docs, manifest, nsmc_bytes, nsmc_records

UTC = timezone.utc
COMPRESSORS = {
    "none": lambda b: b,
    "gzip": gzip.compress,
    "zstd": lambda b: zstandard.ZstdCompressor(level=3).compress(b),
    "bz2": bz2.compress,
    "xz": lzma.compress,
}


def _content(rows: list[dict]) -> list[tuple]:
    """What a document says, independent of its id and file name."""
    return [(r["position"], r["text"], r["url"], r["title"], r["lang"], r["created"], r["meta"]) for r in rows]


@pytest.fixture(scope="module")
def nsmc_runs(tmp_path_factory) -> dict[str, Path]:
    """The reviews sample compressed five ways, every copy named ``reviews.jsonl`` (zstd, bz2... data
    behind a plain .jsonl name), each ingested into its own DIR."""
    raw = nsmc_bytes()
    outs = {}
    for name, compress in COMPRESSORS.items():
        src = tmp_path_factory.mktemp(f"src-{name}")
        (src / "reviews.jsonl").write_bytes(compress(raw))
        out = tmp_path_factory.mktemp(f"out-{name}")
        ingest([str(src / "reviews.jsonl")], source="reviews", out=out, progress=False)
        outs[name] = out
    return outs


def test_jsonl_every_compression_gives_identical_documents_and_ids(nsmc_runs):
    plain = docs(nsmc_runs["none"])
    assert len(plain) == 4000
    for name, out in nsmc_runs.items():
        m = check_accounting(out)
        job = next(iter(m["jobs"].values()))
        assert job["inputs"][0]["compression"] == name  # detected from magic bytes, not the name
        assert job["inputs"][0]["format"] == "jsonl"
        assert m["counts"] == {"read": 4000, "written": 4000, "quarantined": 0}
        assert docs(out) == plain, f"{name} differs from the uncompressed run"


def test_file_name_does_not_decide_format_or_compression(tmp_path):
    """gzip data named .txt is still gzip JSONL; only the ids change with the name."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "reviews.txt").write_bytes(gzip.compress(nsmc_bytes()))
    (src / "reviews.jsonl").write_bytes(nsmc_bytes())
    ingest([str(src / "reviews.txt")], source="reviews", out=tmp_path / "a", progress=False)
    ingest([str(src / "reviews.jsonl")], source="reviews", out=tmp_path / "b", progress=False)
    a, b = docs(tmp_path / "a"), docs(tmp_path / "b")
    inputs = manifest(tmp_path / "a")["jobs"]
    (job,) = inputs.values()
    assert (job["inputs"][0]["format"], job["inputs"][0]["compression"]) == ("jsonl", "gzip")
    key = lambda r: r["position"]  # noqa: E731
    assert _content(sorted(a, key=key)) == _content(sorted(b, key=key))
    assert {r["input_file"] for r in a} == {"reviews.txt"}
    assert all(r["id"] == make_id("reviews", "reviews.txt", r["position"]) for r in a)
    assert not {r["id"] for r in a} & {r["id"] for r in b}


def test_nsmc_fields_and_dates(nsmc_runs):
    rows = sorted(docs(nsmc_runs["zstd"]), key=lambda r: r["position"])
    records = nsmc_records()
    assert [r["text"] for r in rows] == [rec["review"] for rec in records]  # "review" is a default text key
    first = rows[0]
    assert first["text"] == "전체관람가는 아닌것 같아요"
    assert first["created"] == datetime(2015, 8, 25, tzinfo=UTC)  # "15.08.25" (YY.MM.DD) -> UTC
    meta = json.loads(first["meta"])
    assert meta == {"author": "dhrl****", "movie_id": "10001", "rating": "10", "review_id": "10275182"}
    assert "created_raw" not in meta  # it parsed
    assert all(r["created"] is not None for r in rows)
    assert all(r["source"] == "reviews" and r["input_file"] == "reviews.jsonl" for r in rows)
    assert [r["position"] for r in rows] == list(range(4000))


def test_field_mapping_options(tmp_path):
    records = [
        {"body": "first body", "uid": "a-1", "link": "https://ex.com/1", "headline": "One",
         "when": "2021-03-04T05:06:07+09:00", "locale": "ko", "views": 10, "tags": ["x", "y"]},
        {"body": "second body", "uid": "a-2", "link": "https://ex.com/2", "headline": "Two",
         "when": "sometime last week", "locale": "en", "views": 20, "tags": []},
        {"body": None, "uid": "a-3", "when": 1700000000},
    ]
    src = tmp_path / "dump.jsonl"
    src.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n", encoding="utf-8")
    opts = ReaderOptions(text_field="body", id_field="uid", url_field="link", title_field="headline",
                         date_field="when", lang_field="locale")
    ingest([str(src)], source="blog", out=tmp_path / "all", options=opts, progress=False)
    rows = sorted(docs(tmp_path / "all"), key=lambda r: r["position"])
    assert [r["text"] for r in rows] == ["first body", "second body", ""]
    assert [r["url"] for r in rows] == ["https://ex.com/1", "https://ex.com/2", None]
    assert [r["title"] for r in rows] == ["One", "Two", None]
    assert [r["lang"] for r in rows] == ["ko", "en", None]
    assert rows[0]["created"] == datetime(2021, 3, 3, 20, 6, 7, tzinfo=UTC)  # +09:00 converted to UTC
    assert rows[1]["created"] is None
    assert rows[2]["created"] == datetime.fromtimestamp(1700000000, tz=UTC)
    metas = [json.loads(r["meta"]) for r in rows]
    # every field not mapped stays in meta; the source's own id is kept as source_id
    assert metas[0] == {"source_id": "a-1", "views": 10, "tags": ["x", "y"]}
    assert metas[1] == {"source_id": "a-2", "views": 20, "tags": [], "created_raw": "sometime last week"}
    assert metas[2] == {"source_id": "a-3"}

    # --meta-field restricts meta to the named fields (the source id is still kept)
    ingest([str(src)], source="blog2", out=tmp_path / "some", progress=False,
           options=ReaderOptions(text_field="body", id_field="uid", meta_fields=("views",)))
    metas = [json.loads(r["meta"]) for r in sorted(docs(tmp_path / "some"), key=lambda r: r["position"])]
    assert metas == [{"source_id": "a-1", "views": 10}, {"source_id": "a-2", "views": 20}, {"source_id": "a-3"}]


def test_missing_text_field_is_quarantined_not_guessed(tmp_path):
    src = tmp_path / "d.jsonl"
    src.write_text('{"body": "x"}\n{"other": "y"}\n', encoding="utf-8")
    ingest([str(src)], source="s", out=tmp_path / "o", options=ReaderOptions(text_field="body"), progress=False)
    m = check_accounting(tmp_path / "o")
    assert m["counts"] == {"read": 2, "written": 1, "quarantined": 1}
    assert m["jobs"][next(iter(m["jobs"]))]["quarantine_by_type"] == {"missing_field": 1}


def test_json_array_streamed_across_chunk_boundaries(tmp_path):
    """A 3 MB array (pretty-printed, Korean text: multi-byte characters and elements straddle the
    1 MiB read chunks) gives exactly the elements json.loads sees, in order."""
    rng = random.Random(7)
    reviews = [r["review"] for r in nsmc_records()]
    records = [{"text": rng.choice(reviews) + " \\ \" { ] ," + "가" * rng.randrange(0, 600), "n": i,
                "nested": {"a": [1, {"b": "}"}]}} for i in range(6000)]
    data = json.dumps(records, ensure_ascii=False, indent=1).encode("utf-8")
    assert len(data) > 3 << 20
    path = tmp_path / "big.json"
    path.write_bytes(data)
    ingest([str(path)], source="arr", out=tmp_path / "o", progress=False)
    m = check_accounting(tmp_path / "o")
    assert m["counts"] == {"read": 6000, "written": 6000, "quarantined": 0}
    rows = sorted(docs(tmp_path / "o"), key=lambda r: r["position"])
    assert [r["text"] for r in rows] == [r["text"] for r in records]
    assert json.loads(rows[-1]["meta"]) == {"n": 5999, "nested": {"a": [1, {"b": "}"}]}}
    # the same array compact and compressed, read by the reader directly
    packed = tmp_path / "big.json.zst"
    packed.write_bytes(zstandard.ZstdCompressor().compress(json.dumps(records).encode()))
    items = list(read_json(ReadContext(packed, "big.json.zst", "zstd", ReaderOptions())))
    assert [d.text for d in items] == [r["text"] for r in records]


def test_json_single_object_and_concatenated_objects(tmp_path):
    one = json.dumps({"title": "T", "content": "본문입니다"}, indent=2, ensure_ascii=False)
    (tmp_path / "one.json").write_text(one, encoding="utf-8")
    ingest([str(tmp_path / "one.json")], source="j", out=tmp_path / "o", progress=False)
    (row,) = docs(tmp_path / "o")
    assert (row["text"], row["title"], row["position"]) == ("본문입니다", "T", 0)
    (job,) = manifest(tmp_path / "o")["jobs"].values()
    assert job["inputs"][0]["format"] == "json"
    # objects one after another (not one per line): --format json reads them all
    (tmp_path / "many.json").write_text('{"text": "a"}\n{"text":\n "b"}  {"text": "c"}\n')
    ingest([str(tmp_path / "many.json")], source="k", out=tmp_path / "o", fmt="json", progress=False)
    m = check_accounting(tmp_path / "o")
    assert m["counts_by_source"]["k"] == {"read": 3, "written": 3, "quarantined": 0}
    rows = sorted((r for r in docs(tmp_path / "o") if r["source"] == "k"), key=lambda r: r["position"])
    assert [r["text"] for r in rows] == ["a", "b", "c"]


def test_csv_quoted_multiline_fields_and_tsv(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(["id", "text", "title", "date"])
    w.writerow(["1", "첫 줄\r\n둘째 줄, \"인용\"", "제목", "2020-01-02"])
    w.writerow(["2", "plain", "", "20200103"])
    (src / "posts.csv").write_text("\ufeff" + buf.getvalue(), encoding="utf-8")  # with a BOM, as Excel writes
    (src / "posts.tsv").write_text("text\tauthor\nhello\tkim\n\nworld\tlee\n", encoding="utf-8")
    ingest([str(src)], source="tab", out=tmp_path / "o", progress=False)
    m = check_accounting(tmp_path / "o")
    (job,) = m["jobs"].values()
    assert [i["format"] for i in job["inputs"]] == ["csv", "tsv"]
    assert job["skipped"] == {"blank_line": 1}
    rows = {(r["input_file"], r["position"]): r for r in docs(tmp_path / "o")}
    first = rows[("posts.csv", 0)]
    assert first["text"] == "첫 줄\r\n둘째 줄, \"인용\""
    assert first["title"] == "제목"
    assert first["created"] == datetime(2020, 1, 2, tzinfo=UTC)
    assert json.loads(first["meta"]) == {"source_id": "1"}
    assert rows[("posts.csv", 1)]["created"] == datetime(2020, 1, 3, tzinfo=UTC)
    assert [rows[("posts.tsv", i)]["text"] for i in (0, 1)] == ["hello", "world"]
    assert json.loads(rows[("posts.tsv", 1)]["meta"]) == {"author": "lee"}


def test_text_one_document_per_line(tmp_path):
    src = tmp_path / "news"
    src.mkdir()
    lines = NEWS_KO.read_text(encoding="utf-8").splitlines()
    body = "\n".join(lines[:10]) + "\n\n  \n" + "\n".join(lines[10:]) + "\n"  # two blank lines in the middle
    (src / "ko.txt").write_text(body, encoding="utf-8")
    shutil.copy(NEWS_EN, src / "en.txt")
    ingest([str(src)], source="news", out=tmp_path / "o", options=ReaderOptions(lang="ko"), progress=False)
    m = check_accounting(tmp_path / "o")
    assert m["counts"] == {"read": 2000, "written": 2000, "quarantined": 0}
    (job,) = m["jobs"].values()
    assert job["skipped"] == {"blank_line": 2}
    rows = {(r["input_file"], r["position"]): r for r in docs(tmp_path / "o")}
    assert rows[("ko.txt", 0)]["text"] == lines[0]
    assert rows[("ko.txt", 12)]["text"] == lines[10]  # positions are line numbers, blank lines included
    assert ("ko.txt", 10) not in rows
    assert rows[("en.txt", 999)]["text"] == NEWS_EN.read_text(encoding="utf-8").splitlines()[999]
    assert {r["lang"] for r in rows.values()} == {"ko"}


def test_text_unit_file(tmp_path):
    src = tmp_path / "articles"
    (src / "2020").mkdir(parents=True)
    (src / "2020" / "a.txt").write_text("제목\n\n첫 문단.\n둘째 문단.\n", encoding="utf-8")
    (src / "b.txt").write_bytes(gzip.compress("\ufeffone file, one document".encode()))
    ingest([str(src)], source="articles", out=tmp_path / "o", options=ReaderOptions(text_unit="file"), progress=False)
    check_accounting(tmp_path / "o")
    rows = {r["input_file"]: r for r in docs(tmp_path / "o")}
    assert rows == {"2020/a.txt": rows["2020/a.txt"], "b.txt": rows["b.txt"]}
    assert rows["2020/a.txt"]["text"] == "제목\n\n첫 문단.\n둘째 문단."
    assert rows["b.txt"]["text"] == "one file, one document"
    assert rows["b.txt"]["position"] == 0


def test_parquet_with_column_mapping(tmp_path):
    table = pa.table({
        "content": ["가나다", "라마바", None],
        "page_url": ["https://a", None, "https://c"],
        "published": pa.array([datetime(2022, 5, 6, 7, 8, 9), None, datetime(1999, 1, 1)], pa.timestamp("us")),
        "score": [0.5, 1.5, 2.5],
    })
    src = tmp_path / "src"
    src.mkdir()
    pq.write_table(table, src / "hf-export.parquet")
    (src / "packed.parquet.gz").write_bytes(gzip.compress((src / "hf-export.parquet").read_bytes()))
    opts = ReaderOptions(text_field="content", url_field="page_url", date_field="published")
    ingest([str(src)], source="hf", out=tmp_path / "o", options=opts, progress=False)
    m = check_accounting(tmp_path / "o")
    assert m["counts"]["written"] == 6
    rows = {(r["input_file"], r["position"]): r for r in docs(tmp_path / "o")}
    for name in ("hf-export.parquet", "packed.parquet.gz"):
        assert [rows[(name, i)]["text"] for i in range(3)] == ["가나다", "라마바", ""]
        assert rows[(name, 0)]["url"] == "https://a"
        assert rows[(name, 0)]["created"] == datetime(2022, 5, 6, 7, 8, 9, tzinfo=UTC)
        assert rows[(name, 1)]["created"] is None
        assert json.loads(rows[(name, 2)]["meta"]) == {"score": 2.5}


def test_byte_order_marks_and_crlf(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "bom.jsonl").write_bytes(b'\xef\xbb\xbf{"text": "first"}\r\n{"text": "second"}\r\n')
    (src / "bom.json").write_bytes(b'\xef\xbb\xbf\r\n[{"text": "arr"}]')
    (src / "bom.txt").write_bytes(b"\xef\xbb\xbfline one\r\nline two\r\n")
    ingest([str(src)], source="bom", out=tmp_path / "o", progress=False)
    m = check_accounting(tmp_path / "o")
    assert m["counts"] == {"read": 5, "written": 5, "quarantined": 0}
    assert sorted(r["text"] for r in docs(tmp_path / "o")) == ["arr", "first", "line one", "line two", "second"]


def test_nan_and_binary_text_values(tmp_path):
    (tmp_path / "nan.jsonl").write_text('{"text": NaN, "x": 1}\n{"text": "ok", "score": Infinity}\n')
    pq.write_table(pa.table({"text": pa.array([b"\xea\xb0\x80", b"\xff"], pa.binary())}), tmp_path / "bin.parquet")
    ingest([str(tmp_path / "nan.jsonl"), str(tmp_path / "bin.parquet")], source="odd", out=tmp_path / "o",
           progress=False)
    m = check_accounting(tmp_path / "o")
    assert m["counts"] == {"read": 4, "written": 3, "quarantined": 1}
    rows = {(r["input_file"], r["position"]): r for r in docs(tmp_path / "o")}
    assert rows[("nan.jsonl", 0)]["text"] == ""  # NaN (a pandas export's missing value) is no text
    assert rows[("nan.jsonl", 1)]["text"] == "ok"
    assert rows[("bin.parquet", 0)]["text"] == "가"  # binary column decoded as UTF-8
    (job,) = m["jobs"].values()
    assert job["quarantine_by_type"] == {"invalid_utf8": 1}


def test_inputs_files_dirs_globs_and_symlink_loops(tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "a.txt").write_text("a1\na2\n")
    (src / "b.txt").write_text("b1\n")
    (src / ".hidden.txt").write_text("never\n")
    (src / "sub" / "loop").symlink_to(src, target_is_directory=True)
    ingest(str(src), source="d", out=tmp_path / "dir", progress=False)  # one path as a plain string
    assert sorted((r["input_file"], r["text"]) for r in docs(tmp_path / "dir")) == [
        ("b.txt", "b1"), ("sub/a.txt", "a1"), ("sub/a.txt", "a2")]
    ingest([str(src / "**" / "*.txt")], source="g", out=tmp_path / "glob", progress=False)
    assert sorted(r["input_file"] for r in docs(tmp_path / "glob")) == ["b.txt", "sub/a.txt", "sub/a.txt"]


def test_legacy_encoding_cp949_reads_like_utf8(tmp_path, sample_data):
    """Korean dumps often come in CP949/EUC-KR: --encoding transcodes them; without it they are
    quarantined as invalid UTF-8, never decoded wrongly."""
    import zstandard

    from curate.errors import CurateError
    from curate.ingest import ReaderOptions, ingest

    raw = zstandard.ZstdDecompressor().stream_reader(open(sample_data / "reviews" / "nsmc_reviews.jsonl.zst", "rb")).read()
    lines = raw.decode("utf-8").splitlines()[:300]
    keep = []  # reviews CP949 can represent (it lacks some emoji and rare Hanja)
    for ln in lines:
        try:
            ln.encode("cp949")
            keep.append(ln)
        except UnicodeEncodeError:
            pass
    (tmp_path / "u").mkdir()
    (tmp_path / "c").mkdir()
    (tmp_path / "u" / "r.jsonl").write_text("\n".join(keep) + "\n", encoding="utf-8")
    (tmp_path / "c" / "r.jsonl").write_bytes(("\n".join(keep) + "\n").encode("cp949"))
    opts = dict(text_field="review")
    ingest([str(tmp_path / "u")], source="r", out=tmp_path / "out_u", options=ReaderOptions(**opts), progress=False)
    ingest([str(tmp_path / "c")], source="r", out=tmp_path / "out_c", options=ReaderOptions(encoding="cp949", **opts),
           progress=False)
    bad = ingest([str(tmp_path / "c")], source="r", out=tmp_path / "out_bad", options=ReaderOptions(**opts), progress=False)
    read = lambda d: pq.read_table(d / "documents").select(["id", "text"]).sort_by("id").to_pylist()  # noqa: E731
    assert read(tmp_path / "out_u") == read(tmp_path / "out_c")
    assert len(read(tmp_path / "out_u")) == len(keep) > 250
    assert bad["counts"]["written"] < len(keep) and bad["quarantine_by_type"].get("invalid_utf8", 0) > 0
    with pytest.raises(CurateError, match="--encoding"):
        ingest([str(tmp_path / "c")], source="r", out=tmp_path / "x", options=ReaderOptions(encoding="klingon"),
               progress=False)
