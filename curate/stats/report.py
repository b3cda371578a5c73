"""``curate report DIR -o report.html``: one self-contained HTML file about a run.

No network, no JavaScript: the charts are inline SVG drawn by :mod:`curate.stats.charts` from DuckDB
aggregates over the run's files in place. Sections (each with an anchor, in this order, each only
when its data exists):

``#funnel``      documents reaching each step and removed by it (read -> kept)
``#sources``     fate per source: kept and removed by each step, as shares of what the source read
``#reasons``     the most frequent reasons (numbers replaced by #)
``#metrics``     a histogram of every numeric metric, per step, split into kept / dropped by that
                 step / dropped by another step; flags (boolean metrics) and constant metrics
``#language``    language mix (lid_lang, else the input's lang field) and the language-ID score
``#hate``        hate-speech score and labels
``#duplicates``  exact-duplicate group sizes and near-duplicate cluster sizes (DIR/clusters)
``#pii``         PII spans replaced, by type and by source
``#tokens``      tokens per source and split, from a shards manifest built from this run
``#examples``    a few dropped documents per reason: short excerpts, anonymized (excerpts.py)
``#quarantine``  what could not be processed
``#recipe``      the recipe's steps and parameters
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

from curate.errors import CurateError
from curate.manifest import read_json
from curate.stats import charts as C
from curate.stats.common import Dir, Metric, open_dir
from curate.stats.excerpts import WINDOW, excerpt, make_anonymizer
from curate.stats.summary import EXACT_MEDIAN_ROWS, lang_expr
from curate.io.duck import sql_str


def _e(s: object) -> str:
    return escape("" if s is None else str(s), quote=True)


@dataclass
class Section:
    id: str
    title: str
    body: str
    charts: int = 0


@dataclass
class Report:
    d: Dir
    sections: list[Section] = field(default_factory=list)
    colors: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    examples: int = 0
    anonymizer: str = ""

    def step_color(self, step: str) -> str:
        if step not in self.colors:
            ids = self.d.step_ids
            i = ids.index(step) if step in ids else len(ids) + len(self.colors)
            palette = [c for c in C.PALETTE if c not in (C.KEPT,)]
            self.colors[step] = palette[i % len(palette)]
        return self.colors[step]


def write_report(directory: str | Path, out: str | Path, shards: str | Path | None = None, examples: int = 3) -> dict:
    """Write the report of ``directory`` to ``out``; return counts of what it holds."""
    from curate.stats.database import refresh_database

    d = open_dir(directory)
    try:
        if not d.is_run:
            raise CurateError(f"{directory}: `curate report` needs a `curate run` output directory (decisions/); "
                              f"this is a {d.kind!r} output (use `curate stats {directory}`)")
        r = Report(d)
        # reasons grouped once (the regex runs per distinct reason, not per row); used by #reasons and #examples
        d.con.execute("""CREATE TEMP TABLE reason_kinds AS
                         SELECT dropped_by, reason, reason_kind(reason) AS k, n FROM (
                             SELECT dropped_by, reason, count(*) AS n FROM decisions WHERE status <> 'kept' GROUP BY ALL)""")
        shards_manifest, shards_path = _find_shards(d, shards)
        builders = [_funnel, _sources, _reasons, _metrics, _language, _hate, _duplicates, _pii,
                    lambda r: _tokens(r, shards_manifest, shards_path),
                    lambda r: _examples(r, examples), _quarantine, _recipe]
        for build in builders:
            sec = build(r)
            if sec is not None:
                r.sections.append(sec)
        html = _page(r, shards_manifest)
    finally:
        d.con.close()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".tmp-{out.name}")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(out)
    refresh_database(directory)
    return {"path": str(out), "sections": len(r.sections), "charts": sum(s.charts for s in r.sections),
            "examples": r.examples, "anonymizer": "regex only" if "regex only" in r.anonymizer else "pii step" if r.anonymizer else "no excerpts"}


# ---------------------------------------------------------------------------------------------------
# helpers


def _table(columns: list[str], rows: list[tuple], numeric: set[int] | None = None, cls: str = "") -> str:
    auto = {i for i in range(len(columns)) if rows and all(
        isinstance(r[i], (int, float)) or r[i] is None or (isinstance(r[i], str) and _NUMLIKE.match(r[i]))
        for r in rows)}
    numeric = auto if numeric is None else (numeric | {i for i in auto if any(isinstance(r[i], str) for r in rows)})
    head = "".join(f'<th{" class=num" if i in numeric else ""}>{_e(c)}</th>' for i, c in enumerate(columns))
    body = []
    for r in rows:
        cells = []
        for i, v in enumerate(r):
            if i in numeric:
                cells.append(f"<td class=num>{_e(_fmt(v))}</td>")
            else:
                cells.append(f"<td>{v.html if isinstance(v, _Raw) else _e(v) if v is not None else '–'}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


_NUMLIKE = re.compile(r"^([<>]?[0-9][0-9.,]*%?|–)$")


class _Raw:
    def __init__(self, html: str) -> None:
        self.html = html


def _fmt(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if v.is_integer() and abs(v) >= 1:
            return f"{int(v):,}"
        return C.number(v)
    return str(v)


def _pct(n: float, total: float) -> str:
    return C.percent(n / total) if total else "–"


def _card(label: str, value: str, sub: str = "") -> str:
    return (f'<div class="card"><div class="card-label">{_e(label)}</div><div class="card-value">{_e(value)}</div>'
            f'<div class="card-sub">{_e(sub)}</div></div>')


def _figure(svg: str, caption: str = "") -> str:
    cap = f"<figcaption>{_e(caption)}</figcaption>" if caption else ""
    return f'<figure class="fig">{svg}{cap}</figure>'


def _read(r: Report) -> int:
    return int(r.d.manifest["counts"]["read"])


# ---------------------------------------------------------------------------------------------------
# sections


def _funnel(r: Report) -> Section:
    m = r.d.manifest
    read = _read(r)
    kinds = {s["id"]: s.get("kind") for s in r.d.steps}
    seconds = dict(m.get("timings", {}).get("step_seconds", {}))
    for st in m.get("timings", {}).get("stages", []):
        if st.get("kind") == "global":
            seconds[st["step"]] = st["seconds"]
    cats, remaining, removed, ends, rows = ["read"], [read], [0], [f"{read:,} read"], []
    reached = read
    for i, f in enumerate(m["funnel"], 1):
        cats.append(f"{i}. {f['step']}")
        remaining.append(f["remaining"])
        removed.append(f["removed"])
        ends.append(f"{f['remaining']:,}" + (f"  (−{f['removed']:,}, {_pct(f['removed'], reached)})" if f["removed"] else ""))
        rows.append((i, f["step"], kinds.get(f["step"]), reached, f["removed"], _pct(f["removed"], reached),
                     f["remaining"], _pct(f["remaining"], read), seconds.get(f["step"])))
        reached = f["remaining"]
    svg = C.stacked_hbar(cats, [("remaining after the step", remaining, C.KEPT),
                                ("removed by the step", removed, C.DROPPED_HERE)],
                         title="Funnel: documents remaining after each step",
                         subtitle=f"{read:,} documents read → {m['counts']['kept']:,} kept "
                                  f"({_pct(m['counts']['kept'], read)}); steps in recipe order",
                         xlabel="documents", end_labels=ends, bar=18)
    table = _table(["#", "step", "kind", "reached", "removed", "of reached", "remaining", "of read", "seconds"], rows,
                   numeric={0, 3, 4, 6, 8})
    return Section("funnel", "Funnel", _figure(svg) + table, 1)


def _sources(r: Report) -> Section:
    d = r.d
    read = {s: c["read"] for s, c in d.manifest.get("counts_by_source", {}).items()}
    sources = sorted(read, key=lambda s: (-read[s], s))
    counts = {}
    for src, status, step, n in d.rows("SELECT source, status, dropped_by, count(*) FROM decisions GROUP BY ALL"):
        counts[(src, status, step)] = n
    steps = [s for s in d.step_ids if any(k[2] == s and k[1] == "dropped" for k in counts)]
    series = [("kept", [counts.get((s, "kept", None), 0) for s in sources], C.KEPT)]
    for st in steps:
        series.append((f"dropped by {st}", [counts.get((s, "dropped", st), 0) for s in sources], r.step_color(st)))
    quarantined = [sum(n for (s2, status, _), n in counts.items() if s2 == s and status == "quarantined") for s in sources]
    if any(quarantined):
        series.append(("quarantined", quarantined, "#6b7280"))
    svg = C.stacked_hbar(sources, series, title="What happened to each source's documents",
                         subtitle="share of each source's documents kept and removed by each step; read count at the end",
                         xlabel="share of the source's documents read", normalize=True,
                         end_labels=[f"{read[s]:,} read" for s in sources])
    rows = []
    for s in sources:
        kept = counts.get((s, "kept", None), 0)
        top = max(((st, counts.get((s, "dropped", st), 0)) for st in steps), key=lambda x: x[1], default=(None, 0))
        rows.append((s, read[s], kept, _pct(kept, read[s]), read[s] - kept, f"{top[0]} ({top[1]:,})" if top[1] else "–"))
    table = _table(["source", "read", "kept", "keep rate", "removed", "removed most by"], rows, numeric={1, 2, 4})
    return Section("sources", "Removal per source", _figure(svg) + table, 1)


def _reasons(r: Report) -> Section | None:
    rows = r.d.rows("""SELECT dropped_by, k, sum(n)::BIGINT AS n FROM reason_kinds
                       GROUP BY ALL ORDER BY n DESC, 1, 2 LIMIT 15""")
    if not rows:
        return None
    read = _read(r)
    items = [(f"{st}: {k}", n) for st, k, n in rows]
    svg = C.hbar(items, title="Most frequent reasons for removal",
                 subtitle="numbers in reasons replaced by # so that similar reasons group; colour = step",
                 xlabel="documents removed", color=[r.step_color(st) for st, _, _ in rows],
                 value_label=lambda v, i: f"{v:,.0f} ({_pct(v, read)})", label_width=330, bar=16)
    return Section("reasons", "Reasons", _figure(svg), 1)


_UNITS = (("n_chars", "characters"), ("_chars_removed", "characters removed"), ("_chars", "characters"),
          ("_words", "words"), ("words", "words"), ("_lines", "lines"), ("_frac", "fraction, 0–1"),
          ("fraction", "fraction, 0–1"), ("ratio", "ratio"), ("_score", "score"), ("score", "score"),
          ("pii_", "spans replaced per document"), ("cluster_size", "documents in the cluster"),
          ("_count", "documents in the group"), ("_max", "characters"), ("shingles", "shingles"),
          ("_removed", "removed per document"), ("_decoded", "per document"), ("jaccard", "estimated Jaccard, 0–1"))


def unit_of(name: str) -> str:
    for key, unit in _UNITS:
        if key in name:
            return unit
    return "value"


@dataclass
class _Stats:
    n: int
    lo: float
    hi: float
    p01: float
    p50: float
    p99: float
    at_min: int = 0  # documents at the minimum value (counted when that is at least half of them)
    above: "_Stats | None" = None  # stats of the values above the minimum, when half or more are at it


def _metric_stats(d: Dir, ms: list[Metric], above: dict[str, float] | None = None) -> dict[str, _Stats]:
    """Count, range and quantiles of each metric in one scan. A metric whose median is its minimum
    (mostly 0, or mostly 1 for group sizes) also gets the stats of its values above the minimum, so
    its chart can show those and say how many documents sit at the minimum."""
    approx = _read_count(d) > EXACT_MEDIAN_ROWS
    if not ms:
        return {}
    cols, parts = [], []
    for i, m in enumerate(ms):
        if above:  # one projected column per metric: values above the minimum (else NULL), and at-minimum flags
            lo = _literal(m, above[m.name])
            cols += [f"CASE WHEN {m.sql} > {lo} THEN {m.sql}::DOUBLE END AS x{i}", f"{m.sql} = {lo} AS z{i}"]
        else:
            cols.append(f"{m.sql}::DOUBLE AS x{i}")
        x = f"x{i}"
        q = (f"reservoir_quantile({x}, [0.01, 0.5, 0.99], 16384)" if approx
             else f"quantile_cont({x}, [0.01, 0.5, 0.99])")
        parts += [f"count({x})", f"min({x})", f"max({x})", q, f"count(*) FILTER (WHERE z{i})" if above else "0"]
    row = d.rows(f"SELECT {', '.join(parts)} FROM (SELECT {', '.join(cols)} FROM decisions)")[0]
    out = {}
    for i, m in enumerate(ms):
        n, lo, hi, q, at = row[5 * i:5 * i + 5]
        q = q or [None, None, None]
        out[m.name] = _Stats(int(n or 0), lo, hi, q[0], q[1], q[2], int(at or 0))
    if above is None:
        skewed = {m.name: out[m.name].lo for m in ms
                  if out[m.name].n and out[m.name].hi > out[m.name].lo and out[m.name].p50 == out[m.name].lo}
        if skewed:
            for name, st in _metric_stats(d, [m for m in ms if m.name in skewed], skewed).items():
                if st.n and st.at_min * 2 >= out[name].n:
                    out[name].at_min, out[name].above = st.at_min, st
    return out


def _literal(m: Metric, v: float) -> str:
    return str(int(v)) if m.kind == "int" and float(v).is_integer() else repr(float(v))


def _read_count(d: Dir) -> int:
    return int(d.manifest.get("counts", {}).get("read", 0))


def _log_edges(hi: float) -> list[float]:
    edges = [0.0]
    k = 0
    while edges[-1] <= hi:
        edges.append(float((1, 2, 5)[k % 3] * 10 ** (k // 3)))
        k += 1
    return edges


def _bins(m: Metric, st: _Stats) -> dict:
    """How to bin a metric: {'mode': 'int'|'uniform'|'log', ...} plus the SQL bin index expression."""
    lo, hi = st.lo, st.hi
    c = m.sql
    if m.kind == "int" and hi - lo <= 40:
        lo_i = int(lo)
        n = int(hi) - lo_i + 1
        return {"mode": "int", "n": n, "labels": [str(lo_i + i) for i in range(n)], "sql": f"({c} - {lo_i})::BIGINT"}
    if lo >= 0 and hi > 100 and hi > 20 * max(st.p50 or 0, 1):
        edges = _log_edges(hi)
        cases = " ".join(f"WHEN {c} < {edges[i + 1]} THEN {i}" for i in range(len(edges) - 1))
        labels = [C.compact(e) for e in edges]
        return {"mode": "log", "n": len(edges) - 1, "edge_labels": labels,
                "sql": f"CASE {cases} ELSE {len(edges) - 2} END"}
    if lo >= 0 and hi <= 1:
        top = next(t for t in (0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 1.0) if hi <= t)
        a, b, clamp = 0.0, top, False
    else:
        a, b = (st.p01, st.p99) if st.p01 is not None and st.p99 is not None and st.p99 > st.p01 else (lo, hi)
        ticks = C.nice_ticks(a, b, 5)
        a, b = ticks[0], ticks[-1]
        clamp = a > lo or b < hi
    n = 20 if b - a > 0 else 1
    w = (b - a) / n if b > a else 1.0
    return {"mode": "uniform", "n": n, "edges": [a + w * i for i in range(n + 1)], "clamp": clamp,
            "sql": f"least(greatest(floor(({c} - {a!r}) / {w!r}), 0), {n - 1})::BIGINT"}


def _histogram_counts(d: Dir, m: Metric, spec: dict, above: float | None = None) -> tuple[list[int], list[int], list[int]]:
    step = m.step or ""
    extra = f" AND {m.sql} > {_literal(m, above)}" if above is not None else ""
    rows = d.rows(f"""
        SELECT {spec['sql']} AS b, count(*) FILTER (WHERE kept) AS k,
               count(*) FILTER (WHERE NOT kept AND dropped_by = ?) AS here,
               count(*) FILTER (WHERE NOT kept AND dropped_by IS DISTINCT FROM ?) AS other
        FROM decisions WHERE {m.sql} IS NOT NULL{extra} GROUP BY 1""", [step, step])
    n = spec["n"]
    kept, here, other = [0] * n, [0] * n, [0] * n
    for b, k, h, o in rows:
        b = min(max(int(b), 0), n - 1)
        kept[b] += k
        here[b] += h
        other[b] += o
    return kept, here, other


def metric_chart(d: Dir, m: Metric, st: _Stats, title: str | None = None, width: float = 540,
                 tag: str | None = None) -> str:
    """Histogram of one metric: kept / dropped by its step / dropped by another step. When most values
    are 0 the bars show the other values and the subtitle says how many are 0."""
    shown = st.above if st.above is not None else st
    spec = _bins(m, shown)
    kept, here, other = _histogram_counts(d, m, spec, above=st.lo if st.above is not None else None)
    kind = next((s.get("kind") for s in d.steps if s["id"] == m.step), None)
    series = [("kept", kept, C.KEPT)]
    if any(here) or kind in ("filter", "global"):
        series.append((f"dropped by {m.step}", here, C.DROPPED_HERE))
    series.append(("dropped by another step", other, C.DROPPED_ELSEWHERE))
    if st.above is not None:
        sub = (f"{st.at_min:,} of {st.n:,} documents measured are {C.number(st.lo)} ({_pct(st.at_min, st.n)}); "
               f"bars: the other {shown.n:,} · median {C.number(shown.p50)}")
    else:
        sub = f"{st.n:,} documents measured · median {C.number(st.p50)} · range {C.number(st.lo)} – {C.number(st.hi)}"
    if spec.get("clamp"):
        sub += " · outliers in the end bins"
    kw: dict = {}
    if spec["mode"] == "int":
        kw["labels"] = spec["labels"]
    elif spec["mode"] == "log":
        kw["edge_labels"] = spec["edge_labels"]
    else:
        kw["edges"] = spec["edges"]
    unit = unit_of(m.name) + (", log-spaced bins" if spec["mode"] == "log" else "")
    name = title or m.name
    if tag:
        name = f"{name}  ·  {tag}"
    return C.histogram(series, title=name, subtitle=sub, xlabel=f"{m.name} ({unit})",
                       ylabel="documents", width=width, **kw)


_DEDICATED = ("lid_", "hate_", "pii_", "minhash_cluster_size", "exact_dup_count")


def _metrics(r: Report) -> Section | None:
    d = r.d
    numeric = [m for m in d.metrics if m.numeric]
    flags = [m for m in d.metrics if m.kind == "bool"]
    if not numeric and not flags:
        return None
    stats = _metric_stats(d, numeric)
    kinds = {s["id"]: s.get("kind") for s in d.steps}
    figs, constants, unmeasured = [], [], []
    for sid in d.step_ids + [None]:
        tag = f"step {sid} ({kinds.get(sid)})" if sid else "no recipe step"
        for m in [m for m in numeric if m.step == sid]:
            st = stats[m.name]
            if st.n == 0:
                unmeasured.append(m.name)
            elif st.lo == st.hi:
                constants.append((m.name, sid, C.number(st.lo), st.n))
            else:
                figs.append(_figure(metric_chart(d, m, st, tag=tag)))
    if flags:
        cols = ", ".join(f"count({m.sql}), count(*) FILTER (WHERE {m.sql})" for m in flags)
        row = d.rows(f"SELECT {cols} FROM decisions")[0]
        items, tips = [], []
        for i, m in enumerate(flags):
            n, t = row[2 * i], row[2 * i + 1]
            items.append((m.name, (t / n) if n else 0.0))
            tips.append(f"{m.name} (step {m.step}): true for {t:,} of {n:,} documents measured")
        figs.append(_figure(C.hbar(items, title="Flags (boolean metrics)", xlabel="share of the documents measured",
                                   subtitle="share of the documents each step measured for which its flag is true",
                                   color="#7c6fb0", width=540, tips=tips, axis=C.percent, bar=16,
                                   value_label=lambda v, i: C.percent(v))))
    parts = [f'<div class="grid">{"".join(figs)}</div>']
    if constants:
        parts.append("<h3>Constant metrics</h3><p class=muted>The same value for every document measured, so no "
                     "histogram.</p>" + _table(["metric", "step", "value", "documents measured"], constants, numeric={3}))
    if unmeasured:
        parts.append(f"<p class=muted>Not measured on any document (the step never saw one): "
                     f"{_e(', '.join(unmeasured))}.</p>")
    intro = ("<p>Every numeric column of the decision log, in recipe order. Bars split the documents the step "
             "measured into <span class=k>kept</span>, <span class=h>dropped by this step</span> and "
             "<span class=o>dropped by another step</span>, so a filter's cut shows where the orange starts. "
             "Hover a bar for its range and count.</p>")
    return Section("metrics", "Metrics", intro + "".join(parts), len(figs))


def _language(r: Report) -> Section | None:
    d = r.d
    expr, src, what = lang_expr(d)
    if what == "nothing" and not d.has("documents"):
        return None
    rows = d.rows(f"""SELECT {expr} AS lang, count(*) FILTER (WHERE d.kept), count(*) FILTER (WHERE NOT d.kept)
                      FROM {src} GROUP BY 1 ORDER BY count(*) DESC, 1""")
    if not rows or (len(rows) == 1 and rows[0][0] == "(unknown)" and what == "nothing"):
        return None
    top = rows[:15]
    rest = rows[15:]
    if rest:
        top = top + [("other", sum(x[1] for x in rest), sum(x[2] for x in rest))]
    langs = [x[0] for x in top]
    total = sum(x[1] + x[2] for x in rows)
    svg = C.stacked_hbar(langs, [("kept", [x[1] for x in top], C.KEPT), ("removed", [x[2] for x in top], C.DROPPED_ELSEWHERE)],
                         title="Language mix", subtitle=f"documents read per language (from {what})",
                         xlabel="documents", end_labels=[f"{x[1] + x[2]:,} ({_pct(x[1] + x[2], total)})" for x in top])
    figs, charts = [_figure(svg)], 1
    score = d.find("lid_score")
    if score is not None:
        st = _metric_stats(d, [score])[score.name]
        if st.n:
            figs.append(_figure(metric_chart(d, score, st, title=f"Language-ID confidence ({score.name})", width=880)))
            charts += 1
    body = "".join(figs)
    if d.has("documents"):
        kept = d.rows("""SELECT coalesce(lang, '(unknown)'), count(*), sum(length(text))::BIGINT FROM documents
                         GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 20""")
        ktotal = sum(x[1] for x in kept) or 1
        body += "<h3>Kept documents by language (documents.lang)</h3>" + _table(
            ["lang", "documents", "share", "characters"], [(a, b, _pct(b, ktotal), c) for a, b, c in kept], numeric={1, 3})
    return Section("language", "Language", body, charts)


def _hate(r: Report) -> Section | None:
    d = r.d
    score, label = d.find("hate_score"), d.find("hate_label")
    if score is None and label is None:
        return None
    figs, charts = [], 0
    if score is not None:
        st = _metric_stats(d, [score])[score.name]
        if st.n:
            figs.append(_figure(metric_chart(d, score, st, title=f"Hate-speech score ({score.name})")))
            charts += 1
    if label is not None:
        rows = d.rows(f"""SELECT coalesce({label.sql}::VARCHAR, '(not measured)'), count(*) FROM decisions
                          WHERE {label.sql} IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 20""")
        if rows:
            total = sum(x[1] for x in rows)
            figs.append(_figure(C.hbar(rows, title=f"Hate-speech labels ({label.name})", xlabel="documents",
                                       subtitle=f"{total:,} documents labelled", color="#b5484b", width=540,
                                       value_label=lambda v, i: f"{v:,.0f} ({_pct(v, total)})")))
            charts += 1
    if not figs:
        return None
    return Section("hate", "Hate speech", f'<div class="grid">{"".join(figs)}</div>', charts)


def _size_buckets(rows: list[tuple[int, int]]) -> tuple[list[str], list[int]]:
    """(size, count) pairs -> bucketed labels 2, 3, 4, 5, 6–10, 11–100, 101–1000, >1000."""
    buckets = [("1", 1, 1), ("2", 2, 2), ("3", 3, 3), ("4", 4, 4), ("5", 5, 5), ("6–10", 6, 10),
               ("11–100", 11, 100), ("101–1k", 101, 1000), (">1k", 1001, math.inf)]
    counts = [0] * len(buckets)
    for size, n in rows:
        for i, (_, lo, hi) in enumerate(buckets):
            if lo <= size <= hi:
                counts[i] += n
                break
    used = [i for i, c in enumerate(counts) if c] or [0]
    first, last = min(used), max(used)
    return [b[0] for b in buckets[first:last + 1]], counts[first:last + 1]


def _duplicates(r: Report) -> Section | None:
    d = r.d
    parts, charts = [], 0
    for m in [m for m in d.metrics if m.name.endswith("exact_dup_count")]:
        rows = d.rows(f"""SELECT {m.sql}, count(*) FROM decisions WHERE {m.sql} IS NOT NULL GROUP BY 1""")
        groups = [(size, n // max(size, 1)) for size, n in rows if size and size > 1]
        if not rows:
            continue
        removed = d.scalar("SELECT count(*) FROM decisions WHERE dropped_by = ?", [m.step])
        if groups:
            labels, counts = _size_buckets(groups)
            parts.append(_figure(C.histogram([("groups", counts, "#4e79a7")], labels=labels,
                                             title=f"Exact-duplicate groups by size ({m.step})",
                                             subtitle=f"{sum(g[1] for g in groups):,} groups of identical texts; "
                                                      f"{removed:,} copies removed",
                                             xlabel="documents in the group (copies)", ylabel="groups")))
            charts += 1
        else:
            parts.append(f"<p>{_e(m.step)}: no exact duplicates among the {sum(n for _, n in rows):,} documents it saw.</p>")
    if d.has("clusters"):
        sizes = d.rows("""SELECT size, count(*) FROM (SELECT step, dup_cluster, max(cluster_size) AS size
                          FROM clusters GROUP BY ALL) GROUP BY 1""")
        labels, counts = _size_buckets(sizes)
        total = sum(n for _, n in sizes)
        members = d.scalar("SELECT count(*) FROM clusters")
        removed = d.scalar("SELECT count(*) FROM clusters WHERE NOT is_representative")
        parts.append(_figure(C.histogram([("clusters", counts, "#59a14f")], labels=labels,
                                         title="Near-duplicate clusters by size (DIR/clusters)",
                                         subtitle=f"{total:,} clusters, {members:,} documents, {removed:,} removed "
                                                  "(one representative kept per cluster)",
                                         xlabel="documents in the cluster", ylabel="clusters")))
        charts += 1
        big = d.rows("""SELECT step, dup_cluster, max(cluster_size) AS size, count(*) AS here,
                               any_value(id) FILTER (WHERE is_representative) AS rep
                        FROM clusters GROUP BY ALL ORDER BY size DESC, dup_cluster LIMIT 10""")
        parts.append("<h3>Largest clusters</h3>" + _table(["step", "cluster", "size", "members in this run", "representative kept"],
                                                          big, numeric={2, 3}))
    else:
        cs = d.find("minhash_cluster_size")
        if cs is not None:
            rows = d.rows(f"SELECT {cs.sql}, count(*) FROM decisions WHERE {cs.sql} > 1 GROUP BY 1")
            if rows:
                labels, counts = _size_buckets(rows)
                parts.append(_figure(C.histogram([("documents", counts, "#59a14f")], labels=labels,
                                                 title=f"Documents in near-duplicate clusters ({cs.name})",
                                                 xlabel="documents in the cluster", ylabel="documents")))
                charts += 1
    if not parts:
        return None
    figs = [p for p in parts if p.startswith("<figure")]
    rest = [p for p in parts if not p.startswith("<figure")]
    return Section("duplicates", "Duplicates", "".join(p for p in rest if p.startswith("<p>"))
                   + (f'<div class="grid">{"".join(figs)}</div>' if figs else "")
                   + "".join(p for p in rest if not p.startswith("<p>")), charts)


def _pii(r: Report) -> Section | None:
    d = r.d
    ms = [m for m in d.metrics if m.numeric and m.name.startswith("pii_") and m.name != "pii_total"]
    if not ms:
        ms = [m for m in d.metrics if m.numeric and "_pii_" in m.name and not m.name.endswith("pii_total")]
    if not ms:
        return None
    cols = ", ".join(f"coalesce(sum({m.sql}), 0)::BIGINT, count(*) FILTER (WHERE {m.sql} > 0)" for m in ms)
    row = d.rows(f"SELECT count({ms[0].sql}), {cols} FROM decisions")[0]
    measured = row[0]
    data = [(m.name.split("pii_", 1)[1], row[1 + 2 * i], row[2 + 2 * i]) for i, m in enumerate(ms)]
    data.sort(key=lambda x: (-x[1], x[0]))
    total = sum(x[1] for x in data)
    shown = [x for x in data if x[1] > 0] or data[:5]
    svg = C.hbar([(x[0], x[1]) for x in shown], title="PII replaced, by type",
                 subtitle=f"{total:,} spans replaced in {measured:,} documents measured; types with none: "
                          f"{', '.join(x[0] for x in data if x[1] == 0) or '–'}",
                 xlabel="spans replaced (placeholder tokens written)", color="#9c755f",
                 value_label=lambda v, i: f"{v:,.0f}")
    table = _table(["type", "spans", "documents with any", "share of measured"],
                   [(a, b, c, _pct(c, measured)) for a, b, c in data], numeric={1, 2})
    tot = d.find("pii_total")
    by_src = ""
    if tot is not None:
        rows = d.rows(f"""SELECT source, count({tot.sql}), coalesce(sum({tot.sql}), 0)::BIGINT,
                                 count(*) FILTER (WHERE {tot.sql} > 0) FROM decisions GROUP BY 1 ORDER BY 3 DESC, 1""")
        by_src = "<h3>By source (pii_total)</h3>" + _table(["source", "measured", "spans", "documents with any"],
                                               rows, numeric={1, 2, 3})
    return Section("pii", "PII", _figure(svg) + f'<div class="cols"><div><h3>By type</h3>{table}</div><div>{by_src}</div></div>', 1)


def _find_shards(d: Dir, explicit: str | Path | None) -> tuple[dict | None, Path | None]:
    if explicit is not None:
        m = read_json(Path(explicit) / "manifest.json")
        if not m or m.get("kind") != "shards":
            raise CurateError(f"--shards {explicit}: no shards manifest.json there (expected the output of `curate shards`)")
        return m, Path(explicit).resolve()
    me = d.path.resolve()
    found = []
    for pattern in ("*/manifest.json", "../*/manifest.json", "../../*/*/manifest.json"):
        for p in sorted(d.path.glob(pattern)):
            try:
                m = read_json(p)
            except (OSError, ValueError):
                continue
            if m and m.get("kind") == "shards" and Path((m.get("input") or {}).get("dir", "")).resolve() == me:
                found.append((p.stat().st_mtime, p.parent, m))
        if found:
            break
    if not found:
        return None, None
    _, path, m = max(found, key=lambda x: x[0])
    return m, path.resolve()


def _tokens(r: Report, m: dict | None, path: Path | None) -> Section | None:
    if not m:
        return None
    splits = [s for s in ("train", "valid", "test") if (m.get("counts", {}).get(s) or {}).get("documents")]
    sources = sorted({src for s in splits for src in m["counts"][s].get("by_source", {})})
    tok = {(s, src): m["counts"][s]["by_source"].get(src, {}).get("tokens", 0) for s in splits for src in sources}
    totals = {src: sum(tok[(s, src)] for s in splits) for src in sources}
    sources.sort(key=lambda x: -totals[x])
    colors = {"train": "#4e79a7", "valid": "#f28e2b", "test": "#59a14f"}
    grand = sum(totals.values())
    svg = C.stacked_hbar(sources, [(s, [tok[(s, src)] for src in sources], colors[s]) for s in splits],
                         title="Tokens per source and split", subtitle=f"{grand:,} tokens in {path} "
                         f"(mix applied, <|endoftext|> included)", xlabel="tokens",
                         end_labels=[f"{C.compact(totals[src])} ({_pct(totals[src], grand)})" for src in sources],
                         totals_label=C.compact)
    rows = []
    for src in sources:
        for s in splits:
            c = m["counts"][s]["by_source"].get(src)
            if c:
                rows.append((src, s, c.get("documents"), c.get("unique_documents"), c.get("tokens"),
                             C.percent(c.get("token_share", 0))))
    weights = (m.get("mix") or {}).get("weights") or {}
    mix = ", ".join(f"{k}={v}" for k, v in weights.items()) or "every source once"
    note = f"<p class=muted>Tokenizer {_e((m.get('tokenizer') or {}).get('path'))}; mix: {_e(mix)}.</p>"
    return Section("tokens", "Tokens", _figure(svg) + note + _table(
        ["source", "split", "documents", "unique documents", "tokens", "token share"], rows, numeric={2, 3, 4}), 1)


def _examples(r: Report, per_reason: int) -> Section | None:
    d = r.d
    if per_reason <= 0:
        return None
    kinds = d.rows("""SELECT dropped_by, k, sum(n)::BIGINT AS n FROM reason_kinds
                      GROUP BY ALL ORDER BY n DESC, 1, 2 LIMIT 12""")
    if not kinds:
        return None
    inp = (d.manifest.get("input") or {}).get("dir")
    if not d.has("input_documents"):
        return Section("examples", "Dropped documents", f"<p>The run's input directory ({_e(inp)}) is not there any "
                       "more, so no excerpts of dropped documents can be shown (dropped documents are only in the "
                       "input; DIR/documents holds the kept ones).</p>")
    picks = d.rows(f"""
        WITH top AS (SELECT * FROM (VALUES {", ".join(f"({sql_str(a)}, {sql_str(b)})" for a, b, _ in kinds)}) t(step, k)),
             r AS (SELECT rk.dropped_by, rk.reason, rk.k FROM reason_kinds rk
                   SEMI JOIN top ON rk.dropped_by IS NOT DISTINCT FROM top.step AND rk.k IS NOT DISTINCT FROM top.k),
             c AS (SELECT d.id, d.source, d.dropped_by, d.reason, r.k,
                          row_number() OVER (PARTITION BY d.dropped_by, r.k ORDER BY d.id) AS i
                   FROM decisions d JOIN r ON d.dropped_by IS NOT DISTINCT FROM r.dropped_by
                                          AND d.reason IS NOT DISTINCT FROM r.reason
                   WHERE d.status <> 'kept')
        SELECT c.dropped_by, c.k, c.id, c.source, c.reason, substr(i.text, 1, {WINDOW})
        FROM c LEFT JOIN input_documents i USING (id) WHERE c.i <= {per_reason} ORDER BY c.dropped_by, c.k, c.id""")
    anonymize, how = make_anonymizer(d.steps)
    r.anonymizer = how
    texts = anonymize([p[5] or "" for p in picks])
    by_kind: dict[tuple, list] = {}
    for p, t in zip(picks, texts):
        by_kind.setdefault((p[0], p[1]), []).append((p[2], p[3], p[4], excerpt(t), p[5] is None))
    blocks = []
    for step, k, n in kinds:
        items = []
        for doc_id, source, reason, text, missing in by_kind.get((step, k), []):
            body = ('<span class="muted">(not found in the input directory)</span>' if missing else
                    _e(text) if text else '<span class="muted">(empty text)</span>')
            items.append(f'<li><div class="ex-meta"><span class="tag">{_e(source)}</span> <code>{_e(doc_id)}</code> '
                         f'<span class="muted">{_e(reason)}</span></div><blockquote>{body}</blockquote></li>')
            r.examples += 1
        blocks.append(f'<div class="ex"><h3><span class="swatch" style="background:{r.step_color(step)}"></span>'
                      f'{_e(step)}: {_e(k)} <span class="muted">· {n:,} documents</span></h3><ul>{"".join(items)}</ul></div>')
    intro = (f"<p>Up to {per_reason} documents for each of the {len(kinds)} most frequent reasons, taken from the "
             f"run's input ({_e(inp)}) by id. <strong>Anonymized:</strong> {_e(how)}. Excerpts show the input text, "
             "before this run's mappers rewrote it.</p>")
    return Section("examples", "Dropped documents", intro + f'<div class="ex-grid">{"".join(blocks)}</div>')


def _quarantine(r: Report) -> Section | None:
    d = r.d
    if not d.has("quarantine"):
        return None
    rows = d.rows("""SELECT source, stage, error_type, count(*) AS n FROM quarantine GROUP BY ALL ORDER BY n DESC LIMIT 30""")
    if not rows:
        return None
    return Section("quarantine", "Quarantine", "<p>Documents that made a step raise (the run went on without them).</p>"
                   + _table(["source", "step", "error type", "documents"], rows, numeric={3}))


def _recipe(r: Report) -> Section:
    rows = []
    for i, s in enumerate(r.d.steps, 1):
        params = s.get("params") or {}
        ptxt = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False, default=str)}" for k, v in params.items())
        if len(ptxt) > 300:
            ptxt = ptxt[:297] + "…"
        rows.append((i, s["id"], s.get("name"), s.get("kind"), ptxt))
    rec = r.d.manifest.get("recipe") or {}
    head = (f"<p>Recipe <strong>{_e(rec.get('name'))}</strong> ({_e(rec.get('path') or 'inline')}), "
            f"hash <code>{_e((rec.get('hash') or '')[:16])}</code>.</p>")
    return Section("recipe", "Recipe", head + _table(["#", "step", "name", "kind", "parameters"], rows, numeric={0},
                                                     cls="recipe"))


# ---------------------------------------------------------------------------------------------------
# page

CSS = """
:root{--ink:#1f2933;--muted:#616e7c;--line:#e4e7eb;--bg:#f5f7fa;--card:#fff;--accent:#2f7ed8}
*{box-sizing:border-box}
body{margin:0;font-family:system-ui,-apple-system,'Segoe UI',Roboto,'Noto Sans','Noto Sans CJK KR','Apple SD Gothic Neo',sans-serif;
color:var(--ink);background:var(--bg);font-size:14px;line-height:1.5}
header.top{background:#102a43;color:#fff;padding:28px 0 22px}
.wrap{max-width:1200px;margin:0 auto;padding:0 24px}
header.top h1{margin:0 0 4px;font-size:24px;font-weight:650}
header.top .meta{color:#bcccdc;font-size:13px}
header.top code{color:#d9e2ec}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(140px,1fr));gap:12px;margin-top:18px}
.card{background:rgba(255,255,255,.08);border:1px solid rgba(255,255,255,.14);border-radius:10px;padding:10px 14px}
.card-label{font-size:12px;color:#bcccdc;text-transform:uppercase;letter-spacing:.04em}
.card-value{font-size:22px;font-weight:650;font-variant-numeric:tabular-nums}
.card-sub{font-size:12px;color:#9fb3c8;min-height:1em}
nav.toc{position:sticky;top:0;z-index:5;background:#fff;border-bottom:1px solid var(--line)}
nav.toc .wrap{display:flex;flex-wrap:wrap;gap:4px 18px;padding-top:10px;padding-bottom:10px}
nav.toc a{color:var(--accent);text-decoration:none;font-weight:500}
nav.toc a:hover{text-decoration:underline}
section{background:var(--card);border:1px solid var(--line);border-radius:12px;margin:20px 0;padding:18px 22px 22px;
scroll-margin-top:56px}
section h2{margin:0 0 10px;font-size:19px}
section h2 a.anchor{color:var(--line);text-decoration:none;margin-left:6px;font-weight:400}
section h2 a.anchor:hover{color:var(--accent)}
h3{font-size:15px;margin:20px 0 8px}
.muted{color:var(--muted);font-weight:400}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(500px,1fr));gap:14px 22px}
.cols{display:grid;grid-template-columns:repeat(auto-fit,minmax(380px,1fr));gap:0 28px;align-items:start}
.cols>div{min-width:0;overflow-x:auto}
.ex-grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(480px,1fr));gap:0 28px}
figure.fig{margin:8px 0 12px;min-width:0}
figure.fig svg{width:100%;height:auto;display:block;max-width:100%}
figcaption{color:var(--muted);font-size:12px}
table{border-collapse:collapse;width:100%;margin:8px 0 4px;font-size:13px;font-variant-numeric:tabular-nums}
th,td{padding:5px 9px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{font-weight:600;color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.03em;background:#fafbfc}
td.num,th.num{text-align:right}
td.num{white-space:nowrap}
tbody tr:nth-child(even){background:#fbfcfd}
table.recipe td:last-child{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px;
word-break:break-word;color:#334e68}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
.k,.h,.o{padding:0 5px;border-radius:4px;color:#fff}
.k{background:#2f7ed8}.h{background:#e8590c}.o{background:#c4cbd4;color:var(--ink)}
.ex h3{display:flex;align-items:center;gap:8px}
.swatch{display:inline-block;width:12px;height:12px;border-radius:3px}
.ex ul{list-style:none;padding:0;margin:0 0 10px}
.ex li{margin:0 0 10px}
.ex-meta{font-size:12px}
.ex-meta code{color:var(--muted)}
.tag{display:inline-block;background:#e6f0fb;color:#1c4f8a;border-radius:4px;padding:0 6px;font-size:12px}
blockquote{margin:4px 0 0;padding:8px 12px;background:#f8f9fb;border-left:3px solid #cbd2d9;border-radius:4px;
white-space:pre-wrap;word-break:break-word;font-size:13px;max-height:9.5em;overflow:hidden}
.note{background:#fff8e6;border:1px solid #f6d58b;border-radius:8px;padding:8px 12px;margin:14px 0 0;color:#6b4e00}
footer{color:var(--muted);font-size:12px;padding:10px 0 40px}
@media print{nav.toc{position:static}section{break-inside:avoid}}
"""


def _page(r: Report, shards: dict | None) -> str:
    d = r.d
    m = d.manifest
    c = m["counts"]
    read = c["read"]
    rec = m.get("recipe") or {}
    t = m.get("timings") or {}
    cards = [_card("read", f"{read:,}", f"{len(m.get('counts_by_source', {}))} sources"),
             _card("kept", f"{c['kept']:,}", f"{_pct(c['kept'], read)} of read"),
             _card("dropped", f"{c['dropped']:,}", f"{_pct(c['dropped'], read)} of read"),
             _card("quarantined", f"{c['quarantined']:,}", f"{_pct(c['quarantined'], read)} of read"),
             _card("steps", str(len(d.steps)), rec.get("name") or ""),
             _card("run time", f"{t.get('seconds', 0):,.1f} s", f"{t.get('docs_per_s', 0):,.0f} documents/s")]
    if shards:
        tokens = sum((shards["counts"].get(s) or {}).get("tokens", 0) for s in ("train", "valid", "test"))
        cards.append(_card("tokens", C.compact(tokens), f"{tokens:,} in the shards"))
    absent = []
    if not d.find("lid_lang"):
        absent.append("language ID")
    if not (d.find("hate_score") or d.find("hate_label")):
        absent.append("hate speech")
    if not any(mm.name.startswith("pii_") for mm in d.metrics):
        absent.append("PII")
    if not d.has("clusters") and not d.find("minhash_cluster_size"):
        absent.append("near-duplicate (MinHash) clusters")
    if not shards:
        absent.append("token counts (no shards built from this run were found; see curate report --shards)")
    note = (f'<div class="note">Not in this run, so not in this report: {_e("; ".join(absent))}.</div>' if absent else "")
    nav = "".join(f'<a href="#{s.id}">{_e(s.title)}</a>' for s in r.sections)
    body = "".join(f'<section id="{s.id}"><h2>{_e(s.title)}<a class="anchor" href="#{s.id}">#</a></h2>{s.body}</section>'
                   for s in r.sections)
    import curate

    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>curate report · {_e(rec.get('name'))} · {_e(d.path.name)}</title>
<style>{CSS}</style></head>
<body>
<header class="top"><div class="wrap">
<h1>Corpus report: {_e(rec.get('name') or 'run')}</h1>
<div class="meta">run <code>{_e(d.path.resolve())}</code> · input <code>{_e((m.get('input') or {}).get('dir'))}</code>
 · curate {_e(m.get('curate_version'))} · report generated {now}</div>
<div class="cards">{''.join(cards)}</div>
{note}
</div></header>
<nav class="toc"><div class="wrap">{nav}</div></nav>
<main class="wrap">{body}</main>
<footer class="wrap">Generated by <code>curate report</code> {_e(curate.__version__)} from the run's decision log
(DuckDB over the Parquet in place). The same data: <code>duckdb {_e(d.path.resolve() / 'curate.duckdb')}</code>
or <code>curate stats {_e(d.path)}</code>. No network resources; every chart is inline SVG.</footer>
</body></html>
"""
