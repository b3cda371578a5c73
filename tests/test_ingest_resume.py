"""Resume and determinism: a killed ingest, run again, ends with exactly the files of an
uninterrupted run; worker count does not change a byte; several sources share one DIR; ids never
collide silently."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import curate.ingest.runner as runner
from curate.cli import app
from curate.errors import CurateError
from curate.ingest import ReaderOptions, ingest
from ingest_util import (NEWS_KO, REPO_ROOT, check_accounting, docs, manifest, nsmc_bytes, parquet_digests,
                         quarantine, temporaries)

TASK_MB = 0.1  # with the files below: 2-3 files per task, 9 tasks


@pytest.fixture(scope="module")
def many_files(tmp_path_factory) -> Path:
    """24 JSONL files of ~45 KB (NSMC reviews), plus one bad line so the quarantine resumes too."""
    src = tmp_path_factory.mktemp("many")
    lines = nsmc_bytes().splitlines()
    for k in range(24):
        chunk = lines[(k * 160) % 4000:(k * 160) % 4000 + 160]
        if k == 5:
            chunk = chunk + [b'{"text": broken']
        (src / f"part-{k:02d}.jsonl").write_bytes(b"\n".join(chunk) + b"\n")
    return src


def _cli(*args: str) -> None:
    result = CliRunner().invoke(app, ["ingest", *args, "--no-progress"])
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def clean_run(many_files, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("clean")
    _cli(str(many_files), "--source", "reviews", "--out", str(out), "--task-mb", str(TASK_MB))
    return out


def _n_tasks(out: Path) -> int:
    n = len(json.loads(next(Path(out).glob("_state/*/plan.json")).read_text())["tasks"])
    assert n >= 6  # enough for a kill to land midway
    return n


def _id_text(out: Path) -> list[tuple[str, str]]:
    return sorted((r["id"], r["text"]) for r in docs(out))


def _assert_same_output(out: Path, clean: Path) -> None:
    assert parquet_digests(out) == parquet_digests(clean)  # same file names, same bytes
    assert parquet_digests(out, "quarantine") == parquet_digests(clean, "quarantine")
    assert _id_text(out) == _id_text(clean)
    ids = [r["id"] for r in docs(out)]
    assert len(ids) == len(set(ids))
    assert temporaries(out) == []
    assert check_accounting(out)["counts"] == check_accounting(clean)["counts"]


# A child that runs the real CLI, made slower where a crash hurts most: with a Parquet file written
# but not yet renamed. Only timing changes, not what is written.
SLOW_CHILD = r"""
import sys, time
from curate.io.parquet import RollingParquetWriter
_close = RollingParquetWriter.close
def close(self):
    time.sleep(0.4)
    return _close(self)
