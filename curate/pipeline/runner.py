"""Run a recipe over an ingest (or earlier run) directory: ``curate run RECIPE --in RAW --out DIR``.

Execution model. The recipe's steps are cut at each global step into *segments* of per-batch steps:

    segment 0 -> global 1 -> segment 1 -> global 2 -> ... -> last segment

A segment runs as one task per input shard (``RAW/documents/<shard>.parquet``), in any executor;
its survivors go to ``DIR/_work/s<k>/<shard>.parquet`` with the metrics measured so far, and the
documents it decided (dropped, quarantined; in the last segment also kept) to
``<shard>.decided.parquet``. A global step reads the survivors of all shards and writes, per shard,
one decision row per survivor. The last segment writes ``DIR/documents/<shard>.parquet`` and merges
the decided parts into ``DIR/decisions/<shard>.parquet`` in input order. Every output depends only on
its shard and the global decisions, never on scheduling, so any ``--workers`` gives the same bytes.

Every finished task leaves a state file; a rerun with the same recipe and input skips finished
tasks (DESIGN.md, "Nothing lost").
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curate.errors import CurateError
from curate.executors import Executor, LocalExecutor, ReportFn
from curate.io.duck import connect, sql_list, sql_str
from curate.io.parquet import TMP_PREFIX, write_table_atomic
from curate.manifest import locked, read_json, versions, write_json_atomic
from curate.pipeline.recipe import Recipe, load_recipe
from curate.pipeline.step import GlobalStep, Step, StepResult, as_bool_array
from curate.progress import Progress
from curate.schema import arrow_schema, conform

ORDER = "_order"
DECISION_BASE = arrow_schema("decision")
QUARANTINE_SCHEMA = arrow_schema("quarantine")
DOC_SCHEMA = arrow_schema("document")


def decision_schema(recipe_steps: Sequence) -> pa.Schema:
    fields = list(DECISION_BASE)
    for step in recipe_steps:
        fields += [pa.field(name, dtype, nullable=True) for name, dtype in step.metric_columns().items()]
    return pa.schema(fields, metadata={"curate.contract": "decision", "curate.contract_version": "1"})


def document_schema(recipe_steps: Sequence) -> pa.Schema:
    fields = list(DOC_SCHEMA)
    names = set(DOC_SCHEMA.names)
    for step in recipe_steps:
        for name, dtype in step.doc_columns.items():
            if name not in names:
                fields.append(pa.field(name, dtype, nullable=True))
                names.add(name)
    return pa.schema(fields, metadata=DOC_SCHEMA.metadata)


def split_stages(steps: Sequence) -> list[tuple[str, Any]]:
    """[("segment", [steps]), ("global", step), ("segment", [steps]), ...]; always starts and ends with a segment."""
    stages: list[tuple[str, Any]] = [("segment", [])]
    for step in steps:
        if isinstance(step, GlobalStep):
            stages.append(("global", step))
            stages.append(("segment", []))
        else:
            stages[-1][1].append(step)
    return stages


# ---------------------------------------------------------------------------------------------------
# per-batch application (also the in-memory API for training jobs and Ray's map_batches)

_PREPARED: dict[str, Any] = {}


def prepared(step: Step) -> Step:
    """Return a set-up instance of ``step``, one per process (models load once, not per task)."""
    import pickle

    key = hashlib.sha1(pickle.dumps(step)).hexdigest()
    if key not in _PREPARED:
        step.setup()
        _PREPARED[key] = step
    return _PREPARED[key]


def _metric_array(values: Any, dtype: pa.DataType, n: int, where: str) -> pa.Array:
    arr = values if isinstance(values, pa.Array) else pa.array(values, type=dtype, from_pandas=True)
    if not arr.type.equals(dtype):
        arr = arr.cast(dtype)
    if len(arr) != n:
        raise ValueError(f"{where}: {len(arr)} values for {n} rows")
    return arr


def _reason_array(reason: Any, dropped: np.ndarray, step_id: str) -> pa.Array:
    n = len(dropped)
    if reason is None or isinstance(reason, str):
        text = reason or step_id
        return pa.array([text if d else None for d in dropped], type=pa.string())
    arr = reason if isinstance(reason, pa.Array) else pa.array(list(reason), type=pa.string())
    if len(arr) != n:
        raise ValueError(f"step {step_id}: {len(arr)} reasons for {n} rows")
    return pc.if_else(pa.array(dropped), pc.coalesce(arr, pa.scalar(step_id)), pa.scalar(None, pa.string()))


def _apply_one(step: Step, batch: pa.RecordBatch) -> tuple[pa.RecordBatch, np.ndarray, pa.Array | None, dict[str, pa.Array]]:
    """Apply ``step`` and normalize its result to (batch, keep, reason, metrics)."""
    n = batch.num_rows
    res = step.apply(batch)
    if not isinstance(res, StepResult):
        raise TypeError(f"step {step.id} returned {type(res).__name__}, not a StepResult")
    out = res.batch if res.batch is not None else batch
    if out.num_rows != n:
        raise ValueError(f"step {step.id} returned {out.num_rows} rows for {n}")
    keep = np.ones(n, dtype=bool) if res.keep is None else as_bool_array(res.keep, n)
    reason = _reason_array(res.reason, ~keep, step.id) if res.keep is not None else None
    cols = step.metric_columns()
    prefix = "" if step.id == step.name else f"{step.id}_"
    metrics = {}
    for key, values in res.metrics.items():
        col = prefix + key
        if col not in cols:
            raise ValueError(f"step {step.id} returned undeclared metric {key!r} (declared: {', '.join(cols)})")
        metrics[col] = _metric_array(values, cols[col], n, f"step {step.id} metric {key!r}")
    return out, keep, reason, metrics


def apply_safely(step: Step, batch: pa.RecordBatch) -> tuple[pa.RecordBatch, np.ndarray, pa.Array | None,
                                                             dict[str, pa.Array], dict[int, str]]:
    """Apply ``step``; if it raises, find the documents that make it raise (row by row) and report
    them as errors instead of failing the run. Returns (batch, keep, reason, metrics, errors)."""
    try:
        out, keep, reason, metrics = _apply_one(step, batch)
        return out, keep, reason, metrics, {}
    except Exception:
        if batch.num_rows == 1:
            raise
    parts, errors = [], {}
    for i in range(batch.num_rows):
        row = batch.slice(i, 1)
        try:
            parts.append(_apply_one(step, row))
        except Exception as exc:  # quarantine this document with the step's error
            errors[i] = f"{type(exc).__name__}: {exc}"
            parts.append(None)
    good = [p for p in parts if p is not None]
    n = batch.num_rows
    keep = np.zeros(n, dtype=bool)
    if not good:
        return batch, keep, None, {}, errors
    schema = good[0][0].schema
    rows = [p[0] if p is not None else _cast_like(batch.slice(i, 1), schema) for i, p in enumerate(parts)]
    out = pa.Table.from_batches([r for r in rows]).combine_chunks().to_batches()[0]
    for i, p in enumerate(parts):
        if p is not None:
            keep[i] = p[1][0]
    reason = None
    if any(p is not None and p[2] is not None for p in parts):
        reason = pa.array([(p[2][0].as_py() if p is not None and p[2] is not None else None) for p in parts], pa.string())
    metrics = {}
    for col, dtype in step.metric_columns().items():
        if any(col in p[3] for p in good):
            metrics[col] = pa.array([p[3][col][0].as_py() if p is not None and col in p[3] else None for p in parts], dtype)
    return out, keep, reason, metrics, errors


def _cast_like(row: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    cols = [row.column(f.name) if f.name in row.schema.names else pa.nulls(1, f.type) for f in schema]
    return pa.RecordBatch.from_arrays(cols, schema=schema)


# ---------------------------------------------------------------------------------------------------
# segment tasks


@dataclass(frozen=True)
class SegmentTask:
    out: str
    stage: int
    shard: str
    in_path: str
    global_path: str | None
    global_id: str | None
    global_metrics: tuple[str, ...]
    steps: tuple
    is_last: bool
    batch_size: int
    decision_schema: pa.Schema
    document_schema: pa.Schema
    decided_parts: tuple[str, ...]  # for the last segment: earlier decided parts of this shard, in order


class _Decided:
    """Collect decision rows (dropped/quarantined/kept) of one segment of one shard."""

    def __init__(self, schema: pa.Schema, path: Path | None = None) -> None:
        self.schema = pa.schema(list(schema) + [pa.field(ORDER, pa.int64())])
        self.batches: list[pa.RecordBatch] = []
        # with a path, rows go to disk as they are decided (memory stays flat however big the shard)
        self.path = path
        self.tmp = path.with_name(TMP_PREFIX + path.name) if path is not None else None
        self.writer: pq.ParquetWriter | None = None
        if self.tmp is not None:
            self.tmp.parent.mkdir(parents=True, exist_ok=True)
            self.writer = pq.ParquetWriter(self.tmp, self.schema, compression="zstd")

    def add(self, live: pa.RecordBatch, order: pa.Array, carried: dict[str, pa.Array], mask: np.ndarray,
            status: str, step_id: str | None, reason: pa.Array | None) -> None:
        if not mask.any():
            return
        idx = pa.array(np.flatnonzero(mask))
        n = len(idx)
        cols = []
        for f in self.schema:
            name = f.name
            if name in ("id", "source", "input_file", "position"):
                col = live.column(name).take(idx)
            elif name == "status":
                col = pa.array([status] * n, pa.string())
            elif name == "kept":
                col = pa.array([status == "kept"] * n, pa.bool_())
            elif name == "dropped_by":
                col = pa.array([step_id] * n, pa.string())
            elif name == "reason":
                col = reason.take(idx) if reason is not None else pa.nulls(n, pa.string())
            elif name == ORDER:
                col = order.take(idx)
            elif name in carried:
                col = carried[name].take(idx)
            else:
                col = pa.nulls(n, f.type)
            cols.append(col if col.type.equals(f.type) else col.cast(f.type))
        batch = pa.RecordBatch.from_arrays(cols, schema=self.schema)
        if self.writer is not None:
            self.writer.write_batch(batch)
        else:
            self.batches.append(batch)

    def table(self) -> pa.Table:
        return pa.Table.from_batches(self.batches, schema=self.schema)

    def close(self) -> None:
        """Finish the file and give it its final name."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None
            os.replace(self.tmp, self.path)

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        if self.tmp is not None and self.tmp.exists():
            self.tmp.unlink()


