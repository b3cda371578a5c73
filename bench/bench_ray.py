"""The Ray executor against the local process pool: ``curate run filters/web.toml`` on the same input.

    .venv/bin/python bench/bench_ray.py                           # 1x corpus (200,000 docs), 2 workers, 3 repeats
    .venv/bin/python bench/bench_ray.py --scales 1,3 --append     # 1x and 3x (~15 min on 2 cores), and write
                                                                  # the "## Ray" section of docs/benchmarks.md

Input: the benchmark corpus (bench/make_corpus.py; 1x = 200,000 real documents, ~59 MB of text),
ingested once with ``curate ingest --max-file-mb 16`` into ``.bench/ray/raw-<scale>x-16mb`` so that a
run has several shards (tasks) to spread. Recipe: filters/web.toml (C4 and Gopher rules, exact dedup,
MinHash dedup, repeated characters): every kind of task curate has (segment per shard, hash and
signature per shard, band, verification and decision tasks, DuckDB passes in the driver).

Each measurement is a fresh subprocess, local and Ray interleaved, ``--repeat`` times (best kept):

* **local**: ``Pipeline(..., executor=LocalExecutor(W))``, a pool of W processes;
* **ray**: ``Pipeline(..., executor=RayExecutor(num_cpus=W))``, a Ray instance started by the run.

Reported per mode: the process's wall time end to end (interpreter, imports, Ray or pool start,
run, shutdown), the run alone (``Pipeline.run`` with the pool/Ray already up and its workers warm),
and CPU seconds of the whole process tree (Ray's daemons and workers included; sampled from /proc).
Overhead = ray / local. Both runs' documents and decisions must be byte-identical (checked).

Scaling estimate (from the Ray run's task timings, ``RayExecutor.map_log``): the run's time is the
driver's serial work (DuckDB joins, component labelling, merges, manifest: run time minus the time
inside ``map`` calls) plus, for every ``map``, the makespan of its tasks on N workers (longest
processing time first, each task as long as measured) plus that map's scheduling overhead (its wall
time minus its makespan on the W workers it had). That predicts the run time on N workers of this
machine's speed with the data on a filesystem as fast as this one; the number of tasks (shards,
bands) bounds it; the largest scale's Ray run is used. Results go to ``.bench/results/ray.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import heapq
import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import BENCH_DIR, PY, ROOT, ensure_corpus, last_json, machine, print_machine, table, versions  # noqa: E402

WORK = BENCH_DIR / "ray"
RECIPE = ROOT / "filters" / "web.toml"


# --------------------------------------------------------------------------------------------------
# child: one measured run in a fresh process


def _noop(task, report):
    return task


def child(mode: str, raw: str, out: str, workers: int) -> None:
    t_start = time.perf_counter()
    sys.path.insert(0, str(ROOT))
    from curate.executors import LocalExecutor
    from curate.pipeline import Pipeline, load_recipe
    from curate.progress import Progress

    if mode == "ray":
        from curate.ray_executor import RayExecutor

        ex = RayExecutor(num_cpus=workers)
    else:
        ex = LocalExecutor(workers)
    t0 = time.perf_counter()
    ex.map(_noop, list(range(workers * 2)), Progress("warm", None, False))  # start Ray / the pool, warm workers
    startup = time.perf_counter() - t0
    t1 = time.perf_counter()
    manifest = Pipeline(load_recipe(RECIPE), executor=ex, progress=False).run(raw, out)
    run_s = time.perf_counter() - t1
    maps = getattr(ex, "map_log", [])[1:]  # without the warm-up
    t2 = time.perf_counter()
    ex.close()
    close_s = time.perf_counter() - t2
    print(json.dumps({"mode": mode, "workers": workers, "startup_s": round(startup, 3), "run_s": round(run_s, 3),
                      "close_s": round(close_s, 3), "imports_s": round(t0 - t_start, 3),
                      "counts": manifest["counts"], "stages": manifest["timings"]["stages"], "maps": maps}))


# --------------------------------------------------------------------------------------------------
# parent


def _proc_table() -> dict[int, tuple[int, int]]:
    """pid -> (ppid, utime + stime in clock ticks) of every process."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as fh:
                rest = fh.read().rsplit(")", 1)[1].split()
            out[int(d)] = (int(rest[1]), int(rest[11]) + int(rest[12]))
        except (OSError, IndexError, ValueError):
            pass
    return out