RollingParquetWriter.close = close
from curate.cli import main
sys.argv = ["curate", *sys.argv[1:]]
main()
"""


def test_killed_run_resumes_to_identical_output(many_files, clean_run, tmp_path):
    out = tmp_path / "killed"
    env = {**os.environ, "CURATE_PROGRESS": "0"}
    child = subprocess.Popen([sys.executable, "-c", SLOW_CHILD, "ingest", str(many_files), "--source", "reviews",
                              "--out", str(out), "--task-mb", str(TASK_MB)], cwd=REPO_ROOT, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and child.poll() is None:
            finished = list(out.glob("_state/*/task-*.json"))
            if finished and list(out.glob("documents/.tmp-*")):  # one task done, another half-written
                break
            time.sleep(0.005)
        assert child.poll() is None, f"the child ended before it could be killed: {child.communicate()}"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL
    plan = json.loads(next(out.glob("_state/*/plan.json")).read_text())
    done_before = len(list(out.glob("_state/*/task-*.json")))
    assert 1 <= done_before < len(plan["tasks"]) == _n_tasks(clean_run)
    assert not (out / "manifest.json").exists()
    assert temporaries(out), "the kill should have left a half-written file behind"

    _cli(str(many_files), "--source", "reviews", "--out", str(out), "--task-mb", str(TASK_MB))
    (job,) = manifest(out)["jobs"].values()
    assert job["timings"]["tasks_resumed"] == done_before
    assert job["timings"]["tasks_run"] == _n_tasks(clean_run) - done_before
    _assert_same_output(out, clean_run)


def test_crash_after_some_tasks_resumes(many_files, clean_run, tmp_path, monkeypatch):
    """Deterministic variant: the task function fails on its 4th call; a leftover temporary file and
    an orphan output of an unfinished task are cleaned; a rerun with another --task-mb still
    follows the recorded plan."""
    out = tmp_path / "crashed"
    real = runner.run_task
    calls = []

    def failing(spec, report):
        calls.append(spec.task.ordinal)
        if len(calls) == 4:
            raise RuntimeError("simulated crash")
        return real(spec, report)

    monkeypatch.setattr(runner, "run_task", failing)
    task_bytes = int(TASK_MB * (1 << 20))
    with pytest.raises(RuntimeError, match="simulated crash"):
        ingest([str(many_files)], source="reviews", out=out, task_bytes=task_bytes, progress=False)
    monkeypatch.setattr(runner, "run_task", real)
    state = next(out.glob("_state/*"))
    assert sorted(p.name for p in state.glob("task-*.json")) == [f"task-0000{k}.json" for k in range(3)]
    stem = f"{state.name}-00007"
    (out / "documents" / f".tmp-{stem}-0000.parquet").write_bytes(b"half a file")
    (out / "documents" / f"{stem}-0005.parquet").write_bytes(b"orphan of an unfinished task")
    (state / ".tmp-task-00007.json").write_text("{")

    result = ingest([str(many_files)], source="reviews", out=out, task_bytes=1 << 30, progress=False)
    assert result["timings"]["tasks_resumed"] == 3 and result["timings"]["tasks_run"] == _n_tasks(clean_run) - 3
    _assert_same_output(out, clean_run)


def test_rerun_of_finished_job_changes_nothing(many_files, clean_run, tmp_path):
    out = tmp_path / "again"
    _cli(str(many_files), "--source", "reviews", "--out", str(out), "--task-mb", str(TASK_MB))
    before = parquet_digests(out)
    _cli(str(many_files), "--source", "reviews", "--out", str(out), "--task-mb", str(TASK_MB))
    (job,) = manifest(out)["jobs"].values()
    assert job["timings"]["tasks_resumed"] == _n_tasks(clean_run) and job["timings"]["tasks_run"] == 0
    assert parquet_digests(out) == before
    _assert_same_output(out, clean_run)


def test_workers_do_not_change_a_byte(many_files, clean_run, tmp_path):
    out = tmp_path / "two-workers"
    _cli(str(many_files), "--source", "reviews", "--out", str(out), "--task-mb", str(TASK_MB), "--workers", "2")
    assert len(parquet_digests(out)) == _n_tasks(clean_run)
    _assert_same_output(out, clean_run)
    clean_job, = manifest(clean_run)["jobs"].values()
    job, = manifest(out)["jobs"].values()
    assert job["outputs"] == clean_job["outputs"] and job["inputs"] == clean_job["inputs"]


def test_two_sources_in_one_dir_and_rerun(tmp_path, sample_data):
    out = tmp_path / "raw"
    news = ["--source", "news", "--out", str(out), "--lang", "ko"]
    reviews = ["--source", "reviews", "--out", str(out)]
    _cli(str(sample_data / "news"), *news)
    _cli(str(sample_data / "reviews" / "nsmc_reviews.jsonl.zst"), *reviews)
    m = check_accounting(out)
    assert m["counts_by_source"] == {"news": {"read": 2000, "written": 2000, "quarantined": 0},
                                     "reviews": {"read": 4000, "written": 4000, "quarantined": 0}}
    assert m["counts"] == {"read": 6000, "written": 6000, "quarantined": 0}
    files = parquet_digests(out)
    _cli(str(sample_data / "news"), *news)  # the same command again resumes: nothing redone
    m2 = check_accounting(out)
    assert parquet_digests(out) == files
    assert len(m2["jobs"]) == 2
    news_job = next(j for j in m2["jobs"].values() if j["source"] == "news")
    assert news_job["timings"]["tasks_resumed"] > 0 and news_job["timings"]["tasks_run"] == 0
    assert m2["counts"] == m["counts"]
    ids = [r["id"] for r in docs(out)]
    assert len(ids) == len(set(ids)) == 6000


def test_same_file_other_options_is_refused(tmp_path, sample_data):
    out = tmp_path / "raw"
    news = str(sample_data / "news" / "korean-english-park.dev.ko.txt")
    ingest([news], source="news", out=out, progress=False)
    before = parquet_digests(out)
    with pytest.raises(CurateError, match=r"ids would collide"):
        ingest([news], source="news", out=out, options=ReaderOptions(lang="ko"), progress=False)
    with pytest.raises(CurateError, match=r"korean-english-park.dev.ko.txt"):
        ingest([news], source="news", out=out, options=ReaderOptions(text_unit="file"), progress=False)
    assert parquet_digests(out) == before
    # another source name is another id space: allowed
    ingest([news], source="news_ko", out=out, options=ReaderOptions(lang="ko"), progress=False)
    assert check_accounting(out)["counts"]["written"] == 2000


def test_unfinished_job_with_other_options_is_refused(many_files, tmp_path, monkeypatch):
    """A killed run has no manifest entry yet, but its finished tasks' documents are in DIR."""
    out = tmp_path / "raw"
    real = runner.run_task
    calls = []

    def failing(spec, report):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(spec, report)

    monkeypatch.setattr(runner, "run_task", failing)
    with pytest.raises(KeyboardInterrupt):
        ingest([str(many_files)], source="reviews", out=out, task_bytes=1 << 17, progress=False)
    monkeypatch.setattr(runner, "run_task", real)
    with pytest.raises(CurateError, match="unfinished ingest"):
        ingest([str(many_files)], source="reviews", out=out, options=ReaderOptions(lang="ko"), progress=False)
    # the original command still finishes it
    ingest([str(many_files)], source="reviews", out=out, task_bytes=1 << 17, progress=False)
    check_accounting(out)


