"""The recipe runner: validation before work, accounting, determinism, dedup, quarantine, resume."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from curate.cli import app
from curate.errors import CurateError
from curate.ingest import ReaderOptions, ingest
from curate.pipeline import Pipeline, Step, StepResult, parse_recipe, register_step
from curate.pipeline.batch import documents_batch

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
USER_STEPS = Path(__file__).resolve().parent / "user_steps"


@pytest.fixture(autouse=True)
def _quiet(monkeypatch):
    monkeypatch.setenv("CURATE_PROGRESS", "0")
    monkeypatch.syspath_prepend(str(USER_STEPS))
    # spawned workers import user steps too: make them find the module
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(USER_STEPS), os.environ.get("PYTHONPATH", "")]))


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    """Korean reviews and news ingested into several shards (one per input file)."""
    src = tmp_path_factory.mktemp("src")
    lines = (SAMPLE / "news" / "korean-english-park.dev.ko.txt").read_text(encoding="utf-8").splitlines()
    for k in range(4):  # four files -> four tasks -> four shards; plus copies for exact dedup
        chunk = lines[k * 250:(k + 1) * 250] + lines[:10]
        (src / f"news-{k}.txt").write_text("\n".join(chunk) + "\n", encoding="utf-8")
    out = tmp_path_factory.mktemp("raw")
    ingest([str(src)], source="news", out=out, options=ReaderOptions(lang="ko"), task_bytes=1, progress=False)
    ingest([str(SAMPLE / "reviews")], source="reviews", out=out, options=ReaderOptions(text_field="review"),
           progress=False)
    return out


@register_step
class WordlistTest(Step):
    """A step with a file parameter, to test that missing files fail validation."""

    name = "wordlist_test"

    @dataclass
    class Params:
        words: Path


RECIPE = """
name = "test"
description = "empty, exact dedup, then a user filter"
[[steps]]
name = "empty_text"
[[steps]]
name = "exact_dedup"
[[steps]]
name = "mysteps:drop_digits"
id = "no_digits"
"""


def _files(directory: Path) -> dict[str, str]:
    return {p.relative_to(directory).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for sub in ("documents", "decisions", "quarantine") for p in sorted((directory / sub).glob("*.parquet"))}


def test_accounting_per_source_and_step(raw, tmp_path):
    manifest = Pipeline(parse_recipe(RECIPE)).run(raw, tmp_path / "run")
    c = manifest["counts"]
    assert c["read"] == 4 * 260 + 4000
    assert c["read"] == c["kept"] + c["dropped"] + c["quarantined"]
    for src, sc in manifest["counts_by_source"].items():
        assert sc["read"] == sc["kept"] + sc["dropped"] + sc["quarantined"], src
    # the 10 sentences repeated in every news file are dropped by exact dedup, 3 x 10 copies
    assert manifest["counts_by_step"]["exact_dedup"]["dropped"] >= 30
    con = duckdb.connect()
    dec = str(tmp_path / "run" / "decisions" / "*.parquet")
    docs = str(tmp_path / "run" / "documents" / "*.parquet")
    raw_docs = str(raw / "documents" / "*.parquet")
    # one decision per input document, same ids; kept decisions are exactly the output documents
    assert con.sql(f"SELECT count(*), count(DISTINCT id) FROM '{dec}'").fetchall()[0] == (c["read"], c["read"])
    assert con.sql(f"SELECT count(*) FROM '{raw_docs}' r ANTI JOIN '{dec}' d USING (id)").fetchall()[0][0] == 0
    assert con.sql(f"SELECT count(*) FROM '{dec}' WHERE kept").fetchall()[0][0] == c["kept"]
    assert con.sql(f"SELECT count(*) FROM '{docs}' d ANTI JOIN (SELECT id FROM '{dec}' WHERE kept) USING (id)").fetchall()[0][0] == 0
    # dropped documents carry step and reason; metrics are typed columns
    types = dict((r[0], r[1]) for r in con.sql(f"DESCRIBE SELECT * FROM '{dec}'").fetchall())
    assert types["n_chars"] == "BIGINT" and types["exact_dup_count"] == "BIGINT" and types["digits"] == "BIGINT"
    assert con.sql(f"SELECT count(*) FROM '{dec}' WHERE status='dropped' AND (dropped_by IS NULL OR reason IS NULL)").fetchall()[0][0] == 0


def test_exact_dedup_keeps_first_in_stable_order(raw, tmp_path):
    Pipeline(parse_recipe(RECIPE)).run(raw, tmp_path / "run")
    con = duckdb.connect()
    dec = str(tmp_path / "run" / "decisions" / "*.parquet")
    pairs = con.sql(f"""SELECT d.input_file, d.position, f.input_file, f.position, f.dropped_by
                        FROM '{dec}' d JOIN '{dec}' f ON d.exact_dup_of = f.id
                        WHERE d.dropped_by = 'exact_dedup' AND d.source = 'news'""").fetchall()
    planted = [p for p in pairs if p[1] >= 250]  # the 10 lines appended to every file
    assert len(planted) == 40  # every file's copies at 250..259 (news-0's own included) -> news-0.txt 0..9
    for _file, pos, first_file, first_pos, first_dropped_by in planted:
        assert (first_file, first_pos) == ("news-0.txt", pos - 250)
    # a representative is never itself removed by dedup; a copy's reason names its representative
    assert all(p[4] != "exact_dedup" for p in pairs)
    reasons = con.sql(f"SELECT reason, exact_dup_of FROM '{dec}' WHERE dropped_by = 'exact_dedup'").fetchall()
    assert all(r == f"exact duplicate of {d}" for r, d in reasons)


def test_workers_give_byte_identical_outputs(raw, tmp_path):
    Pipeline(parse_recipe(RECIPE), workers=1).run(raw, tmp_path / "w1")
    Pipeline(parse_recipe(RECIPE), workers=2).run(raw, tmp_path / "w2")
    one, two = _files(tmp_path / "w1"), _files(tmp_path / "w2")
    assert one and one == two


def test_step_errors_quarantine_documents_not_the_run(raw, tmp_path):
    recipe = RECIPE + '\n[[steps]]\nname = "mysteps:explode_on"\nneedle = "서울"\n'
    manifest = Pipeline(parse_recipe(recipe)).run(raw, tmp_path / "run")
    c = manifest["counts"]
    assert c["quarantined"] > 0 and c["read"] == c["kept"] + c["dropped"] + c["quarantined"]
    q = pq.read_table(tmp_path / "run" / "quarantine").to_pylist()
    assert len(q) == c["quarantined"]
    assert all(r["stage"] == "explode_on" and "RuntimeError" in r["error"] for r in q)
    kept = pq.read_table(tmp_path / "run" / "documents").column("text").to_pylist()
    assert kept and not any("서울" in t for t in kept)


def test_rerun_after_crash_resumes_to_the_same_result(raw, tmp_path):
    flag = tmp_path / "crashed"
    recipe = RECIPE + '\n[[steps]]\nname = "mysteps:crash_once"\nflag_file = "' + str(flag) + '"\n'
    flag.write_text("no crash for the reference run")
    Pipeline(parse_recipe(recipe)).run(raw, tmp_path / "reference")
    flag.unlink()  # crash_once now interrupts the run once, in the middle of the last segment
    with pytest.raises(KeyboardInterrupt):
        Pipeline(parse_recipe(recipe)).run(raw, tmp_path / "resumed")
    assert flag.exists() and not (tmp_path / "resumed" / "manifest.json").exists()
    manifest = Pipeline(parse_recipe(recipe)).run(raw, tmp_path / "resumed")
    resumed = sum(s.get("tasks_resumed", 0) for s in manifest["timings"]["stages"])
    assert resumed > 0
    assert not list((tmp_path / "resumed").rglob(".tmp-*"))
    assert _files(tmp_path / "resumed") == _files(tmp_path / "reference")


def test_changed_recipe_needs_overwrite(raw, tmp_path):
    Pipeline(parse_recipe(RECIPE)).run(raw, tmp_path / "run")
    other = parse_recipe('name = "other"\n[[steps]]\nname = "empty_text"\n')
    with pytest.raises(CurateError, match="--overwrite"):
        Pipeline(other).run(raw, tmp_path / "run")
    manifest = Pipeline(other).run(raw, tmp_path / "run", overwrite=True)
    assert manifest["recipe"]["name"] == "other"


@pytest.mark.parametrize("text, message", [
    ('[[steps]]\nname = "no_such_step"\n', "unknown step 'no_such_step'"),
    ('[[steps]]\nname = "empty_text"\nmin = 3\n', "unknown parameter 'min'"),
    ('[[steps]]\nname = "exact_dedup"\nthreads = "two"\n', "parameter 'threads' expects int, got str 'two'"),
    ('[[steps]]\nname = "exact_dedup"\nnormalization = "fuzzy"\n', "expects one of 'exact', 'whitespace', 'casefold'"),
    ('[[steps]]\nname = "exact_dedup"\nthreads = 0\n', "threads must be >= 1"),
    ('[[steps]]\nname = "wordlist_test"\nwords = "missing.txt"\n', "file 'missing.txt' not found"),
    ('[[steps]]\nname = "empty_text"\n[[steps]]\nname = "empty_text"\n', "id 'empty_text' is used twice"),
    ('[[steps]]\nname = "nomodule.really:fn"\n', "cannot import user step"),
    ('steps = 3\n', "no [[steps]]"),
    ('[[steps]\n', "not valid TOML"),
    ('colour = "red"\n[[steps]]\nname = "empty_text"\n', "unknown top-level key 'colour'"),
])
def test_recipe_validation_names_step_and_parameter(text, message, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(app, ["run", str(path), "--in", str(tmp_path / "none"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "o").exists()  # nothing was started


def test_apply_batch_in_memory_for_training_jobs():
    pipe = Pipeline(parse_recipe('[[steps]]\nname = "empty_text"\n[[steps]]\nname = "mysteps:drop_digits"\n'))
    batch = documents_batch(["좋은 영화였다", "  ", "2024년 개봉", "재밌다"])
    kept, decisions = pipe.apply_batch(batch)
    assert kept.column("text").to_pylist() == ["좋은 영화였다", "재밌다"]
    assert decisions.column("status").to_pylist() == ["kept", "dropped", "dropped", "kept"]
    assert decisions.column("dropped_by").to_pylist() == [None, "empty_text", "drop_digits", None]


def test_cli_run_stats_and_sql(raw, tmp_path):
    recipe = tmp_path / "r.toml"
    recipe.write_text(RECIPE, encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(app, ["run", str(recipe), "--in", str(raw), "--out", str(tmp_path / "run"), "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert "exact_dedup" in result.output
    result = runner.invoke(app, ["stats", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert "funnel" in result.output and "fate by source" in result.output
    result = runner.invoke(app, ["stats", str(tmp_path / "run"), "--sql",
                                 "select source, count(*) n from decisions where kept group by 1 order by 1",
                                 "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["query"]
    assert [r["source"] for r in rows] == ["news", "reviews"]
    result = runner.invoke(app, ["stats", str(tmp_path / "run"), "--sql", "select nonsense from nowhere"])
    assert result.exit_code == 2 and "query failed" in result.output


def test_run_selected_sources_only(raw, tmp_path):
    manifest = Pipeline(parse_recipe(RECIPE)).run(raw, tmp_path / "run", sources=["reviews"])
    assert set(manifest["counts_by_source"]) == {"reviews"} and manifest["counts"]["read"] == 4000
    with pytest.raises(CurateError, match="no such source"):
        Pipeline(parse_recipe(RECIPE)).run(raw, tmp_path / "run2", sources=["blogs"])
