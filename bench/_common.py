"""Shared helpers of the benchmark scripts: machine facts, measured subprocesses, markdown tables."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / ".bench"
PY = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
DATATROVE_PY = BENCH_DIR / "datatrove-venv" / "bin" / "python"


def machine() -> dict:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return {"date": _dt.datetime.now().strftime("%Y-%m-%d %H:%M"), "nproc": os.cpu_count(), "cpu": cpu, "ram": mem,
            "python": platform.python_version(), "platform": platform.platform()}


def versions(*names: str) -> dict[str, str]:
    out = {}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            out[n] = "-"
    return out


def print_machine(extra: dict | None = None) -> None:
    m = machine()
    print(f"machine: {m['nproc']} CPUs ({m['cpu']}), {m['ram']} RAM, Python {m['python']}, {m['platform']}; {m['date']}")
    if extra:
        print("versions: " + ", ".join(f"{k} {v}" for k, v in extra.items()))


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(x) for x in fh.read().split()]
    except OSError:
        return []


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_kb(pid: int) -> int:
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        total += _rss_kb(p)
        stack += _children(p)
    return total


@dataclass
class Measured:
    seconds: float
    max_rss_mb: float  # largest single process (kernel's ru_maxrss over the command and its children)
    tree_rss_mb: float  # largest sum over the process tree, sampled every 50 ms
    stdout: str
    stderr: str


# A small process between us and the measured command. Linux carries a process's peak RSS across
# fork+exec (exec records the old address space's high-water mark), so a command started directly
# from a benchmark driver that holds 300 MB would report at least 300 MB. Started from this launcher
# (~10 MB), the command's ru_maxrss is its own (and its children's) again.
_LAUNCHER = """
import os, subprocess, sys
p = subprocess.Popen(sys.argv[1:])
_, status, ru = os.wait4(p.pid, 0)
sys.stderr.write("\\n__BENCH_MAXRSS_KB__=%d\\n" % ru.ru_maxrss)
sys.exit(os.waitstatus_to_exitcode(status))
"""
_MARK = "__BENCH_MAXRSS_KB__="


def run_measured(cmd: list[str], env: dict | None = None, check: bool = True) -> Measured:
    """Run ``cmd``; return its wall time, peak RSS (kernel, largest process) and sampled tree RSS."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", _LAUNCHER, *cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, **(env or {})}, cwd=ROOT)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], tree_rss_kb(proc.pid) - _rss_kb(proc.pid))  # without the launcher
            done.wait(0.05)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    out_chunks: dict[str, str] = {}

    def read(name: str, stream) -> None:
        out_chunks[name] = stream.read()

    readers = [threading.Thread(target=read, args=("out", proc.stdout)),
               threading.Thread(target=read, args=("err", proc.stderr))]
    for r in readers:
        r.start()
    _, status, _usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    done.set()
    th.join()
    for r in readers:
        r.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = out_chunks.get("err", "")
    maxrss_kb = 0
    head, sep, tail = err.rpartition(_MARK)
    if sep:
        maxrss_kb = int(tail.split()[0])
        err = head.rstrip("\n")
    res = Measured(seconds, maxrss_kb / 1024, peak[0] / 1024, out_chunks.get("out", ""), err)
    if check and proc.returncode != 0:
        raise RuntimeError(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{res.stderr[-4000:]}")
    return res


def last_json(stdout: str) -> dict:
    """The last line of ``stdout`` that is a JSON object (what the measured child printed)."""
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError(f"no JSON result in output:\n{stdout[-2000:]}")


def table(headers: list[str], rows: list[list], align: str | None = None) -> str:
    align = align or "l" + "r" * (len(headers) - 1)
    sep = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(sep) + " |"]
    for row in rows:
        lines.append("| " + " | ".join(str(c) for c in row) + " |")
    return "\n".join(lines)


def ensure_corpus(scale: int = 1, docs: int = 200_000) -> Path:
    """The benchmark corpus (bench/make_corpus.py), built if missing."""
    sys.path.insert(0, str(Path(__file__).parent))
    import make_corpus

    path = make_corpus.default_out(docs, scale)
    if not path.exists():
        print(f"building {path.name} (bench/make_corpus.py --docs {docs} --scale {scale}) ...", file=sys.stderr)
        subprocess.run([PY, str(Path(__file__).parent / "make_corpus.py"), "--docs", str(docs), "--scale", str(scale)],
                       check=True, cwd=ROOT, stdout=sys.stderr)
    return path
