"""Run an ingest job: plan tasks, read them (in parallel), write Parquet, quarantine, manifest.

Layout of the output directory (docs/layout.md):

    DIR/documents/<source>-<job>-<task>-<k>.parquet   documents (schemas/document.json), zstd, bounded size
    DIR/quarantine/<source>-<job>-<task>-<k>.parquet  what could not be read (schemas/quarantine.json)
    DIR/manifest.json                                 every job in DIR, counts overall and per source
    DIR/_state/<source>-<job>/plan.json               the job's tasks, fixed at its first run
    DIR/_state/<source>-<job>/task-<n>.json           finished tasks (resume)

A task's files appear only when the whole task is done (temporary names, then rename, then the
state file). A rerun skips finished tasks, removes the partial output of unfinished ones and redoes
them, so a killed run ends with exactly the files of an uninterrupted run.
"""

from __future__ import annotations

import csv
import codecs
import hashlib
import json
import re
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import orjson
import pyarrow as pa

from curate.errors import CurateError
from curate.executors import Executor, LocalExecutor, ReportFn
from curate.ingest.base import Bad, Doc, ReadContext, ReaderOptions, Skip
from curate.ingest.dates import parse_date
from curate.ingest.formats import FORMATS, sniff_format
from curate.ingest.plan import SOURCE_NAME, InputFile, Task, expand_inputs, group_tasks, job_key
from curate.io.compression import STREAM_ERRORS, sniff, stream_error_type
from curate.io.parquet import TMP_PREFIX, RollingParquetWriter
from curate.manifest import locked, read_json, versions, write_json_atomic
from curate.progress import Progress
from curate.schema import arrow_schema, validate_table

DOC_SCHEMA = arrow_schema("document")
QUARANTINE_SCHEMA = arrow_schema("quarantine")
# What a reader raises when the rest of a file cannot be parsed (orjson/json errors are ValueErrors;
# deeply nested JSON exhausts the recursion limit). Anything else a reader raises is a bug.
PARSE_ERRORS = (ValueError, RecursionError, csv.Error)
_STREAM_WHAT = {"truncated_stream": "the file ends early", "corrupt_stream": "the compressed data is damaged",
                "read_error": "reading failed"}


@dataclass(frozen=True)
class TaskSpec:
    out: str
    source: str
    job: str
    fmt: str
    options: ReaderOptions
    task: Task
    max_file_bytes: int
    batch_rows: int

    @property
    def stem(self) -> str:
        return f"{self.source}-{self.job}-{self.task.ordinal:05d}"


def make_id(source: str, input_file: str, position: int) -> str:
    """Stable document id: BLAKE2b-128 of source, relative input path and record position."""
    return hashlib.blake2b(f"{source}\0{input_file}\0{position}".encode(), digest_size=16).hexdigest()


class _Batcher:
    """Accumulate documents column-wise and flush them as validated record batches."""

    def __init__(self, spec: TaskSpec, writer: RollingParquetWriter, quarantine: "_Quarantine") -> None:
        self.spec = spec
        self.writer = writer
        self.quarantine = quarantine
        self.rows: list[tuple] = []
        self.text_bytes = 0
        self.written = 0

    def add(self, doc: Doc, input_file: str, position: int) -> None:
        meta = doc.meta
        created = doc.created
        if created is not None and not hasattr(created, "tzinfo"):
            parsed = parse_date(created)
            if parsed is None:
                meta = {**meta, "created_raw": str(created)}
            created = parsed
        elif created is not None:
            created = parse_date(created)
        try:
            meta_json = orjson.dumps(meta, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=str).decode()
        except orjson.JSONEncodeError:
            # Lone surrogates (the row is then quarantined by flush) or integers over 64 bits.
            meta_json = json.dumps(meta, ensure_ascii=False, sort_keys=True, default=str)
        self.rows.append((make_id(self.spec.source, input_file, position), self.spec.source, doc.text, doc.url,
                          doc.title, doc.lang or self.spec.options.lang, created, meta_json, input_file, position))
        self.text_bytes += len(doc.text)
        if len(self.rows) >= self.spec.batch_rows or self.text_bytes >= (16 << 20):
            self.flush()

    def _to_batch(self, rows: list[tuple]) -> pa.RecordBatch:
        columns = list(zip(*rows))
        return pa.RecordBatch.from_arrays([pa.array(col, type=f.type) for col, f in zip(columns, DOC_SCHEMA)],
                                          schema=DOC_SCHEMA)

    def flush(self) -> None:
        if not self.rows:
            return
        rows, self.rows, self.text_bytes = self.rows, [], 0
        try:
            batch = self._to_batch(rows)
        except (pa.ArrowException, UnicodeEncodeError):
            # A lone surrogate or similar in one row: find it, quarantine it, keep the others.
            good = []
            for row in rows:
                try:
                    self._to_batch([row])
                    good.append(row)
                except (pa.ArrowException, UnicodeEncodeError) as exc:
                    self.quarantine.add(Bad("invalid_unicode", f"record {row[9]}: a field (text, url, title or "
                                            f"meta) is not valid Unicode, e.g. a lone surrogate from a JSON "
                                            f"\\ud800 escape ({type(exc).__name__}: {exc})", row[9], None), row[8])
            if not good:
                return
            batch = self._to_batch(good)
        validate_table(batch, "document")
        self.writer.write_batch(batch)
        self.written += batch.num_rows


