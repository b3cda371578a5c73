"""Near-duplicate removal with MinHash LSH: a global step run as passes over Parquet (docs/steps/minhash.md).

Passes (each one a set of independent tasks through the executor, except the component labelling):

1. **signatures**, one task per shard: shingles -> MinHash signature (curate.dedup.minhash), written
   to ``sigs/<shard>.parquet``, and the LSH band keys to ``bands/band=<k>/<shard>.parquet``;
2. **candidates**, one task per band (or band range): DuckDB groups each band's keys out of core
   (``memory_limit``, spilling to ``temp_directory``); every bucket of two or more documents gives the
   edges from its smallest document to the others (and, with verification, between neighbours);
3. **verification** (``verify = true``), tasks by partition of the edges: a sort-merge join (DuckDB
   sorts the pairs out of core, the signature files are merged in document order) brings both
   documents' bottom-k sketches (or signatures) to each pair; pairs whose estimated Jaccard is below
   the threshold are cut;
4. **components**: union-find over the verified edges streamed from Parquet (curate.dedup.components;
   4 bytes per document), then DuckDB picks each cluster's representative (``keep``) and the same
   sort-merge join gives the estimated Jaccard of every member to it;
5. **decisions**, one task per shard: keep/drop, reason and metrics aligned with the shard, the cluster
   table ``DIR/clusters/<step>.<shard>.parquet`` and, with ``index_out``, the persisted index.

Broder 1997 ("On the resemblance and containment of documents") introduced MinHash for near-duplicate
web pages; Lee et al. 2022 ("Deduplicating Training Data Makes Language Models Better") show that
removing near-duplicates (MinHash on 5-grams, Jaccard 0.8) improves language models; deduplication is
on Polyglot-Ko's cleaning list (Ko et al. 2023, arXiv:2306.02254, sec. 2.2).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Sequence

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curate.io.duck import connect as _connect, sql_list, sql_str
from curate.dedup.components import component_members, connected_components, parquet_edges
from curate.dedup.index import IndexWriter, MinHashIndex, signature_params
from curate.dedup.minhash import CHAR_LANGS, MinHasher, band_keys, optimal_param, sketch_jaccard
from curate.errors import CurateError
from curate.executors import ReportFn
from curate.io.parquet import TMP_PREFIX, write_table_atomic
from curate.pipeline.step import GlobalStep, register_step

SIG_SCHEMA_BASE = [("doc", pa.int64()), ("id", pa.string()), ("shingles", pa.int64()), ("length", pa.int64()),
                   ("quality", pa.float64())]
BAND_SCHEMA = pa.schema([("key", pa.int64()), ("doc", pa.int64())])
PAIR_SCHEMA = pa.schema([("a", pa.int64()), ("b", pa.int64())])
EDGE_SCHEMA = pa.schema([("a", pa.int64()), ("b", pa.int64()), ("jaccard", pa.float32())])
CLUSTER_SCHEMA = pa.schema([("step", pa.string()), ("id", pa.string()), ("dup_cluster", pa.string()),
                            ("is_representative", pa.bool_()), ("cluster_size", pa.int64()),
                            ("representative", pa.string()), ("jaccard", pa.float64()),
                            ("index_members", pa.int64()), ("shingles", pa.int64())])
MEMBER_SCHEMA = pa.schema([("doc", pa.int64()), ("cluster_id", pa.string()), ("size", pa.int64()),
                           ("n_index", pa.int64()), ("rep", pa.int64()), ("rep_id", pa.string()),
                           ("rep_index", pa.string()), ("jaccard", pa.float64())])




def _sig_matrix(col: pa.Array, num_perm: int) -> np.ndarray:
    """uint32 (n, num_perm) from a binary/fixed-size-binary Arrow column of little-endian signatures."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    n = len(col)
    width = 4 * num_perm
    if n == 0:
        return np.zeros((0, num_perm), dtype=np.uint32)
    if pa.types.is_fixed_size_binary(col.type):
        data = col.buffers()[1]
        raw = np.frombuffer(data, dtype=np.uint8)[col.offset * width:(col.offset + n) * width]
    else:
        if pa.types.is_large_binary(col.type):
            offsets = np.frombuffer(col.buffers()[1], dtype=np.int64)[col.offset:col.offset + n + 1]
        else:
            offsets = np.frombuffer(col.buffers()[1], dtype=np.int32)[col.offset:col.offset + n + 1]
        if not np.all(np.diff(offsets) == width):
            raise RuntimeError("minhash_dedup: a stored signature has the wrong length (mixed num_perm?)")
        raw = np.frombuffer(col.buffers()[2], dtype=np.uint8)[int(offsets[0]):int(offsets[-1])]
    return raw.view("<u4").reshape(n, num_perm)