class _RowSlicer:
    """Hand out exactly ``n`` rows at a time from a Parquet file read batch by batch (row-group
    boundaries do not line up with the pipeline's batches)."""

    def __init__(self, path: str, batch_size: int) -> None:
        self._it = pq.ParquetFile(path).iter_batches(batch_size=batch_size)
        self._buf: pa.Table | None = None

    def take(self, n: int) -> pa.Table:
        while self._buf is None or self._buf.num_rows < n:
            try:
                nxt = pa.Table.from_batches([next(self._it)])
            except StopIteration:
                break
            self._buf = nxt if self._buf is None else pa.concat_tables([self._buf, nxt])
        if self._buf is None or self._buf.num_rows < n:
            raise RuntimeError("a global step's decisions have fewer rows than its input shard")
        head, self._buf = self._buf.slice(0, n), self._buf.slice(n)
        return head.combine_chunks()


def run_segment(task: SegmentTask, report: ReportFn) -> dict:
    out = Path(task.out)
    steps = [prepared(s) for s in task.steps]
    work = out / "_work" / f"s{task.stage}"
    decided_path = work / f"{task.shard}.decided.parquet"
    decided = _Decided(task.decision_schema, decided_path)
    step_seconds = {s.id: 0.0 for s in steps}
    counts = {"read": 0, "kept": 0, "dropped": 0, "quarantined": 0}
    pf = pq.ParquetFile(task.in_path)
    gslicer = None
    if task.global_path:
        g_rows = pq.ParquetFile(task.global_path).metadata.num_rows
        if g_rows != pf.metadata.num_rows:
            raise RuntimeError(f"global step {task.global_id} wrote {g_rows} rows for shard {task.shard} "
                               f"of {pf.metadata.num_rows}")
        gslicer = _RowSlicer(task.global_path, task.batch_size)
    survivors_schema = None
    writer: pq.ParquetWriter | None = None
    final_path = (out / "documents" / f"{task.shard}.parquet") if task.is_last else (work / f"{task.shard}.parquet")
    tmp_path = final_path.with_name(TMP_PREFIX + final_path.name)
    final_path.parent.mkdir(parents=True, exist_ok=True)
    quarantine_rows: list[dict] = []
    offset = 0
    carried_names = [f.name for f in task.decision_schema if f.name not in DECISION_BASE.names]
    try:
        for batch in pf.iter_batches(batch_size=task.batch_size):
            n = batch.num_rows
            counts["read"] += n
            if ORDER in batch.schema.names:
                order = batch.column(ORDER)
            else:
                order = pa.array(np.arange(offset, offset + n, dtype=np.int64))
            carried = {name: batch.column(name) for name in carried_names if name in batch.schema.names}
            live = pa.RecordBatch.from_arrays([batch.column(n_) for n_ in batch.schema.names
                                               if n_ != ORDER and n_ not in carried_names],
                                              names=[n_ for n_ in batch.schema.names if n_ != ORDER and n_ not in carried_names])
            if gslicer is not None:
                g = gslicer.take(n)
                keep = g.column("keep").to_numpy(zero_copy_only=False).astype(bool)
                for name in task.global_metrics:
                    carried[name] = g.column(name).combine_chunks()
                reason = g.column("reason").combine_chunks()
                decided.add(live, order, carried, ~keep, "dropped", task.global_id, reason)
                counts["dropped"] += int((~keep).sum())
                live, order = live.filter(pa.array(keep)), order.filter(pa.array(keep))
                carried = {k: v.filter(pa.array(keep)) for k, v in carried.items()}
            offset += n
            for step in steps:
                if live.num_rows == 0:
                    break
                t0 = time.perf_counter()
                new, keep, reason, metrics, errors = apply_safely(step, live)
                step_seconds[step.id] += time.perf_counter() - t0
                carried.update(metrics)
                if errors:
                    bad = np.zeros(live.num_rows, dtype=bool)
                    bad[list(errors)] = True
                    msgs = pa.array([f"error in step {step.id}: {errors[i]}" if i in errors else None
                                     for i in range(live.num_rows)], pa.string())
                    decided.add(live, order, carried, bad, "quarantined", step.id, msgs)
                    for i, msg in errors.items():
                        quarantine_rows.append({"source": live.column("source")[i].as_py(),
                                                "input_file": live.column("input_file")[i].as_py(),
                                                "position": live.column("position")[i].as_py(), "byte_offset": None,
                                                "stage": step.id, "error_type": "step_error",
                                                "error": f"document {live.column('id')[i].as_py()}: step {step.id} "
                                                         f"raised {msg}", "content_sha1": None, "content_bytes": None})
                    counts["quarantined"] += len(errors)
                    keep = keep & ~bad
                dropped = ~keep
                if errors:
                    dropped &= ~bad
                decided.add(new, order, carried, dropped, "dropped", step.id, reason)
                counts["dropped"] += int(dropped.sum())
                if not keep.all():
                    mask = pa.array(keep)
                    new, order = new.filter(mask), order.filter(mask)
                    carried = {k: v.filter(mask) for k, v in carried.items()}
                live = new
            if task.is_last:
                decided.add(live, order, carried, np.ones(live.num_rows, dtype=bool), "kept", None, None)
                counts["kept"] += live.num_rows
                out_batch = conform(live, task.document_schema)
            else:
                out_batch = _with_carried(live, order, carried, carried_names, task.decision_schema)
            if out_batch.num_rows:
                if writer is None:
                    survivors_schema = out_batch.schema
                    writer = pq.ParquetWriter(tmp_path, survivors_schema, compression="zstd")
                writer.write_batch(out_batch)
            report(batch.nbytes, n)
        if writer is None:  # no survivors: still write an empty file so downstream sees the shard
            schema = task.document_schema if task.is_last else _survivor_schema(pf.schema_arrow, carried_names, task.decision_schema)
            writer = pq.ParquetWriter(tmp_path, schema, compression="zstd")
        writer.close()
        writer = None
        os.replace(tmp_path, final_path)
    except BaseException:
        if writer is not None:
            writer.close()
        if tmp_path.exists():
            tmp_path.unlink()
        decided.abort()
        raise
    decided.close()
    result = {"shard": task.shard, "stage": task.stage, "counts": counts,
              "step_seconds": {k: round(v, 4) for k, v in step_seconds.items()}}
    if task.is_last:
        _merge_decisions(task, [*task.decided_parts, str(decided_path)], quarantine_rows)
    elif quarantine_rows:
        write_table_atomic(pa.Table.from_pylist(quarantine_rows, schema=QUARANTINE_SCHEMA),
                           work / f"{task.shard}.quarantine.parquet")
    write_json_atomic(out / "_state" / f"s{task.stage}" / f"{task.shard}.json", result)
    return result


