"""``curate shards``: tokenize a finished run into Megatron/GPT-NeoX indexed datasets.

    from curate.shards import build_shards
    build_shards("runs/ko/clean", "tok/", "shards/", mix={"news": 2, "blog": 0.5}, valid_fraction=0.005)

Stages (docs/shards.md):

1. **Plan.** Every ``DIR/documents/*.parquet`` file is cut into tasks of consecutive row groups
   (about ``task_mb`` of text each).
2. **Encode** (one task per process, ``--workers``): read the task's documents in Arrow batches;
   pick each document's split and number of copies from hashes of its id; batch-encode the selected
   texts (``Tokenizer.encode_batch_fast``, Rust threads); append ``<|endoftext|>``; write
   ``_work/parts/<split>/p<copy>/t<task>.{bin,idx}``. A finished task leaves a state file, so a
   rerun resumes.
3. **Merge** (cheap byte copies): for each split, copy 0 of every task in input order, then copy 1,
   ... into ``<split>/<split>-00000.{bin,idx}``, ... of at most ``max_shard_mb`` each (cut only at
   document boundaries), then ``manifest.json``.

The output depends only on the input, the tokenizer and the options, never on ``--workers`` or
scheduling: a rerun gives byte-identical files.

**Split rule.** ``u = xxh64(id, seed) / 2**64``: ``u < valid_fraction`` -> valid,
``u < valid_fraction + test_fraction`` -> test, else train. A document is always in the same split,
whatever else changes (mix, tokenizer, other documents).

**Mix rule** (train only). A source's weight ``w`` (default 1) is a number of epochs: every
document is written ``floor(w)`` times, plus once more when ``xxh64(id, seed + 1) / 2**64 < w -
floor(w)``. So ``2`` = every document twice, ``0.5`` = a deterministic half, ``1.5`` = all once and
half of them twice, ``0`` = none. The expected token count of a source is ``w`` times its tokens; the
fractional part is exact in expectation (the selection does not look at length). Valid and test take
each of their documents once, from every source with ``w > 0``, so they measure the natural
distribution.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curate.errors import CurateError
from curate.executors import Executor, LocalExecutor, ReportFn
from curate.manifest import locked, read_json, versions, write_json_atomic
from curate.progress import Progress
from curate.shards.indexed import DTYPE_CODES, IndexedDataset, IndexedDatasetWriter, best_dtype
from curate.tokenizer.corpus import open_corpus, unit_hash
from curate.tokenizer.train import file_sha256, tokenizer_file
from curate.tokens import CONTROL_TOKENS, EOD_TOKEN, PAD_TOKEN, PII_TOKENS, SPECIAL_TOKENS

SPLITS = ("train", "valid", "test")
DEFAULT_VALID_FRACTION = 0.005
ENCODE_BYTES = 2 << 20  # text per encode_batch call (Encodings cost ~100 bytes per token while alive)
MIX_RULE = ("train: each document written floor(w) times, plus once more when xxh64(id, seed+1)/2**64 < "
            "w - floor(w); valid/test: each document once when w > 0; sources not listed use the default "
            "weight ('*' in --mix, else 1)")
SPLIT_RULE = ("u = xxh64(id, seed)/2**64: u < valid_fraction -> valid; u < valid_fraction + test_fraction "
              "-> test; else train")


def parse_mix(text: str | None) -> dict[str, float]:
    """``"news=2,blog=0.5,*=1"`` -> ``{"news": 2.0, "blog": 0.5, "*": 1.0}``."""
    mix: dict[str, float] = {}
    if not text:
        return mix
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, value = part.partition("=")
        name = name.strip()
        try:
            weight = float(value)
        except ValueError:
            weight = float("nan")
        if not sep or not name or not weight >= 0 or weight == float("inf"):
            raise CurateError(f"--mix {part!r}: expected SOURCE=WEIGHT with a weight >= 0 (e.g. news=2,blog=0.5)")
        mix[name] = weight
    return mix


# ---------------------------------------------------------------------------------------------------
# encode tasks


@dataclass(frozen=True)
class ShardTask:
    index: int
    path: str
    row_groups: tuple[int, ...]
    work: str
    tokenizer_json: str
    tokenizer_sha256: str
    weights: tuple[tuple[str, float], ...]
    default_weight: float
    valid_fraction: float
    test_fraction: float
    seed: int
    dtype: str
    eod_id: int
    batch_size: int
    threads: int | None  # RAYON_NUM_THREADS for worker processes (None: leave Rust's default)


_TOKENIZERS: dict[tuple[str, str | None], object] = {}


def shard_encoder(tokenizer_json: str | Path, sha256: str | None = None):
    """The tokenizer as the shard builder uses it (cached per process).

    Control tokens (``<|endoftext|>``, ``<|padding|>``) appearing *in text* are encoded as text
    (``encode_special_tokens``), never as control tokens; PII placeholders are always one token
    (they are marked non-special here even in tokenizers that were not trained by curate).
    Cached per process by path and ``sha256`` (pass it, or the file is read again each call).
    """
    key = (str(tokenizer_json), sha256 or file_sha256(tokenizer_json))
    if key not in _TOKENIZERS:
        from tokenizers import Tokenizer

        data = json.loads(Path(tokenizer_json).read_text(encoding="utf-8"))
        pii = set(PII_TOKENS.values())
        for t in data.get("added_tokens", []):
            if t["content"] in pii:
                t["special"] = False
        tok = Tokenizer.from_str(json.dumps(data))
        tok.encode_special_tokens = True
        _TOKENIZERS[key] = tok
    return _TOKENIZERS[key]


def _empty_stats() -> dict:
    return {s: {} for s in SPLITS}


def _add(stats: dict, split: str, source: str, documents: int, tokens: int, unique: int) -> None:
    c = stats[split].setdefault(source, {"documents": 0, "tokens": 0, "unique_documents": 0})
    c["documents"] += documents
    c["tokens"] += tokens
    c["unique_documents"] += unique


def _write(writers: dict, stats: dict, work: Path, index: int, dtype: np.dtype, tokens: np.ndarray,
           sizes: np.ndarray, d_split: np.ndarray, d_copies: np.ndarray, d_src: np.ndarray, uniq: list[str]) -> None:
    """Append encoded documents (``tokens`` = their concatenation) to the (split, copy) writers."""
    for k, name in enumerate(SPLITS):
        in_split = d_split == k
        if not in_split.any():
            continue
        for s in uniq:
            m = in_split & (d_src == s)
            if m.any():
                c = d_copies[m]
                _add(stats, name, s, int(c.sum()), int((sizes[m].astype(np.int64) * c).sum()), int(m.sum()))
        for p in range(int(d_copies[in_split].max())):
            docmask = in_split & (d_copies > p)
            key = (k, p)
            if key not in writers:
                writers[key] = IndexedDatasetWriter(work / "parts" / name / f"p{p:03d}" / f"t{index:06d}", dtype=dtype)
            writers[key].add_documents(tokens[np.repeat(docmask, sizes)], sizes[docmask])


def encode_task(task: ShardTask, report: ReportFn) -> dict:
    """Encode one task's documents into per-(split, copy) partial datasets; return its counts."""
    if task.threads and "RAYON_NUM_THREADS" not in os.environ:
        os.environ["RAYON_NUM_THREADS"] = str(task.threads)  # before the first encode in this process
    t0 = time.perf_counter()
    tok = shard_encoder(task.tokenizer_json, task.tokenizer_sha256)
    dtype = np.dtype(task.dtype)
    weights = dict(task.weights)
    work = Path(task.work)
    writers: dict[tuple[int, int], IndexedDatasetWriter] = {}
    stats = _empty_stats()
    read: dict[str, int] = {}
    empty = excluded = 0
    pf = pq.ParquetFile(task.path)
    try:
        for batch in pf.iter_batches(batch_size=task.batch_size, row_groups=list(task.row_groups),
                                     columns=["id", "source", "text"]):
            n = batch.num_rows
            nbytes = pc.fill_null(pc.binary_length(batch.column("text")), 0).to_numpy(zero_copy_only=False)
            report(int(nbytes.sum()), n)
            ids = batch.column("id").to_pylist()
            sources = np.array(batch.column("source").to_pylist(), dtype=object)
            uniq = sorted(set(sources.tolist()))
            for s in uniq:
                read[s] = read.get(s, 0) + int((sources == s).sum())
            w = np.ones(n)
            for s in uniq:
                w[sources == s] = weights.get(s, task.default_weight)
            u = unit_hash(ids, task.seed)
            split = np.where(u < task.valid_fraction, 1, np.where(u < task.valid_fraction + task.test_fraction, 2, 0))
            base = np.floor(w)
            extra = unit_hash(ids, task.seed + 1) < (w - base)
            copies = np.where(split == 0, base + extra, (w > 0).astype(np.float64)).astype(np.int64)
            is_empty = nbytes == 0
            empty += int((is_empty & (copies > 0)).sum())
            excluded += int(((copies == 0) & ~is_empty).sum())
            copies[is_empty] = 0
            sel = copies > 0
            if not sel.any():
                continue
            texts = batch.column("text").filter(pa.array(sel)).to_pylist()
            d_split, d_copies, d_src = split[sel], copies[sel], sources[sel]
            # encode in chunks of bounded text size: memory follows the chunk, not the batch's longest pages
            ends = np.cumsum(nbytes[sel])
            a = 0
            while a < len(texts):
                b = max(a + 1, int(np.searchsorted(ends, (ends[a - 1] if a else 0) + ENCODE_BYTES, side="right")))
                encs = tok.encode_batch_fast(texts[a:b], add_special_tokens=False)
                lens = np.fromiter((len(e) for e in encs), dtype=np.int64, count=len(encs))
                flat = np.fromiter(itertools.chain.from_iterable(e.ids for e in encs), dtype=dtype,
                                   count=int(lens.sum()))
                del encs
                tokens = np.insert(flat, np.cumsum(lens), np.array(task.eod_id, dtype=dtype))
                sizes = (lens + 1).astype(np.int32)
                _write(writers, stats, work, task.index, dtype, tokens, sizes, d_split[a:b], d_copies[a:b],
                       d_src[a:b], uniq)
                a = b
        parts = {}
        for (k, p), w_ in sorted(writers.items()):
            w_.finalize()
            parts[f"{SPLITS[k]}/{p}"] = {"documents": w_.num_documents, "tokens": w_.num_tokens}
    except BaseException:
        for w_ in writers.values():
            w_.abort()
        raise
    result = {"index": task.index, "parts": parts, "stats": stats, "read": read, "empty_skipped": empty,
              "excluded_by_mix": excluded, "seconds": round(time.perf_counter() - t0, 3)}
    write_json_atomic(work / "state" / f"t{task.index:06d}.json", result)
    return result


