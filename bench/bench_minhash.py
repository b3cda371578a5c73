"""MinHash signature throughput: documents/s on one core, the same real documents for every method.

    .venv/bin/python bench/bench_minhash.py                 # mixed corpus sample + long documents
    .venv/bin/python bench/bench_minhash.py --docs 20000 --slow-docs 1500 --repeat 3

Methods (each from the document text to a 128-value signature, one process, one thread):

* **curate** ``MinHasher.signatures`` over Arrow batches of 4096 (shingle="auto": character 5-grams
  for Hangul/CJK text, word 5-grams otherwise), 128 values; "+ sketch" also keeps the bottom-256
  sketch that ``minhash_dedup`` verifies candidates with (what the step's signature pass computes);
  and word 5-grams with 112 values (datatrove's 14 x 8) for a like-for-like comparison with datatrove;
* **datasketch update loop**: ``MinHash()`` per document and ``update(shingle)`` per shingle (the way
  its README shows), shingles from ``curate.dedup.minhash.shingles`` (same shingles as curate);
* **datasketch bulk**: ``MinHash.bulk`` on the same shingles;
* **rensa** ``RMinHash.update`` on the same shingles (Rust; not datasketch-compatible), shown to justify
  the choice of a numpy implementation;
* **datatrove** ``MinhashDedupSignature.get_shingles`` + ``get_signature`` (its signature stage minus
  file writing; word 5-grams, 14 x 8 = 112 values, xxhash 64-bit), in its own virtualenv
  (``.bench/datatrove-venv``, see bench/setup_datatrove.sh), run as a child process that times only its
  loop.

The slow methods run on the first ``--slow-docs`` documents of each set; rates are documents/s of
that method on the documents it ran. Timings are the best of ``--repeat`` runs (the machine is shared).
Documents: the first ``--docs`` lines of the shared benchmark corpus (bench/make_corpus.py; mostly short
Korean reviews and comments), and a "long" set: KorQuAD paragraphs and StackExchange threads (mean
~1.4k characters).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import DATATROVE_PY, ROOT, print_machine, table, versions  # noqa: E402

from curate.dedup.minhash import MinHasher, shingle_mode, shingles  # noqa: E402

# Runs inside datatrove's virtualenv. argv: mode ("time" | "sigs"), n_grams, buckets, hashes_per_bucket.
# stdin: one JSON string per line. stdout: one JSON object (time) or one JSON list per document (sigs).
DATATROVE_CHILD = r'''
import json, sys, tempfile, time
from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature
mode, n, b, r = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
texts = [json.loads(line) for line in sys.stdin]
with tempfile.TemporaryDirectory() as tmp:
    step = MinhashDedupSignature(output_folder=tmp, config=MinhashConfig(n_grams=n, num_buckets=b, hashes_per_bucket=r))
    step.get_signature(step.get_shingles("warm up the tokenizer and the parameters"))
    if mode == "time":
        best = None
        for _ in range(int(sys.argv[5]) if len(sys.argv) > 5 else 1):
            t0 = time.perf_counter()
            for t in texts:
                sh = step.get_shingles(t)
                if sh.size:
                    step.get_signature(sh)
            dt = time.perf_counter() - t0
            best = dt if best is None else min(best, dt)
        print(json.dumps({"docs": len(texts), "seconds": best}))
    else:
        out = sys.stdout
        for t in texts:
            sh = step.get_shingles(t)
            out.write(json.dumps(step.get_signature(sh) if sh.size else None) + "\n")
'''


def datatrove_available() -> bool:
    return DATATROVE_PY.exists()


def run_datatrove(texts: list[str], mode: str, n: int = 5, bands: int = 14, rows: int = 8, repeat: int = 1):
    if not datatrove_available():
        raise FileNotFoundError(f"{DATATROVE_PY} missing: run bench/setup_datatrove.sh")
    data = "".join(json.dumps(t, ensure_ascii=False) + "\n" for t in texts)
    proc = subprocess.run([str(DATATROVE_PY), "-c", DATATROVE_CHILD, mode, str(n), str(bands), str(rows), str(repeat)],
                          input=data, capture_output=True, text=True, cwd=ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if proc.returncode != 0:
        raise RuntimeError(f"datatrove child failed:\n{proc.stderr[-3000:]}")
    if mode == "time":
        return json.loads(proc.stdout.strip().splitlines()[-1])
    return [json.loads(line) for line in proc.stdout.splitlines()]


def load_sets(n_docs: int) -> dict[str, list[str]]:
    import make_corpus  # bench/make_corpus.py

    from _common import ensure_corpus

    corpus = ensure_corpus()
    mixed = []
    with open(corpus, encoding="utf-8") as fh:
        for line in fh:
            mixed.append(json.loads(line)["text"])
            if len(mixed) >= n_docs:
                break
    shared = ROOT.parent / "shared" / "corpora"
    if not shared.is_dir():
        shared = Path("/work/shared/corpora")
    pool = make_corpus.load_pool(shared, verbose=False)
    long = [t for t in pool["korquad"] + pool["stackexchange"] if len(t) >= 300]
    rng = np.random.default_rng(0)
    long = [long[i] for i in rng.permutation(len(long))[:n_docs]]
    return {"mixed": mixed, "long": long}


def best_of(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def ours(texts: list[str], hasher: MinHasher, batch: int = 4096) -> None:
    arr = pa.array(texts, pa.string())
    for i in range(0, len(arr), batch):
        hasher.signatures(arr.slice(i, batch))


def ref_shingles(texts: list[str], n: int = 5) -> list[list[str]]:
    return [shingles(t, shingle_mode(t), n) for t in texts]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=20000, help="documents per set for curate")
    ap.add_argument("--slow-docs", type=int, default=1500, help="documents per set for the slow baselines")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", type=Path, help="write the results here")
    args = ap.parse_args()
    import datasketch

    print_machine(versions("numpy", "pyarrow", "datasketch", "rensa", "xxhash"))
    sets = load_sets(args.docs)
    hasher = MinHasher(num_perm=128)
    hasher_w112 = MinHasher(num_perm=112, shingle="word")
    hasher_step = MinHasher(num_perm=128, sketch_k=256)
    hasher.signatures(["warm up 표 준비"])  # builds the fold table once
    results = {}
    for name, texts in sets.items():
        slow = texts[:args.slow_docs]
        chars = sum(len(t) for t in texts) / len(texts)
        r: dict[str, float] = {"docs": len(texts), "mean_chars": round(chars, 1)}
        r["curate"] = len(texts) / best_of(lambda: ours(texts, hasher), args.repeat)
        r["curate_on_slow_docs"] = len(slow) / best_of(lambda: ours(slow, hasher), args.repeat)
        r["curate_sketch"] = len(texts) / best_of(lambda: ours(texts, hasher_step), args.repeat)
        r["curate_word5_112"] = len(slow) / best_of(lambda: ours(slow, hasher_w112), args.repeat)
        t0 = time.perf_counter()
        sh = ref_shingles(slow)
        t_shingle = time.perf_counter() - t0
        sh_bytes = [[s.encode("utf-8") for s in x] for x in sh]

        def loop() -> None:
            for x in sh_bytes:
                m = datasketch.MinHash(num_perm=128)
                for s in x:
                    m.update(s)

        r["datasketch_loop"] = len(slow) / (best_of(loop, 1) + t_shingle)
        r["datasketch_bulk"] = len(slow) / (best_of(lambda: datasketch.MinHash.bulk(sh_bytes, num_perm=128),
                                                    args.repeat) + t_shingle)
        try:
            import rensa

            def rensa_run() -> None:
                for x in sh:
                    m = rensa.RMinHash(num_perm=128, seed=1)
                    m.update(x)
                    m.digest()

            r["rensa"] = len(slow) / (best_of(rensa_run, args.repeat) + t_shingle)
        except ImportError:
            r["rensa"] = float("nan")
        if datatrove_available():
            d = run_datatrove(slow, "time", repeat=args.repeat)
            r["datatrove"] = d["docs"] / d["seconds"]
        else:
            r["datatrove"] = float("nan")
        r["x_loop"] = r["curate_on_slow_docs"] / r["datasketch_loop"]
        r["x_bulk"] = r["curate_on_slow_docs"] / r["datasketch_bulk"]
        r["x_datatrove"] = r["curate_on_slow_docs"] / r["datatrove"]
        r["x_datatrove_like_for_like"] = r["curate_word5_112"] / r["datatrove"]
        results[name] = r
        print(f"  {name}: done", file=sys.stderr)
    rows = []
    for name, r in results.items():
        rows.append([name, f"{r['docs']:,} / {args.slow_docs:,}", f"{r['mean_chars']:,.0f}", f"{r['curate']:,.0f}",
                     f"{r['curate_sketch']:,.0f}",
                     f"{r['curate_on_slow_docs']:,.0f}", f"{r['curate_word5_112']:,.0f}", f"{r['datasketch_loop']:,.0f}",
                     f"{r['datasketch_bulk']:,.0f}", f"{r['rensa']:,.0f}", f"{r['datatrove']:,.0f}",
                     f"{r['x_loop']:.0f}x", f"{r['x_bulk']:.1f}x", f"{r['x_datatrove']:.1f}x ({r['x_datatrove_like_for_like']:.1f}x)"])
    print(table(["set", "docs (all / slow)", "mean chars", "curate", "curate + sketch", "curate (slow docs)",
                 "curate word5x112",
                 "datasketch loop", "datasketch bulk", "rensa", "datatrove", "vs loop", "vs bulk",
                 "vs datatrove (word5x112)"], rows))
    print("\ndocuments/s on one core; datasketch/rensa rates include the Python shingling they need.")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