class _Quarantine:
    def __init__(self, spec: TaskSpec) -> None:
        self.spec = spec
        self.writer = RollingParquetWriter(Path(spec.out) / "quarantine", spec.stem, QUARANTINE_SCHEMA,
                                           max_bytes=spec.max_file_bytes)
        self.rows: list[dict] = []
        self.count = 0
        self.by_type: Counter[str] = Counter()

    def add(self, bad: Bad, input_file: str) -> None:
        self.rows.append({"source": self.spec.source, "input_file": input_file, "position": bad.position,
                          "byte_offset": bad.byte_offset, "stage": "ingest", "error_type": bad.error_type,
                          "error": f"{input_file}: {bad.error}", "content_sha1": bad.content_sha1,
                          "content_bytes": len(bad.content) if bad.content is not None else None})
        self.count += 1
        self.by_type[bad.error_type] += 1
        if len(self.rows) >= 10_000:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            self.writer.write_batch(pa.Table.from_pylist(self.rows, schema=QUARANTINE_SCHEMA))
            self.rows = []


def _cleanup_task(out: Path, stem: str) -> None:
    """Remove any output of an unfinished task (and stray temporary files) before it is redone."""
    for sub in ("documents", "quarantine"):
        folder = out / sub
        if folder.is_dir():
            for path in folder.glob(f"{stem}-*.parquet"):
                path.unlink()
            for path in folder.glob(f"{TMP_PREFIX}{stem}-*.parquet"):
                path.unlink()


def run_task(spec: TaskSpec, report: ReportFn) -> dict:
    """Read every file of one task; return its counts, outputs and per-input facts."""
    out = Path(spec.out)
    _cleanup_task(out, spec.stem)
    started = time.perf_counter()
    quarantine = _Quarantine(spec)
    writer = RollingParquetWriter(out / "documents", spec.stem, DOC_SCHEMA, max_bytes=spec.max_file_bytes)
    batcher = _Batcher(spec, writer, quarantine)
    read = 0
    skipped: Counter[str] = Counter()
    inputs = []
    try:
        for f in spec.task.files:
            info, file_read = _read_file(spec, f, batcher, quarantine, skipped, report)
            read += file_read
            inputs.append(info)
        batcher.flush()
        quarantine.flush()
        if read != batcher.written + quarantine.count:  # the accounting invariant, checked where it is made
            raise AssertionError(f"task {spec.task.ordinal}: read {read} != written {batcher.written} + "
                                 f"quarantined {quarantine.count}")
    except BaseException:
        writer.abort()
        quarantine.writer.abort()
        raise
    documents = [p.name for p in writer.close()]
    quarantined_files = [p.name for p in quarantine.writer.close()]
    result = {"task": spec.task.ordinal, "read": read, "written": batcher.written, "quarantined": quarantine.count,
              "quarantine_by_type": dict(quarantine.by_type), "skipped": dict(skipped), "inputs": inputs,
              "documents": documents, "quarantine": quarantined_files,
              "seconds": round(time.perf_counter() - started, 3)}
    write_json_atomic(out / "_state" / f"{spec.source}-{spec.job}" / f"task-{spec.task.ordinal:05d}.json", result)
    return result


