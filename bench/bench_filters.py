"""Heuristic filters side by side: curate's gopher_repetition + gopher_quality + c4_quality against
datatrove's GopherRepetitionFilter + GopherQualityFilter + C4QualityFilter, same thresholds, same input.

    bash bench/setup_datatrove.sh                    # once: datatrove in its own venv (.bench/datatrove-venv)
    .venv/bin/python bench/bench_filters.py          # ~1.7 CPU-minutes (5 min wall at load ~10; first run
                                                     # also ingests the 1x/3x corpora, ~1 min more)

Input: the benchmark corpus (bench/make_corpus.py, 200,000 documents, ~59 MB of text), ingested once
with ``curate ingest`` (cached in .bench/filters/). Every measurement is a fresh single-process
subprocess (one core), timed around the filter loop only; documents are read into memory first:

Side by side, on the corpus' first ``--compare-docs`` (50,000) documents:

* **curate, steps**: Arrow record batches of ``--batch-size`` (2048) documents through
  ``Pipeline.apply_batch`` with bench/gopher_c4.toml (datatrove-equivalent settings). Run twice,
  before and after datatrove, best of two reported.
* **datatrove**: ``Document`` objects through the three filters' ``run`` generators chained
  (bench/datatrove_filters.py, run with the datatrove venv's interpreter).
* **curate, default settings**: the same three steps with curate's own defaults (CJK characters are
  words, 。！？ end sentences), for the keep-rate comparison.

curate alone, on the whole corpus:

* **curate, steps** as above, all 200,000 documents.
* **curate, end to end**: ``Pipeline.run`` (1 worker) over the ingested Parquet: read, filter,
  write documents + decision log + manifest; at 1x and ``--rss-scale`` (3x) the documents, each
  ingested once as one shard per input file (default) and once with shards capped at ``--shard-mb``,
  to show how peak memory depends on input size and on shard size.

Wall seconds *and* CPU seconds are measured; on a shared machine the CPU-time ratio is the steadier.
The script then compares every document's decision (kept or which filter dropped it) between tools.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (BENCH_DIR, DATATROVE_PY, PY, ROOT, ensure_corpus, last_json, print_machine,  # noqa: E402
                     run_measured, table, versions)

RECIPE = Path(__file__).resolve().parent / "gopher_c4.toml"
DEFAULT_RECIPE = """
name = "bench-gopher-c4-defaults"
[[steps]]
name = "gopher_repetition"
[[steps]]
name = "gopher_quality"
[[steps]]
name = "c4_quality"
"""
WORK = BENCH_DIR / "filters"
STEP_NAMES = ("gopher_repetition", "gopher_quality", "c4_quality")


# --------------------------------------------------------------------------------------------------
# children (run in fresh processes so memory and warm state are per measurement)


def _recipe(which: str):
    sys.path.insert(0, str(ROOT))
    from curate.pipeline import load_recipe, parse_recipe

    return load_recipe(RECIPE) if which == "bench" else parse_recipe(DEFAULT_RECIPE)


def child_steps(args: argparse.Namespace) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from curate.pipeline import Pipeline

    pipe = Pipeline(_recipe(args.recipe), batch_size=args.batch_size, progress=False)
    batches = []
    nbytes = 0
    n = 0
    for shard in sorted((Path(args.raw) / "documents").glob("*.parquet")):
        for b in pq.ParquetFile(shard).iter_batches(batch_size=args.batch_size):
            if args.limit and n + b.num_rows > args.limit:
                b = b.slice(0, args.limit - n)
            if b.num_rows == 0:
                break
            batches.append(b)
            n += b.num_rows
            nbytes += pa.compute.sum(pa.compute.binary_length(b.column("text"))).as_py()
    pipe.apply_batch(batches[0].slice(0, 16))  # warm-up outside the timed region (step setup, imports)
    decisions = []
    kept = 0
    c0 = time.process_time()
    t0 = time.perf_counter()
    for b in batches:
        out, dec = pipe.apply_batch(b)
        kept += out.num_rows
        decisions.append(dec.select(["id", "status", "dropped_by", "reason"]))
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - c0
    if args.decisions:
        pq.write_table(pa.concat_tables(decisions), args.decisions)
    print(json.dumps({"docs": sum(b.num_rows for b in batches), "bytes": nbytes, "kept": kept,
                      "seconds": seconds, "cpu_seconds": cpu}))


def child_run(args: argparse.Namespace) -> None:
    from curate.pipeline import Pipeline

    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    pipe = Pipeline(_recipe(args.recipe), workers=1, batch_size=args.batch_size, progress=False)
    c0 = time.process_time()
    t0 = time.perf_counter()
    manifest = pipe.run(args.raw, out)
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - c0
    print(json.dumps({"docs": manifest["counts"]["read"], "kept": manifest["counts"]["kept"], "seconds": seconds,
                      "cpu_seconds": cpu, "step_seconds": manifest["timings"]["step_seconds"]}))
    shutil.rmtree(out)


# --------------------------------------------------------------------------------------------------
# orchestration


def ingested(scale: int, shard_mb: int | None = None) -> Path:
    """The corpus at ``scale`` ingested by curate (cached). ``shard_mb`` caps the Parquet shards
    (ingest's ``max_file_bytes``; default 256 MB, so the 1x and 3x corpora are one shard each)."""
    sys.path.insert(0, str(ROOT))
    corpus = ensure_corpus(scale)
    raw = WORK / (f"raw-{scale}x" + (f"-shard{shard_mb}mb" if shard_mb else ""))
    stamp = raw / "bench-input.json"
    key = {"corpus": corpus.name, "bytes": corpus.stat().st_size, "mtime": corpus.stat().st_mtime, "shard_mb": shard_mb}
    if not (stamp.exists() and json.loads(stamp.read_text()) == key):
        from curate.ingest.runner import ingest

        if raw.exists():
            shutil.rmtree(raw)
        print(f"ingesting {corpus.name} -> {raw} ...", file=sys.stderr)
        ingest([str(corpus)], "bench", raw, workers=1, progress=False,
               **({"max_file_bytes": shard_mb << 20} if shard_mb else {}))
        stamp.write_text(json.dumps(key))
    return raw


def datatrove_input(raw: Path) -> Path:
    import orjson
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = raw / "datatrove-input.parquet"
    if not path.exists():
        t = pa.concat_tables(pq.read_table(p, columns=["id", "text", "meta"])
                             for p in sorted((raw / "documents").glob("*.parquet")))
        src = [orjson.loads(m)["source"] for m in t.column("meta").to_pylist()]
        pq.write_table(pa.table({"id": t.column("id"), "text": t.column("text"), "src": src}), path)
    return path


def run_child(kind: str, raw: Path, recipe: str, batch_size: int, decisions: Path | None = None,
              limit: int = 0) -> dict:
    cmd = [PY, str(Path(__file__).resolve()), "--child", kind, "--raw", str(raw), "--recipe", recipe,
           "--batch-size", str(batch_size), "--limit", str(limit)]
    if decisions:
        cmd += ["--decisions", str(decisions)]
    if kind == "run":
        cmd += ["--out", str(WORK / f"run-{raw.name}")]
    m = run_measured(cmd)
    r = last_json(m.stdout)
    r.update({"wall": m.seconds, "max_rss_mb": m.max_rss_mb, "tree_rss_mb": m.tree_rss_mb,
              "shards": len(list((raw / "documents").glob("*.parquet")))})
    print(f"  curate {kind:5s} {recipe:8s} {raw.name}: {r['docs']:,} docs, kept {r['kept']:,}, {r['seconds']:.2f}s "
          f"(CPU {r['cpu_seconds']:.2f}s), peak RSS {m.max_rss_mb:.0f} MB", file=sys.stderr)
    return r


def run_datatrove(inp: Path, decisions: Path, limit: int) -> dict:
    if not DATATROVE_PY.exists():
        sys.exit(f"{DATATROVE_PY} not found: run `bash bench/setup_datatrove.sh` first")
    m = run_measured([str(DATATROVE_PY), str(Path(__file__).resolve().parent / "datatrove_filters.py"),
                      "--input", str(inp), "--decisions", str(decisions), "--limit", str(limit)],
                     env={"HF_HUB_OFFLINE": "1"})
    r = last_json(m.stdout)
    r.update({"wall": m.seconds, "max_rss_mb": m.max_rss_mb, "tree_rss_mb": m.tree_rss_mb})
    print(f"  datatrove {r['docs']:,} docs, kept {r['kept']:,}, {r['seconds']:.2f}s (CPU {r['cpu_seconds']:.2f}s), "
          f"peak RSS {m.max_rss_mb:.0f} MB", file=sys.stderr)
    return r


def compare(inp: Path, ours_dec: Path, dt_dec: Path, default_dec: Path | None, limit: int) -> dict:
    """Per-document decisions of both tools: 'kept' or the dropping filter."""
    import pyarrow.parquet as pq

    docs = pq.read_table(inp, columns=["id", "src"])
    if limit:
        docs = docs.slice(0, limit)
    ids = docs.column("id").to_pylist()
    src = dict(zip(ids, docs.column("src").to_pylist()))

    def first_word(reason: str | None) -> str:
        return (reason or "").split(" ")[0]

    def load_ours(path: Path) -> dict[str, tuple[str, str]]:
        t = pq.read_table(path)
        out = {}
        for i, st, by, reason in zip(*(t.column(c).to_pylist() for c in ("id", "status", "dropped_by", "reason"))):
            out[i] = ("kept", "") if st == "kept" else (by, first_word(reason))
        return out

    ours = load_ours(ours_dec)
    dflt = load_ours(default_dec) if default_dec else None
    t = pq.read_table(dt_dec)
    dt = {i: ("kept", "") for i in ids}
    for i, by, reason in zip(*(t.column(c).to_pylist() for c in ("id", "dropped_by", "reason"))):
        dt[i] = (by, reason or "")
    assert len(ours) == len(dt) == len(ids), (len(ours), len(dt), len(ids))

    by_src: dict[str, Counter] = {}
    stage = Counter()
    for i in ids:
        s = by_src.setdefault(src[i], Counter())
        s["docs"] += 1
        s["ours"] += ours[i][0] == "kept"
        s["dt"] += dt[i][0] == "kept"
        if dflt is not None:
            s["default"] += dflt[i][0] == "kept"
        s["agree"] += (ours[i][0] == "kept") == (dt[i][0] == "kept")
        stage[(ours[i][0], dt[i][0])] += 1
    reasons_ours = Counter(f"{v[0]}: {v[1]}" for v in ours.values() if v[0] != "kept")
    reasons_dt = Counter(f"{v[0]}: {v[1]}" for v in dt.values() if v[0] != "kept")
    return {"by_source": {k: dict(v) for k, v in sorted(by_src.items())},
            "stage_matrix": {f"{a} | {b}": n for (a, b), n in stage.most_common()},
            "reasons_ours": dict(reasons_ours.most_common(15)), "reasons_datatrove": dict(reasons_dt.most_common(15))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--child", choices=["steps", "run"], help=argparse.SUPPRESS)
    ap.add_argument("--raw", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--recipe", default="bench", help=argparse.SUPPRESS)
    ap.add_argument("--decisions", help=argparse.SUPPRESS)
    ap.add_argument("--limit", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--batch-size", type=int, default=2048)
    ap.add_argument("--compare-docs", type=int, default=50_000,
                    help="documents (the corpus' first N) both tools filter for the side-by-side (default 50000; "
                         "0 = all 200,000, which takes datatrove ~3 CPU-minutes)")
    ap.add_argument("--rss-scale", type=int, default=3, help="larger input for the memory check (default 3x)")
    ap.add_argument("--shard-mb", type=int, default=40, help="shard cap (ingest max_file_bytes) for the flat-memory pair")
    ap.add_argument("--skip-datatrove", action="store_true")
    ap.add_argument("--skip-e2e", action="store_true", help="skip Pipeline.run end to end (and the memory check)")
    ap.add_argument("--json", type=Path, default=BENCH_DIR / "results" / "filters.json")
    args = ap.parse_args()
    if args.child == "steps":
        child_steps(args)
        return 0
    if args.child == "run":
        child_run(args)
        return 0

    print_machine(versions("curate", "pyarrow", "numpy"))
    if DATATROVE_PY.exists():
        import subprocess

        v = subprocess.run([str(DATATROVE_PY), "-c", "from importlib.metadata import version as v; "
                            "print(', '.join(f'{p} {v(p)}' for p in ('datatrove', 'spacy', 'numpy')))"],
                           capture_output=True, text=True).stdout.strip()
        print(f"datatrove venv: {v}")
    WORK.mkdir(parents=True, exist_ok=True)
    raw = ingested(1)
    inp = datatrove_input(raw)
    res: dict = {"args": vars(args)}
    ours_dec, dt_dec, def_dec = WORK / "decisions-curate.parquet", WORK / "decisions-datatrove.parquet", \
        WORK / "decisions-curate-defaults.parquet"
    lim = args.compare_docs

    # side by side on the same documents; curate before and after datatrove (best of two)
    first = run_child("steps", raw, "bench", args.batch_size, ours_dec, limit=lim)
    if not args.skip_datatrove:
        res["datatrove"] = run_datatrove(inp, dt_dec, lim)
    second = run_child("steps", raw, "bench", args.batch_size, limit=lim)
    res["curate_steps_runs"] = [first, second]
    res["curate_steps"] = ours = min(first, second, key=lambda r: r["cpu_seconds"])
    res["curate_defaults"] = run_child("steps", raw, "defaults", args.batch_size, def_dec, limit=lim)
    # curate alone on everything
    res["curate_steps_full"] = run_child("steps", raw, "bench", args.batch_size)
    if not args.skip_e2e:
        res["e2e"] = [run_child("run", raw, "bench", args.batch_size)]
        res["e2e"].append(run_child("run", ingested(args.rss_scale), "bench", args.batch_size))
        res["e2e"].append(run_child("run", ingested(1, args.shard_mb), "bench", args.batch_size))
        res["e2e"].append(run_child("run", ingested(args.rss_scale, args.shard_mb), "bench", args.batch_size))
        for r, scale in zip(res["e2e"], (1, args.rss_scale, 1, args.rss_scale)):
            r["scale"] = scale

    def row(label: str, r: dict) -> list:
        mb = r["bytes"] / 1e6
        return [label, f"{r['docs']:,}", f"{mb:.1f}", f"{r['kept']:,} ({r['kept'] / r['docs']:.1%})",
                f"{r['seconds']:.2f}", f"{r['cpu_seconds']:.2f}", f"{r['docs'] / r['seconds']:,.0f}",
                f"{r['docs'] / r['cpu_seconds']:,.0f}", f"{mb / r['seconds']:.2f}", f"{mb / r['cpu_seconds']:.2f}",
                f"{r['max_rss_mb']:.0f}"]

    full = res["curate_steps_full"]
    mb_per_doc = full["bytes"] / full["docs"]
    rows = [row("curate: steps (`Pipeline.apply_batch`, best of 2)", ours)]
    if "datatrove" in res:
        rows.append(row("datatrove: filters (`run` generators chained)", res["datatrove"]))
    rows.append(row("curate: steps, curate's default settings", res["curate_defaults"]))
    rows.append(row("curate: steps, whole corpus", full))
    headers = ["what (one process)", "docs", "MB", "kept", "wall s", "CPU s", "docs/s", "docs/CPU-s", "MB/s",
               "MB/CPU-s", "peak RSS MB"]
    print()
    print(table(headers, rows))
    if "datatrove" in res:
        dt = res["datatrove"]
        res["speedup_wall"] = dt["seconds"] / ours["seconds"]
        res["speedup_cpu"] = dt["cpu_seconds"] / ours["cpu_seconds"]
        print(f"\ncurate / datatrove, same {ours['docs']:,} documents, one process each: "
              f"{res['speedup_wall']:.1f}x (wall time), {res['speedup_cpu']:.1f}x (CPU time)")
    if "e2e" in res:
        erows = []
        for r in res["e2e"]:
            r["bytes"] = int(r["docs"] * mb_per_doc)  # same mixture at every scale
            erows.append(row(f"curate: `Pipeline.run`, {r['scale']}x, {r['shards']} shard(s)", r))
        print()
        print(table(headers, erows))
        if "datatrove" in res:
            e = res["e2e"][0]
            dt_rate = dt["docs"] / dt["cpu_seconds"]
            res["speedup_e2e_cpu"] = (e["docs"] / e["cpu_seconds"]) / dt_rate
            res["speedup_e2e_wall"] = (e["docs"] / e["seconds"]) / (dt["docs"] / dt["seconds"])
            print(f"\ncurate end to end (Parquet in and out, decision log) vs datatrove's filter loop alone, docs/s: "
                  f"{res['speedup_e2e_wall']:.1f}x (wall), {res['speedup_e2e_cpu']:.1f}x (CPU time)")
        a, b, c, d = res["e2e"]
        print(f"peak RSS of Pipeline.run: one shard per input file: {a['max_rss_mb']:.0f} MB at 1x, "
              f"{b['max_rss_mb']:.0f} MB at {args.rss_scale}x; shards capped at {args.shard_mb} MB: "
              f"{c['max_rss_mb']:.0f} MB at 1x, {d['max_rss_mb']:.0f} MB at {args.rss_scale}x")
    if "datatrove" in res:
        cmp_ = compare(inp, ours_dec, dt_dec, def_dec, lim)
        res["comparison"] = cmp_
        srows = []
        tot = Counter()
        for s, c in cmp_["by_source"].items():
            tot.update(c)
            srows.append([s, f"{c['docs']:,}", f"{c['ours'] / c['docs']:.1%}", f"{c['dt'] / c['docs']:.1%}",
                          f"{c['default'] / c['docs']:.1%}", f"{c['agree'] / c['docs']:.2%}"])
        srows.append(["**all**", f"{tot['docs']:,}", f"{tot['ours'] / tot['docs']:.1%}", f"{tot['dt'] / tot['docs']:.1%}",
                      f"{tot['default'] / tot['docs']:.1%}", f"{tot['agree'] / tot['docs']:.2%}"])
        print()
        print(table(["source", "docs", "kept: curate", "kept: datatrove", "kept: curate defaults",
                     "same keep/drop decision"], srows))
        print()
        print(table(["curate \\| datatrove: who dropped it", "docs"],
                    [[k.replace("|", "\\|"), f"{v:,}"] for k, v in cmp_["stage_matrix"].items()]))
        print()
        print(table(["curate: dropped by: reason", "docs"], [[k, f"{v:,}"] for k, v in cmp_["reasons_ours"].items()]))
        print()
        print(table(["datatrove: dropped by: reason", "docs"], [[k, f"{v:,}"] for k, v in cmp_["reasons_datatrove"].items()]))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(res, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
