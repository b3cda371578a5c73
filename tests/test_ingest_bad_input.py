"""Bad input: each case gives a clear message and a quarantine row, the rest of the run completes,
``read = written + quarantined`` holds, and no raw content of a bad record is stored. Wrong
commands fail with a CurateError (CLI: exit 2, "error: ...") before anything is written."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import json
import lzma
import random
import tracemalloc
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import zstandard
from typer.testing import CliRunner

from curate.cli import app
from curate.errors import CurateError
from curate.ingest import ReaderOptions, ingest
from curate.ingest.base import Bad, Doc, ReadContext
from curate.ingest.readers.records import read_jsonl
from curate.schema import validate_table
from ingest_util import check_accounting, docs, manifest, nsmc_bytes, quarantine

SECRET = "SECRET-PII-900101-1234567"  # put in every bad record; must never reach the quarantine
BIG_LINE = 50_000_000


def _good_lines(n: int, tag: str) -> list[bytes]:
    return [json.dumps({"text": f"{tag} good {i}", "k": i}).encode() for i in range(n)]


def _jsonl(lines: list[bytes]) -> bytes:
    return b"\n".join(lines) + b"\n"


@pytest.fixture(scope="module")
def bad_run(tmp_path_factory) -> tuple[Path, Path]:
    src = tmp_path_factory.mktemp("bad-src")
    reviews = nsmc_bytes()  # 4,000 lines, ~0.9 MB: truncated halfway, most of it is still read
    gz = gzip.compress(reviews)
    (src / "truncated.jsonl.gz").write_bytes(gz[: len(gz) // 2])
    zst = zstandard.ZstdCompressor().compress(reviews)
    (src / "truncated.jsonl.zst").write_bytes(zst[: len(zst) // 2])
    xz = lzma.compress(reviews)
    (src / "truncated.jsonl.xz").write_bytes(xz[: len(xz) // 2])
    damaged = bytearray(gzip.compress(reviews))
    rng = random.Random(3)
    for i in rng.sample(range(len(damaged) // 2, len(damaged) - 100), 40):
        damaged[i] ^= 0xFF
    (src / "corrupt.jsonl.gz").write_bytes(bytes(damaged))
    (src / "good.jsonl").write_bytes(_jsonl(_good_lines(100, "plain")))
    (src / "good.jsonl.bz2").write_bytes(bz2.compress(_jsonl(_good_lines(10, "bz2"))))
    lines = _good_lines(10, "utf8")
    lines[3] = b'{"text": "bad \xff\xfe byte ' + SECRET.encode() + b'"}'
    (src / "invalid_utf8.jsonl").write_bytes(_jsonl(lines))
    (src / "empty.jsonl").write_bytes(b"")
    (src / "empty.jsonl.gz").write_bytes(gzip.compress(b""))
    (src / "junk.jsonl").write_bytes(b"\x00\x01\x02" + random.Random(0).randbytes(20_000))
    with open(src / "huge_line.jsonl", "wb") as fh:  # 50 MB on one line, between two good ones
        fh.write(b'{"text": "before"}\n{"text": "' + SECRET.encode())
        fh.write(b"x" * BIG_LINE)
        fh.write(b'"}\n{"text": "after"}\n')
    lines = _good_lines(6, "malformed")
    lines[1] = b'{"text": "unterminated ' + SECRET.encode()
    lines[3] = b"not json at all " + SECRET.encode()
    lines[5] = b'["an", "array", "' + SECRET.encode() + b'"]'
    (src / "malformed.jsonl").write_bytes(_jsonl(lines))
    (src / "array_bad.json").write_text(
        '[{"text": "el 0"}, {"text": "el 1", "x": ' + SECRET + '}, {"text": "el 2"}, 42, {"text": "el 4"}]')
    (src / "wrong_fields.csv").write_text(
        f"text,author\nrow one,kim\nrow two,lee,{SECRET}\n\"row, three\",park\n", encoding="utf-8")
    (src / "surrogate.jsonl").write_text(
        '{"text": "fine"}\n'
        '{"text": "lone \\ud800 surrogate ' + SECRET + '"}\n'
        '{"text": "fine too", "author": "\\udc00' + SECRET + '"}\n'
        '{"text": "pair \\ud83d\\ude00 is fine"}\n', encoding="ascii")
    out = tmp_path_factory.mktemp("bad-out")
    ingest([str(src)], source="bad", out=out, progress=False)
    return src, out


def _by_file(out: Path) -> dict[str, list[dict]]:
    rows: dict[str, list[dict]] = {}
    for r in quarantine(out):
        rows.setdefault(r["input_file"], []).append(r)
    return rows


def _docs_of(out: Path, name: str) -> list[dict]:
    return sorted((r for r in docs(out) if r["input_file"] == name), key=lambda r: r["position"])


def test_run_completes_and_accounting_holds(bad_run):
    _, out = bad_run
    m = check_accounting(out)
    (job,) = m["jobs"].values()
    assert job["complete"] is True
    # every bad file is in the quarantine; the good ones are not
    q = _by_file(out)
    assert "good.jsonl" not in q and "good.jsonl.bz2" not in q
    assert len(_docs_of(out, "good.jsonl")) == 100 and len(_docs_of(out, "good.jsonl.bz2")) == 10
    assert set(q) == {"truncated.jsonl.gz", "truncated.jsonl.zst", "truncated.jsonl.xz", "corrupt.jsonl.gz",
                      "invalid_utf8.jsonl", "empty.jsonl", "empty.jsonl.gz", "junk.jsonl", "huge_line.jsonl",
                      "malformed.jsonl", "array_bad.json", "wrong_fields.csv", "surrogate.jsonl"}
    assert sum(job["quarantine_by_type"].values()) == m["counts"]["quarantined"] == sum(map(len, q.values()))


@pytest.mark.parametrize("name", ["truncated.jsonl.gz", "truncated.jsonl.zst", "truncated.jsonl.xz"])
def test_truncated_stream_keeps_what_was_read(bad_run, name):
    _, out = bad_run
    (row,) = _by_file(out)[name]
    assert row["error_type"] == "truncated_stream"
    assert "ends early" in row["error"] and "rest of the file" in row["error"] and name in row["error"]
    kept = _docs_of(out, name)
    assert 500 < len(kept) < 4000  # the documents before the damage are kept, in order
    assert [r["position"] for r in kept] == list(range(len(kept)))


def test_corrupt_gzip_is_quarantined(bad_run):
    _, out = bad_run
    rows = _by_file(out)["corrupt.jsonl.gz"]
    assert rows[-1]["error_type"] in ("corrupt_stream", "truncated_stream")
    assert rows[-1]["position"] is None


def test_invalid_utf8_quarantines_only_that_line(bad_run):
    src, out = bad_run
    (row,) = _by_file(out)["invalid_utf8.jsonl"]
    assert (row["error_type"], row["position"]) == ("invalid_utf8", 3)
    raw_line = (src / "invalid_utf8.jsonl").read_bytes().split(b"\n")[3]
    assert row["content_sha1"] == hashlib.sha1(raw_line).hexdigest()
    assert row["content_bytes"] == len(raw_line)
    lines = (src / "invalid_utf8.jsonl").read_bytes().split(b"\n")
    assert row["byte_offset"] == sum(len(line) + 1 for line in lines[:3])
    assert "invalid UTF-8 at byte" in row["error"]
    assert [r["position"] for r in _docs_of(out, "invalid_utf8.jsonl")] == [0, 1, 2, 4, 5, 6, 7, 8, 9]


@pytest.mark.parametrize("name, error_type", [("empty.jsonl", "empty_file"), ("empty.jsonl.gz", "empty_file"),
                                              ("junk.jsonl", "binary_content")])
def test_whole_file_problems(bad_run, name, error_type):
    _, out = bad_run
    (row,) = _by_file(out)[name]
    assert row["error_type"] == error_type
    assert row["position"] is None
    assert not _docs_of(out, name)


def test_huge_line_is_quarantined_and_neighbours_kept(bad_run):
    _, out = bad_run
    (row,) = _by_file(out)["huge_line.jsonl"]
    assert (row["error_type"], row["position"]) == ("record_too_large", 1)
    assert f"{BIG_LINE + len(SECRET) + 13:,} bytes" in row["error"] and "--max-record-mb" in row["error"]
    assert row["content_sha1"] is None  # never read into memory, so never hashed either
    assert [r["text"] for r in _docs_of(out, "huge_line.jsonl")] == ["before", "after"]


def test_huge_line_is_never_held_in_memory(tmp_path):
    """With a 1 MiB record limit, reading past a 50 MB line allocates a few MB, not 50."""
    path = tmp_path / "huge.jsonl"
    with open(path, "wb") as fh:
        fh.write(b'{"text": "' + b"y" * BIG_LINE + b'"}\n{"text": "after"}\n')
    ctx = ReadContext(path, "huge.jsonl", "none", ReaderOptions(max_record_bytes=1 << 20))
    tracemalloc.start()
    try:
        items = list(read_jsonl(ctx))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [type(i) for i in items] == [Bad, Doc]
    assert items[0].error_type == "record_too_large"
    assert peak < 12 << 20, f"peak {peak / 1e6:.1f} MB"


def test_malformed_json_lines(bad_run):
    _, out = bad_run
    rows = _by_file(out)["malformed.jsonl"]
    assert [(r["position"], r["error_type"]) for r in rows] == [
        (1, "malformed_json"), (3, "malformed_json"), (5, "malformed_record")]
    assert all(r["error"].startswith("malformed.jsonl: line ") for r in rows)
    assert [r["position"] for r in _docs_of(out, "malformed.jsonl")] == [0, 2, 4]


def test_json_array_with_bad_elements(bad_run):
    _, out = bad_run
    rows = _by_file(out)["array_bad.json"]
    assert [(r["position"], r["error_type"]) for r in rows] == [(1, "malformed_json"), (3, "malformed_record")]
    assert "array element 1 is not valid JSON" in rows[0]["error"]
    assert rows[0]["content_bytes"] > len(SECRET)  # the bad element was measured and hashed, not stored
    assert [r["text"] for r in _docs_of(out, "array_bad.json")] == ["el 0", "el 2", "el 4"]


def test_csv_row_with_wrong_field_count(bad_run):
    _, out = bad_run
    (row,) = _by_file(out)["wrong_fields.csv"]
    assert (row["error_type"], row["position"]) == ("malformed_csv", 1)
    assert "has 3 fields, header has 2" in row["error"]
    assert [r["text"] for r in _docs_of(out, "wrong_fields.csv")] == ["row one", "row, three"]


def test_lone_surrogates_are_invalid_unicode(bad_run):
    _, out = bad_run
    rows = _by_file(out)["surrogate.jsonl"]
    assert [(r["position"], r["error_type"]) for r in rows] == [(1, "invalid_unicode"), (2, "invalid_unicode")]
    assert [r["text"] for r in _docs_of(out, "surrogate.jsonl")] == ["fine", "pair \U0001F600 is fine"]


def test_quarantine_never_stores_raw_content(bad_run):
    _, out = bad_run
    for path in (out / "quarantine").glob("*.parquet"):
        t = pq.read_table(path)
        validate_table(t, "quarantine")
        assert t.column_names == ["source", "input_file", "position", "byte_offset", "stage", "error_type", "error",
                                  "content_sha1", "content_bytes"]
        assert SECRET.encode() not in path.read_bytes()
        for column in ("error", "content_sha1", "input_file"):
            assert not any(SECRET in (v or "") for v in t.column(column).to_pylist())
    assert SECRET not in (out / "manifest.json").read_text(encoding="utf-8")
    assert not any(SECRET in r["text"] or SECRET in r["meta"] for r in docs(out))


def test_errors_name_the_file(bad_run):
    _, out = bad_run
    for r in quarantine(out):
        assert r["error"].startswith(r["input_file"] + ": "), r
        assert r["stage"] == "ingest" and r["source"] == "bad"


# --- wrong commands fail before anything is written -------------------------------------------

@pytest.mark.parametrize("args, message", [
    (lambda d: [str(d / "missing.jsonl")], "does not exist"),
    (lambda d: [str(d / "src" / "*.nothing")], "matches no files"),
    (lambda d: [str(d / "empty-dir")], "contains no files"),
])
def test_bad_inputs_raise_before_output(tmp_path, args, message):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.jsonl").write_text('{"text": "x"}\n')
    (tmp_path / "empty-dir").mkdir()
    out = tmp_path / "out"
    with pytest.raises(CurateError, match=message):
        ingest(args(tmp_path), source="s", out=out, progress=False)
    assert not out.exists()


@pytest.mark.parametrize("kwargs, message", [
    ({"source": "bad source!"}, "--source"),
    ({"source": "s/../x"}, "--source"),
    ({"source": "s", "fmt": "docx"}, "--format 'docx' is not one of"),
    ({"source": "s", "options": ReaderOptions(text_unit="page")}, "--text-unit"),
    ({"source": "s", "workers": 0}, "--workers"),
])
def test_bad_options_raise_before_output(tmp_path, kwargs, message):
    src = tmp_path / "a.jsonl"
    src.write_text('{"text": "x"}\n')
    out = tmp_path / "out"
    with pytest.raises(CurateError, match=message):
        ingest([str(src)], out=out, progress=False, **kwargs)
    assert not out.exists()


@pytest.mark.parametrize("extra, message", [
    (["--source", "bad source!"], "--source"),
    (["--source", "s", "--format", "docx"], "--format"),
    (["--source", "s", "MISSING"], "does not exist"),
])
def test_cli_exits_2_with_error_message(tmp_path, extra, message):
    src = tmp_path / "a.jsonl"
    src.write_text('{"text": "x"}\n')
    out = tmp_path / "out"
    args = ["ingest", str(src), "--out", str(out), *extra]
    if "MISSING" in extra:
        args = ["ingest", str(tmp_path / "missing.jsonl"), "--out", str(out), "--source", "s"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    text = result.output + (result.stderr if hasattr(result, "stderr") else "")
    assert "error: " in text and message in text
    assert "Traceback" not in text
    assert not out.exists()


def test_cli_ingest_reports_quarantine(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.jsonl").write_text('{"text": "x"}\n{"text": \n')
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["ingest", str(src), "--source", "s", "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "read 2  written 1  quarantined 1" in result.output
    assert "malformed_json" in result.output
    assert manifest(out)["counts"] == {"read": 2, "written": 1, "quarantined": 1}


def test_record_limits_apply_to_json_csv_and_text(tmp_path):
    """Over --max-record-mb: a JSON array element is skipped without being held (the elements after
    it are read), a CSV line and a text line are quarantined, each as record_too_large."""
    src = tmp_path / "src"
    src.mkdir()
    big = "z" * 300_000
    (src / "arr.json").write_text(json.dumps([{"text": "a"}, {"text": big, "k": [1, {"q": "]}"}]}, {"text": "c"}]))
    (src / "arr2.json").write_text(json.dumps([{"text": "x" * 3_000_000}, {"text": "after big"}]))  # > one chunk
    (src / "rows.csv").write_text(f"text,n\nshort,1\n{big},2\nafter,3\n")
    (src / "lines.txt").write_text(f"short\n{big}\nafter\n")
    ingest([str(src)], source="lim", out=tmp_path / "o", progress=False,
           options=ReaderOptions(max_record_bytes=100_000))
    m = check_accounting(tmp_path / "o")
    assert m["counts"] == {"read": 11, "written": 7, "quarantined": 4}
    q = {r["input_file"]: r for r in quarantine(tmp_path / "o")}
    assert {name: (r["error_type"], r["position"]) for name, r in q.items()} == {
        "arr.json": ("record_too_large", 1), "arr2.json": ("record_too_large", 0), "rows.csv": ("record_too_large", 1),
        "lines.txt": ("record_too_large", 1)}
    assert sorted(r["text"] for r in docs(tmp_path / "o")) == ["a", "after", "after", "after big", "c", "short",
                                                               "short"]


def test_deeply_nested_json_does_not_crash(tmp_path):
    (tmp_path / "deep.json").write_text('[{"text": "ok"}, ' + "[" * 100_000 + "]" * 100_000 + ', {"text": "z"}]')
    (tmp_path / "deep.jsonl").write_text('{"text": "ok"}\n{"text": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    ingest([str(tmp_path / "deep.json"), str(tmp_path / "deep.jsonl")], source="deep", out=tmp_path / "o",
           progress=False)
    m = check_accounting(tmp_path / "o")
    assert m["counts"]["written"] >= 2 and m["counts"]["quarantined"] >= 2


def test_truncated_parquet_is_quarantined(tmp_path):
    import pyarrow as pa

    pq.write_table(pa.table({"text": [f"row {i}" for i in range(1000)]}), tmp_path / "whole.parquet")
    data = (tmp_path / "whole.parquet").read_bytes()
    src = tmp_path / "src"
    src.mkdir()
    (src / "cut.parquet").write_bytes(data[: len(data) // 2])
    (src / "ok.parquet").write_bytes(data)
    ingest([str(src)], source="pq", out=tmp_path / "o", progress=False)
    m = check_accounting(tmp_path / "o")
    assert m["counts"] == {"read": 1001, "written": 1000, "quarantined": 1}
    (row,) = quarantine(tmp_path / "o")
    assert (row["input_file"], row["error_type"]) == ("cut.parquet", "malformed_parquet")