def _sha256(path: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _read_file(spec: TaskSpec, f: InputFile, batcher: _Batcher, quarantine: _Quarantine,
               skipped: Counter, report: ReportFn) -> tuple[dict, int]:
    compression, head, sniff_error = sniff(Path(f.path))
    detected, why = sniff_format(f.input_file, head)
    fmt = detected if spec.fmt == "auto" else spec.fmt
    info = {"path": f.path, "input_file": f.input_file, "bytes": f.size, "sha256": _sha256(f.path),
            "format": fmt or "unreadable", "compression": compression}
    if not head and sniff_error is not None:
        kind = stream_error_type(sniff_error)
        quarantine.add(Bad(kind, f"{compression} stream is damaged before any data: {_STREAM_WHAT[kind]} "
                           f"({type(sniff_error).__name__}: {sniff_error})", None, 0), f.input_file)
        report(f.size, 0)
        return info, 1
    if not head:
        quarantine.add(Bad("empty_file", "file is empty" + (f" after {compression} decompression"
                           if compression != "none" else ""), None, 0), f.input_file)
        report(f.size, 0)
        return info, 1
    if why == "binary" and (fmt is None or FORMATS[fmt].text_based):
        utf16 = head[:2] in (b"\xff\xfe", b"\xfe\xff")
        hint = " (it starts with a UTF-16 byte-order mark: convert it to UTF-8)" if utf16 else ""
        quarantine.add(Bad("binary_content", f"binary content (NUL bytes or non-UTF-8 control bytes in the first "
                           f"{len(head):,} bytes), not a {fmt or 'known'} text file{hint}; check the file or its "
                           "--format", None, 0), f.input_file)
        report(f.size, 0)
        return info, 1
    if fmt is None:
        quarantine.add(Bad("unknown_format", f"could not tell the format ({why}); pass --format", None, 0), f.input_file)
        report(f.size, 0)
        return info, 1
    ctx = ReadContext(Path(f.path), f.input_file, compression, spec.options, fmt)
    reader = FORMATS[fmt].load()
    read = 0
    position = 0
    last_disk = 0
    pending_docs = 0
    seen = 0
    items = reader(ctx)
    try:
        while True:
            # Only the reader's own failures become quarantine rows; an error while writing the
            # output (disk full) is not bad input and must stop the task.
            try:
                item = next(items)
            except StopIteration:
                break
            except STREAM_ERRORS as exc:
                read += 1
                kind = stream_error_type(exc)
                quarantine.add(Bad(kind, f"stream broke after {position} records: {_STREAM_WHAT[kind]} "
                                   f"({type(exc).__name__}: {exc}); the rest of the file could not be read",
                                   None, None), f.input_file)
                break
            except PARSE_ERRORS as exc:  # reader-level parse failure of the rest of the file
                read += 1
                quarantine.add(Bad("read_error", f"reading stopped after {position} records "
                                   f"({type(exc).__name__}: {exc})", None, None), f.input_file)
                break
            seen += 1
            if item is None:  # a reader's heartbeat: nothing to record, only progress
                pass
            elif isinstance(item, Skip):
                skipped[item.reason] += 1
            else:
                read += 1
                if isinstance(item, Doc):
                    pos = item.position if item.position is not None else position
                    batcher.add(item, f.input_file, pos)
                    pending_docs += 1
                else:
                    quarantine.add(item, f.input_file)
                position += 1
            # report on skips too: a reader's first pass (StackExchange) may only skip for a long time
            if pending_docs >= 256 or seen % 1024 == 0 or item is None:
                opened = getattr(ctx, "opened", None)
                disk = opened.disk_bytes_read if opened is not None else 0
                report(max(disk - last_disk, 0), pending_docs)
                last_disk, pending_docs = max(disk, last_disk), 0
    finally:
        close = getattr(items, "close", None)
        if close is not None:
            close()
        opened = getattr(ctx, "opened", None)
        if opened is not None:
            opened.close()
    report(max(f.size - last_disk, 0), pending_docs)
    return info, read


def ingest(paths: Iterable[str], source: str, out: str | Path, fmt: str = "auto",
           options: ReaderOptions | None = None, workers: int = 1, task_bytes: int = 64 << 20,
           max_file_bytes: int = 256 << 20, batch_rows: int = 2048, executor: Executor | None = None,
           progress: bool | None = None) -> dict:
    """Ingest ``paths`` as documents of ``source`` into ``out``; return this job's manifest entry.

    Safe to rerun: finished tasks are kept, unfinished ones redone. Raises :class:`CurateError`
    before reading anything if the inputs or options are wrong.
    """
    if not SOURCE_NAME.match(source):
        raise CurateError(f"--source {source!r}: use letters, digits, '_', '.' or '-'")
    if fmt != "auto" and fmt not in FORMATS:
        raise CurateError(f"--format {fmt!r} is not one of: auto, {', '.join(FORMATS)}")
    options = options or ReaderOptions()
    if options.encoding:
        try:
            codecs.lookup(options.encoding)
        except LookupError:
            raise CurateError(f"--encoding {options.encoding!r} is not an encoding Python knows (try cp949, euc-kr, shift_jis)") from None
    if options.text_unit not in ("line", "file"):
        raise CurateError(f"--text-unit {options.text_unit!r}: expected 'line' or 'file'")
    if options.max_record_bytes < 1:
        raise CurateError(f"--max-record-mb must be positive (got {options.max_record_bytes} bytes)")
    if workers < 1:
        raise CurateError(f"--workers must be at least 1 (got {workers})")
    if fmt != "auto":
        FORMATS[fmt].load()  # fail now, not in a worker, if an optional dependency is missing
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise CurateError(f"--out {out} exists and is not a directory")
    files = expand_inputs([str(paths)] if isinstance(paths, (str, Path)) else [str(p) for p in paths], exclude=out)
    key = job_key(source, fmt, options.as_dict(), files)
    job_name = f"{source}-{key}"
    manifest_path = out / "manifest.json"
    state_dir = out / "_state" / job_name
    with locked(out / ".curate.lock"):
        manifest = read_json(manifest_path) or {}
        if manifest and manifest.get("kind") != "ingest":
            raise CurateError(f"{out} holds a {manifest.get('kind')!r} run, not an ingest output; choose another --out")
        _check_collisions(out, manifest, source, job_name, files)
        tasks = _plan(state_dir, files, task_bytes)
    with locked(state_dir / "lock"):  # a second identical command waits here, then finds the tasks done
        done = _finished_tasks(state_dir)
        todo = [t for t in tasks if t.ordinal not in done]
        specs = [TaskSpec(str(out), source, key, fmt, options, t, max_file_bytes, batch_rows) for t in todo]
        bar = Progress(f"ingest {source}", sum(t.bytes for t in todo), progress)
        pool = executor or LocalExecutor(workers)
        try:
            results = pool.map(run_task, specs, bar)
        finally:
            if executor is None:  # a pool we started ends with the job; a caller's pool is the caller's
                pool.close()
        _remove_temporaries(out, state_dir, f"{source}-{key}-")
    timings = bar.close()
    for r in results:
        done[r["task"]] = r
    ordered = [done[t.ordinal] for t in tasks]
    counts = {k: sum(r[k] for r in ordered) for k in ("read", "written", "quarantined")}
    skipped: Counter[str] = Counter()
    qtypes: Counter[str] = Counter()
    for r in ordered:
        skipped.update(r["skipped"])
        qtypes.update(r["quarantine_by_type"])
    total_bytes = sum(f.size for f in files)
    timings.update({"tasks_run": len(todo), "tasks_resumed": len(tasks) - len(todo), "input_bytes": total_bytes})
    job = {"source": source, "format": fmt, "options": options.as_dict(),
           "inputs": [i for r in ordered for i in r["inputs"]], "counts": counts, "skipped": dict(sorted(skipped.items())),
           "quarantine_by_type": dict(sorted(qtypes.items())),
           "outputs": {"documents": [d for r in ordered for d in r["documents"]],
                       "quarantine": [q for r in ordered for q in r["quarantine"]]},
           "versions": versions("trafilatura", "warcio", "lxml"), "timings": timings, "complete": True}
    with locked(out / ".curate.lock"):
        manifest = read_json(manifest_path) or {}
        jobs = manifest.get("jobs", {})
        jobs[job_name] = job
        write_json_atomic(manifest_path, _summarize(jobs))
        from curate.stats.database import refresh_database

        refresh_database(out)  # DIR/curate.duckdb: views for `duckdb DIR/curate.duckdb` (docs/stats.md)
    return {"job": job_name, **job}


_JOB_DIR = re.compile(r"^(?P<source>.+)-(?P<key>[0-9a-f]{12})$")


def _check_collisions(out: Path, manifest: dict, source: str, job_name: str, files: list[InputFile]) -> None:
    """Refuse a job whose ids would collide with another job of the same source in ``out``.

    Ids derive from source, input_file and position, so the same file ingested twice under one
    source (other options, other size) would give duplicate ids. Unfinished jobs (killed runs, no
    manifest entry yet) count too: their finished tasks' documents are already in ``out``.
    """
    names = {f.input_file for f in files}
    others: dict[str, tuple[set[str], bool]] = {}
    for name, job in manifest.get("jobs", {}).items():
        if name != job_name and job["source"] == source:
            others[name] = ({i["input_file"] for i in job["inputs"]}, True)
    state_root = out / "_state"
    if state_root.is_dir():
        for d in sorted(state_root.iterdir()):
            m = _JOB_DIR.match(d.name)
            if not d.is_dir() or not m or m["source"] != source or d.name == job_name or d.name in others:
                continue
            plan = _read_state(d / "plan.json")
            if plan is not None:
                inputs = {n for t in plan.get("tasks", []) for n in t}
            else:  # no plan: what its finished tasks read
                inputs = {i["input_file"] for p in d.glob("task-*.json")
                          for i in (_read_state(p) or {}).get("inputs", [])}
            others[d.name] = (inputs, False)
    for name, (inputs, complete) in others.items():
        clash = inputs & names
        if clash:
            what = "documents" if complete else "an unfinished ingest (rerun that exact command to finish it)"
            raise CurateError(f"{out} already has source {source!r} {what} from {sorted(clash)[:3]} (job {name}, "
                              f"other options or inputs); ids would collide. Use another --out or --source")


def _read_state(path: Path) -> dict | None:
    """Read a state file; a damaged one (crash during a non-atomic copy) counts as absent."""
    try:
        return read_json(path)
    except (OSError, ValueError):
        return None


def _plan(state_dir: Path, files: list[InputFile], task_bytes: int) -> list[Task]:
    """The job's tasks: recorded at its first run, so a rerun with another --task-mb still resumes
    the same tasks (the job key covers the input names and sizes, not the grouping)."""
    path = state_dir / "plan.json"
    saved = _read_state(path)
    by_name = {f.input_file: f for f in files}
    if saved is not None:
        names = [n for t in saved.get("tasks", []) for n in t]
        if sorted(names) == sorted(by_name) and len(names) == len(by_name):
            return [Task(i, tuple(by_name[n] for n in t)) for i, t in enumerate(saved["tasks"])]
        raise CurateError(f"{state_dir} holds the plan of other inputs; the state is damaged. Remove that "
                          "folder (its job's documents are then redone) or use another --out")
    tasks = group_tasks(files, task_bytes)
    write_json_atomic(path, {"task_bytes": task_bytes, "tasks": [[f.input_file for f in t.files] for t in tasks]})
    return tasks


def _finished_tasks(state_dir: Path) -> dict[int, dict]:
    done = {}
    for p in state_dir.glob("task-*.json"):
        state = _read_state(p)
        if state is not None:
            done[int(p.stem.split("-")[1])] = state
    return done


def _remove_temporaries(out: Path, state_dir: Path, prefix: str) -> None:
    """After every task of a job is done, drop temporary files a killed run of it left behind."""
    for sub in ("documents", "quarantine"):
        folder = out / sub
        if folder.is_dir():
            for path in folder.glob(f"{TMP_PREFIX}{prefix}*"):
                path.unlink(missing_ok=True)
    for path in state_dir.glob(f"{TMP_PREFIX}*"):
        path.unlink(missing_ok=True)


def _summarize(jobs: dict) -> dict:
    import curate

    by_source: dict[str, dict] = {}
    for job in jobs.values():
        c = by_source.setdefault(job["source"], {"read": 0, "written": 0, "quarantined": 0})
        for k in c:
            c[k] += job["counts"][k]
    total = {k: sum(c[k] for c in by_source.values()) for k in ("read", "written", "quarantined")}
    return {"kind": "ingest", "schema_version": 1, "curate_version": curate.__version__, "counts": total,
            "counts_by_source": dict(sorted(by_source.items())), "jobs": dict(sorted(jobs.items()))}
