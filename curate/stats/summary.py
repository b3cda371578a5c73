"""The tables ``curate stats DIR`` prints, each one a DuckDB query over the views.

``summarize(DIR)`` gives the overview; ``summarize(DIR, by="source"|"step"|"lang")`` the same facts
broken down one way. Everything is an aggregate over ``DIR/decisions`` in place, so a decision log of
ten million rows answers in seconds (bench/bench_stats.py, docs/benchmarks.md).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

import duckdb

from curate.errors import CurateError
from curate.stats.common import Dir, Metric, open_dir, quote

BY = ("source", "step", "lang")
#: above this many decision rows, medians are DuckDB's approx_quantile (t-digest, bounded memory)
EXACT_MEDIAN_ROWS = 2_000_000


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[tuple]

    def as_dicts(self) -> list[dict]:
        return [dict(zip(self.columns, r)) for r in self.rows]


def query(con: duckdb.DuckDBPyConnection, title: str, sql: str, params: list | None = None) -> Table:
    rel = con.execute(sql, params or [])
    return Table(title, [d[0] for d in rel.description], rel.fetchall())


def summarize(directory: str | Path, by: str | None = None) -> list[Table]:
    """Summary tables for an ingest or run directory, optionally broken down ``by`` one of BY."""
    if by is not None and by not in BY:
        raise CurateError(f"--by {by!r}: expected one of {', '.join(BY)}")
    d = open_dir(directory)
    try:
        if by is not None:
            if not d.is_run:
                if by == "source":
                    return [_ingest_counts(d)] + _document_tables(d)
                raise CurateError(f"--by {by} needs a `curate run` output directory (with decisions/); "
                                  f"{directory} is a {d.kind!r} output")
            return {"source": by_source, "step": by_step, "lang": by_lang}[by](d)
        tables: list[Table] = []
        if d.kind == "ingest":
            tables.append(_ingest_counts(d))
        if d.is_run:
            tables += _run_tables(d)
        if d.has("clusters"):
            tables.append(_cluster_sizes(d))
        tables += _document_tables(d)
        return tables
    finally:
        d.con.close()


# ---------------------------------------------------------------------------------------------------
# overview


def _funnel(d: Dir) -> Table:
    read = max(d.manifest["counts"]["read"], 1)
    kinds = {s["id"]: s.get("kind") for s in d.steps}
    rows = []
    reached = d.manifest["counts"]["read"]
    for f in d.manifest["funnel"]:
        rows.append((f["step"], kinds.get(f["step"]), reached, f["removed"], f["remaining"],
                     round(f["removed"] / read, 4), round(f["removed"] / max(reached, 1), 4)))
        reached = f["remaining"]
    return Table("funnel: documents removed by each step, in recipe order",
                 ["step", "kind", "reached", "removed", "remaining", "share_of_read", "share_of_reached"], rows)


def _fate_by(d: Dir, key_sql: str, key_name: str, source: str = "decisions") -> Table:
    return query(d.con, f"fate by {key_name} (read = kept + dropped + quarantined)", f"""
        SELECT {key_sql} AS {key_name}, count(*) AS read, count(*) FILTER (WHERE status = 'kept') AS kept,
               count(*) FILTER (WHERE status = 'dropped') AS dropped,
               count(*) FILTER (WHERE status = 'quarantined') AS quarantined,
               round(count(*) FILTER (WHERE status = 'kept') / count(*), 4) AS keep_rate
        FROM {source} GROUP BY 1 ORDER BY read DESC, 1""")


def _top_reasons(d: Dir, limit: int = 15) -> Table:
    # group by the raw reason first: the regex then runs once per distinct reason, not once per row
    return query(d.con, "top reasons (numbers replaced by #, so similar reasons group)", f"""
        SELECT step, reason_kind(reason) AS reason, sum(n)::BIGINT AS documents,
               round(sum(n) / {max(d.manifest["counts"]["read"], 1)}, 4) AS share_of_read
        FROM (SELECT dropped_by AS step, reason, count(*) AS n FROM decisions WHERE status <> 'kept' GROUP BY ALL)
        GROUP BY ALL ORDER BY documents DESC, step, reason LIMIT {limit}""")


def _removed_by_step_source(d: Dir) -> Table:
    order = {s: i for i, s in enumerate(d.step_ids)}
    read = {k: v["read"] for k, v in d.manifest.get("counts_by_source", {}).items()}
    rows = d.rows("SELECT dropped_by, source, count(*) FROM decisions WHERE status <> 'kept' GROUP BY ALL")
    rows = [(step, src, n, round(n / max(read.get(src, 0), 1), 4)) for step, src, n in rows]
    rows.sort(key=lambda r: (order.get(r[0], 1 << 30), -r[2], r[1]))
    return Table("removed by step and source", ["step", "source", "removed", "share_of_source"], rows)


def big(d: Dir) -> bool:
    return d.manifest.get("counts", {}).get("read", 0) > EXACT_MEDIAN_ROWS


def _median_sql(d: Dir, col: str) -> str:
    """Exact median, or above EXACT_MEDIAN_ROWS one estimated from a reservoir sample of 16k values
    (exact quantiles sort every value: ~1 s per column per 10M rows; the reservoir is ~5x cheaper)."""
    if big(d):
        return f"reservoir_quantile({col}::DOUBLE, 0.5, 16384)"
    return f"quantile_cont({col}, 0.5)"


def _metric_expr(m: Metric) -> str:
    return f"{m.sql}::INTEGER" if m.kind == "bool" else m.sql


def metric_summaries(d: Dir) -> Table | None:
    """count, min, median, mean, max of every numeric (and boolean, as 0/1) metric, in one scan."""
    ms = [m for m in d.metrics if m.numeric or m.kind == "bool"]
    if not ms:
        return None
    parts = []
    for m in ms:
        e = _metric_expr(m)
        parts += [f"count({e})", f"min({e})::DOUBLE", _median_sql(d, e), f"avg({e})::DOUBLE", f"max({e})::DOUBLE"]
    values = d.con.execute(f"SELECT {', '.join(parts)} FROM decisions").fetchall()[0]
    rows = []
    for i, m in enumerate(ms):
        n, lo, med, mean, hi = values[5 * i:5 * i + 5]
        rows.append((m.name, m.step, m.kind, n, _num(lo), _num(med), _num(mean), _num(hi)))
    return Table("metric summaries over the documents each step measured"
                 + (" (medians estimated from a 16k-value sample)" if big(d) else ""),
                 ["metric", "step", "type", "n", "min", "median", "mean", "max"], rows)


def _num(v):
    if v is None:
        return None
    v = float(v)
    return int(v) if v.is_integer() else round(v, 4)


def _run_tables(d: Dir) -> list[Table]:
    tables = [_funnel(d), _fate_by(d, "source", "source"), _removed_by_step_source(d), _top_reasons(d)]
    m = metric_summaries(d)
    if m is not None:
        tables.append(m)
    return tables


def _cluster_sizes(d: Dir) -> Table:
    """Near-duplicate clusters (DIR/clusters, written by minhash_dedup) by size bucket."""
    return query(d.con, "near-duplicate clusters by size (members in this run; DIR/clusters)", """
        WITH c AS (SELECT step, dup_cluster, count(*) AS members, max(cluster_size) AS size,
                          count(*) FILTER (WHERE NOT is_representative) AS removed FROM clusters GROUP BY ALL),
             b AS (SELECT *, CASE WHEN size <= 5 THEN size::VARCHAR WHEN size <= 10 THEN '6-10'
                                  WHEN size <= 100 THEN '11-100' WHEN size <= 1000 THEN '101-1000' ELSE '>1000' END AS bucket,
                              CASE WHEN size <= 5 THEN size WHEN size <= 10 THEN 6 WHEN size <= 100 THEN 11
                                   WHEN size <= 1000 THEN 101 ELSE 1001 END AS ord FROM c)
        SELECT step, bucket AS cluster_size, count(*) AS clusters, sum(members) AS documents, sum(removed) AS removed,
               max(size) AS largest FROM b GROUP BY step, bucket, ord ORDER BY step, ord""")


def _document_tables(d: Dir) -> list[Table]:
    tables = []
    if d.has("documents"):
        tables.append(query(d.con, "documents by source" + (" (kept)" if d.kind == "run" else ""), """
            SELECT source, count(*) AS documents, sum(strlen(text)) AS bytes,
                   round(avg(length(text)), 1) AS avg_chars, count(*) FILTER (WHERE length(text) = 0) AS empty,
                   count(DISTINCT lang) FILTER (WHERE lang IS NOT NULL) AS languages
            FROM documents GROUP BY source ORDER BY source"""))
    if d.has("quarantine"):
        tables.append(query(d.con, "quarantine by source and error", """
            SELECT source, stage, error_type, count(*) AS records FROM quarantine
            GROUP BY ALL ORDER BY source, records DESC"""))
    return tables


def _ingest_counts(d: Dir) -> Table:
    manifest = d.manifest
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


# ---------------------------------------------------------------------------------------------------
# --by


def pivot(title: str, rows: list[tuple], row_name: str, row_order: list, col_order: list, total: dict | None = None) -> Table:
    """(row key, column key, value) triples -> one row per row key, one column per column key."""
    cells: dict = {}
    for r, c, v in rows:
        cells[(r, c)] = v
    out = []
    for r in row_order:
        vals = [cells.get((r, c), 0) for c in col_order]
        out.append((r, *vals) if total is None else (r, total.get(r, 0), *vals))
    cols = [row_name] + (["read"] if total is not None else []) + [str(c) for c in col_order]
    return Table(title, cols, out)


def _top_per(d: Dir, key_sql: str, key_name: str, n: int = 3, source: str = "decisions") -> Table:
    step = "" if key_name == "step" else "step, "
    return query(d.con, f"top {n} reasons per {key_name} (numbers replaced by #)", f"""
        SELECT {key_name}, {step}reason, documents FROM (
            SELECT *, row_number() OVER (PARTITION BY {key_name} ORDER BY documents DESC, reason) AS k FROM (
                SELECT {key_name}, {step}reason_kind(reason) AS reason, sum(n)::BIGINT AS documents FROM (
                    SELECT {key_sql} AS {key_name}{"" if key_name == "step" else ", dropped_by AS step"}, reason,
                           count(*) AS n
                    FROM {source} WHERE status <> 'kept' GROUP BY ALL)
                GROUP BY ALL))
        WHERE k <= {n} ORDER BY {key_name}, documents DESC, reason""")


def by_source(d: Dir) -> list[Table]:
    fate = _fate_by(d, "source", "source")
    sources = [r[0] for r in fate.rows]
    read = {r[0]: r[1] for r in fate.rows}
    removed = d.rows("SELECT source, dropped_by, count(*) FROM decisions WHERE status <> 'kept' GROUP BY ALL")
    steps = [s for s in d.step_ids if any(r[1] == s for r in removed)]
    tables = [fate, pivot("documents removed per source, by step (columns in recipe order)",
                          removed, "source", sources, steps, total=read),
              _top_per(d, "source", "source")]
    ms = [m for m in d.metrics if m.numeric]
    if ms and sources:
        med = {m.name: _median_sql(d, m.sql) for m in ms}
        rows = d.rows(f"SELECT source, {', '.join(med.values())} FROM decisions GROUP BY source")
        by = {r[0]: r[1:] for r in rows}
        tables.append(Table("median of each metric per source (over the documents the step measured)",
                            ["metric", "step", *sources],
                            [(m.name, m.step, *[_num(by[s][i]) for s in sources]) for i, m in enumerate(ms)]))
    return tables


def by_step(d: Dir) -> list[Table]:
    funnel = _funnel(d)
    seconds = d.manifest.get("timings", {}).get("step_seconds", {})
    for st in d.manifest.get("timings", {}).get("stages", []):
        if st.get("kind") == "global":
            seconds = {**seconds, st["step"]: st["seconds"]}
    q = d.manifest.get("counts_by_step", {})
    funnel.rows = [(*r[:4], q.get(r[0], {}).get("quarantined", 0), *r[4:], seconds.get(r[0])) for r in funnel.rows]
    funnel.columns = [*funnel.columns[:4], "quarantined", *funnel.columns[4:], "seconds"]
    funnel.title = "steps in recipe order: documents reaching each step, removed (dropped + quarantined), time"
    sources = [r[0] for r in d.rows("SELECT source FROM decisions GROUP BY 1 ORDER BY count(*) DESC, 1")]
    removed = d.rows("SELECT dropped_by, source, count(*) FROM decisions WHERE status <> 'kept' GROUP BY ALL")
    tables = [funnel, pivot("documents removed by each step, per source", removed, "step",
                            [s for s in d.step_ids], sources),
              _top_per(d, "dropped_by", "step", n=5)]
    order = {s: i for i, s in enumerate(d.step_ids)}
    tables[-1].rows.sort(key=lambda r: (order.get(r[0], 1 << 30), -r[2], r[1]))
    m = metric_summaries(d)
    if m is not None:
        m.rows.sort(key=lambda r: order.get(r[1], 1 << 30))
        tables.append(m)
    return tables


def lang_expr(d: Dir) -> tuple[str, str, str]:
    """(SQL over a decisions row aliased ``d`` with input documents ``i``, FROM clause, description)."""
    lid = d.find("lid_lang")
    has_input = d.has("input_documents")
    parts = []
    if lid is not None:
        parts.append(f"d.{lid.sql}")
    if has_input:
        parts.append("i.lang")
    expr = f"coalesce({', '.join(parts)}, '(unknown)')" if parts else "'(unknown)'"
    src = "decisions d" + (" LEFT JOIN (SELECT id, lang FROM input_documents) i USING (id)" if has_input else "")
    what = " then ".join(w for w, ok in ((f"the {lid.name} column (language ID step)" if lid else "", lid is not None),
                                          ("the input documents' lang field", has_input)) if ok) or "nothing"
    return expr, src, what


def by_lang(d: Dir) -> list[Table]:
    expr, src, what = lang_expr(d)
    base = f"(SELECT {expr} AS lang, d.* FROM {src})"
    fate = _fate_by(d, "lang", "lang", source=base)
    fate.title = f"fate by language (language from {what})"
    langs = [r[0] for r in fate.rows]
    read = {r[0]: r[1] for r in fate.rows}
    removed = d.rows(f"SELECT lang, dropped_by, count(*) FROM {base} WHERE status <> 'kept' GROUP BY ALL")
    steps = [s for s in d.step_ids if any(r[1] == s for r in removed)]
    tables = [fate, pivot("documents removed per language, by step", removed, "lang", langs, steps, total=read),
              _top_per(d, "lang", "lang", source=base)]
    score = d.find("lid_score")
    if score is not None:
        tables.append(query(d.con, f"{score.name} per language (confidence of the language ID step)", f"""
            SELECT lang, count({score.sql}) AS measured, round(min({score.sql}), 4) AS min,
                   round({_median_sql(d, score.sql)}, 4) AS median, round(avg({score.sql}), 4) AS mean
            FROM {base} GROUP BY 1 ORDER BY measured DESC, 1"""))
    if d.has("documents"):
        tables.append(query(d.con, "kept documents by language (documents.lang)", """
            SELECT coalesce(lang, '(unknown)') AS lang, count(*) AS documents, sum(length(text)) AS chars,
                   round(count(*) / sum(count(*)) OVER (), 4) AS share
            FROM documents GROUP BY 1 ORDER BY documents DESC, 1"""))
    return tables


# ---------------------------------------------------------------------------------------------------
# rendering


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
        if not t.rows:
            out.append("(none)")
    return "\n".join(out).lstrip("\n")


def _fmt(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 1 else f"{v:,.1f}"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, (list, tuple)):
        return " ".join(str(x) for x in v)
    return str(v)


def _numeric(s: str) -> bool:
    return s.replace(",", "").replace(".", "").replace("-", "").replace("+", "").isdigit()


__all__ = ["BY", "Table", "query", "render", "summarize", "quote"]
