"""Helpers for the ingest tests: read an output DIR back and check its accounting."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

REPO_ROOT = Path(__file__).resolve().parents[1]
NSMC = REPO_ROOT / "sample_data" / "reviews" / "nsmc_reviews.jsonl.zst"
NEWS_KO = REPO_ROOT / "sample_data" / "news" / "korean-english-park.dev.ko.txt"
NEWS_EN = REPO_ROOT / "sample_data" / "news" / "korean-english-park.dev.en.txt"


def ingest_sample_reviews(out: Path) -> None:
    """``sample_data/reviews`` (4,000 NSMC reviews, Korean) into ``out`` as source ``reviews``."""
    from curate.ingest import ReaderOptions, ingest

    ingest([str(NSMC.parent)], source="reviews", out=out, options=ReaderOptions(text_field="review", lang="ko"),
           progress=False)


def ingest_sample_news_and_reviews(out: Path) -> None:
    """Korean + English news (one document per line, source ``news``) and the Korean reviews."""
    from curate.ingest import ingest

    ingest([str(NEWS_KO.parent)], source="news", out=out, progress=False)
    ingest_sample_reviews(out)


def nsmc_bytes() -> bytes:
    """The decompressed NSMC reviews JSONL (4,000 lines)."""
    return zstandard.ZstdDecompressor().stream_reader(NSMC.open("rb")).read()


def nsmc_records() -> list[dict]:
    return [json.loads(line) for line in nsmc_bytes().decode("utf-8").splitlines() if line]


def table(out: Path, kind: str = "documents") -> pa.Table:
    """All rows of ``out/<kind>/*.parquet`` (empty table if none), sorted by the first columns."""
    files = sorted((Path(out) / kind).glob("*.parquet"))
    if not files:
        return pa.table({})
    t = pa.concat_tables([pq.read_table(f) for f in files])
    keys = [("id", "ascending")] if kind == "documents" else [("input_file", "ascending"), ("position", "ascending")]
    return t.sort_by(keys) if t.num_rows else t


def docs(out: Path) -> list[dict]:
    return table(out).to_pylist()


def quarantine(out: Path) -> list[dict]:
    return table(out, "quarantine").to_pylist() if (Path(out) / "quarantine").is_dir() else []


def manifest(out: Path) -> dict:
    return json.loads((Path(out) / "manifest.json").read_text(encoding="utf-8"))


def parquet_digests(out: Path, kind: str = "documents") -> dict[str, str]:
    """``{file name: sha256 of its bytes}`` of every Parquet file under ``out/<kind>``."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((Path(out) / kind).glob("*.parquet"))}


def temporaries(out: Path) -> list[Path]:
    return sorted(p for p in Path(out).rglob(".tmp-*"))


def check_accounting(out: Path) -> dict:
    """Assert ``read = written + quarantined`` overall, per source and per job in manifest.json, and
    that the manifest's numbers are the real Parquet row counts (asked of DuckDB). Returns the manifest."""
    m = manifest(out)
    for counts in [m["counts"], *m["counts_by_source"].values(), *(j["counts"] for j in m["jobs"].values())]:
        assert counts["read"] == counts["written"] + counts["quarantined"], counts
    out = Path(out)
    con = duckdb.connect()
    written = dict(con.execute(f"select source, count(*) from read_parquet('{out}/documents/*.parquet') group by 1")
                   .fetchall()) if list((out / "documents").glob("*.parquet")) else {}
    quarantined = dict(con.execute(f"select source, count(*) from read_parquet('{out}/quarantine/*.parquet') "
                                   "group by 1").fetchall()) if list((out / "quarantine").glob("*.parquet")) else {}
    for source, counts in m["counts_by_source"].items():
        assert written.get(source, 0) == counts["written"], (source, written, counts)
        assert quarantined.get(source, 0) == counts["quarantined"], (source, quarantined, counts)
    assert set(written) | set(quarantined) <= set(m["counts_by_source"])
    # every file a job lists exists, and nothing else is in the output folders
    listed = {n for j in m["jobs"].values() for n in j["outputs"]["documents"]}
    assert listed == {p.name for p in (out / "documents").glob("*.parquet")}
    listed_q = {n for j in m["jobs"].values() for n in j["outputs"]["quarantine"]}
    assert listed_q == {p.name for p in (out / "quarantine").glob("*.parquet")}
    return m
