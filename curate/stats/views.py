"""DuckDB views over a curate output directory, with nothing copied.

``documents``, ``decisions`` and ``quarantine`` read ``DIR/<name>/*.parquet`` in place; ``manifest``
reads ``DIR/manifest.json``. A view exists only when its files do, so the same code serves ingest
output (documents, quarantine) and run output (documents, decisions, quarantine).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from curate.errors import CurateError

VIEWS = ("documents", "decisions", "quarantine", "clusters")


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def connect(directory: str | Path, memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """Open an in-memory DuckDB with views over ``directory``'s Parquet and manifest."""
    directory = Path(directory)
    if not (directory / "manifest.json").exists():
        raise CurateError(f"{directory} is not a curate output directory (no manifest.json)")
    con = duckdb.connect()
    if memory_limit:
        con.execute(f"SET memory_limit = {_sql_str(memory_limit)}")
    for name in VIEWS:
        folder = directory / name
        if folder.is_dir() and any(folder.glob("*.parquet")):
            pattern = _sql_str(str(folder / "*.parquet"))
            con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet({pattern}, union_by_name = true)")
    con.execute(f"CREATE VIEW manifest AS SELECT * FROM read_json_auto({_sql_str(str(directory / 'manifest.json'))})")
    return con


def has_view(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM duckdb_views() WHERE view_name = ?", [name]).fetchall()[0][0])