def measured(cmd: list[str]) -> tuple[float, float, dict]:
    """Wall seconds of ``cmd``, CPU seconds of its whole process tree (every descendant, Ray's
    workers and daemons included, sampled every 0.2 s), and its JSON result."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "CURATE_PROGRESS": "0"})
    ticks: dict[int, int] = {}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            table_ = _proc_table()
            tree, frontier = {proc.pid}, [proc.pid]
            children: dict[int, list[int]] = {}
            for pid, (ppid, _) in table_.items():
                children.setdefault(ppid, []).append(pid)
            while frontier:
                for c in children.get(frontier.pop(), []):
                    if c not in tree:
                        tree.add(c)
                        frontier.append(c)
            for pid in tree:
                if pid in table_:
                    ticks[pid] = max(ticks.get(pid, 0), table_[pid][1])
            done.wait(0.2)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - t0
    done.set()
    th.join()
    if proc.returncode != 0:
        raise RuntimeError(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{stderr[-4000:]}")
    cpu = sum(ticks.values()) / os.sysconf("SC_CLK_TCK")
    return wall, cpu, last_json(stdout)


def prepare(scale: int, shard_mb: float) -> Path:
    corpus = ensure_corpus(scale)
    raw = WORK / f"raw-{scale}x-{shard_mb:g}mb"
    if not (raw / "manifest.json").exists():
        shutil.rmtree(raw, ignore_errors=True)
        print(f"ingesting {corpus.name} -> {raw} ...", file=sys.stderr)
        subprocess.run([PY, "-m", "curate.cli", "ingest", str(corpus), "--source", "bench", "--out", str(raw),
                        "--max-file-mb", str(shard_mb), "--no-progress"], check=True, cwd=ROOT,
                       env={**os.environ, "CURATE_PROGRESS": "0"})
    return raw


def _hashes(directory: Path) -> dict[str, str]:
    return {p.relative_to(directory).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for sub in ("documents", "decisions", "quarantine") for p in sorted((directory / sub).glob("*.parquet"))}


def makespan(durations: list[float], n: int) -> float:
    """Longest-processing-time-first schedule of ``durations`` on ``n`` workers."""
    slots = [0.0] * max(1, n)
    for d in sorted(durations, reverse=True):
        heapq.heapreplace(slots, slots[0] + d)
    return max(slots)


def scaling(res: dict, ns: list[int]) -> tuple[dict[int, float], dict]:
    w = res["workers"]
    maps = res["maps"]
    in_maps = sum(m["wall_seconds"] for m in maps)
    serial = res["run_s"] - in_maps
    overhead = sum(max(0.0, m["wall_seconds"] - makespan(m["task_seconds"], w)) for m in maps)
    pred = {n: serial + overhead + sum(makespan(m["task_seconds"], n) for m in maps) for n in ns}
    detail = {"serial_driver_s": round(serial, 2), "task_seconds_total": round(sum(sum(m["task_seconds"]) for m in maps), 2),
              "map_overhead_s": round(overhead, 2), "maps": len(maps),
              "tasks": sum(m["tasks"] for m in maps),
              "by_fn": {}}
    for m in maps:
        d = detail["by_fn"].setdefault(m["fn"], {"maps": 0, "tasks": 0, "task_s": 0.0, "longest_s": 0.0, "wall_s": 0.0})
        d["maps"] += 1
        d["tasks"] += m["tasks"]
        d["task_s"] = round(d["task_s"] + sum(m["task_seconds"]), 2)
        d["longest_s"] = round(max([d["longest_s"], *m["task_seconds"]]), 2)
        d["wall_s"] = round(d["wall_s"] + m["wall_seconds"], 2)
    return pred, detail


def write_section(text: str) -> None:
    """Append (or replace, when rerun) the "## Ray" section at the end of docs/benchmarks.md."""
    path = ROOT / "docs" / "benchmarks.md"
    doc = path.read_text(encoding="utf-8") if path.exists() else ""
    lines = doc.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == "## Ray"), None)
    if start is None:
        doc = doc.rstrip("\n") + ("\n\n" if doc.strip() else "") + text.rstrip("\n") + "\n"
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        doc = "".join(lines[:start]) + text.rstrip("\n") + "\n" + ("\n" + "".join(lines[end:]) if end < len(lines) else "")
    path.write_text(doc, encoding="utf-8")


def measure_scale(scale: int, args) -> dict:
    raw = prepare(scale, args.shard_mb)
    raw_manifest = json.loads((raw / "manifest.json").read_text())
    shards = len(list((raw / "documents").glob("*.parquet")))
    docs = raw_manifest["counts"]["written"]
    mb = sum(p.stat().st_size for p in (raw / "documents").glob("*.parquet")) / 1e6
    print(f"{scale}x: {docs:,} documents in {shards} shards ({mb:.1f} MB Parquet); load average "
          f"{os.getloadavg()[0]:.1f}", file=sys.stderr)
    best: dict[str, dict] = {}
    runs: dict[str, list] = {"local": [], "ray": []}
    outs = {}
    for _ in range(args.repeat):
        for mode in ("local", "ray"):
            out = WORK / f"out-{mode}"
            shutil.rmtree(out, ignore_errors=True)
            wall, cpu, res = measured([PY, __file__, "--child", mode, "--raw", str(raw), "--out", str(out),
                                       "--workers", str(args.workers)])
            res.update(wall_s=round(wall, 3), cpu_s=round(cpu, 2), load=round(os.getloadavg()[0], 1))
            print(f"  {mode:5s} run {res['run_s']:7.2f} s  process {wall:7.2f} s  startup {res['startup_s']:5.2f} s  "
                  f"cpu {cpu:7.1f} s  (load {res['load']})", file=sys.stderr)
            runs[mode].append({k: res[k] for k in ("run_s", "wall_s", "cpu_s", "startup_s", "load")})
            if mode not in best or res["run_s"] < best[mode]["run_s"]:
                best[mode] = res
            outs[mode] = _hashes(out)
        assert outs["local"] == outs["ray"], "local and Ray outputs differ"
    for mode in best:  # each column: its best over the repeats
        for key in ("wall_s", "cpu_s", "startup_s"):
            best[mode][key] = min(r[key] for r in runs[mode])
    assert best["local"]["counts"] == best["ray"]["counts"]
    loc, ray_ = best["local"], best["ray"]
    return {"scale": scale, "documents": docs, "shards": shards, "parquet_mb": round(mb, 1), "workers": args.workers,
            "local": loc, "ray": ray_, "runs": runs, "overhead_run": round(ray_["run_s"] / loc["run_s"], 3),
            "overhead_process": round(ray_["wall_s"] / loc["wall_s"], 3),
            "overhead_cpu": round(ray_["cpu_s"] / loc["cpu_s"], 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scales", default="1", help="corpus scales, comma-separated (1 = 200,000 documents)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--shard-mb", type=float, default=16.0, help="ingest --max-file-mb (shard size)")
    ap.add_argument("--append", action="store_true", help="write the '## Ray' section of docs/benchmarks.md")
    ap.add_argument("--report-only", action="store_true", help="only re-render .bench/results/ray.json")
    ap.add_argument("--child", choices=["local", "ray"])
    ap.add_argument("--raw")
    ap.add_argument("--out")
    args = ap.parse_args()
    if args.child:
        child(args.child, args.raw, args.out, args.workers)
        return
    if args.report_only:  # re-render the last measurement (.bench/results/ray.json)
        summary = json.loads((BENCH_DIR / "results" / "ray.json").read_text())
    else:
        print_machine(versions("ray", "pyarrow", "duckdb"))
        results = [measure_scale(int(x), args) for x in args.scales.split(",")]
        summary = {"machine": machine(), "versions": versions("ray", "pyarrow", "duckdb"), "results": results,
                   "options": {"workers": args.workers, "scales": args.scales, "repeat": args.repeat,
                               "shard_mb": args.shard_mb}}
        (BENCH_DIR / "results").mkdir(parents=True, exist_ok=True)
        (BENCH_DIR / "results" / "ray.json").write_text(json.dumps(summary, indent=1))
    render(summary, args.append)


def render(summary: dict, append: bool) -> None:
    results = summary["results"]
    opts = summary.get("options", {"workers": results[0]["workers"], "repeat": len(results[0]["runs"]["ray"]),
                                   "scales": ",".join(str(r["scale"]) for r in results), "shard_mb": 16.0})
    workers = opts["workers"]
    big = results[-1]
    ns = [1, 2, 4, 8, 16, 32]
    pred, detail = scaling(big["ray"], ns)
    rows = []
    for r in results:
        for m in ("local", "ray"):
            b = r[m]
            rows.append([f"{r['scale']}x ({r['documents']:,} docs, {r['shards']} shards)", m, f"{b['wall_s']:.1f}",
                         f"{b['startup_s']:.1f}", f"{b['run_s']:.1f}", f"{r['documents'] / b['run_s']:,.0f}",
                         f"{b['cpu_s']:.0f}"])
        rows.append(["", "**ray / local**", f"**{r['overhead_process']:.2f}**", "", f"**{r['overhead_run']:.2f}**", "",
                     f"**{r['overhead_cpu']:.2f}**"])
    t1 = table(["input", "executor", "process wall s", "pool / Ray start s", "run s", "docs/s (run)",
                "CPU s (process tree)"], rows, align="llrrrrr")
    base = pred[workers]
    t2 = table(["workers", "predicted run s", f"speed-up vs {workers}", "saved by the last doubling"],
               [[n, f"{pred[n]:.1f}", f"{base / pred[n]:.2f}x",
                 f"{pred[ns[i - 1]] - pred[n]:.1f} s" if i else "-"] for i, n in enumerate(ns)])
    t3 = table(["task function", "maps", "tasks", "task s (sum)", "longest task s", "map wall s"],
               [[fn, d["maps"], d["tasks"], f"{d['task_s']:.1f}", f"{d['longest_s']:.2f}", f"{d['wall_s']:.1f}"]
                for fn, d in detail["by_fn"].items()])
    print(t1, t3, t2, sep="\n\n")
    print(json.dumps({"overheads": [{k: r[k] for k in ("scale", "overhead_run", "overhead_process", "overhead_cpu")}
                                    for r in results], "predicted_run_s": {str(n): round(v, 2) for n, v in pred.items()}}))
    ok = [r for r in results if r["overhead_process"] <= 1.2 and r["overhead_cpu"] <= 1.2]
    starts = [r["ray"]["startup_s"] for r in results]
    if ok:
        r = ok[0]
        verdict = (f"**The goal (Ray overhead ≤ 20% on one machine) is met from {r['scale']}x on** ({r['documents']:,} "
                   f"documents, {r['parquet_mb']:.0f} MB of Parquet, a ~{r['local']['run_s']:.0f} s run): "
                   f"{r['overhead_process']:.2f}x end to end, {r['overhead_cpu']:.2f}x CPU.")
    else:
        verdict = "**The goal (Ray overhead ≤ 20% on one machine) was not met at these sizes.**"
    verdict += (f" Starting the local Ray instance costs {min(starts):.0f}–{max(starts):.0f} s of wall time and about "
                f"5 CPU-seconds (its daemons, then workers importing curate), a fixed cost: it is "
                f"{results[0]['overhead_process']:.2f}x end to end at {results[0]['scale']}x"
                + (f" and {results[-1]['overhead_process']:.2f}x at {results[-1]['scale']}x" if len(results) > 1 else "")
                + ". The run itself (both executors warm) shows no overhead: "
                + ", ".join(f"{r['overhead_run']:.2f}x at {r['scale']}x" for r in results)
                + "; Ray coming out ahead is within this machine's run-to-run noise, not a claim. Scheduling costs "
                f"~{1000 * detail['map_overhead_s'] / max(detail['tasks'], 1):.0f} ms per task "
                f"({detail['map_overhead_s']:.1f} s over {detail['tasks']} tasks at {big['scale']}x).")
    verdict = textwrap.fill(verdict, width=100, break_long_words=False, break_on_hyphens=False)
    if append:
        m = summary["machine"]
        loads = [x["load"] for r in results for mode in ("local", "ray") for x in r["runs"][mode]]
        write_section(SECTION.format(
            workers=workers, scales=opts["scales"], t1=t1, t2=t2, t3=t3, repeat=opts["repeat"],
            big_scale=big["scale"], shards=big["shards"], shard_mb=opts["shard_mb"],
            serial=detail["serial_driver_s"], task_total=detail["task_seconds_total"], ovh=detail["map_overhead_s"],
            date=m["date"], nproc=m["nproc"], cpu=m["cpu"], ray=summary["versions"]["ray"],
            load_lo=min(loads), load_hi=max(loads), verdict=verdict))


SECTION = """## Ray

