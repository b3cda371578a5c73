"""Statistics over a stage's output directory, computed by DuckDB over the Parquet in place.

* :mod:`curate.stats.views` – the views (documents, decisions, quarantine, clusters, manifest, ...);
* :mod:`curate.stats.database` – ``DIR/curate.duckdb``, the same views in a file for the DuckDB shell;
* :mod:`curate.stats.summary` – ``curate stats DIR [--by source|step|lang]``;
* :mod:`curate.stats.diff` – ``curate stats DIR --diff OTHER``;
* :mod:`curate.stats.report` and :mod:`curate.stats.charts` – ``curate report`` (HTML, inline SVG).

See docs/stats.md.
"""

from __future__ import annotations

from pathlib import Path

from curate.errors import CurateError
from curate.stats.database import refresh_database, write_database
from curate.stats.summary import Table, query, summarize
from curate.stats.views import connect

__all__ = ["connect", "summarize", "write_database", "refresh_database", "stats_tables", "Table"]


def stats_tables(directory: str | Path, by: str | None = None, diff: str | Path | None = None,
                 sql: str | None = None) -> tuple[list[Table], Path | None]:
    """What ``curate stats`` prints, and the refreshed ``DIR/curate.duckdb`` (None if it could not be written)."""
    directory = Path(directory)
    if not (directory / "manifest.json").is_file():
        raise CurateError(f"{directory} is not a curate output directory (no manifest.json)")
    if sum(x is not None for x in (by, diff, sql)) > 1:
        raise CurateError("use one of --by, --diff and --sql at a time")
    db = refresh_database(directory)
    if sql:
        con = connect(directory)
        try:
            tables = [query(con, "query", sql)]
        except Exception as exc:  # duckdb.Error subclasses: bad SQL is the user's to fix
            raise CurateError(f"query failed: {exc}") from exc
        finally:
            con.close()
    elif diff is not None:
        from curate.stats.diff import diff_runs

        tables = diff_runs(directory, diff)
    else:
        tables = summarize(directory, by=by)
    return tables, db
