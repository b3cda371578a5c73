"""The tables ``curate stats DIR`` prints, each one a DuckDB query over the views."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

import duckdb

from curate.manifest import read_json
from curate.stats.views import connect, has_view


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[tuple]

    def as_dicts(self) -> list[dict]:
        return [dict(zip(self.columns, r)) for r in self.rows]


def query(con: duckdb.DuckDBPyConnection, title: str, sql: str) -> Table:
    rel = con.sql(sql)
    return Table(title, list(rel.columns), rel.fetchall())


def summarize(directory: str | Path) -> list[Table]:
    """Summary tables for an ingest or run directory."""
    directory = Path(directory)
    manifest = read_json(directory / "manifest.json") or {}
    con = connect(directory)
    tables: list[Table] = []
    if manifest.get("kind") == "ingest":
        tables.append(_ingest_counts(con, manifest))
    if manifest.get("kind") == "run" and has_view(con, "decisions"):
        tables += _run_tables(con, manifest)
    if has_view(con, "documents"):
        tables.append(query(con, "documents by source", """
            SELECT source, count(*) AS documents, sum(strlen(text)) AS bytes,
                   round(avg(length(text)), 1) AS avg_chars, count(*) FILTER (WHERE length(text) = 0) AS empty,
                   count(DISTINCT lang) FILTER (WHERE lang IS NOT NULL) AS languages
            FROM documents GROUP BY source ORDER BY source"""))
    if has_view(con, "quarantine"):
        tables.append(query(con, "quarantine by source and error", """
            SELECT source, stage, error_type, count(*) AS records FROM quarantine
            GROUP BY ALL ORDER BY source, records DESC"""))
    return tables


def _run_tables(con: duckdb.DuckDBPyConnection, manifest: dict) -> list[Table]:
    order = {s["id"]: i for i, s in enumerate(manifest["recipe"]["steps"])}
    funnel = Table("funnel: documents removed by each step, in recipe order", ["step", "removed", "remaining", "share_of_read"],
                   [(f["step"], f["removed"], f["remaining"],
                     round(f["removed"] / max(manifest["counts"]["read"], 1), 4)) for f in manifest["funnel"]])
    by_source = query(con, "fate by source (read = kept + dropped + quarantined)", """
        SELECT source, count(*) AS read, count(*) FILTER (WHERE status = 'kept') AS kept,
               count(*) FILTER (WHERE status = 'dropped') AS dropped,
               count(*) FILTER (WHERE status = 'quarantined') AS quarantined,
               round(count(*) FILTER (WHERE status = 'kept') / count(*), 4) AS keep_rate
        FROM decisions GROUP BY source ORDER BY source""")
    by_step_source = query(con, "removed by step and source", """
        SELECT dropped_by AS step, source, count(*) AS removed FROM decisions
        WHERE status <> 'kept' GROUP BY ALL ORDER BY step, removed DESC""")
    by_step_source.rows.sort(key=lambda r: (order.get(r[0], 1 << 30), -r[2]))
    top_reasons = query(con, "top reasons (numbers stripped, so similar reasons group)", """
        SELECT dropped_by AS step, regexp_replace(reason, '[0-9a-f]{32}|[0-9]+([.][0-9]+)?', '#', 'g') AS reason,
               count(*) AS documents FROM decisions WHERE status <> 'kept'
        GROUP BY ALL ORDER BY documents DESC LIMIT 15""")
    tables = [funnel, by_source, by_step_source, top_reasons]
    metric_cols = [(r[0], r[1]) for r in con.execute("DESCRIBE decisions").fetchall()[8:]
                   if r[1] in ("BIGINT", "INTEGER", "DOUBLE", "FLOAT", "BOOLEAN")]
    if metric_cols:
        rows = []
        for name, dtype in metric_cols:
            col = f'"{name}"' if dtype != "BOOLEAN" else f'"{name}"::INTEGER'
            rows.append((name, *con.execute(f"""
                SELECT count({col}), min({col}), quantile_cont({col}, 0.5), avg({col}), max({col}) FROM decisions""").fetchall()[0]))
        tables.append(Table("metric summaries over the documents each step measured", ["metric", "n", "min", "median", "mean", "max"], rows))
    return tables


def _ingest_counts(con: duckdb.DuckDBPyConnection, manifest: dict) -> Table:
    skipped: dict[str, int] = {}
    for job in manifest.get("jobs", {}).values():
        skipped[job["source"]] = skipped.get(job["source"], 0) + sum(job.get("skipped", {}).values())
    rows = [(src, c["read"], c["written"], c["quarantined"], skipped.get(src, 0))
            for src, c in manifest.get("counts_by_source", {}).items()]
    total = manifest.get("counts", {})
    rows.append(("TOTAL", total.get("read", 0), total.get("written", 0), total.get("quarantined", 0),
                 sum(skipped.values())))
    return Table("ingest counts (read = written + quarantined; skipped = records that are not documents)",
                 ["source", "read", "written", "quarantined", "skipped"], rows)


def render(tables: list[Table], fmt: str = "table") -> str:
    """Render tables as aligned text, CSV or JSON."""
    if fmt == "json":
        return json.dumps({t.title: t.as_dicts() for t in tables}, indent=2, ensure_ascii=False, default=str)
    if fmt == "csv":
        buf = io.StringIO()
        for t in tables:
            if len(tables) > 1:
                buf.write(f"# {t.title}\n")
            w = csv.writer(buf)
            w.writerow(t.columns)
            w.writerows(t.rows)
        return buf.getvalue()
    out = []
    for t in tables:
        cells = [[_fmt(v) for v in r] for r in t.rows]
        widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(t.columns)]
        out.append(f"\n{t.title}")
        out.append("  ".join(c.ljust(w) for c, w in zip(t.columns, widths)))
        out.append("  ".join("-" * w for w in widths))
        for r in cells:
            out.append("  ".join(v.rjust(w) if _numeric(v) else v.ljust(w) for v, w in zip(r, widths)))
    return "\n".join(out).lstrip("\n")


def _fmt(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 1 else f"{v:,.1f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def _numeric(s: str) -> bool:
    return s.replace(",", "").replace(".", "").replace("-", "").isdigit()
