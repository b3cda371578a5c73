"""`curate stats` and DIR/curate.duckdb: views, --by, --diff, --format, --sql, and every example query
of docs/stats.md, on a real run over sample_data and on a synthetic run with every kind of metric column."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from curate.cli import app
from curate.errors import CurateError
from curate.stats import stats_tables, summarize
from curate.stats.database import DB_NAME, write_database
from curate.stats.diff import diff_runs
from curate.stats.views import connect, has_view
from stats_util import ROOT

def _cli(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


# ---------------------------------------------------------------------------------------------------
# the database file


def test_run_and_ingest_write_the_database(runs, tmp_path, monkeypatch):
    for d in (runs["raw"], runs["run"]):
        assert (d / DB_NAME).is_file(), f"no {DB_NAME} in {d}"
    monkeypatch.chdir(tmp_path)  # the views must not depend on the working directory
    con = duckdb.connect(str(runs["run"] / DB_NAME), read_only=True)
    views = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    assert {"documents", "decisions", "quarantine", "clusters", "manifest", "funnel", "input_documents"} <= views
    m = json.loads((runs["run"] / "manifest.json").read_text())
    assert con.execute("SELECT count(*) FROM decisions").fetchone()[0] == m["counts"]["read"]
    assert con.execute("SELECT count(*) FROM documents").fetchone()[0] == m["counts"]["kept"]
    assert con.execute("SELECT manifest.counts.kept FROM manifest").fetchone()[0] == m["counts"]["kept"]
    assert [r[0] for r in con.execute("SELECT step FROM funnel").fetchall()] == [f["step"] for f in m["funnel"]]
    # no minhash_dedup in the recipe: clusters is an empty view with the contract's columns
    assert con.execute("SELECT count(*) FROM clusters").fetchone()[0] == 0
    assert {"id", "dup_cluster", "is_representative", "cluster_size"} <= {
        r[0] for r in con.execute("DESCRIBE clusters").fetchall()}
    # dropped documents' text comes from the input
    n = con.execute("""SELECT count(*) FROM decisions d JOIN input_documents i USING (id) WHERE NOT d.kept""").fetchone()[0]
    assert n == m["counts"]["dropped"] + m["counts"]["quarantined"]
    assert con.execute("SELECT reason_kind('3 words < 5, top_3_gram 0.21 > 0.18')").fetchone()[0] == \
        "# words < #, top_3_gram # > #"
    con.close()
    raw = duckdb.connect(str(runs["raw"] / DB_NAME), read_only=True)
    assert raw.execute("SELECT count(DISTINCT source) FROM documents").fetchone()[0] == 4
    assert "decisions" not in {r[0] for r in raw.execute("SELECT view_name FROM duckdb_views()").fetchall()}
    raw.close()


def test_database_paths_are_absolute_and_rewritten_after_a_move(runs, tmp_path):
    moved = tmp_path / "moved"
    shutil.copytree(runs["run"], moved)
    con = duckdb.connect(str(moved / DB_NAME), read_only=True)
    sql = " ".join(r[0] for r in con.execute("SELECT sql FROM duckdb_views() WHERE view_name = 'decisions'").fetchall())
    con.close()
    assert str(runs["run"].resolve()) in sql  # the copy still points at the original...
    res = _cli("stats", moved)
    assert res.exit_code == 0, res.output
    assert f"duckdb {moved / DB_NAME}" in res.output
    con = duckdb.connect(str(moved / DB_NAME), read_only=True)
    sql = " ".join(r[0] for r in con.execute("SELECT sql FROM duckdb_views() WHERE view_name = 'decisions'").fetchall())
    assert str(moved.resolve()) in sql and str(runs["run"].resolve()) not in sql  # ... until `curate stats` rewrites it
    assert con.execute("SELECT count(*) FROM decisions").fetchone()[0] > 0
    con.close()
    assert not list(moved.glob(".tmp-*"))


def test_database_is_readable_while_open_elsewhere(runs, tmp_path):
    d = tmp_path / "run"
    shutil.copytree(runs["run"], d)
    holder = duckdb.connect(str(d / DB_NAME), read_only=True)
    before = holder.execute("SELECT count(*) FROM decisions").fetchone()[0]
    write_database(d)  # replaced under a new inode; the open connection keeps its file
    assert holder.execute("SELECT count(*) FROM decisions").fetchone()[0] == before
    holder.close()
    assert duckdb.connect(str(d / DB_NAME), read_only=True).execute("SELECT count(*) FROM decisions").fetchone()[0] == before


def test_empty_views_are_marked(runs):
    con = connect(runs["run"])
    assert has_view(con, "decisions") and has_view(con, "documents")
    assert not has_view(con, "clusters")  # empty placeholder, queryable
    assert con.execute("SELECT count(*) FROM clusters").fetchone()[0] == 0
    assert con.execute("SELECT comment FROM duckdb_views() WHERE view_name = 'clusters'").fetchone()[0].startswith("empty:")
    con.close()


# ---------------------------------------------------------------------------------------------------
# curate stats


def test_overview_tables_match_the_manifest(runs):
    m = json.loads((runs["run"] / "manifest.json").read_text())
    tables = {t.title.split(" (")[0].split(":")[0]: t for t in summarize(runs["run"])}
    funnel = tables["funnel"]
    assert [r[0] for r in funnel.rows] == [f["step"] for f in m["funnel"]]
    assert [r[3] for r in funnel.rows] == [f["removed"] for f in m["funnel"]]
    fate = {r[0]: r for r in tables["fate by source"].rows}
    for src, c in m["counts_by_source"].items():
        assert fate[src][1:5] == (c["read"], c["kept"], c["dropped"], c["quarantined"])
    metrics = {r[0]: r for r in tables["metric summaries over the documents each step measured"].rows}
    assert metrics["n_chars"][1] == "empty_text" and metrics["n_chars"][3] == m["counts"]["read"]
    assert metrics["short_words"][1] == "short_text"


def test_by_source_step_lang(runs):
    m = json.loads((runs["run"] / "manifest.json").read_text())
    by_source = summarize(runs["run"], by="source")
    pivot = next(t for t in by_source if t.title.startswith("documents removed per source"))
    for row in pivot.rows:
        src = row[0]
        removed = sum(row[2:])
        c = m["counts_by_source"][src]
        assert row[1] == c["read"] and removed == c["dropped"] + c["quarantined"]
    assert any(t.title.startswith("median of each metric per source") for t in by_source)
    by_step = summarize(runs["run"], by="step")
    steps = by_step[0]
    assert [r[0] for r in steps.rows] == [s["id"] for s in m["recipe"]["steps"]]
    assert sum(r[3] for r in steps.rows) == m["counts"]["dropped"] + m["counts"]["quarantined"]
    by_lang = summarize(runs["run"], by="lang")
    fate = {r[0]: r for r in by_lang[0].rows}
    assert "input documents' lang" in by_lang[0].title
    assert fate["ko"][1] == m["counts_by_source"]["news"]["read"] + m["counts_by_source"]["reviews"]["read"]
    assert fate["(unknown)"][1] == m["counts_by_source"]["webpage"]["read"] + m["counts_by_source"]["forum"]["read"]


def test_by_lang_uses_the_language_id_column(syn):
    t = summarize(syn["run"], by="lang")
    assert "lid_lang" in t[0].title
    langs = {r[0] for r in t[0].rows}
    assert {"ko", "en", "ja"} <= langs
    assert any(x.title.startswith("lid_score per language") for x in t)


def test_cli_formats_and_errors(runs):
    res = _cli("stats", runs["run"], "--by", "step", "--format", "csv")
    assert res.exit_code == 0, res.output
    first = res.output.split("\n# ")[0]
    rows = list(csv.reader(io.StringIO(first.split("\n", 1)[1])))
    assert rows[0][:4] == ["step", "kind", "reached", "removed"]
    res = _cli("stats", runs["run"], "--by", "source", "--format", "json")
    data = json.loads(res.output)
    assert any(k.startswith("fate by source") for k in data)
    res = _cli("stats", runs["run"], "--sql", "select reason_kind(reason) k, count(*) n from decisions "
               "where not kept group by 1 order by 2 desc limit 3", "--format", "json")
    assert res.exit_code == 0, res.output
    assert len(json.loads(res.output)["query"]) == 3
    for bad, msg in ((["--by", "colour"], "--by 'colour'"), (["--by", "step", "--diff", str(runs["strict"])], "one of"),
                     (["--format", "xml"], "--format")):
        res = _cli("stats", runs["run"], *bad)
        assert res.exit_code == 2 and msg in res.output, res.output
    res = _cli("stats", runs["raw"], "--by", "step")
    assert res.exit_code == 2 and "needs a `curate run`" in res.output
    res = _cli("stats", runs["raw"], "--by", "source")
    assert res.exit_code == 0 and "ingest counts" in res.output


# ---------------------------------------------------------------------------------------------------
# --diff


def test_diff_counts_fate_changes(runs):
    a = json.loads((runs["run"] / "manifest.json").read_text())
    b = json.loads((runs["strict"] / "manifest.json").read_text())
    tables = {t.title.split(" (")[0]: t for t in diff_runs(runs["strict"], runs["run"])}
    change = tables["recipe change"].rows
    assert ("short_text", "short_text", "parameters", "min_words: 5 -> 20") in change
    kinds = dict((r[0], r[1]) for r in tables["documents that changed fate"].rows)
    # a stricter short_text can only move documents from kept (or from exact_dedup, after it) to short_text
    assert kinds["dropped -> kept"] == 0 and kinds["only in before"] == kinds["only in after"] == 0
    assert kinds["kept -> dropped"] == a["counts"]["kept"] - b["counts"]["kept"] > 0
    moved = b["counts_by_step"]["short_text"]["dropped"] - a["counts_by_step"]["short_text"]["dropped"]
    assert kinds["kept -> dropped"] + kinds["dropped by another step"] == moved
    assert kinds["unchanged"] + moved == a["counts"]["read"]
    steps = {r[0]: r for r in tables["documents removed by each step"].rows}
    assert steps["short_text"][3] == moved
    detail = tables["fate changes in detail, with up to 3 example ids"].rows
    con = duckdb.connect()
    for kind, before, after, n, examples in detail:
        assert after == "dropped by short_text"
        for doc_id in examples.split():
            got = con.execute(f"SELECT status, dropped_by FROM '{runs['run']}/decisions/*.parquet' WHERE id = ?",
                              [doc_id]).fetchall()
            assert got and (got[0][0] if got[0][0] == "kept" else f"{got[0][0]} by {got[0][1]}") == before
    per_source = {r[0]: r for r in tables["fate changes per source"].rows}
    assert sum(r[1] for r in per_source.values()) == kinds["kept -> dropped"]


def test_diff_cli_and_errors(runs, syn):
    res = _cli("stats", syn["b"], "--diff", syn["run"])
    assert res.exit_code == 0, res.output
    assert "threshold: 0.9 -> 0.8" in res.output and "kept -> dropped" in res.output
    res = _cli("stats", runs["run"], "--diff", runs["raw"])
    assert res.exit_code == 2 and "compares two `curate run`" in res.output


# ---------------------------------------------------------------------------------------------------
# docs/stats.md


def doc_queries() -> list[str]:
    text = (ROOT / "docs" / "stats.md").read_text(encoding="utf-8")
    return re.findall(r"```sql\n(.*?)```", text, flags=re.S)


def _run_script(db: Path, sql: str, subst: dict[str, str]) -> list[tuple]:
    for k, v in subst.items():
        sql = sql.replace(k, v)
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows: list[tuple] = []
        for stmt in [s for s in sql.split(";") if s.strip()]:
            rows = con.execute(stmt).fetchall()
        return rows
    finally:
        con.close()


def test_docs_example_queries(runs, syn):
    queries = doc_queries()
    assert len(queries) >= 10
    real_cols = {r[0] for r in duckdb.connect(str(runs["run"] / DB_NAME), read_only=True)
                 .execute("DESCRIBE decisions").fetchall()}
    ran_on_real = 0
    for q in queries:
        rows = _run_script(syn["run"] / DB_NAME, q, {"runs/ko/clean-v1": str(syn["b"])})
        assert rows, f"no rows on the synthetic run for:\n{q}"
        try:
            _run_script(runs["run"] / DB_NAME, q, {"runs/ko/clean-v1": str(runs["strict"])})
            ran_on_real += 1
        except duckdb.BinderException as exc:  # a column of a step the sample recipe does not have
            missing = re.search(r'column "([^"]+)"|COLUMNS\(\'\^(\w+)', str(exc))
            assert missing, f"{exc}\n{q}"
            assert not ({missing.group(1) or ""} & real_cols), f"{exc}\n{q}"
            assert any(w in q for w in ("lid_", "hate_", "pii_")), q
    assert ran_on_real >= len(queries) - 3


def test_stats_tables_requires_a_directory(tmp_path):
    with pytest.raises(CurateError, match="not a curate output directory"):
        stats_tables(tmp_path)


def test_clusters_table_and_synthetic_overview(syn):
    tables = {t.title: t for t in summarize(syn["run"])}
    clusters = next(t for k, t in tables.items() if k.startswith("near-duplicate clusters"))
    assert sum(r[3] for r in clusters.rows) == duckdb.connect().execute(
        f"SELECT count(*) FROM '{syn['run']}/clusters/*.parquet'").fetchone()[0]
    metrics = next(t for k, t in tables.items() if k.startswith("metric summaries"))
    names = {r[0] for r in metrics.rows}
    assert {"lid_score", "hate_score", "pii_rrn", "minhash_cluster_size", "unbalanced_fences"} <= names

