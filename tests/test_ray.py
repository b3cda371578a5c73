"""The Ray executor and the Ray Data API (docs/ray.md): same bytes as the local executor, retries, resume.

One local Ray instance (2 CPUs, no dashboard) serves the whole module: starting Ray takes ~10 s.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

ray = pytest.importorskip("ray")

from curate.cli import app  # noqa: E402
from curate.errors import CurateError  # noqa: E402
from curate.executors import LocalExecutor  # noqa: E402
from curate.ingest import ReaderOptions, ingest  # noqa: E402
from curate.pipeline import Pipeline, load_recipe, parse_recipe  # noqa: E402
from curate.progress import Progress  # noqa: E402
from curate.ray_executor import RayExecutor  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
USER_STEPS = Path(__file__).resolve().parent / "user_steps"

QUARANTINE_RECIPE = """
name = "ray-test"
[[steps]]
name = "empty_text"
[[steps]]
name = "mysteps:explode_on"
needle = "Seoul"
[[steps]]
name = "exact_dedup"
[[steps]]
name = "mysteps:drop_digits"
id = "no_digits"
"""


def _death_recipe(flag: Path, out_dir: Path) -> str:
    """empty_text, exact dedup, then a step that kills its worker once in the last segment."""
    return f"""
name = "ray-death"
[[steps]]
name = "empty_text"
[[steps]]
name = "exact_dedup"
[[steps]]
name = "ray_steps:die_once"
flag_file = "{flag}"
out_dir = "{out_dir}"
[[steps]]
name = "gopher_repetition"
"""


def _files(directory: Path, subs=("documents", "decisions", "quarantine")) -> dict[str, str]:
    return {p.relative_to(directory).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for sub in subs for p in sorted((directory / sub).glob("*.parquet"))}


@pytest.fixture(scope="module", autouse=True)
def ray_session():
    """A local Ray for the module; workers inherit PYTHONPATH (user steps) and quiet progress bars."""
    saved = {k: os.environ.get(k) for k in ("PYTHONPATH", "CURATE_PROGRESS")}
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in [str(USER_STEPS), saved["PYTHONPATH"]] if p)
    os.environ["CURATE_PROGRESS"] = "0"
    import sys

    sys.path.insert(0, str(USER_STEPS))
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
    yield
    ray.shutdown()
    sys.path.remove(str(USER_STEPS))
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """Multi-sentence news documents in four files (with exact and near copies), reviews, and a
    JSONL file with a broken line (a quarantine row)."""
    src = tmp_path_factory.mktemp("src")
    ko = (SAMPLE / "news" / "korean-english-park.dev.ko.txt").read_text(encoding="utf-8").splitlines()
    en = (SAMPLE / "news" / "korean-english-park.dev.en.txt").read_text(encoding="utf-8").splitlines()
    docs = []
    for lines in (ko, en):
        for i in range(0, min(len(lines), 1200), 12):
            docs.append("\n".join(lines[i:i + 12]))
    docs += docs[:15]  # exact copies
    docs += [d.replace(".", "!", 1) for d in docs[20:35]]  # near copies
    for k in range(4):
        part = docs[k::4]
        (src / "news" / f"news-{k}.jsonl").parent.mkdir(exist_ok=True)
        (src / "news" / f"news-{k}.jsonl").write_text(
            "".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in part), encoding="utf-8")
    (src / "bad").mkdir()
    (src / "bad" / "bad.jsonl").write_text('{"text": "a fine record with words"}\n{"text": "broken\n', encoding="utf-8")
    return src


def _ingest_all(src: Path, out: Path, executor=None) -> list[dict]:
    jobs = [ingest([str(src / "news")], source="news", out=out, task_bytes=1, executor=executor, progress=False),
            ingest([str(SAMPLE / "reviews")], source="reviews", out=out, options=ReaderOptions(text_field="review"),
                   executor=executor, progress=False),
            ingest([str(src / "bad")], source="bad", out=out, executor=executor, progress=False)]
    return jobs


@pytest.fixture(scope="module")
def raw(inputs, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("raw")
    _ingest_all(inputs, out)
    return out


@pytest.fixture(scope="module")
def executor():
    ex = RayExecutor()  # Ray is already initialized: used as it is, left running
    yield ex
    ex.close()


def test_ingest_on_ray_writes_the_same_files(inputs, raw, executor, tmp_path):
    jobs = _ingest_all(inputs, tmp_path / "raw", executor)
    assert jobs[0]["counts"]["read"] > 100 and jobs[2]["counts"]["quarantined"] == 1
    local = json.loads((raw / "manifest.json").read_text())
    remote = json.loads((tmp_path / "raw" / "manifest.json").read_text())
    assert remote["counts"] == local["counts"]
    assert len(_files(raw)) >= 6  # four news shards, reviews, bad, quarantine
    assert _files(tmp_path / "raw") == _files(raw)
    assert ray.is_initialized()  # a Ray the caller started stays up


@pytest.mark.parametrize("recipe", ["web", "quarantine"])
def test_run_on_ray_matches_local(raw, executor, tmp_path, recipe):
    rec = load_recipe("web") if recipe == "web" else parse_recipe(QUARANTINE_RECIPE)
    ref = Pipeline(rec, progress=False).run(raw, tmp_path / "local")
    got = Pipeline(rec, executor=executor, progress=False).run(raw, tmp_path / "ray")
    assert got["counts"] == ref["counts"] and got["counts_by_step"] == ref["counts_by_step"]
    c = got["counts"]
    assert c["read"] == c["kept"] + c["dropped"] + c["quarantined"]
    assert c["kept"] > 0 and c["dropped"] > 0
    if recipe == "quarantine":
        assert c["quarantined"] > 0
    else:  # both dedup steps removed something, through Ray tasks
        assert got["counts_by_step"]["exact_dedup"]["dropped"] > 0
        assert got["counts_by_step"]["minhash_dedup"]["dropped"] > 0
    assert _files(tmp_path / "ray") == _files(tmp_path / "local")
    assert not list((tmp_path / "ray").rglob(".tmp-*"))


def test_worker_killed_mid_task_is_retried(raw, executor, tmp_path):
    flag = tmp_path / "died"
    rec = parse_recipe(_death_recipe(flag, tmp_path / "ray"))
    flag.write_text("reference run: no death\n")
    Pipeline(rec, batch_size=32, progress=False).run(raw, tmp_path / "local")
    flag.unlink()
    manifest = Pipeline(rec, executor=executor, batch_size=32, progress=False).run(raw, tmp_path / "ray")
    assert flag.exists(), "the worker was never killed"
    assert any(name.startswith(".tmp-") for name in flag.read_text().split()), \
        "the killed task had no half-written file to recover from"
    c = manifest["counts"]
    assert c["read"] == c["kept"] + c["dropped"] + c["quarantined"]
    assert _files(tmp_path / "ray") == _files(tmp_path / "local")
    assert not list((tmp_path / "ray").rglob(".tmp-*"))


def test_resume_after_worker_death_even_on_another_executor(raw, tmp_path):
    flag = tmp_path / "died"
    rec = parse_recipe(_death_recipe(flag, tmp_path / "run"))
    flag.write_text("reference run: no death\n")
    Pipeline(rec, batch_size=32, progress=False).run(raw, tmp_path / "local")
    flag.unlink()
    with RayExecutor(max_retries=0) as no_retries, pytest.raises(ray.exceptions.RayError):
        Pipeline(rec, executor=no_retries, batch_size=32, progress=False).run(raw, tmp_path / "run")
    assert flag.exists() and not (tmp_path / "run" / "manifest.json").exists()
    # resume on the local executor: the state files and the layout are the same
    manifest = Pipeline(rec, executor=LocalExecutor(2), batch_size=32, progress=False).run(raw, tmp_path / "run")
    assert sum(s.get("tasks_resumed", 0) for s in manifest["timings"]["stages"]) >= 4
    assert not list((tmp_path / "run").rglob(".tmp-*"))
    assert _files(tmp_path / "run") == _files(tmp_path / "local")


def test_exceptions_are_not_retried_and_keep_their_type(tmp_path, executor):
    calls = tmp_path / "calls.txt"
    import ray_steps

    with pytest.raises(ValueError, match="bad data in calls.txt") as info:
        executor.map(ray_steps.count_and_fail, [str(calls)], Progress("t", None, False))
    assert calls.read_text() == "called\n"  # once: a data error is not retried
    assert any("remote traceback" in note for note in getattr(info.value, "__notes__", []))


def test_results_in_task_order_and_progress_totals(executor):
    import ray_steps

    bar = Progress("t", None, False)
    assert executor.map(ray_steps.echo, list(range(12)), bar) == [i * i for i in range(12)]
    assert bar.docs == sum(range(12)) and bar.bytes == 10 * sum(range(12))
    assert executor.map(ray_steps.echo, [], bar) == []


def test_cli_executor_option(raw, tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["run", "web", "--in", str(raw), "--out", str(tmp_path / "cli"), "--executor", "ray",
                              "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "read" in res.output and ray.is_initialized()
    ref = Pipeline(load_recipe("web"), progress=False).run(raw, tmp_path / "local")
    assert json.loads((tmp_path / "cli" / "manifest.json").read_text())["counts"] == ref["counts"]
    assert _files(tmp_path / "cli") == _files(tmp_path / "local")
    res = runner.invoke(app, ["run", "web", "--in", str(raw), "--out", str(tmp_path / "x"), "--executor", "dask"])
    assert res.exit_code == 2 and "expected 'local' or 'ray'" in res.output
    res = runner.invoke(app, ["ingest", str(SAMPLE / "reviews"), "--source", "r", "--out", str(tmp_path / "y"),
                              "--ray-address", "auto"])
    assert res.exit_code == 2 and "--ray-address needs --executor ray" in res.output


def test_shards_on_ray_write_the_same_files(raw, executor, tmp_path):
    pytest.importorskip("tokenizers")
    from curate.shards import build_shards
    from curate.tokenizer import train_tokenizer

    Pipeline(load_recipe("web"), progress=False).run(raw, tmp_path / "clean")
    train_tokenizer(tmp_path / "clean", tmp_path / "tok", vocab_size=800, progress=False)
    a = build_shards(tmp_path / "clean", tmp_path / "tok", tmp_path / "s_local", valid_fraction=0.1, task_mb=0.01,
                     progress=False)
    b = build_shards(tmp_path / "clean", tmp_path / "tok", tmp_path / "s_ray", valid_fraction=0.1, task_mb=0.01,
                     executor=executor, progress=False)
    assert a["timings"]["tasks"] > 1 and a["counts"] == b["counts"] and a["counts"]["train"]["tokens"] > 0

    def files(d: Path) -> dict[str, str]:
        return {p.relative_to(d).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(d.rglob("*")) if p.suffix in (".bin", ".idx")}

    assert files(tmp_path / "s_ray") == files(tmp_path / "s_local") != {}


PER_BATCH = """
name = "per-batch"
[[steps]]
name = "empty_text"
[[steps]]
name = "normalize"
[[steps]]
name = "gopher_repetition"
top_ngram_min_count = 2
[[steps]]
name = "mysteps:drop_digits"
id = "no_digits"
"""


def test_ray_data_apply_recipe_matches_run(raw, tmp_path):
    from curate.pipeline.ray_data import apply_recipe, decisions, documents, output_schema

    rec = parse_recipe(PER_BATCH)
    Pipeline(rec, progress=False).run(raw, tmp_path / "run")
    ds = ray.data.read_parquet(str(raw / "documents"))
    out = apply_recipe(ds, rec, batch_size=256, actors=1).materialize()
    assert out.schema().names == output_schema(rec).names
    key = [("input_file", "ascending"), ("position", "ascending")]
    got_docs = pa.concat_tables([ray.get(r) for r in documents(out, rec).to_arrow_refs()])
    got_dec = pa.concat_tables([ray.get(r) for r in decisions(out, rec).to_arrow_refs()])
    ref_docs = pq.read_table(tmp_path / "run" / "documents")
    ref_dec = pq.read_table(tmp_path / "run" / "decisions")
    assert got_docs.num_rows == ref_docs.num_rows > 0 and got_dec.num_rows == ref_dec.num_rows
    assert got_docs.schema == ref_docs.schema and got_dec.schema == ref_dec.schema
    assert got_docs.sort_by(key).to_pylist() == ref_docs.sort_by(key).to_pylist()
    assert got_dec.sort_by(key).to_pylist() == ref_dec.sort_by(key).to_pylist()
    with pytest.raises(CurateError, match="global steps"):
        apply_recipe(ds, "web")
