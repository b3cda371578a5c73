"""``DIR/curate.duckdb``: a DuckDB database file holding only views over the directory's files.

``duckdb DIR/curate.duckdb`` opens it in the DuckDB shell with the views of
:mod:`curate.stats.views` (documents, decisions, quarantine, clusters, manifest, ...). Nothing is
copied: the file is a few hundred kilobytes of view definitions that read the Parquet in place.

The views hold absolute paths, so the file is valid from any working directory but not after the
directory moves; ``curate run``, ``curate ingest``, ``curate stats`` and ``curate report`` (re)write it.
It is written in DuckDB's v1.0 storage format so older DuckDB shells open it too, under a temporary
name and renamed, so a shell that has the old file open is not disturbed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import duckdb

from curate.stats.views import view_statements

DB_NAME = "curate.duckdb"


def write_database(directory: str | Path) -> Path:
    """(Re)create ``directory/curate.duckdb``; return its path."""
    directory = Path(directory)
    stmts = view_statements(directory)
    target = directory / DB_NAME
    tmp = directory / f".tmp-{os.getpid()}-{DB_NAME}"
    for p in (tmp, Path(f"{tmp}.wal")):
        p.unlink(missing_ok=True)
    try:
        try:
            con = duckdb.connect(str(tmp), config={"storage_compatibility_version": "v1.0.0"})
        except duckdb.Error:  # a DuckDB older than the option writes its own (older) format anyway
            con = duckdb.connect(str(tmp))
        try:
            for s in stmts:
                con.execute(s)
            con.execute("CHECKPOINT")
        finally:
            con.close()
        os.replace(tmp, target)
    finally:
        for p in (tmp, Path(f"{tmp}.wal")):
            p.unlink(missing_ok=True)
    Path(f"{target}.wal").unlink(missing_ok=True)  # a stale WAL of an older file would be replayed into the new one
    return target


def refresh_database(directory: str | Path) -> Path | None:
    """:func:`write_database`, but a failure (read-only directory, full disk) only warns: the
    database is a convenience, never a reason to fail a run."""
    try:
        return write_database(directory)
    except Exception as exc:  # noqa: BLE001 - reported, never fatal
        print(f"warning: could not write {Path(directory) / DB_NAME}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None
