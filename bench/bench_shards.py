"""Tokenizer training and ``curate shards`` throughput: tokens/s with 1 and 2 workers, peak memory at
1x and 5x the input.

    .venv/bin/python bench/bench_shards.py                 # ~6-10 min on 2 cores
    .venv/bin/python bench/bench_shards.py --docs 50000    # quicker, smaller corpus

Input: the benchmark corpus of bench/make_corpus.py (200,000 real documents, ~59 MB of text: Korean
reviews, comments, news and KorQuAD Wikipedia paragraphs, English news, 20-language sentences, web
pages, Q&A threads, patents), split by source and ingested once with ``curate ingest`` (cached in
``.bench/shards/``); the 5x corpus (``--scale 5``) likewise. A 30,003-token byte-level BPE is trained
once on the 1x corpus (timed). Then, each in a fresh subprocess:

* **encode ceiling**: ``Tokenizer.encode_batch_fast`` over the texts already in memory, with 1 and
  2 Rust threads: what the Hugging Face tokenizer itself can do here.
* **curate shards**: the whole stage (read Parquet, hash splits, encode, write partial datasets,
  merge into ``.bin``/``.idx``, manifest) with ``--workers 1`` (one process, Rust threads on both
  cores) and ``--workers 2`` (two processes, one Rust thread each), on 1x; and ``--workers 2`` on
  5x to show memory stays flat.

Reported: wall seconds, tokens/s (tokens written, ``<|endoftext|>`` included, over the stage's wall
time), CPU seconds of the process tree, tokens per CPU-second (steadier than wall time on a shared
machine), peak RSS of the largest process and of the whole process tree. Results go to
``.bench/results/shards.json``; the markdown table is printed for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import BENCH_DIR, PY, ensure_corpus, last_json, machine, print_machine, run_measured, table  # noqa: E402

WORK = BENCH_DIR / "shards"


def cpu_seconds() -> float:
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


# --------------------------------------------------------------------------------------------------
# children (run in fresh processes)


def child_encode(args) -> None:
    os.environ["RAYON_NUM_THREADS"] = str(args.threads)
    from tokenizers import Tokenizer

    from curate.tokenizer.corpus import iter_batches, open_corpus

    texts = [t for b in iter_batches(open_corpus(args.raw).files, ["text"], 4096) for t in b.column("text").to_pylist()]
    tok = Tokenizer.from_file(str(Path(args.tok) / "tokenizer.json"))
    nbytes = sum(len(t.encode("utf-8")) for t in texts)
    c0, t0 = cpu_seconds(), time.perf_counter()
    tokens = 0
    for i in range(0, len(texts), 1024):
        tokens += sum(len(e) for e in tok.encode_batch_fast(texts[i:i + 1024], add_special_tokens=False))
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    print(json.dumps({"tokens": tokens, "seconds": wall, "cpu_seconds": cpu, "text_bytes": nbytes}))


def child_shards(args) -> None:
    from curate.shards import build_shards

    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    c0, t0 = cpu_seconds(), time.perf_counter()
    m = build_shards(args.raw, args.tok, out, workers=args.workers, progress=False)
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    tokens = sum(c["tokens"] for c in m["counts"].values())
    print(json.dumps({"tokens": tokens, "documents": sum(c["documents"] for c in m["counts"].values()),
                      "seconds": wall, "cpu_seconds": cpu, "text_bytes": m["timings"]["encode"]["bytes"],
                      "merge_seconds": m["timings"]["merge_seconds"], "tasks": m["timings"]["tasks"],
                      "files": {k: len(v) for k, v in m["files"].items()}}))
    shutil.rmtree(out)


def child_train(args) -> None:
    from curate.tokenizer import train_tokenizer

    c0, t0 = cpu_seconds(), time.perf_counter()
    m = train_tokenizer(args.raw, args.tok, vocab_size=30003, progress=False)
    print(json.dumps({"seconds": time.perf_counter() - t0, "cpu_seconds": cpu_seconds() - c0,
                      "documents": m["trained_on"]["documents"], "text_bytes": m["trained_on"]["text_bytes"]}))


# --------------------------------------------------------------------------------------------------
# driver


def ingest_corpus(scale: int, docs: int) -> Path:
    """The benchmark corpus split by source and ingested (cached)."""
    raw = WORK / f"raw-{docs // 1000}k-{scale}x"
    if (raw / "manifest.json").exists():
        return raw
    corpus = ensure_corpus(scale, docs)
    src = WORK / f"src-{docs // 1000}k-{scale}x"
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir(parents=True)
    handles: dict[str, object] = {}
    with open(corpus, encoding="utf-8") as fh:
        for line in fh:
            source = json.loads(line)["source"]
            if source not in handles:
                handles[source] = open(src / f"{source}.jsonl", "w", encoding="utf-8")
            handles[source].write(line)
    for h in handles.values():
        h.close()
    from curate.ingest import ReaderOptions, ingest

    shutil.rmtree(raw, ignore_errors=True)
    for path in sorted(src.glob("*.jsonl")):
        print(f"ingest {path.name} ({scale}x) ...", file=sys.stderr)
        ingest([str(path)], source=path.stem, out=raw, fmt="jsonl", workers=2,
               options=ReaderOptions(text_field="text", id_field="id"), progress=False)
    shutil.rmtree(src)
    return raw


def child(kind: str, **kw) -> list[str]:
    cmd = [PY, __file__, "--child", kind]
    for k, v in kw.items():
        cmd += [f"--{k.replace('_', '-')}", str(v)]
    return cmd


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=200_000, help="documents in the 1x corpus")
    ap.add_argument("--rss-scale", type=int, default=5, help="the larger corpus, as a multiple of 1x (0: skip)")
    ap.add_argument("--repeat", type=int, default=2, help="runs per 1x configuration (best reported)")
    ap.add_argument("--retrain", action="store_true", help="train the tokenizer again")
    ap.add_argument("--skip-ceiling", action="store_true", help="skip the encode-ceiling runs")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--raw", help=argparse.SUPPRESS)
    ap.add_argument("--tok", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        {"encode": child_encode, "shards": child_shards, "train": child_train}[args.child](args)
        return 0

    env = {"CURATE_PROGRESS": "0"}
    print_machine()
    WORK.mkdir(parents=True, exist_ok=True)
    raw1 = ingest_corpus(1, args.docs)
    tok = WORK / f"tok-{args.docs // 1000}k"
    results: dict = {"machine": machine(), "docs": args.docs, "load_avg_start": os.getloadavg()}
    if args.retrain or not (tok / "tokenizer.json").exists():
        m = run_measured(child("train", raw=raw1, tok=tok), env)
        results["train"] = {**last_json(m.stdout), "max_rss_mb": m.max_rss_mb}
        print("train:", results["train"], file=sys.stderr)
    rows = []

    def add(label: str, r: dict, m) -> None:
        r.update(max_rss_mb=round(m.max_rss_mb, 1), tree_rss_mb=round(m.tree_rss_mb, 1))
        r["tokens_per_s"] = r["tokens"] / r["seconds"]
        r["tokens_per_cpu_s"] = r["tokens"] / r["cpu_seconds"]
        results.setdefault("runs", {})[label] = r
        rows.append([label, f"{r['text_bytes'] / 1e6:,.1f}", f"{r['tokens']:,}", f"{r['seconds']:.1f}",
                     f"{r['tokens_per_s'] / 1e6:.2f} M", f"{r['cpu_seconds']:.1f}",
                     f"{r['tokens_per_cpu_s'] / 1e6:.2f} M", f"{r['max_rss_mb']:,.0f}", f"{r['tree_rss_mb']:,.0f}"])
        print(label, {k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()}, file=sys.stderr)

    def best(cmd: list[str], n: int):
        runs = []
        for _ in range(n):
            m = run_measured(cmd, env)
            runs.append((last_json(m.stdout), m))
        return min(runs, key=lambda x: x[0]["seconds"])

    for threads in () if args.skip_ceiling else (1, 2):
        r, m = best(child("encode", raw=raw1, tok=tok, threads=threads), args.repeat)
        add(f"encode ceiling, 1 process, {threads} Rust thread{'s' if threads > 1 else ''} (1x)", r, m)
    for workers in (1, 2):
        r, m = best(child("shards", raw=raw1, tok=tok, out=WORK / "out", workers=workers), args.repeat)
        add(f"curate shards --workers {workers} (1x)", r, m)
    if args.rss_scale:
        rawk = ingest_corpus(args.rss_scale, args.docs)
        r, m = best(child("shards", raw=rawk, tok=tok, out=WORK / "out", workers=2), 1)
        add(f"curate shards --workers 2 ({args.rss_scale}x)", r, m)
    results["load_avg_end"] = os.getloadavg()
    out = BENCH_DIR / "results" / ("shards-noceiling.json" if args.skip_ceiling else "shards.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str))
    print()
    if "train" in results:
        t = results["train"]
        print(f"tokenizer train (BPE 30,003, {t['documents']:,} documents, {t['text_bytes'] / 1e6:,.1f} MB): "
              f"{t['seconds']:.1f} s wall, {t['cpu_seconds']:.1f} CPU s, peak RSS {t['max_rss_mb']:,.0f} MB")
    print(table(["run", "text MB", "tokens", "wall s", "tokens/s", "CPU s", "tokens/CPU-s", "max RSS MB",
                 "tree RSS MB"], rows))
    print(f"\nload average at start {results['load_avg_start']}, at end {results['load_avg_end']}; -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
