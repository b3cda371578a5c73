"""Throughput of the ``pii`` step: documents per second per core, with and without the pre-filter.

    .venv/bin/python bench/bench_pii.py                  # 50,000 documents of the benchmark corpus (~3 min)
    .venv/bin/python bench/bench_pii.py --docs 200000    # the whole 1x corpus
    .venv/bin/python bench/bench_pii.py --json out.json

Input: the first ``--docs`` documents of the benchmark corpus (bench/make_corpus.py, built if
missing: Korean reviews/news/comments, 20-language sentences, KorQuAD, Stack Exchange, web pages,
patents). The step runs in this process (one core) on batches of 2,048 documents, as a worker of
``curate run`` does. Reported per configuration: documents/s by wall clock and per CPU-second
(user+system of this process: the per-core rate least disturbed by other load on a shared machine),
text MB/s, and the share of documents the pre-filter lets skip the analyzer. Then per source (with
the pre-filter), presidio's stock pattern recognizers on a subset for comparison
(``curate.pii.engine.build_stock_analyzer``: analyze in English and Korean, as in bench/eval_pii.py),
the one-off setup cost (imports + engine) in a fresh interpreter, and what the step masked in the
corpus, by type (counts only).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PY, ROOT, ensure_corpus, print_machine, table, versions  # noqa: E402

sys.path.insert(0, str(ROOT))
BATCH = 2048


def load(path: Path, n: int) -> list[dict]:
    docs = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            docs.append(json.loads(line))
            if len(docs) >= n:
                break
    return docs


def cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run_step(step, texts: list[str]) -> tuple[float, float, Counter]:
    from curate.pipeline.batch import documents_batch

    found: Counter = Counter()
    batches = [documents_batch(texts[i:i + BATCH]) for i in range(0, len(texts), BATCH)]
    w0, c0 = time.perf_counter(), cpu()
    for b in batches:
        res = step.apply(b)
        for k, v in res.metrics.items():
            found[k] += int(v.sum())
    return time.perf_counter() - w0, cpu() - c0, found


def setup_cost() -> float:
    code = ("import time; t = time.perf_counter(); from curate.steps.pii import Pii; s = Pii(); s.setup(); "
            "print(time.perf_counter() - t)")
    out = subprocess.run([PY, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=50_000)
    ap.add_argument("--stock-docs", type=int, default=5_000)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    print_machine(versions("presidio-analyzer", "presidio-anonymizer", "phonenumbers", "pyarrow"))
    docs = load(ensure_corpus(), args.docs)
    texts = [d["text"] for d in docs]
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    print(f"{len(texts)} documents, {mb:.1f} MB of text (first {args.docs} of the benchmark corpus)\n")

    import pyarrow as pa
    import pyarrow.compute as pc

    from curate.steps.pii import Pii, prefilter_regex

    out: dict = {"docs": len(texts), "text_mb": mb}
    skip = len(texts) - int(pc.sum(pc.match_substring_regex(pa.array(texts), prefilter_regex(Pii.Params().entities))).as_py())
    rows = []
    found_on = None
    for label, pf in (("pre-filter on (default)", True), ("pre-filter off", False)):
        step = Pii(Pii.Params(prefilter=pf))
        step.setup()
        wall, cpu_s, found = run_step(step, texts)
        if pf:
            found_on = found
        rows.append([label, f"{len(texts) / wall:,.0f}", f"{len(texts) / cpu_s:,.0f}", f"{mb / cpu_s:.2f}",
                     f"{100 * skip / len(texts):.1f}%" if pf else "0%"])
        out[label] = {"wall_s": wall, "cpu_s": cpu_s, "docs_per_s": len(texts) / wall, "docs_per_cpu_s": len(texts) / cpu_s}
    print(table(["configuration", "docs/s (wall)", "docs/s per core (CPU)", "MB/s per core", "skip analyzer"], rows))

    # per source, pre-filter on
    step = Pii()
    step.setup()
    by_src: dict[str, list[str]] = {}
    for d in docs:
        by_src.setdefault(d.get("source", "?"), []).append(d["text"])
    rows = []
    for src, ts in sorted(by_src.items(), key=lambda kv: -len(kv[1])):
        wall, cpu_s, found = run_step(step, ts)
        smb = sum(len(t.encode("utf-8")) for t in ts) / 1e6
        rows.append([src, len(ts), f"{smb / len(ts) * 1e6:,.0f}", f"{len(ts) / max(cpu_s, 1e-9):,.0f}",
                     f"{smb / max(cpu_s, 1e-9):.2f}", found["pii_total"]])
    print("\nPer source (pre-filter on):\n")
    print(table(["source", "docs", "bytes/doc", "docs/s per core (CPU)", "MB/s per core", "spans masked"], rows))

    # presidio's stock pattern recognizers on a subset, same documents
    from curate.pii.engine import build_stock_analyzer

    stock = build_stock_analyzer()
    sub = texts[:args.stock_docs]
    c0 = cpu()
    for t in sub:
        for lang in ("en", "ko"):
            stock.analyze(text=t, language=lang)
    s_cpu = cpu() - c0
    wall, cpu_s, _ = run_step(Pii(Pii.Params(prefilter=False)), sub)
    print(f"\nFirst {len(sub)} documents: presidio stock pattern recognizers (analyze only, en + ko) "
          f"{len(sub) / s_cpu:,.0f} docs/s per core; the pii step without pre-filter (analyze + replace) "
          f"{len(sub) / cpu_s:,.0f} docs/s per core.")
    out["stock_docs_per_cpu_s"] = len(sub) / s_cpu
    out["ours_subset_docs_per_cpu_s"] = len(sub) / cpu_s

    t = setup_cost()
    print(f"\nSetup (fresh interpreter: import presidio, build the engine): {t:.1f} s, once per worker process.")
    out["setup_s"] = t
    per_k = {k.removeprefix("pii_"): v for k, v in found_on.items() if v and k != "pii_total"}
    print(f"\nMasked in these {len(texts)} documents: {found_on['pii_total']} spans "
          f"({1000 * found_on['pii_total'] / len(texts):.2f} per 1,000 documents): "
          + ", ".join(f"{k} {v}" for k, v in sorted(per_k.items(), key=lambda kv: -kv[1])))
    out["masked"] = dict(found_on)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