# ---------------------------------------------------------------------------------------------------
# merge


def _merge_split(name: str, parts: list[Path], out: Path, dtype: np.dtype, max_bytes: int) -> list[dict]:
    """Concatenate partial datasets into ``out/<name>/<name>-NNNNN`` files of at most ``max_bytes``."""
    target = out / name
    target.mkdir(parents=True, exist_ok=True)
    files: list[dict] = []
    writer: IndexedDatasetWriter | None = None

    def close() -> None:
        nonlocal writer
        if writer is not None:
            writer.finalize()
            files.append({"prefix": f"{name}/{writer.prefix.name}", "documents": writer.num_documents,
                          "tokens": writer.num_tokens, "bin_bytes": writer.nbytes,
                          "bin_sha256": file_sha256(writer.bin_path)})
            writer = None

    for prefix in parts:
        ds = IndexedDataset(prefix)
        if ds.dtype != dtype:
            raise RuntimeError(f"{prefix}: dtype {ds.dtype}, expected {dtype}")
        ends = ds.pointers.astype(np.int64) + ds.sizes.astype(np.int64) * dtype.itemsize
        start, n = 0, len(ds)
        with open(ds.bin_path, "rb") as src:
            while start < n:
                if writer is None:
                    writer = IndexedDatasetWriter(target / f"{name}-{len(files):05d}", dtype=dtype)
                room = max_bytes - writer.nbytes
                base = int(ds.pointers[start])
                m = int(np.searchsorted(ends[start:] - base, room, side="right"))
                if m == 0:
                    if writer.num_documents:
                        close()
                        continue
                    m = 1  # a document larger than a whole file gets a file of its own
                a, b = ds.byte_range(start, start + m)
                src.seek(a)
                writer.add_from_file(src, b - a, ds.sizes[start:start + m])
                start += m
                if writer.nbytes >= max_bytes:
                    close()
        del ds
    close()
    return files