`curate run filters/web.toml` with the local process pool and with the Ray executor
(`--executor ray`, docs/ray.md), {workers} workers each, on the same input: the benchmark corpus
(bench/make_corpus.py) ingested with `--max-file-mb {shard_mb:g}`. `bench/bench_ray.py --scales {scales}`;
best of {repeat} interleaved runs, each in a fresh process. Both executors wrote byte-identical documents
and decisions every time (the script checks).

{t1}

*process wall*: the whole command (interpreter, imports, pool or Ray start, run, shutdown).
*run*: `Pipeline.run` alone, with the pool or the Ray instance already started and its workers warm.
*CPU*: user + system seconds of every process in the command's tree (Ray's workers and daemons
included), sampled every 0.2 s.

{verdict}

Where the Ray run's time went at {big_scale}x (`RayExecutor.map_log`): {task_total:.0f} task-seconds
in Ray tasks, {serial:.1f} s of serial work in the driver (the DuckDB passes of exact and MinHash
dedup, component labelling, manifest), {ovh:.1f} s of scheduling and waiting beyond the makespan of
the tasks on {workers} workers:

{t3}

**Scaling estimate** per extra worker, from these task timings: driver work + per-map overhead + each
map's tasks scheduled longest-first on N workers of this machine's speed, data on a filesystem as fast
as this one. The number of tasks bounds it: {shards} shards means the per-shard stages cannot use more
than {shards} workers, and the driver's DuckDB passes do not scale at all; for a bigger cluster cut the
input into more, smaller shards (`curate ingest --max-file-mb`).

{t2}

Measured {date} on {nproc} × {cpu} vCPUs, Ray {ray}, while other jobs shared the machine (load
average {load_lo}–{load_hi} during the runs): single runs vary by ±30%, which is why the best of
several interleaved runs is reported.
"""

if __name__ == "__main__":
    main()
