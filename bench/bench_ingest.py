"""Ingest throughput and memory: WARC (trafilatura-bound) and JSONL (plain and zstd), 1 and 2 workers.

    .venv/bin/python bench/bench_ingest.py                 # everything: ~4 CPU-minutes (7 min wall at load ~8)
    .venv/bin/python bench/bench_ingest.py --warc-copies 1 --skip-rss   # quick look

What it measures (each run is a fresh subprocess calling ``curate.ingest.runner.ingest``):

* WARC: every WARC/ARC/WET file of ``sample_data/web/warc`` and ``../shared/corpora/warc_samples``,
  copied ``--warc-copies`` times into a temporary folder (one task per file, so 2 workers can
  share them). Main-text extraction is trafilatura, so this is trafilatura-bound.
* JSONL: the benchmark corpus (bench/make_corpus.py, 200,000 docs) split into 8 files, once plain
  and once zstd-compressed (level 3), one task per file.
* Reference: warcio + ``trafilatura.extract`` alone over one copy of the WARCs (not curate).
* Memory: peak RSS of a single-worker ingest of the 1x corpus and of the 10x corpus
  (``make_corpus.py --scale 10``, one 700 MB file); flat memory means the 10x run peaks no higher.

Throughput is documents (and input MB on disk) per second of the ingest call itself (the
interpreter start and imports are excluded), and per core = that divided by the workers. ``CPU s``
is user+system time of the ingest process and its workers; docs per CPU-second is the per-core rate
least disturbed by other load on a shared machine. Peak RSS is the kernel's ``ru_maxrss`` of the
largest process (taken through a small launcher, see ``_common.run_measured``) and the sampled sum
over the process tree (main + workers). The machine is shared and noisy: compare ratios within one run.
Results also go to .bench/results/ingest.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import BENCH_DIR, PY, ROOT, ensure_corpus, print_machine, run_measured, table, versions  # noqa: E402

SHARED = ROOT.parent / "shared" / "corpora"


def cpu_seconds() -> float:
    """CPU time of this process and its reaped children (the worker pool is joined when ingest returns)."""
    import resource

    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def child(args: argparse.Namespace) -> None:
    """Run one ingest in this process and print its numbers as JSON (the parent measures memory)."""
    sys.path.insert(0, str(ROOT))
    from curate.ingest.runner import ingest

    inputs = json.loads(Path(args.inputs).read_text())
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    c0 = cpu_seconds()
    t0 = time.perf_counter()
    res = ingest(inputs, args.source, out, workers=args.workers, task_bytes=args.task_bytes, progress=False)
    seconds = time.perf_counter() - t0
    cpu = cpu_seconds() - c0
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "read": res["counts"]["read"], "written": res["counts"]["written"],
                      "quarantined": res["counts"]["quarantined"], "input_bytes": res["timings"]["input_bytes"],
                      "skipped": sum(res["skipped"].values())}))


def child_baseline(args: argparse.Namespace) -> None:
    """Reference point: warcio + ``trafilatura.extract`` alone on the HTML 2xx responses of the inputs."""
    import logging

    import trafilatura
    from warcio.archiveiterator import ArchiveIterator

    logging.disable(logging.WARNING)
    inputs = json.loads(Path(args.inputs).read_text())
    docs = chars = 0
    c0 = cpu_seconds()
    t0 = time.perf_counter()
    for path in inputs:
        with open(path, "rb") as fh:
            try:
                for rec in ArchiveIterator(fh, arc2warc=True):
                    if rec.rec_type not in ("response", "resource"):
                        continue
                    http = rec.http_headers
                    ctype = (http.get_header("Content-Type") if http else rec.rec_headers.get_header("Content-Type")) or ""
                    status = http.get_statuscode() if http else "200"
                    if "html" not in ctype.lower() or not str(status).startswith("2"):
                        continue
                    payload = rec.content_stream().read()
                    docs += 1
                    chars += len(trafilatura.extract(payload) or "")
            except Exception as exc:  # quirky fixtures: count what was read before the error
                print(f"baseline: {path}: {type(exc).__name__}: {exc}", file=sys.stderr)
    print(json.dumps({"seconds": time.perf_counter() - t0, "cpu_seconds": cpu_seconds() - c0, "docs": docs,
                      "text_chars": chars}))


def measure(name: str, inputs: list[str], workers: int, work: Path, task_bytes: int) -> dict:
    lst = work / f"{name}-inputs.json"
    lst.write_text(json.dumps(inputs))
    cmd = [PY, str(Path(__file__).resolve()), "--child", "--inputs", str(lst), "--out", str(work / f"out-{name}"),
           "--workers", str(workers), "--source", name.split("-")[0], "--task-bytes", str(task_bytes)]
    m = run_measured(cmd)
    r = json.loads(m.stdout.strip().splitlines()[-1])
    r["text_bytes"] = text_bytes(work / f"out-{name}")  # here, not in the measured child
    shutil.rmtree(work / f"out-{name}")
    r.update({"name": name, "workers": workers, "wall": m.seconds, "max_rss_mb": m.max_rss_mb,
              "tree_rss_mb": m.tree_rss_mb})
    print(f"  {name:28s} workers={workers}: {r['written']:,} docs in {r['seconds']:.1f}s, "
          f"peak RSS {m.max_rss_mb:.0f} MB (tree {m.tree_rss_mb:.0f} MB)", file=sys.stderr)
    return r


def text_bytes(out: Path) -> int:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    total = 0
    for shard in (out / "documents").glob("*.parquet"):
        for batch in pq.ParquetFile(shard).iter_batches(batch_size=8192, columns=["text"]):
            total += int(pc.sum(pc.binary_length(batch.column(0))).as_py() or 0)
    return total


def warc_inputs(work: Path, copies: int) -> list[str]:
    srcs = sorted((ROOT / "sample_data" / "web" / "warc").iterdir())
    if SHARED.is_dir():
        srcs += sorted(p for p in (SHARED / "warc_samples").iterdir() if p.name != "README.md")
    else:
        print(f"note: {SHARED} missing; WARC input is sample_data/web/warc only", file=sys.stderr)
    folder = work / "warc"
    if folder.exists():
        shutil.rmtree(folder)
    out = []
    for k in range(copies):
        for i, src in enumerate(srcs):
            dst = folder / f"copy{k}" / f"{i:02d}-{src.name}"
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
            out.append(str(dst))
    return out


def split_corpus(corpus: Path, work: Path, parts: int) -> tuple[list[str], list[str]]:
    import zstandard

    plain_dir, zst_dir = work / "jsonl", work / "jsonl-zst"
    for d in (plain_dir, zst_dir):
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
    lines = corpus.read_bytes().splitlines(keepends=True)
    per = -(-len(lines) // parts)
    plain, zst = [], []
    cctx = zstandard.ZstdCompressor(level=3)
    for k in range(parts):
        chunk = b"".join(lines[k * per:(k + 1) * per])
        p = plain_dir / f"part-{k}.jsonl"
        p.write_bytes(chunk)
        z = zst_dir / f"part-{k}.jsonl.zst"
        z.write_bytes(cctx.compress(chunk))
        plain.append(str(p))
        zst.append(str(z))
    return plain, zst


def fmt_row(r: dict, what: str) -> list:
    secs = r["seconds"]
    dps = r["written"] / secs
    mbps = r["input_bytes"] / 1e6 / secs
    cpu = r["cpu_seconds"]
    return [what, r["workers"], f"{r['written']:,}", f"{r['input_bytes'] / 1e6:.1f}", f"{r['text_bytes'] / 1e6:.1f}",
            f"{secs:.1f}", f"{dps:,.0f}", f"{dps / r['workers']:,.0f}", f"{mbps:.2f}", f"{mbps / r['workers']:.2f}",
            f"{cpu:.1f}", f"{r['written'] / cpu:,.0f}", f"{r['input_bytes'] / 1e6 / cpu:.2f}",
            f"{r['max_rss_mb']:.0f} / {r['tree_rss_mb']:.0f}"]


def throughput(args: argparse.Namespace, work: Path, corpus: Path, results: dict, rows: list) -> None:
    warc = warc_inputs(work, args.warc_copies)
    for w in (1, 2):
        # the folder, not the files: inputs are named relative to it (copy0/..., copy1/...), so copies do not collide
        r = measure(f"warc-w{w}", [str(work / "warc")], w, work, 1)
        results["throughput"].append(r)
        rows.append(fmt_row(r, f"WARC ({len(warc)} files, {args.warc_copies} copies)"))

    if not args.skip_baseline:
        one_copy = [p for p in warc if "/copy0/" in p]
        lst = work / "baseline-inputs.json"
        lst.write_text(json.dumps(one_copy))
        m = run_measured([PY, str(Path(__file__).resolve()), "--child-baseline", "--inputs", str(lst)])
        b = json.loads(m.stdout.strip().splitlines()[-1])
        results["warc_baseline"] = b
        print(f"  warcio + trafilatura.extract alone, 1 copy: {b['docs']} HTML responses in {b['seconds']:.1f}s "
              f"(CPU {b['cpu_seconds']:.1f}s)", file=sys.stderr)
        rows.append(["WARC, 1 copy: warcio + `trafilatura.extract` alone (reference, not curate)", 1, f"{b['docs']:,}",
                     f"{sum(Path(p).stat().st_size for p in one_copy) / 1e6:.1f}", f"{b['text_chars'] / 1e6:.1f} (chars)",
                     f"{b['seconds']:.1f}", f"{b['docs'] / b['seconds']:,.0f}", f"{b['docs'] / b['seconds']:,.0f}",
                     "", "", f"{b['cpu_seconds']:.1f}", f"{b['docs'] / b['cpu_seconds']:,.0f}", "", "", ""][:14])

    plain, zst = split_corpus(corpus, work, args.jsonl_parts)
    for label, files in (("jsonl", plain), ("jsonlzst", zst)):
        for w in (1, 2):
            r = measure(f"{label}-w{w}", files, w, work, 1)
            results["throughput"].append(r)
            what = "JSONL" if label == "jsonl" else "JSONL.zst"
            rows.append(fmt_row(r, f"{what} ({len(files)} files)"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--child-baseline", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--inputs", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--source", default="bench", help=argparse.SUPPRESS)
    ap.add_argument("--task-bytes", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--warc-copies", type=int, default=2, help="copies of the sample WARCs (default 2)")
    ap.add_argument("--skip-baseline", action="store_true", help="skip the warcio + trafilatura.extract reference")
    ap.add_argument("--jsonl-parts", type=int, default=8, help="files the JSONL corpus is split into (default 8)")
    ap.add_argument("--rss-scale", type=int, default=10, help="the larger corpus for the memory check (default 10x)")
    ap.add_argument("--skip-rss", action="store_true", help="skip the 1x vs 10x memory check")
    ap.add_argument("--skip-throughput", action="store_true", help="only the memory check")
    ap.add_argument("--json", type=Path, default=BENCH_DIR / "results" / "ingest.json", help="also write results here")
    args = ap.parse_args()
    if args.child:
        child(args)
        return 0
    if args.child_baseline:
        child_baseline(args)
        return 0

    print_machine(versions("curate", "trafilatura", "warcio", "lxml", "pyarrow", "orjson", "zstandard"))
    work = BENCH_DIR / "tmp-ingest"
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, list] = {"throughput": [], "rss": []}
    rows = []

    corpus = ensure_corpus(1)
    if not args.skip_throughput:
        throughput(args, work, corpus, results, rows)
        print()
        print(table(["input", "workers", "docs", "input MB", "text MB", "s", "docs/s", "docs/s/core", "MB/s",
                     "MB/s/core", "CPU s", "docs/CPU-s", "MB/CPU-s", "peak RSS MB (largest / tree)"], rows))

    if not args.skip_rss:
        big = ensure_corpus(args.rss_scale)
        rss_rows = []
        for scale, path in ((1, corpus), (args.rss_scale, big)):
            r = measure(f"jsonl{scale}x-w1", [str(path)], 1, work, 64 << 20)
            r["scale"] = scale
            results["rss"].append(r)
            rss_rows.append([f"{scale}x ({path.name})", f"{r['input_bytes'] / 1e6:.0f}", f"{r['written']:,}",
                             f"{r['seconds']:.1f}", f"{r['written'] / r['seconds']:,.0f}", f"{r['max_rss_mb']:.0f}",
                             f"{r['tree_rss_mb']:.0f}"])
        print()
        print(table(["JSONL input (1 worker)", "MB", "docs", "s", "docs/s", "peak RSS MB", "tree RSS MB"], rss_rows))
        a, b = results["rss"]
        print(f"\npeak RSS {args.rss_scale}x / 1x = {b['max_rss_mb'] / a['max_rss_mb']:.2f}")
    shutil.rmtree(work, ignore_errors=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