def test_output_dir_inside_input_dir_is_not_read_back(tmp_path):
    src = tmp_path / "data"
    src.mkdir()
    (src / "a.txt").write_text("one\ntwo\n", encoding="utf-8")
    out = src / "curated"
    for _ in range(2):
        ingest([str(src)], source="s", out=out, progress=False)
        m = check_accounting(out)
        (job,) = m["jobs"].values()
        assert [i["input_file"] for i in job["inputs"]] == ["a.txt"]
        assert m["counts"]["written"] == 2


def test_quarantine_rows_are_resumed_too(many_files, clean_run):
    rows = quarantine(clean_run)
    assert [(r["input_file"], r["error_type"]) for r in rows] == [("part-05.jsonl", "malformed_json")]
    assert pq.read_metadata(next((clean_run / "quarantine").glob("*.parquet"))).num_rows == 1


def test_text_news_positions_are_stable(tmp_path):
    """Ids are a function of (source, input_file, position) only: two DIRs, same ids."""
    for name in ("a", "b"):
        ingest([str(NEWS_KO)], source="news", out=tmp_path / name, progress=False)
    assert _id_text(tmp_path / "a") == _id_text(tmp_path / "b")


def test_crash_mid_task_shows_no_partial_output(many_files, tmp_path, monkeypatch):
    """A task whose output spans several Parquet files (small --max-file-mb) shows none of them
    until it is done: after a crash, DIR/documents holds only finished tasks' files."""
    kwargs = dict(source="reviews", task_bytes=int(TASK_MB * (1 << 20)), max_file_bytes=1, batch_rows=50,
                  progress=False)
    ingest([str(many_files)], out=tmp_path / "clean", **kwargs)
    real = runner._Batcher.flush
    calls = []

    def failing(self):
        calls.append(1)
        if len(calls) == 15:  # some files into the second task
            raise OSError(28, "No space left on device")
        return real(self)

    monkeypatch.setattr(runner._Batcher, "flush", failing)
    out = tmp_path / "crashed"
    with pytest.raises(OSError, match="No space"):
        ingest([str(many_files)], out=out, **kwargs)
    monkeypatch.setattr(runner._Batcher, "flush", real)
    finished = {p.stem.split("-")[1] for p in out.glob("_state/*/task-*.json")}
    visible = {p.name.split("-")[2] for p in (out / "documents").glob("*.parquet")}
    assert finished == {"00000"} and visible == finished
    assert not list((out / "documents").glob(".tmp-*"))  # the failed task removed its own temporaries
    assert len(parquet_digests(tmp_path / "clean")) > 2 * _n_tasks(tmp_path / "clean")
    ingest([str(many_files)], out=out, **kwargs)
    _assert_same_output(out, tmp_path / "clean")