# ---------------------------------------------------------------------------------------------------
# the stage


def _text_bytes(path: str | Path, row_groups: tuple[int, ...]) -> int:
    md = pq.ParquetFile(path).metadata
    col = md.schema.to_arrow_schema().get_field_index("text")
    return sum(md.row_group(rg).column(col).total_uncompressed_size for rg in row_groups)


def _plan(files: list[Path], task_bytes: int) -> list[tuple[str, tuple[int, ...]]]:
    plan = []
    for path in files:
        md = pq.ParquetFile(path).metadata
        col = md.schema.to_arrow_schema().get_field_index("text")
        group: list[int] = []
        size = 0
        for rg in range(md.num_row_groups):
            group.append(rg)
            size += md.row_group(rg).column(col).total_uncompressed_size
            if size >= task_bytes:
                plan.append((str(path), tuple(group)))
                group, size = [], 0
        if group:
            plan.append((str(path), tuple(group)))
    return plan


def _tokenizer_info(tok_json: Path) -> dict:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tok_json))
    vocab = tok.get_vocab_size(with_added_tokens=True)
    eod = tok.token_to_id(EOD_TOKEN)
    if eod is None:
        raise CurateError(f"{tok_json}: the tokenizer has no {EOD_TOKEN} token (train one with `curate tokenizer train`)")
    meta = read_json(tok_json.parent / "manifest.json") or {}
    return {
        "path": str(tok_json.resolve()), "sha256": file_sha256(tok_json), "vocab_size": vocab,
        "model": type(tok.model).__name__, "mecab": meta.get("mecab") if meta.get("kind") == "tokenizer" else None,
        "eod_token": EOD_TOKEN, "eod_id": eod, "pad_token": PAD_TOKEN, "pad_id": tok.token_to_id(PAD_TOKEN),
        "special_tokens": {t: tok.token_to_id(t) for t in SPECIAL_TOKENS if tok.token_to_id(t) is not None},
        "control_tokens": list(CONTROL_TOKENS),
    }


