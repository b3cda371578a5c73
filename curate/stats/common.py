"""What the statistics and the report need to know about an output directory: its manifest, its
views, and its metric columns with the step that measured each one."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from curate.errors import CurateError
from curate.manifest import read_json
from curate.stats.views import columns, connect, has_view

BASE_DECISION_COLUMNS = ("id", "source", "status", "kept", "dropped_by", "reason", "input_file", "position")
_NUMERIC = re.compile(r"^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|FLOAT|DOUBLE|"
                      r"REAL|DECIMAL.*)$")
_INTEGER = re.compile(r"^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT)$")


@dataclass
class Metric:
    """A metric column of the decision log."""

    name: str
    dtype: str  # DuckDB type
    step: str | None  # id of the step that declared it (None: not found in the recipe)

    @property
    def kind(self) -> str:
        if self.dtype == "BOOLEAN":
            return "bool"
        if _NUMERIC.match(self.dtype):
            return "int" if _INTEGER.match(self.dtype) else "float"
        return "text"

    @property
    def numeric(self) -> bool:
        return self.kind in ("int", "float")

    @property
    def sql(self) -> str:
        return quote(self.name)


@dataclass
class Dir:
    """An ingest or run output directory opened for statistics."""

    path: Path
    manifest: dict
    con: duckdb.DuckDBPyConnection
    metrics: list[Metric] = field(default_factory=list)

    @property
    def kind(self) -> str | None:
        return self.manifest.get("kind")

    @property
    def is_run(self) -> bool:
        return self.kind == "run" and self.has("decisions")

    @property
    def steps(self) -> list[dict]:
        return list((self.manifest.get("recipe") or {}).get("steps") or [])

    @property
    def step_ids(self) -> list[str]:
        return [s["id"] for s in self.steps]

    def has(self, view: str) -> bool:
        return has_view(self.con, view)

    def metric(self, name: str) -> Metric | None:
        for m in self.metrics:
            if m.name == name:
                return m
        return None

    def find(self, suffix: str) -> Metric | None:
        """The metric named ``suffix`` or ``<step id>_<suffix>`` (a step used under another id)."""
        exact = self.metric(suffix)
        if exact is not None:
            return exact
        for m in self.metrics:
            if m.name.endswith("_" + suffix):
                return m
        return None

    def find_all(self, prefix: str) -> list[Metric]:
        return [m for m in self.metrics if m.name.startswith(prefix) or f"_{prefix}" in m.name]

    def rows(self, sql: str, params: list | None = None) -> list[tuple]:
        return self.con.execute(sql, params or []).fetchall()

    def scalar(self, sql: str, params: list | None = None):
        return self.con.execute(sql, params or []).fetchall()[0][0]


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def open_dir(directory: str | Path, memory_limit: str | None = None) -> Dir:
    directory = Path(directory)
    if not directory.is_dir():
        raise CurateError(f"{directory}: no such directory")
    manifest = read_json(directory / "manifest.json")
    if manifest is None:
        raise CurateError(f"{directory} is not a curate output directory (no manifest.json)")
    con = connect(directory, memory_limit=memory_limit)
    d = Dir(directory, manifest, con)
    if d.kind == "run" and d.has("decisions"):
        owner = {}
        for s in d.steps:
            for col in (s.get("metrics") or {}):
                owner[col] = s["id"]
        d.metrics = [Metric(name, dtype, owner.get(name)) for name, dtype in columns(con, "decisions").items()
                     if name not in BASE_DECISION_COLUMNS]
    return d