def _survivor_schema(in_schema: pa.Schema, carried_names: list[str], dschema: pa.Schema) -> pa.Schema:
    fields = [f for f in in_schema if f.name != ORDER and f.name not in carried_names]
    fields.append(pa.field(ORDER, pa.int64()))
    fields += [dschema.field(n) for n in carried_names]
    return pa.schema(fields)


def _with_carried(live: pa.RecordBatch, order: pa.Array, carried: dict[str, pa.Array], names: list[str],
                  dschema: pa.Schema) -> pa.RecordBatch:
    cols = list(live.columns) + [order]
    fields = list(live.schema) + [pa.field(ORDER, pa.int64())]
    for name in names:
        f = dschema.field(name)
        cols.append(carried[name] if name in carried else pa.nulls(live.num_rows, f.type))
        fields.append(f)
    return pa.RecordBatch.from_arrays(cols, schema=pa.schema(fields))


def _merge_decisions(task: SegmentTask, parts: list[str], quarantine_rows: list[dict]) -> None:
    """Merge the decided parts of every segment into DIR/decisions/<shard>.parquet in input order.

    Each part is sorted by input row; DuckDB merges them out of core (bounded memory whatever the
    shard size) and the rows are re-chunked into fixed-size batches so the file's bytes do not
    depend on DuckDB's chunking. Every input row must appear exactly once.
    """
    out = Path(task.out)
    final = out / "decisions" / f"{task.shard}.parquet"
    tmp = final.with_name(TMP_PREFIX + final.name)
    final.parent.mkdir(parents=True, exist_ok=True)
    con = connect("512MB", 1, out / "_work" / "duckdb_tmp")
    reader = con.sql(f"SELECT * FROM read_parquet({sql_list(parts)}) ORDER BY {ORDER}").to_arrow_reader(65536)
    schema = task.decision_schema
    expected = 0
    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    writer = pq.ParquetWriter(tmp, schema, compression="zstd")
    chunk = 65536

    def emit(table: pa.Table) -> None:
        writer.write_table(table.select(schema.names).cast(schema), row_group_size=chunk)

    try:
        for batch in reader:
            order = batch.column(ORDER).to_numpy()
            if len(order) and not np.array_equal(order, np.arange(expected, expected + len(order))):
                raise RuntimeError(f"shard {task.shard}: decisions do not cover every input row exactly once")
            expected += len(order)
            pending.append(batch)
            pending_rows += batch.num_rows
            while pending_rows >= chunk:
                table = pa.Table.from_batches(pending)
                emit(table.slice(0, chunk))
                rest = table.slice(chunk)
                pending, pending_rows = rest.to_batches(), rest.num_rows
        if pending_rows:
            emit(pa.Table.from_batches(pending))
        elif expected == 0:
            emit(schema.empty_table())
        writer.close()
        os.replace(tmp, final)
    except BaseException:
        writer.close()
        if tmp.exists():
            tmp.unlink()
        raise
    finally:
        con.close()
    work = out / "_work"
    for k in range(task.stage):
        q = work / f"s{k}" / f"{task.shard}.quarantine.parquet"
        if q.exists():
            quarantine_rows = pq.read_table(q).to_pylist() + quarantine_rows
    if quarantine_rows:
        write_table_atomic(pa.Table.from_pylist(quarantine_rows, schema=QUARANTINE_SCHEMA),
                           out / "quarantine" / f"{task.shard}.parquet")