def build_shards(run_dir: str | Path, tokenizer: str | Path, out: str | Path, mix: Mapping[str, float] | str | None = None,
                 valid_fraction: float = DEFAULT_VALID_FRACTION, test_fraction: float = 0.0, workers: int = 1,
                 max_shard_mb: float = 1024.0, seed: int = 0, batch_size: int = 1024, task_mb: float = 16.0,
                 overwrite: bool = False, executor: Executor | None = None, progress: bool | None = None) -> dict:
    """Tokenize the kept documents of ``run_dir`` into ``out/<split>/<split>-NNNNN.{bin,idx}``.

    Args:
        run_dir: a ``curate run`` (or ingest) output directory (``documents/*.parquet``).
        tokenizer: a ``curate tokenizer train`` directory or a tokenizer.json with ``<|endoftext|>``.
        out: output directory; holds the splits, ``manifest.json`` and, while running, ``_work/``.
        mix: source -> weight (epochs; see the module docstring), or ``"news=2,blog=0.5"``;
            key ``"*"`` sets the default weight for unlisted sources (else 1).
        valid_fraction, test_fraction: share of documents (by id hash) in valid and test.
        workers: processes encoding tasks in parallel (each also uses Rust threads).
        max_shard_mb: upper bound on each ``.bin`` file (a single larger document gets its own file).
        seed: hash seed of the split and mix selections.
        batch_size: documents per Arrow batch and per ``encode_batch`` call.
        task_mb: text per encode task (tasks are runs of Parquet row groups).
        overwrite: replace an ``out`` built from other input or options.

    Returns the manifest (also ``out/manifest.json``): token and document counts per split and
    source, the tokenizer's sha256 and special-token ids, the input run and its recipe hash, the mix,
    the dtype and every file.
    """
    started = time.perf_counter()
    weights = parse_mix(mix) if isinstance(mix, str) or mix is None else {k: float(v) for k, v in mix.items()}
    for k, v in weights.items():
        if not v >= 0:
            raise CurateError(f"--mix {k}={v}: weights must be >= 0")
    default_weight = weights.pop("*", 1.0)
    if not (0 <= valid_fraction < 1 and 0 <= test_fraction < 1 and valid_fraction + test_fraction < 1):
        raise CurateError("--valid-fraction and --test-fraction must be >= 0 and sum to less than 1")
    if workers < 1:
        raise CurateError("--workers must be at least 1")
    if max_shard_mb <= 0:
        raise CurateError("--max-shard-mb must be positive")
    corpus = open_corpus(run_dir)
    out = Path(out)
    if out.resolve() == corpus.directory.resolve():
        raise CurateError("--out must differ from the input directory")
    tok_json = tokenizer_file(tokenizer)
    try:
        info = _tokenizer_info(tok_json)
    except ImportError as exc:
        raise CurateError("curate shards needs Hugging Face tokenizers: pip install 'curate[tokenizer]'") from exc
    dtype = best_dtype(info["vocab_size"])
    max_bytes = int(max_shard_mb * (1 << 20))
    input_desc = corpus.describe()
    options = {"mix": dict(sorted(weights.items())), "default_weight": default_weight, "valid_fraction": valid_fraction,
               "test_fraction": test_fraction, "seed": seed, "dtype": dtype.name}
    plan = _plan(corpus.files, int(task_mb * (1 << 20)))
    fingerprint = hashlib.sha256(json.dumps(
        {"tokenizer": info["sha256"], "inputs": [(f["file"], f["bytes"], f["rows"]) for f in input_desc["files"]],
         "options": options, "plan": plan, "max_bytes": max_bytes}, sort_keys=True).encode()).hexdigest()
    work = out / "_work"
    with locked(out / ".curate.lock"):
        existing = read_json(out / "manifest.json")
        if existing and existing.get("kind") != "shards":
            raise CurateError(f"{out} holds a {existing.get('kind')!r} output; choose another --out")
        if existing and existing.get("fingerprint") == fingerprint and existing.get("complete") and all(
                (out / (f["prefix"] + ext)).exists() for fs in existing["files"].values() for f in fs
                for ext in (".bin", ".idx")):
            return existing
        state = read_json(work / "state" / "fingerprint.json")
        stale = (existing is not None and existing.get("fingerprint") != fingerprint) or (
            state is not None and state.get("fingerprint") != fingerprint)
        if stale:
            if not overwrite:
                raise CurateError(f"{out} holds shards of another input, tokenizer or options; use --overwrite "
                                  "to replace them, or another --out")
            for sub in (*SPLITS, "_work", "manifest.json"):
                target = out / sub
                if target.is_dir():
                    shutil.rmtree(target)
                elif target.exists():
                    target.unlink()
        write_json_atomic(work / "state" / "fingerprint.json", {"fingerprint": fingerprint})

    cpus = os.cpu_count() or 1
    threads = max(1, cpus // workers) if workers > 1 else None
    tasks, done = [], []
    for i, (path, rgs) in enumerate(plan):
        st = read_json(work / "state" / f"t{i:06d}.json")
        if st is not None:
            done.append(st)
            continue
        tasks.append(ShardTask(i, path, rgs, str(work), str(tok_json), info["sha256"], tuple(sorted(weights.items())), default_weight,
                               valid_fraction, test_fraction, seed, dtype.name, info["eod_id"], batch_size, threads))
    total = sum(_text_bytes(t.path, t.row_groups) for t in tasks)
    bar = Progress(f"shards ({workers} worker{'s' if workers > 1 else ''})", total or None, progress)
    own = executor is None
    ex = executor or LocalExecutor(workers)
    try:
        results = ex.map(encode_task, tasks, bar)
    finally:
        if own:
            ex.close()
    encode_timing = bar.close()
    run_tokens = sum(p["tokens"] for r in results for p in r["parts"].values())
    results = sorted(done + results, key=lambda r: r["index"])
    t_merge = time.perf_counter()

    # merge partial datasets: per split, copy 0 of every task in order, then copy 1, ...
    files: dict[str, list[dict]] = {}
    for name in SPLITS:
        passes = sorted({int(key.split("/")[1]) for r in results for key in r["parts"] if key.startswith(name + "/")})
        parts = [work / "parts" / name / f"p{p:03d}" / f"t{r['index']:06d}"
                 for p in passes for r in results if f"{name}/{p}" in r["parts"]]
        if (out / name).exists():
            shutil.rmtree(out / name)
        files[name] = _merge_split(name, parts, out, dtype, max_bytes) if parts else []
    merge_seconds = time.perf_counter() - t_merge

    stats = _empty_stats()
    read: dict[str, int] = {}
    empty = excluded = 0
    for r in results:
        for name in SPLITS:
            for s, c in r["stats"][name].items():
                _add(stats, name, s, c["documents"], c["tokens"], c["unique_documents"])
        for s, n in r["read"].items():
            read[s] = read.get(s, 0) + n
        empty += r["empty_skipped"]
        excluded += r["excluded_by_mix"]
    counts = {}
    for name in SPLITS:
        by_source = dict(sorted(stats[name].items()))
        tokens = sum(c["tokens"] for c in by_source.values())
        for c in by_source.values():
            c["token_share"] = round(c["tokens"] / tokens, 6) if tokens else 0.0
        counts[name] = {"documents": sum(c["documents"] for c in by_source.values()), "tokens": tokens,
                        "by_source": by_source}
        written = sum(f["tokens"] for f in files[name])
        if written != tokens:
            raise RuntimeError(f"split {name}: {written} tokens in files, {tokens} counted")
    seconds = time.perf_counter() - started
    import curate

    manifest = {
        "kind": "shards", "schema_version": 1, "curate_version": curate.__version__,
        "format": {"name": "MMIDIDX", "version": 1, "readers": ["Megatron-LM", "GPT-NeoX", "curate.shards"],
                   "sequence_per_document": True, "eod_appended": True},
        "dtype": dtype.name, "dtype_code": DTYPE_CODES[dtype.name],
        "eod_id": info["eod_id"], "pad_id": info["pad_id"],
        "tokenizer": info,
        "input": input_desc,
        "mix": {"weights": dict(sorted(weights.items())), "default_weight": default_weight, "rule": MIX_RULE},
        "split": {"valid_fraction": valid_fraction, "test_fraction": test_fraction, "seed": seed, "rule": SPLIT_RULE},
        "counts": counts,
        "input_counts": {"documents": sum(read.values()), "by_source": dict(sorted(read.items())),
                         "empty_skipped": empty, "excluded_by_mix": excluded},
        "files": files,
        "max_shard_mb": max_shard_mb,
        "fingerprint": fingerprint,
        "versions": versions("tokenizers", "numpy", "xxhash"),
        "timings": {"seconds": round(seconds, 3), "encode": encode_timing, "merge_seconds": round(merge_seconds, 3),
                    "workers": workers, "tasks": len(plan), "tasks_resumed": len(done),
                    "tokens_per_s": round(run_tokens / max(encode_timing["seconds"], 1e-9), 1)},
        "complete": True,
    }
    write_json_atomic(out / "manifest.json", manifest)
    if os.environ.get("CURATE_KEEP_WORK") != "1":
        shutil.rmtree(work, ignore_errors=True)
    return manifest
