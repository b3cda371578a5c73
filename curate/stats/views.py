"""DuckDB views over a curate output directory, with nothing copied.

A run directory gets these views (an ingest directory: ``documents``, ``quarantine``, ``clusters``,
``manifest``):

===================  ================================================================================
``documents``        ``DIR/documents/*.parquet``: the kept documents (an ingest: every document)
``decisions``        ``DIR/decisions/*.parquet``: one row per input document, its fate and metrics
``quarantine``       ``DIR/quarantine/*.parquet``: what could not be read or made a step raise
``clusters``         ``DIR/clusters/*.parquet``: near-duplicate cluster members (``minhash_dedup``)
``manifest``         ``DIR/manifest.json`` as one row
``funnel``           the manifest's funnel, one row per step (runs)
``input_documents``  the documents of the run's input directory (runs, while that directory exists):
                     the text of dropped documents, which ``documents`` does not hold
===================  ================================================================================

Views read the files in place at query time, with absolute paths (DuckDB resolves relative paths
against the working directory of whoever opens the database, not against the database file). A view
whose folder has no files is an empty view with the contract's columns, so queries work on every
run; its comment starts with ``empty:``. Also defined: the macro ``reason_kind(reason)``, which
replaces numbers and 32-hex ids in a reason by ``#`` so similar reasons group
(``'3 words < 5'`` -> ``'# words < #'``).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import duckdb
import pyarrow as pa

from curate.errors import CurateError
from curate.io.duck import sql_str
from curate.manifest import read_json

VIEWS = ("documents", "decisions", "quarantine", "clusters")

#: numbers and 32-hex ids (as whole words: the 3 of top_3_gram stays) -> '#'
REASON_KIND = r"regexp_replace(r, '\b([0-9a-f]{32}|[0-9]+([.][0-9]+)?)\b', '#', 'g')"

# Columns of the empty clusters view when minhash_dedup wrote no DIR/clusters files: those of
# curate.steps.dedup_minhash.CLUSTER_SCHEMA (not imported: importing the steps costs a second).
CLUSTER_COLUMNS = pa.schema([("step", pa.string()), ("id", pa.string()), ("dup_cluster", pa.string()),
                               ("is_representative", pa.bool_()), ("cluster_size", pa.int64()),
                               ("representative", pa.string()), ("jaccard", pa.float64()),
                               ("index_members", pa.int64()), ("shingles", pa.int64())])

_COMMENTS = {
    "documents": "documents of this directory (a run: the kept ones), read in place from {path}",
    "decisions": "one row per input document: status, dropped_by, reason, provenance and every step's metrics; {path}",
    "quarantine": "what could not be read (ingest) or made a step raise (run); {path}",
    "clusters": "near-duplicate cluster members written by minhash_dedup (id, dup_cluster, is_representative, cluster_size...); {path}",
}


def _contract_schema(name: str) -> pa.Schema:
    if name == "clusters":
        return CLUSTER_COLUMNS
    from curate.schema import arrow_schema

    return arrow_schema({"documents": "document", "decisions": "decision", "quarantine": "quarantine"}[name])


@lru_cache(maxsize=None)
def _empty_select(name: str) -> str:
    """``SELECT CAST(NULL AS type) AS col, ... WHERE false`` with the contract's columns."""
    con = duckdb.connect()
    con.register("empty_contract", _contract_schema(name).empty_table())
    types = con.sql("DESCRIBE SELECT * FROM empty_contract").fetchall()
    con.close()
    cols = ", ".join(f'CAST(NULL AS {t}) AS "{c}"' for c, t, *_ in types)
    return f"SELECT {cols} WHERE false"


def view_statements(directory: str | Path) -> list[str]:
    """The SQL that defines the views and macros over ``directory`` (absolute paths)."""
    directory = Path(directory).resolve()
    manifest_path = directory / "manifest.json"
    manifest = read_json(manifest_path)
    if manifest is None:
        raise CurateError(f"{directory} is not a curate output directory (no manifest.json)")
    kind = manifest.get("kind")
    stmts = [f"CREATE OR REPLACE MACRO reason_kind(r) AS {REASON_KIND}"]
    for name in VIEWS:
        if name == "decisions" and kind != "run":
            continue
        folder = directory / name
        pattern = folder / "*.parquet"
        if folder.is_dir() and any(folder.glob("*.parquet")):
            body = f"SELECT * FROM read_parquet({sql_str(pattern)}, union_by_name = true)"
            comment = _COMMENTS[name].format(path=pattern)
        else:
            body = _empty_select(name)
            comment = f"empty: no {name}/*.parquet in {directory}"
        stmts.append(f"CREATE OR REPLACE VIEW {name} AS {body}")
        stmts.append(f"COMMENT ON VIEW {name} IS {sql_str(comment)}")
    stmts.append(f"CREATE OR REPLACE VIEW manifest AS SELECT * FROM read_json_auto({sql_str(manifest_path)}, "
                 "maximum_object_size = 1073741824)")
    stmts.append(f"COMMENT ON VIEW manifest IS {sql_str(f'{manifest_path} as one row')}")
    if kind == "run":
        stmts.append("CREATE OR REPLACE VIEW funnel AS SELECT f.step, f.removed, f.remaining "
                     "FROM (SELECT unnest(funnel) AS f FROM manifest)")
        stmts.append("COMMENT ON VIEW funnel IS 'documents removed by each step, in recipe order (manifest.funnel)'")
        inp = (manifest.get("input") or {}).get("dir")
        if inp and any((Path(inp) / "documents").glob("*.parquet")):
            pattern = Path(inp).resolve() / "documents" / "*.parquet"
            stmts.append(f"CREATE OR REPLACE VIEW input_documents AS SELECT * FROM read_parquet({sql_str(pattern)}, "
                         "union_by_name = true)")
            stmts.append(f"COMMENT ON VIEW input_documents IS "
                         f"{sql_str(f'documents of the run input (dropped ones too), read in place from {pattern}')}")
    return stmts


def connect(directory: str | Path, memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """Open an in-memory DuckDB with the views over ``directory`` (see the module docstring)."""
    stmts = view_statements(directory)
    con = duckdb.connect()
    if memory_limit:
        con.execute(f"SET memory_limit = {sql_str(memory_limit)}")
    for s in stmts:
        con.execute(s)
    return con


def has_view(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """True when view ``name`` exists and reads files (not an empty placeholder)."""
    rows = con.execute("SELECT comment FROM duckdb_views() WHERE view_name = ? AND NOT internal", [name]).fetchall()
    return bool(rows) and not (rows[0][0] or "").startswith("empty:")


def columns(con: duckdb.DuckDBPyConnection, view: str) -> dict[str, str]:
    """Column name -> DuckDB type of ``view``."""
    return {r[0]: r[1] for r in con.execute(f"DESCRIBE {view}").fetchall()}