def _sketches(col: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(flat uint32 values, offsets in values) of a binary Arrow column of sketches."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    n = len(col)
    if n == 0:
        return np.zeros(0, dtype=np.uint32), np.zeros(1, dtype=np.int64)
    odt = np.int64 if pa.types.is_large_binary(col.type) else np.int32
    offsets = np.frombuffer(col.buffers()[1], dtype=odt)[col.offset:col.offset + n + 1].astype(np.int64)
    data = col.buffers()[2]
    if data is None or offsets[-1] == offsets[0]:
        return np.zeros(0, dtype=np.uint32), np.zeros(n + 1, dtype=np.int64)
    raw = np.frombuffer(data, dtype=np.uint8)[int(offsets[0]):int(offsets[-1])]
    return raw.view("<u4"), (offsets - offsets[0]) // 4


def _sketch_array(values: np.ndarray, offsets: np.ndarray) -> pa.Array:
    return pa.BinaryArray.from_buffers(pa.binary(), offsets.size - 1,
                                       [None, pa.py_buffer((offsets * 4).astype(np.int32).tobytes()),
                                        pa.py_buffer(np.ascontiguousarray(values, dtype="<u4").tobytes())])


def _pair_jaccard(batch: pa.RecordBatch, num_perm: int, sketch_k: int) -> np.ndarray:
    """Estimated Jaccard of the pairs of a batch with columns ea, eb: bottom-k sketches (``sketch_k``)
    or signatures (share of equal hash values)."""
    if sketch_k:
        a, ao = _sketches(batch.column("ea"))
        b, bo = _sketches(batch.column("eb"))
        return sketch_jaccard(a, ao, b, bo, sketch_k)
    A = _sig_matrix(batch.column("ea"), num_perm)
    B = _sig_matrix(batch.column("eb"), num_perm)
    return (A == B).mean(axis=1)


def _rows_per_chunk(num_perm: int, sketch_k: int, target_bytes: int) -> int:
    """Rows of signatures (and sketches) that fill about ``target_bytes``."""
    return int(min(65536, max(64, target_bytes // (4 * num_perm + 4 * sketch_k + 64))))


def _sig_array(sig: np.ndarray) -> pa.Array:
    n, p = sig.shape
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(4 * p), n,
                                                [None, pa.py_buffer(np.ascontiguousarray(sig, dtype="<u4").tobytes())])


class _AtomicWriter:
    """A ParquetWriter on a temporary name, renamed when closed."""

    def __init__(self, path: Path, schema: pa.Schema, row_group_size: int | None = None) -> None:
        self.path = path
        self.row_group_size = row_group_size
        path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = path.with_name(TMP_PREFIX + path.name)
        self.writer = pq.ParquetWriter(self.tmp, schema, compression="zstd")
        self.rows = 0
        self.closed = False

    def write(self, table: pa.Table | pa.RecordBatch) -> None:
        if table.num_rows:
            if isinstance(table, pa.RecordBatch):
                table = pa.Table.from_batches([table])
            self.writer.write_table(table, row_group_size=self.row_group_size)
            self.rows += table.num_rows

    def close(self) -> None:
        self.writer.close()
        os.replace(self.tmp, self.path)
        self.closed = True

    def abort(self) -> None:
        if not self.closed:
            self.writer.close()
            self.closed = True
        if self.tmp.exists():
            self.tmp.unlink()


# ---------------------------------------------------------------------------------------------------
# pass 1: signatures (task per shard)

_HASHERS: dict[tuple, MinHasher] = {}


def _hasher(cfg: tuple) -> MinHasher:
    if cfg not in _HASHERS:
        _HASHERS[cfg] = MinHasher(**dict(cfg))
    return _HASHERS[cfg]


@dataclass(frozen=True)
class _SigTask:
    shard: int
    path: str
    base: int  # global index of the shard's first document
    work: str
    hasher: tuple  # MinHasher keyword arguments, as sorted items
    bands: int
    rows: int
    batch_size: int
    quality_column: str | None


def _signature_shard(task: _SigTask, report: ReportFn) -> dict:
    hasher = _hasher(task.hasher)
    work = Path(task.work)
    pf = pq.ParquetFile(task.path)
    names = pf.schema_arrow.names
    cols = ["id", "text"] + (["lang"] if "lang" in names else []) + \
        ([task.quality_column] if task.quality_column and task.quality_column not in ("id", "text", "lang") else [])
    sig_schema = pa.schema(SIG_SCHEMA_BASE + [("sig", pa.binary(4 * hasher.num_perm))] +
                           ([("sketch", pa.binary())] if hasher.sketch_k else []))
    # small row groups: DuckDB reads a whole column chunk at once, and must fit it in memory_limit
    sig_w = _AtomicWriter(work / "sigs" / f"{task.shard:06d}.parquet", sig_schema,
                          row_group_size=_rows_per_chunk(hasher.num_perm, hasher.sketch_k, 1 << 20))
    band_ws = [_AtomicWriter(work / "bands" / f"band={k:03d}" / f"{task.shard:06d}.parquet", BAND_SCHEMA)
               for k in range(task.bands)]
    stats = {"docs": 0, "no_shingles": 0, "shingles": 0, "long": 0}
    row = 0
    try:
        for batch in pf.iter_batches(batch_size=task.batch_size, columns=cols):
            n = batch.num_rows
            text = batch.column("text")
            res = hasher.signatures(text, batch.column("lang") if "lang" in cols else None)
            doc = np.arange(task.base + row, task.base + row + n, dtype=np.int64)
            length = pc.utf8_length(pc.fill_null(text, "")).cast(pa.int64())
            if task.quality_column:
                try:
                    quality = batch.column(task.quality_column).cast(pa.float64())
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    raise CurateError(f"minhash_dedup: keep = 'column:{task.quality_column}' needs a numeric "
                                      f"column ({exc})") from exc
            else:
                quality = pa.nulls(n, pa.float64())
            cols_out = [pa.array(doc), batch.column("id"), pa.array(res.shingles), length, quality, _sig_array(res.sig)]
            if hasher.sketch_k:
                cols_out.append(_sketch_array(res.sketch, res.sketch_offsets))
            sig_w.write(pa.table(cols_out, schema=sig_schema))
            has = res.shingles > 0
            if has.any():
                keys = band_keys(res.sig[has], task.bands, task.rows)
                d = pa.array(doc[has])
                for k, w in enumerate(band_ws):
                    w.write(pa.table([pa.array(keys[:, k]), d], schema=BAND_SCHEMA))
            stats["docs"] += n
            stats["no_shingles"] += int((~has).sum())
            stats["shingles"] += int(res.shingles.sum())
            stats["long"] += int(pc.sum(pc.greater(length, hasher.window_chars)).as_py() or 0)
            row += n
            report(batch.nbytes, n)
        for w in [sig_w, *band_ws]:
            w.close()
    except BaseException:
        for w in [sig_w, *band_ws]:
            w.abort()
        raise
    return stats


# ---------------------------------------------------------------------------------------------------
# pass 2: candidate pairs (task per band range)


@dataclass(frozen=True)
class _BandTask:
    task: int
    bands: tuple[int, ...]
    work: str
    old: tuple[tuple[str, int], ...]  # (index path, doc offset)
    n_old: int
    chain: bool
    memory_limit: str
    threads: int


def _band_pairs(task: _BandTask, report: ReportFn) -> int:
    work = Path(task.work)
    parts = []
    for k in task.bands:
        own = sorted(str(p) for p in (work / "bands" / f"band={k:03d}").glob("*.parquet"))
        if own:
            parts.append(f"SELECT {k} AS band, key, doc FROM read_parquet({sql_list(own)})")
        for path, offset in task.old:
            files = MinHashIndex.open(path).band_files(k)
            if files:
                parts.append(f"SELECT {k} AS band, key, pos + {offset} AS doc FROM read_parquet({sql_list(files)})")
    out = work / "pairs" / f"{task.task:04d}.parquet"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(TMP_PREFIX + out.name)
    con = _connect(task.memory_limit, task.threads, work / "duckdb_tmp" / f"band{task.task}")
    try:
        if not parts:
            pq.write_table(PAIR_SCHEMA.empty_table(), tmp)
        else:
            # the band rows are read twice rather than through a CTE (DuckDB materializes a CTE used twice);
            # every member of a bucket gives an edge to the bucket's smallest document and, with
            # verification, one to its predecessor (so a false collision with the smallest document
            # does not cut the rest of the bucket apart)
            rows = " UNION ALL ".join(parts)
            ends = "unnest([g.a, lag(x.doc) OVER (PARTITION BY x.band, x.key ORDER BY x.doc)])" if task.chain else "g.a"
            con.execute(f"""
                COPY (
                    WITH g AS (SELECT band, key, min(doc) AS a FROM ({rows}) GROUP BY band, key HAVING count(*) > 1),
                         e AS (SELECT {ends} AS a, x.doc AS b FROM ({rows}) x JOIN g USING (band, key))
                    SELECT DISTINCT a::BIGINT AS a, b::BIGINT AS b FROM e
                    WHERE a IS NOT NULL AND a <> b AND b >= {task.n_old}
                ) TO {sql_str(tmp)} (FORMAT parquet, COMPRESSION zstd)""")
        os.replace(tmp, out)
    finally:
        con.close()
        if tmp.exists():
            tmp.unlink()
    report(0, 0)
    return pq.ParquetFile(out).metadata.num_rows


# ---------------------------------------------------------------------------------------------------
# pass 3: verification (task per partition of the candidate pairs)


def _sig_files(work: Path, old: Sequence[tuple[str, int]]) -> list[tuple[str, int, str]]:
    """(file, doc offset, doc column) of every signature file, in ascending document order: the
    indexes' (their documents come first) then this run's, one file per shard."""
    files = []
    for path, offset in old:
        files += [(f, offset, "pos") for f in MinHashIndex.open(path).sig_files()]
    files += [(str(f), 0, "doc") for f in sorted((work / "sigs").glob("*.parquet"))]
    return files


def _stream(files: Sequence[tuple[str, int, str]], columns: Sequence[str], batch_rows: int):
    """(docs, {column: array}) batches of the signature files, in ascending document order. Index
    files lack length and quality: nulls."""
    for path, offset, doc_col in files:
        pf = pq.ParquetFile(path)
        have = [c for c in columns if c in pf.schema_arrow.names]
        for batch in pf.iter_batches(batch_size=batch_rows, columns=[doc_col, *have]):
            if batch.num_rows == 0:
                continue
            docs = batch.column(0).to_numpy() + offset
            cols = {c: batch.column(c) if c in have else pa.nulls(batch.num_rows, MEMBER_META[c]) for c in columns}
            yield docs, cols


MEMBER_META = {"id": pa.string(), "length": pa.int64(), "quality": pa.float64(), "sig": pa.binary(),
               "sketch": pa.binary()}


def _attach(batches, key: str, stream, columns: dict[str, str]):
    """Merge join: ``batches`` (record batches sorted by ``key``, a document) with the signature stream
    (sorted by document); yields each batch with ``columns`` ({stream column: new name}) of the
    document ``key`` appended. Memory: one batch of each side."""
    it = iter(stream)
    docs, cols = next(it, (None, None))
    for batch in batches:
        keys = batch.column(key).to_numpy()
        takes: dict[str, list] = {c: [] for c in columns}
        i, n = 0, len(keys)
        while i < n:
            while docs is not None and docs[-1] < keys[i]:
                docs, cols = next(it, (None, None))
            if docs is None:
                raise RuntimeError(f"minhash_dedup: document {int(keys[i])} has no signature")
            j = int(np.searchsorted(keys, docs[-1], side="right"))
            idx = np.searchsorted(docs, keys[i:j])
            if not np.array_equal(docs[idx], keys[i:j]):
                raise RuntimeError("minhash_dedup: a candidate document has no signature")
            for c in columns:
                takes[c].append(cols[c].take(pa.array(idx)))
            i = j
        for c, name in columns.items():
            arr = pa.concat_arrays(takes[c]) if takes[c] else pa.array([], MEMBER_META.get(c, pa.binary()))
            batch = batch.append_column(name, arr)
        yield batch


def _sorted_pairs(con: duckdb.DuckDBPyConnection, select_sql: str, work: Path, tag: str, files, est: str,
                  batch_rows: int):
    """Batches of ``select_sql`` (columns a, b, ...) with ``ea``/``eb``, the estimator column (sketch or
    sig) of documents a and b, by a sort-merge join: DuckDB sorts the pairs by a (out of core), the
    signatures are merged in document order, DuckDB sorts by b, merged again. Nothing is hashed on
    signatures, so memory stays at a batch per side whatever the planner estimates."""
    tmp = work / "duckdb_tmp"
    by_a, with_a, by_b = tmp / f"{tag}.by_a.parquet", tmp / f"{tag}.with_a.parquet", tmp / f"{tag}.by_b.parquet"
    con.execute(f"COPY ({select_sql} ORDER BY a) TO {sql_str(by_a)} (FORMAT parquet)")
    writer = None
    for batch in _attach(pq.ParquetFile(by_a).iter_batches(batch_size=batch_rows), "a",
                         _stream(files, [est], batch_rows), {est: "ea"}):
        if writer is None:
            writer = pq.ParquetWriter(with_a, batch.schema, compression="zstd")
        writer.write_table(pa.Table.from_batches([batch]), row_group_size=batch_rows)
    if writer is None:
        return
    writer.close()
    by_a.unlink()
    con.execute(f"COPY (SELECT * FROM read_parquet({sql_str(with_a)}) ORDER BY b) TO {sql_str(by_b)} "
                f"(FORMAT parquet, ROW_GROUP_SIZE {batch_rows})")
    with_a.unlink()
    yield from _attach(pq.ParquetFile(by_b).iter_batches(batch_size=batch_rows), "b",
                       _stream(files, [est], batch_rows), {est: "eb"})
    by_b.unlink()


@dataclass(frozen=True)
class _VerifyTask:
    part: int
    parts: int
    work: str
    old: tuple[tuple[str, int], ...]
    num_perm: int
    sketch_k: int
    threshold: float
    memory_limit: str
    threads: int


def _verify_pairs(task: _VerifyTask, report: ReportFn) -> dict:
    work = Path(task.work)
    pairs = sorted(str(p) for p in (work / "pairs").glob("*.parquet"))
    out = work / "edges" / f"{task.part:04d}.parquet"
    writer = _AtomicWriter(out, EDGE_SCHEMA)
    con = _connect(task.memory_limit, task.threads, work / "duckdb_tmp" / f"verify{task.part}")
    checked = 0
    est = "sketch" if task.sketch_k else "sig"
    rows = _rows_per_chunk(2 * task.num_perm if est == "sig" else 0, 2 * task.sketch_k, 4 << 20)
    try:
        where = f"WHERE a % {task.parts} = {task.part}" if task.parts > 1 else ""
        select = f"SELECT DISTINCT a, b FROM read_parquet({sql_list(pairs)}) {where}"
        for batch in _sorted_pairs(con, select, work, f"verify{task.part}", _sig_files(work, task.old), est, rows):
            jac = _pair_jaccard(batch, task.num_perm, task.sketch_k)
            ok = jac >= task.threshold - 1e-9
            checked += batch.num_rows
            if ok.any():
                sel = pa.array(ok)
                writer.write(pa.table([batch.column("a").filter(sel), batch.column("b").filter(sel),
                                       pa.array(jac[ok].astype(np.float32))], schema=EDGE_SCHEMA))
        writer.close()
    except BaseException:
        writer.abort()
        raise
    finally:
        con.close()
    report(0, 0)
    return {"checked": checked, "verified": writer.rows}


# ---------------------------------------------------------------------------------------------------
# pass 5: per-shard decisions, cluster table, index


@dataclass(frozen=True)
class _OutTask:
    shard: int
    stem: str
    base: int
    rows: int
    work: str
    out: str
    prefix: str
    step_id: str
    clusters: str | None
    index_sig: str | None
    index_bands: tuple[str, ...]
    n_old: int
    sketch_k: int
    keep_none: bool
    drop_no_shingles: bool
    index_names: tuple[tuple[int, int, str], ...]  # (offset, size, name) of the against indexes


def _index_name(doc: int, names: Sequence[tuple[int, int, str]]) -> str:
    for offset, size, name in names:
        if offset <= doc < offset + size:
            return name
    return "?"


def _write_shard(task: _OutTask, report: ReportFn) -> dict:
    work = Path(task.work)
    sig_file = work / "sigs" / f"{task.shard:06d}.parquet"
    members = work / "members.parquet"
    con = duckdb.connect()
    try:
        lo, hi = task.base, task.base + task.rows
        t = con.sql(f"""
            SELECT s.doc, s.id, s.shingles, m.cluster_id, m.size, m.n_index, m.rep, m.rep_id, m.rep_index, m.jaccard
            FROM read_parquet({sql_str(sig_file)}) s
            LEFT JOIN (SELECT * FROM read_parquet({sql_str(members)}) WHERE doc >= {lo} AND doc < {hi}) m
            USING (doc) ORDER BY s.doc""").to_arrow_table()
    finally:
        con.close()
    n = t.num_rows
    if n != task.rows:
        raise RuntimeError(f"minhash_dedup: shard {task.stem}: {n} signature rows for {task.rows} documents")
    doc = t.column("doc").to_numpy()
    shingles = t.column("shingles").to_numpy()
    in_cluster = t.column("cluster_id").is_valid().to_numpy(zero_copy_only=False)
    rep = t.column("rep").fill_null(-1).to_numpy()
    is_rep = in_cluster & (rep == doc) & (not task.keep_none)
    keep = ~in_cluster | is_rep
    no_sh = shingles == 0
    if task.drop_no_shingles:
        keep &= ~no_sh
    size = t.column("size").fill_null(1).to_numpy()
    jac = t.column("jaccard")
    reasons: list[str | None] = [None] * n
    rep_ids = t.column("rep_id").to_pylist()
    rep_index = t.column("rep_index").to_pylist()
    jl = jac.to_pylist()
    for i in np.flatnonzero(~keep).tolist():
        if not in_cluster[i]:
            reasons[i] = "no shingles (nothing left after normalization)"
        elif task.keep_none:
            reasons[i] = f"near-duplicate cluster of {int(size[i])} (keep = none)"
        elif rep_index[i] is not None:
            reasons[i] = f"near-duplicate of {rep_ids[i]} in index {rep_index[i]} (estimated Jaccard {jl[i]:.2f})"
        else:
            reasons[i] = f"near-duplicate of {rep_ids[i]} (estimated Jaccard {jl[i]:.2f}, cluster of {int(size[i])})"
    p = task.prefix
    out = pa.table({
        "keep": pa.array(keep), "reason": pa.array(reasons, pa.string()),
        p + "minhash_cluster": t.column("cluster_id"),
        p + "minhash_cluster_size": pa.array(size, mask=no_sh & ~in_cluster),
        p + "minhash_rep": pc.if_else(pa.array(in_cluster & (not task.keep_none)), t.column("rep_id"),
                                      pa.scalar(None, pa.string())),
        p + "minhash_jaccard": pc.if_else(pa.array(is_rep), pa.scalar(None, pa.float64()), jac),
        p + "minhash_shingles": pa.array(shingles, pa.int64()),
    })
    write_table_atomic(out, Path(task.out))
    if task.clusters and in_cluster.any():
        sel = pa.array(in_cluster)
        ct = pa.table({
            "step": pa.array([task.step_id] * int(in_cluster.sum()), pa.string()),
            "id": t.column("id").filter(sel), "dup_cluster": t.column("cluster_id").filter(sel),
            "is_representative": pa.array(is_rep[in_cluster]),
            "cluster_size": t.column("size").filter(sel),
            "representative": out.column(p + "minhash_rep").filter(sel),
            "jaccard": out.column(p + "minhash_jaccard").filter(sel),
            "index_members": t.column("n_index").filter(sel),
            "shingles": t.column("shingles").filter(sel)}, schema=CLUSTER_SCHEMA)
        write_table_atomic(ct, Path(task.clusters))
    written = 0
    if task.index_sig:
        kept_docs = doc[keep & ~no_sh]
        pos_off = task.n_old
        sigs = pq.read_table(sig_file, columns=["doc", "id", "sig"] + (["sketch"] if task.sketch_k else []))
        mask = pa.array(np.isin(sigs.column("doc").to_numpy(), kept_docs))
        sigs = sigs.filter(mask)
        cols = {"pos": pc.subtract(sigs.column("doc"), pos_off), "id": sigs.column("id"), "sig": sigs.column("sig")}
        if task.sketch_k:
            cols["sketch"] = sigs.column("sketch")
        write_table_atomic(pa.table(cols), Path(task.index_sig))
        written = sigs.num_rows
        for k, dest in enumerate(task.index_bands):
            bt = pq.read_table(work / "bands" / f"band={k:03d}" / f"{task.shard:06d}.parquet")
            bt = bt.filter(pa.array(np.isin(bt.column("doc").to_numpy(), kept_docs)))
            write_table_atomic(pa.table({"key": bt.column("key"), "pos": pc.subtract(bt.column("doc"), pos_off)}),
                               Path(dest))
    report(0, 0)
    return {"kept": int(keep.sum()), "dropped": int((~keep).sum()), "indexed": written}


# ---------------------------------------------------------------------------------------------------
# the step


@register_step
class MinHashDedup(GlobalStep):
    """Drop near-duplicates: documents whose estimated Jaccard similarity (MinHash over shingles)
    reaches ``threshold`` are clustered, and one representative per cluster is kept (Broder 1997)."""

    name = "minhash_dedup"
    metrics = {"minhash_cluster": pa.string(), "minhash_cluster_size": pa.int64(), "minhash_rep": pa.string(),
               "minhash_jaccard": pa.float64(), "minhash_shingles": pa.int64()}
    run_dir: Path | None = None  # set by the runner: the run's output directory (for DIR/clusters)

    @dataclass
    class Params:
        threshold: float = 0.8  # Jaccard similarity that makes two documents duplicates
        num_perm: int = 128  # hash values per signature (datasketch's default)
        bands: int = 0  # LSH bands x rows; 0: datasketch's optimum for threshold, num_perm and the weights below
        rows: int = 0
        # weights of datasketch's (bands, rows) optimisation; default (0.05, 0.95) with verify (the
        # verification removes false positives, so the bands favour recall: 16 x 8 at 0.8/128), else (0.5, 0.5)
        false_positive_weight: float | None = None
        false_negative_weight: float | None = None
        seed: int = 1  # permutation seed (np.random.RandomState, as datasketch)
        scheme: Literal["affine32", "legacy"] = "affine32"  # datasketch 2.0 permutation scheme
        shingle: Literal["auto", "char", "word"] = "auto"  # auto: char for char_langs / CJK-Hangul text, else word
        char_ngram: int = 5  # characters per shingle (whitespace removed)
        word_ngram: int = 5  # words per shingle
        char_langs: list[str] = field(default_factory=lambda: list(CHAR_LANGS))
        script_fraction: float = 0.5  # unknown lang: char shingles when this share of letters is Hangul/CJK/...
        normalize: bool = True  # NFKC + lower case + punctuation/symbols as separators, per code point
        verify: bool = True  # cut candidate pairs whose estimated Jaccard is below threshold
        verify_sketch: int = 256  # estimate with bottom-k sketches of this size (exact up to k shingles); 0: signatures
        keep: str = "first"  # first | longest | none | column:<name> (highest value kept)
        no_shingles: Literal["keep", "drop"] = "keep"  # documents with nothing to shingle (empty after normalization)
        index_out: str | None = None  # write signatures + bands of the kept documents here (a folder)
        against: list[Path] = field(default_factory=list)  # indexes of earlier corpora: their documents win
        memory_limit: str = "1GB"  # per DuckDB query; spills to disk past it
        threads: int = 2  # DuckDB threads per task
        band_tasks: int = 0  # tasks for the candidate pass (0: one per band)
        verify_tasks: int = 0  # tasks for the verification pass (0: one per 4M candidate pairs)
        batch_size: int = 4096  # documents per signature batch

        def __post_init__(self) -> None:
            if not 0.0 < self.threshold <= 1.0:
                raise ValueError("threshold must be in (0, 1]")
            if self.num_perm < 2 or self.num_perm > 4096:
                raise ValueError("num_perm must be in [2, 4096]")
            if (self.bands == 0) != (self.rows == 0):
                raise ValueError("set both bands and rows, or neither (then they are optimised for threshold)")
            if self.bands < 0 or self.rows < 0 or self.bands * self.rows > self.num_perm:
                raise ValueError(f"bands x rows ({self.bands} x {self.rows}) must be at most num_perm ({self.num_perm})")
            if self.char_ngram < 1 or self.word_ngram < 1:
                raise ValueError("char_ngram and word_ngram must be >= 1")
            if not 0.0 <= self.script_fraction <= 1.0:
                raise ValueError("script_fraction must be in [0, 1]")
            if self.keep not in ("first", "longest", "none") and not (self.keep.startswith("column:") and self.keep[7:]):
                raise ValueError(f"keep must be first, longest, none or column:<name>, not {self.keep!r}")
            if self.threads < 1 or self.batch_size < 1 or self.band_tasks < 0 or self.verify_tasks < 0:
                raise ValueError("threads and batch_size must be >= 1; band_tasks and verify_tasks >= 0")
            if self.verify_sketch < 0:
                raise ValueError("verify_sketch must be >= 0")
            if (self.false_positive_weight is None) != (self.false_negative_weight is None):
                raise ValueError("set both false_positive_weight and false_negative_weight, or neither")
            if (self.false_positive_weight or 0) < 0 or (self.false_negative_weight or 0) < 0:
                raise ValueError("weights must be >= 0")
            for p in self.against:
                MinHashIndex.open(p)  # fails now, before any data is read

    def __init__(self, params: Any = None, step_id: str | None = None) -> None:
        super().__init__(params, step_id)
        p = self.params
        if p.bands:
            self.bands, self.rows = p.bands, p.rows
        else:
            weights = ((p.false_positive_weight, p.false_negative_weight) if p.false_positive_weight is not None
                       else (0.05, 0.95) if p.verify else (0.5, 0.5))
            self.bands, self.rows = optimal_param(p.threshold, p.num_perm, *weights)
        self.hasher_config = tuple(sorted({
            "num_perm": p.num_perm, "seed": p.seed, "scheme": p.scheme, "shingle": p.shingle,
            "char_ngram": p.char_ngram, "word_ngram": p.word_ngram, "char_langs": tuple(p.char_langs),
            "script_fraction": p.script_fraction, "normalize": p.normalize,
            "sketch_k": p.verify_sketch if p.verify else 0}.items()))
        self.stats: dict[str, Any] = {}

    def hasher(self) -> MinHasher:
        return _hasher(self.hasher_config)

    def sig_params(self) -> dict[str, Any]:
        return signature_params(_hasher(self.hasher_config), self.bands, self.rows)

    @property
    def sketch_k(self) -> int:
        return dict(self.hasher_config)["sketch_k"]

    # -----------------------------------------------------------------------------------------------

    def run(self, shards: Sequence[Path], out_dir: Path, work_dir: Path, executor, progress) -> None:
        p = self.params
        t_start = time.perf_counter()
        timings: dict[str, float] = {}
        if work_dir.exists():
            shutil.rmtree(work_dir)
        work_dir.mkdir(parents=True)
        out_dir.mkdir(parents=True, exist_ok=True)
        run_dir = self.run_dir or (out_dir.parent.parent if out_dir.parent.name == "_work" else None)
        clusters_dir = Path(run_dir) / "clusters" if run_dir else None
        if clusters_dir is not None and clusters_dir.is_dir():
            for old_file in [*clusters_dir.glob(f"{self.id}.*.parquet"), clusters_dir / f"{self.id}.json"]:
                old_file.unlink(missing_ok=True)
        quality_column = p.keep[7:] if p.keep.startswith("column:") else None
        if quality_column and shards:
            names = pq.read_schema(shards[0]).names
            if quality_column not in names:
                raise CurateError(f"minhash_dedup: keep = {p.keep!r} but the documents reaching this step have no "
                                  f"column {quality_column!r} (columns: {', '.join(names)})")
        # indexes of earlier corpora: their documents come first in the stable order
        params = self.sig_params()
        old: list[tuple[str, int]] = []
        index_names: list[tuple[int, int, str]] = []
        n_old = 0
        for path in p.against:
            idx = MinHashIndex.open(path)
            idx.check_compatible(params)
            old.append((str(idx.path), n_old))
            index_names.append((n_old, idx.size, idx.path.name))
            n_old += idx.size
        rows = [pq.ParquetFile(s).metadata.num_rows for s in shards]
        bases = (n_old + np.concatenate([[0], np.cumsum(rows)])).astype(np.int64).tolist()
        n_total = bases[-1]

        # pass 1: signatures and band keys, one task per shard
        t0 = time.perf_counter()
        sig_tasks = [_SigTask(i, str(s), bases[i], str(work_dir), self.hasher_config, self.bands, self.rows,
                              p.batch_size, quality_column) for i, s in enumerate(shards)]
        sig_stats = executor.map(_signature_shard, sig_tasks, progress)
        timings["signatures"] = time.perf_counter() - t0

        # pass 2: candidate pairs, one task per band range
        t0 = time.perf_counter()
        ntasks = min(self.bands, p.band_tasks) if p.band_tasks else self.bands
        groups = [tuple(int(b) for b in g) for g in np.array_split(np.arange(self.bands), ntasks) if len(g)]
        band_tasks = [_BandTask(k, g, str(work_dir), tuple(old), n_old, p.verify, p.memory_limit, p.threads)
                      for k, g in enumerate(groups)]
        n_pairs = sum(executor.map(_band_pairs, band_tasks, progress))
        timings["candidates"] = time.perf_counter() - t0

        # pass 3: verification, tasks by partition of the pairs
        t0 = time.perf_counter()
        verified = None
        if p.verify and n_pairs:
            parts = p.verify_tasks or max(1, math.ceil(n_pairs / 4_000_000))
            vtasks = [_VerifyTask(k, parts, str(work_dir), tuple(old), p.num_perm, self.sketch_k, p.threshold,
                                  p.memory_limit, p.threads) for k in range(parts)]
            vstats = executor.map(_verify_pairs, vtasks, progress)
            verified = sum(v["verified"] for v in vstats)
            edge_files = sorted(str(f) for f in (work_dir / "edges").glob("*.parquet"))
        else:
            edge_files = sorted(str(f) for f in (work_dir / "pairs").glob("*.parquet"))
        timings["verify"] = time.perf_counter() - t0

        # pass 4: connected components (bounded: one int32 per document) and representatives
        t0 = time.perf_counter()
        labels = connected_components(n_total, parquet_edges(edge_files))
        raw = work_dir / "members_raw.parquet"
        w = _AtomicWriter(raw, pa.schema([("doc", pa.int64()), ("root", pa.int64())]))
        for node, root in component_members(labels):
            w.write(pa.table({"doc": node, "root": root}))
        w.close()
        n_members = w.rows
        del labels
        self._members(work_dir, raw, old, n_old, index_names)
        timings["components"] = time.perf_counter() - t0

        # pass 5: per-shard decisions, cluster table and index
        t0 = time.perf_counter()
        writer = IndexWriter(p.index_out) if p.index_out else None
        prefix = "" if self.id == self.name else f"{self.id}_"
        out_tasks = [_OutTask(i, s.stem, bases[i], rows[i], str(work_dir), str(out_dir / f"{s.stem}.parquet"), prefix,
                              self.id, str(clusters_dir / f"{self.id}.{s.stem}.parquet") if clusters_dir else None,
                              str(writer.sig_path(s.stem)) if writer else None,
                              tuple(str(writer.band_path(k, s.stem)) for k in range(self.bands)) if writer else (),
                              n_old, self.sketch_k, p.keep == "none", p.no_shingles == "drop", tuple(index_names))
                     for i, s in enumerate(shards)]
        results = executor.map(_write_shard, out_tasks, progress)
        if writer is not None:
            writer.commit(n_total - n_old, sum(r["indexed"] for r in results), params,
                          {"step": self.id, "threshold": p.threshold})
        timings["decisions"] = time.perf_counter() - t0
        self.stats = {
            "documents": n_total - n_old, "index_documents": n_old, "bands": self.bands, "rows": self.rows,
            "no_shingles": sum(s["no_shingles"] for s in sig_stats), "shingles": sum(s["shingles"] for s in sig_stats),
            "long_documents": sum(s["long"] for s in sig_stats), "candidate_edges": n_pairs,
            "verified_pairs": verified, "cluster_members": n_members, "kept": sum(r["kept"] for r in results),
            "dropped": sum(r["dropped"] for r in results),
            "seconds": {k: round(v, 3) for k, v in {**timings, "total": time.perf_counter() - t_start}.items()},
        }
        if clusters_dir is not None:  # the effective LSH parameters and what each pass did, for people
            clusters_dir.mkdir(parents=True, exist_ok=True)
            tmp = clusters_dir / f"{TMP_PREFIX}{self.id}.json"
            tmp.write_text(json.dumps({"step": self.id, "threshold": p.threshold, "num_perm": p.num_perm,
                                       "sketch_k": self.sketch_k, **self.stats}, indent=2), encoding="utf-8")
            os.replace(tmp, clusters_dir / f"{self.id}.json")
        shutil.rmtree(work_dir / "duckdb_tmp", ignore_errors=True)

    def _members(self, work: Path, raw: Path, old: list[tuple[str, int]], n_old: int,
                 index_names: list[tuple[int, int, str]]) -> None:
        """members.parquet: for each new document in a cluster of two or more, sorted by doc: the cluster
        id (id of its first document), size, number of index documents in it, representative (doc, id,
        index name) and the estimated Jaccard to the representative."""
        p = self.params
        if p.keep == "longest":
            rep = f"first(doc ORDER BY (doc < {n_old}) DESC, length DESC NULLS LAST, doc)"
        elif p.keep.startswith("column:"):
            rep = f"first(doc ORDER BY (doc < {n_old}) DESC, quality DESC NULLS LAST, doc)"
        else:  # first, none: the first document in stable order (documents of an index come first)
            rep = "min(doc)"
        est = "sketch" if self.sketch_k else "sig"
        names_sql = " ".join(f"WHEN c.rep >= {o} AND c.rep < {o + s} THEN {sql_str(nm)}" for o, s, nm in index_names)
        rep_index = f"CASE {names_sql} ELSE NULL END" if index_names else "NULL::VARCHAR"
        # a database file in the work folder: its tables live on disk, DuckDB pages them under memory_limit
        con = _connect(p.memory_limit, p.threads, work / "duckdb_tmp" / "members.tmp",
                       database=work / "duckdb_tmp" / "members.duckdb")
        files = _sig_files(work, old)
        rows = _rows_per_chunk(2 * p.num_perm if est == "sig" else 0, 2 * self.sketch_k, 4 << 20)
        meta = work / "duckdb_tmp" / "members_meta.parquet"
        unsorted = work / "duckdb_tmp" / "members_unsorted.parquet"
        out = work / "members.parquet"
        writer = _AtomicWriter(unsorted, MEMBER_SCHEMA)
        try:
            # id, length and quality of every member: the members come in document order, so a merge
            meta_w = None
            for batch in _attach(pq.ParquetFile(raw).iter_batches(batch_size=65536), "doc",
                                 _stream(files, ["id", "length", "quality"], 65536),
                                 {"id": "id", "length": "length", "quality": "quality"}):
                if meta_w is None:
                    meta_w = pq.ParquetWriter(meta, batch.schema, compression="zstd")
                meta_w.write_table(pa.Table.from_batches([batch]))
            if meta_w is None:  # no clusters
                writer.abort()
                write_table_atomic(MEMBER_SCHEMA.empty_table(), out)
                return
            meta_w.close()
            con.execute(f"CREATE TABLE mm AS SELECT * FROM read_parquet({sql_str(meta)})")
            con.execute(f"""
                CREATE TABLE c AS SELECT root, count(*) AS size, count(*) FILTER (WHERE doc < {n_old}) AS n_index,
                                         {rep} AS rep FROM mm GROUP BY root""")
            select = f"""
                SELECT mm.doc AS a, c.rep AS b, first_m.id AS cluster_id, c.size, c.n_index, rep_m.id AS rep_id,
                       {rep_index} AS rep_index
                FROM mm JOIN c USING (root)
                     JOIN mm first_m ON first_m.doc = c.root
                     JOIN mm rep_m ON rep_m.doc = c.rep
                WHERE mm.doc >= {n_old}"""
            for batch in _sorted_pairs(con, select, work, "members", files, est, rows):
                jac = _pair_jaccard(batch, p.num_perm, self.sketch_k)
                writer.write(pa.table([batch.column("a"), batch.column("cluster_id"), batch.column("size"),
                                       batch.column("n_index"), batch.column("b"), batch.column("rep_id"),
                                       batch.column("rep_index"), pa.array(jac)], schema=MEMBER_SCHEMA))
            writer.close()
            con.execute(f"""COPY (SELECT * FROM read_parquet({sql_str(unsorted)}) ORDER BY doc) TO {sql_str(out)}
                            (FORMAT parquet, ROW_GROUP_SIZE 65536)""")
        except BaseException:
            writer.abort()
            raise
        finally:
            con.close()