# ---------------------------------------------------------------------------------------------------
# the pipeline


def shard_sources(path: Path) -> set[str]:
    """The sources in a shard, from Parquet column statistics (no data read)."""
    meta = pq.ParquetFile(path).metadata
    col = meta.schema.to_arrow_schema().get_field_index("source")
    found: set[str] = set()
    for rg in range(meta.num_row_groups):
        stats = meta.row_group(rg).column(col).statistics
        if stats is None or not stats.has_min_max:
            found |= set(pq.read_table(path, columns=["source"]).column("source").unique().to_pylist())
            break
        found |= {stats.min, stats.max}
    return found


def select_shards(shards: list[Path], sources: list[str]) -> list[Path]:
    wanted = set(sources)
    chosen, seen = [], set()
    for path in shards:
        found = shard_sources(path)
        seen |= found
        if found <= wanted:
            chosen.append(path)
        elif found & wanted:
            raise CurateError(f"shard {path.name} mixes sources {sorted(found)}; --source cannot split it")
    missing = wanted - seen
    if missing:
        raise CurateError(f"--source {', '.join(sorted(missing))}: no such source in the input "
                          f"(sources: {', '.join(sorted(seen))})")
    return chosen


class Pipeline:
    """A validated recipe plus how to run it. The same object serves the CLI and training jobs::

        from curate import Pipeline
        manifest = Pipeline.from_recipe("polyglot-ko", workers=2).run("runs/raw", "runs/clean")
    """

    def __init__(self, recipe: Recipe, workers: int = 1, executor: Executor | None = None,
                 batch_size: int = 2048, progress: bool | None = None) -> None:
        self.recipe = recipe
        self._owns_executor = executor is None
        self.executor = executor or LocalExecutor(workers)
        self.batch_size = batch_size
        self.progress = progress
        self.stages = split_stages(recipe.steps)
        self.decision_schema = decision_schema(recipe.steps)
        self.document_schema = document_schema(recipe.steps)
        for name in self.decision_schema.names[len(DECISION_BASE):]:
            if name in DOC_SCHEMA.names or name in DECISION_BASE.names or name == ORDER:
                raise CurateError(f"metric column {name!r} clashes with a reserved column name")

    @classmethod
    def from_recipe(cls, recipe: str | Path, **kwargs: Any) -> "Pipeline":
        return cls(load_recipe(recipe), **kwargs)

    def apply_batch(self, batch: pa.RecordBatch) -> tuple[pa.RecordBatch, pa.Table]:
        """Run the per-batch steps on one batch in memory: (kept documents, decision rows).

        For training jobs and Ray ``map_batches``; recipes with global steps need :meth:`run`.
        """
        if len(self.stages) > 1:
            raise CurateError(f"recipe {self.recipe.name!r} has global steps; use Pipeline.run over a directory")
        decided = _Decided(self.decision_schema)
        steps = [prepared(s) for s in self.stages[0][1]]
        order = pa.array(np.arange(batch.num_rows, dtype=np.int64))
        carried: dict[str, pa.Array] = {}
        live = batch
        for step in steps:
            new, keep, reason, metrics, errors = apply_safely(step, live)
            carried.update(metrics)
            bad = np.zeros(live.num_rows, dtype=bool)
            if errors:
                bad[list(errors)] = True
                decided.add(live, order, carried, bad, "quarantined", step.id,
                            pa.array([errors.get(i) for i in range(live.num_rows)], pa.string()))
            keep = keep & ~bad
            decided.add(new, order, carried, ~keep & ~bad, "dropped", step.id, reason)
            mask = pa.array(keep)
            live, order = new.filter(mask), order.filter(mask)
            carried = {k: v.filter(mask) for k, v in carried.items()}
        decided.add(live, order, carried, np.ones(live.num_rows, dtype=bool), "kept", None, None)
        table = decided.table().sort_by(ORDER).drop_columns([ORDER])
        return live, table

    def run(self, inp: str | Path, out: str | Path, overwrite: bool = False,
            sources: Sequence[str] | None = None) -> dict:
        """Run the recipe over ``inp/documents/*.parquet`` into ``out``; return the manifest.

        ``sources`` restricts the run to shards of those sources (ingest writes one source per shard).
        """
        try:
            return self._run(Path(inp), Path(out), overwrite, list(sources) if sources else None)
        finally:
            if self._owns_executor and hasattr(self.executor, "close"):
                self.executor.close()

    def _run(self, inp: Path, out: Path, overwrite: bool, sources: list[str] | None) -> dict:
        inp, out = Path(inp), Path(out)
        shards = sorted((inp / "documents").glob("*.parquet")) if (inp / "documents").is_dir() else []
        if not shards:
            raise CurateError(f"--in {inp}: no documents/*.parquet found (expected the output of `curate ingest` "
                              "or an earlier `curate run`)")
        if sources:
            shards = select_shards(shards, sources)
        if out.resolve() == inp.resolve():
            raise CurateError("--out must differ from --in")
        in_manifest = read_json(inp / "manifest.json") or {}
        inputs = [{"file": p.name, "bytes": p.stat().st_size, "rows": pq.ParquetFile(p).metadata.num_rows}
                  for p in shards]
        fingerprint = hashlib.sha256(repr((self.recipe.hash, [(i["file"], i["bytes"]) for i in inputs])).encode()).hexdigest()
        with locked(out / ".curate.lock"):
            state = read_json(out / "_state" / "run.json")
            existing = read_json(out / "manifest.json")
            if existing and existing.get("kind") not in (None, "run"):
                raise CurateError(f"{out} holds a {existing.get('kind')!r} output; choose another --out")
            if state and state["fingerprint"] != fingerprint:
                if not overwrite:
                    raise CurateError(f"{out} holds a run of another recipe or input (recipe {state['recipe']}); "
                                      "use --overwrite to replace it, or another --out")
                for sub in ("documents", "decisions", "quarantine", "clusters", "_work", "_state", "manifest.json"):
                    target = out / sub
                    if target.is_dir():
                        shutil.rmtree(target)
                    elif target.exists():
                        target.unlink()
            write_json_atomic(out / "_state" / "run.json", {"fingerprint": fingerprint, "recipe": self.recipe.name})
        started = time.perf_counter()
        stage_timings = []
        current = [str(p) for p in shards]
        names = [p.stem for p in shards]
        global_dir: Path | None = None
        global_step: GlobalStep | None = None
        step_seconds: dict[str, float] = {}
        last = len(self.stages) - 1
        total_bytes = sum(i["bytes"] for i in inputs)
        for k, (kind, payload) in enumerate(self.stages):
            t0 = time.perf_counter()
            if kind == "global":
                global_step = payload
                global_dir = out / "_work" / f"g{k}"
                marker = out / "_state" / f"g{k}.json"
                if not marker.exists():
                    if global_dir.exists():
                        shutil.rmtree(global_dir)
                    bar = Progress(f"{global_step.id}", None, self.progress)
                    global_step.run_dir = out  # where a global step may write run-level tables (DIR/clusters)
                    global_step.run([Path(c) for c in current], global_dir, out / "_work" / f"g{k}_tmp",
                                    self.executor, bar)
                    bar.close()
                    write_json_atomic(marker, {"step": global_step.id, "done": True})
                stage_timings.append({"stage": k, "kind": "global", "step": global_step.id,
                                      "seconds": round(time.perf_counter() - t0, 3)})
                continue
            is_last = k == last
            tasks = []
            for name, path in zip(names, current):
                if (out / "_state" / f"s{k}" / f"{name}.json").exists():
                    continue
                decided_parts = tuple(str(out / "_work" / f"s{j}" / f"{name}.decided.parquet")
                                      for j in range(0, k, 2))
                tasks.append(SegmentTask(
                    str(out), k, name, path,
                    str(global_dir / f"{name}.parquet") if global_dir is not None else None,
                    global_step.id if global_step is not None else None,
                    tuple(global_step.metric_columns()) if global_step is not None else (),
                    tuple(payload), is_last, self.batch_size, self.decision_schema, self.document_schema,
                    decided_parts))
            desc = f"run {self.recipe.name}" + (f" (segment {k // 2 + 1}/{last // 2 + 1})" if last else "")
            bar = Progress(desc, sum(os.path.getsize(t.in_path) for t in tasks), self.progress)
            results = self.executor.map(run_segment, tasks, bar)
            timing = bar.close()
            for r in results:
                for sid, sec in r["step_seconds"].items():
                    step_seconds[sid] = step_seconds.get(sid, 0.0) + sec
            stage_timings.append({"stage": k, "kind": "segment", "steps": [s.id for s in payload],
                                  "tasks_run": len(tasks), "tasks_resumed": len(names) - len(tasks), **timing})
            current = [str(out / "_work" / f"s{k}" / f"{name}.parquet") for name in names]
            global_dir, global_step = None, None
        seconds = time.perf_counter() - started
        manifest = self._manifest(inp, out, in_manifest, inputs, seconds, total_bytes, stage_timings, step_seconds)
        write_json_atomic(out / "manifest.json", manifest)
        if os.environ.get("CURATE_KEEP_WORK") != "1":
            shutil.rmtree(out / "_work", ignore_errors=True)
        from curate.stats.database import refresh_database

        refresh_database(out)  # DIR/curate.duckdb: views for `duckdb DIR/curate.duckdb` (docs/stats.md)
        return manifest

    def _manifest(self, inp: Path, out: Path, in_manifest: dict, inputs: list[dict], seconds: float,
                  total_bytes: int, stage_timings: list, step_seconds: dict) -> dict:
        import duckdb

        import curate

        con = duckdb.connect()
        decisions = sql_str(out / "decisions" / "*.parquet")
        rows = con.execute(f"""SELECT source, status, dropped_by, count(*) FROM read_parquet({decisions})
                               GROUP BY ALL""").fetchall()
        counts = {"read": 0, "kept": 0, "dropped": 0, "quarantined": 0}
        by_source: dict[str, dict] = {}
        by_step = {s.id: {"dropped": 0, "quarantined": 0} for s in self.recipe.steps}
        for source, status, step, n in rows:
            c = by_source.setdefault(source, {"read": 0, "kept": 0, "dropped": 0, "quarantined": 0})
            for target in (counts, c):
                target["read"] += n
                target[status] += n
            if step is not None:
                by_step[step][status] += n
        expected = sum(i["rows"] for i in inputs)
        if counts["read"] != expected or counts["read"] != counts["kept"] + counts["dropped"] + counts["quarantined"]:
            raise RuntimeError(f"accounting broken: {counts} for {expected} input documents")
        remaining = counts["read"]
        funnel = []
        for s in self.recipe.steps:
            removed = by_step[s.id]["dropped"] + by_step[s.id]["quarantined"]
            remaining -= removed
            funnel.append({"step": s.id, "removed": removed, "remaining": remaining})
        return {
            "kind": "run", "schema_version": 1, "curate_version": curate.__version__,
            "recipe": {"name": self.recipe.name, "path": str(self.recipe.path) if self.recipe.path else None,
                       "hash": self.recipe.hash, "steps": self.recipe.describe(), "text": self.recipe.source_text},
            "input": {"dir": str(inp.resolve()), "kind": in_manifest.get("kind"),
                      "upstream_counts": in_manifest.get("counts"), "shards": inputs},
            "counts": counts, "counts_by_source": dict(sorted(by_source.items())), "counts_by_step": by_step,
            "funnel": funnel,
            "outputs": {"documents": sorted(p.name for p in (out / "documents").glob("*.parquet")),
                        "decisions": sorted(p.name for p in (out / "decisions").glob("*.parquet")),
                        "quarantine": sorted(p.name for p in (out / "quarantine").glob("*.parquet"))},
            "versions": versions("ftfy", "numpy"),
            "timings": {"seconds": round(seconds, 3), "docs_per_s": round(counts["read"] / max(seconds, 1e-9), 1),
                        "mb_per_s": round(total_bytes / 1e6 / max(seconds, 1e-9), 3), "stages": stage_timings,
                        "step_seconds": {k: round(v, 3) for k, v in step_seconds.items()}},
            "complete": True,
        }
