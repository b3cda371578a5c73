"""Exact deduplication on normalized text: a global step (passes over Parquet, DuckDB out of core).

Pass 1 (one task per shard, any executor): normalize each text and hash it with XXH3-128.
Pass 2 (DuckDB, spilling to disk under ``memory_limit``): for every hash, the first document in
stable order (shard, row) is kept; every other copy is dropped and records the id it duplicates.

Exact dedup is step 5 of Polyglot-Ko's cleaning list (Ko et al. 2023, arXiv:2306.02254, sec. 2.2);
Lee et al. 2022 ("Deduplicating Training Data Makes Language Models Better") show why it matters.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import xxhash

from curate.executors import ReportFn
from curate.io.duck import connect, sql_str
from curate.io.parquet import write_table_atomic
from curate.pipeline.step import GlobalStep, register_step


def normalize_for_hash(text: pa.Array, mode: str) -> pa.Array:
    """Text as compared by exact dedup.

    ``exact``: byte-identical; ``whitespace``: runs of whitespace collapse to one space, ends trimmed;
    ``casefold`` (default): also NFKC and lower case, so copies that differ only in spacing, case or
    full-width characters are one document.
    """
    if mode == "exact":
        return text
    if mode == "casefold":
        text = pc.utf8_lower(pc.utf8_normalize(text, "NFKC"))
    return pc.utf8_trim_whitespace(pc.replace_substring_regex(text, r"\s+", " "))


def hash_texts(texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """XXH3-128 of each UTF-8 string, as two uint64 arrays (high, low)."""
    hi = np.empty(len(texts), dtype=np.uint64)
    lo = np.empty(len(texts), dtype=np.uint64)
    for i, s in enumerate(texts.to_pylist()):
        d = xxhash.xxh3_128_intdigest((s or "").encode("utf-8"))
        hi[i] = d >> 64
        lo[i] = d & 0xFFFFFFFFFFFFFFFF
    return hi, lo


@dataclass(frozen=True)
class _HashTask:
    shard_index: int
    path: str
    out: str
    mode: str


def _hash_shard(task: _HashTask, report: ReportFn) -> str:
    pf = pq.ParquetFile(task.path)
    parts = []
    row = 0
    for batch in pf.iter_batches(batch_size=8192, columns=["id", "text"]):
        hi, lo = hash_texts(normalize_for_hash(batch.column("text"), task.mode))
        n = batch.num_rows
        parts.append(pa.table({"shard": pa.array(np.full(n, task.shard_index, dtype=np.int32)),
                               "row": pa.array(np.arange(row, row + n, dtype=np.int64)),
                               "id": batch.column("id"), "h_hi": pa.array(hi), "h_lo": pa.array(lo)}))
        row += n
        report(batch.nbytes, n)
    schema = pa.schema([("shard", pa.int32()), ("row", pa.int64()), ("id", pa.string()),
                        ("h_hi", pa.uint64()), ("h_lo", pa.uint64())])
    table = pa.concat_tables(parts) if parts else schema.empty_table()
    write_table_atomic(table, Path(task.out))
    return task.out


@register_step
class ExactDedup(GlobalStep):
    """Keep the first of every set of documents whose normalized text is identical."""

    name = "exact_dedup"
    metrics = {"exact_dup_of": pa.string(), "exact_dup_count": pa.int64()}

    @dataclass
    class Params:
        normalization: Literal["exact", "whitespace", "casefold"] = "casefold"
        memory_limit: str = "2GB"  # DuckDB spills to disk past this
        threads: int = 2

        def __post_init__(self) -> None:
            if self.threads < 1:
                raise ValueError("threads must be >= 1")

    def run(self, shards: Sequence[Path], out_dir: Path, work_dir: Path, executor, progress) -> None:
        if work_dir.exists():
            shutil.rmtree(work_dir)
        (work_dir / "hashes").mkdir(parents=True)
        tasks = [_HashTask(i, str(p), str(work_dir / "hashes" / f"{i:06d}.parquet"), self.params.normalization)
                 for i, p in enumerate(shards)]
        executor.map(_hash_shard, tasks, progress)
        out_dir.mkdir(parents=True, exist_ok=True)
        con = connect(self.params.memory_limit, self.params.threads, work_dir / "duckdb_tmp")
        hashes = sql_str(work_dir / "hashes" / "*.parquet")
        reader = con.sql(f"""
            WITH h AS (SELECT * FROM read_parquet({hashes})),
                 g AS (SELECT h_hi, h_lo, arg_min(id, shard::BIGINT * 1099511627776 + row) AS first_id,
                              count(*) AS n FROM h GROUP BY h_hi, h_lo)
            SELECT h.shard, h.row, h.id = g.first_id AS keep,
                   CASE WHEN h.id = g.first_id THEN NULL ELSE 'exact duplicate of ' || g.first_id END AS reason,
                   CASE WHEN h.id = g.first_id THEN NULL ELSE g.first_id END AS exact_dup_of,
                   g.n AS exact_dup_count
            FROM h JOIN g USING (h_hi, h_lo)
            ORDER BY h.shard, h.row""").to_arrow_reader(65536)
        prefix = "" if self.id == self.name else f"{self.id}_"
        pending: dict[int, list[pa.RecordBatch]] = {}
        written = set()

        def flush(shard_index: int) -> None:
            table = pa.Table.from_batches(pending.pop(shard_index))
            table = pa.table({"keep": table.column("keep"), "reason": table.column("reason"),
                              prefix + "exact_dup_of": table.column("exact_dup_of"),
                              prefix + "exact_dup_count": table.column("exact_dup_count")})
            write_table_atomic(table, out_dir / f"{shards[shard_index].stem}.parquet")
            written.add(shard_index)

        for batch in reader:
            shard_col = batch.column("shard").to_numpy()
            for s in np.unique(shard_col):
                part = batch.filter(pa.array(shard_col == s))
                for k in [k for k in pending if k < s]:
                    flush(k)
                pending.setdefault(int(s), []).append(part)
        for k in sorted(pending):
            flush(k)
        empty = pa.table({"keep": pa.array([], pa.bool_()), "reason": pa.array([], pa.string()),
                          prefix + "exact_dup_of": pa.array([], pa.string()),
                          prefix + "exact_dup_count": pa.array([], pa.int64())})
        for i, p in enumerate(shards):  # shards with no survivors still get an (empty) aligned file
            if i not in written:
                write_table_atomic(empty, out_dir / f"{p.stem}.parquet")
        con.close()
