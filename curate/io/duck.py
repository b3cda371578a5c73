"""DuckDB helpers shared by every out-of-core pass (exact and MinHash dedup, the decision merge, the
StackExchange reader, stats): one way to quote SQL literals and to open a bounded connection."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import duckdb


def sql_str(value: str | Path) -> str:
    """A SQL string literal (paths included), quotes doubled."""
    return "'" + str(value).replace("'", "''") + "'"


def sql_list(values: Sequence[str | Path]) -> str:
    """A SQL list of string literals, e.g. for ``read_parquet([...])``."""
    return "[" + ", ".join(sql_str(v) for v in values) + "]"


def connect(memory_limit: str, threads: int, temp_dir: Path, database: str | Path | None = None,
            keep_order: bool = False) -> duckdb.DuckDBPyConnection:
    """A connection that stays under ``memory_limit`` by spilling to ``temp_dir``.

    ``keep_order=False`` lets DuckDB drop insertion order where a query has no ORDER BY (less memory);
    every pass that needs an order says ORDER BY.
    """
    temp_dir = Path(temp_dir)
    temp_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(database) if database is not None else ":memory:")
    con.execute(f"SET memory_limit = {sql_str(memory_limit)}")
    con.execute(f"SET threads = {int(threads)}")
    con.execute(f"SET temp_directory = {sql_str(temp_dir)}")
    con.execute(f"SET preserve_insertion_order = {'true' if keep_order else 'false'}")
    con.execute("SET enable_progress_bar = false")
    return con
