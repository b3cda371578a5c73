"""Steps: the unit a recipe composes (DESIGN.md, "One data model").

A step takes a ``pyarrow.RecordBatch`` of documents and returns a :class:`StepResult`:

* a **mapper** returns ``batch`` (same rows, same order, text or columns rewritten) and metrics;
* a **filter** returns ``keep`` (one bool per row) with a ``reason`` per dropped row, and metrics;
* a **global** step (:class:`GlobalStep`) needs all documents (dedup) and runs as passes over
  Parquet between the per-batch segments of a recipe.

Metrics are declared up front (``metrics = {"name": pa type}``) so the decision log has a fixed,
typed schema that DuckDB reads. A step sees whole batches, never one document at a time unless it
loops inside; so the same step runs in-process, in a process pool and in Ray's ``map_batches``.

The style follows datatrove's filters (a small class with a name and one method; the base class does
the bookkeeping) and each step's docstring cites the paper its rule comes from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


@dataclass
class StepResult:
    batch: pa.RecordBatch | None = None
    keep: Any = None  # np.ndarray[bool] | pa.BooleanArray | list[bool]
    reason: Any = None  # sequence of str|None (ignored where kept) or one str for every dropped row
    metrics: dict[str, Any] = field(default_factory=dict)


def failed_checks(checks: Sequence[tuple[np.ndarray, Callable[[int], str]]], n: int) -> tuple[np.ndarray, list | None]:
    """``keep`` (no check failed) and a reason per dropped row naming *every* check it failed,
    comma-joined (``"2 words < 3, 2 chars < 5"``); each check is (failed mask, text of row i).
    Reasons are formatted for dropped rows only. (Rules checked in order, first failure only:
    ``curate.steps.repetition.first_failure``.)"""
    failed = np.zeros(n, dtype=bool)
    for mask, _ in checks:
        failed |= mask
    if not failed.any():
        return ~failed, None
    reason: list[str | None] = [None] * n
    for i in np.flatnonzero(failed).tolist():
        reason[i] = ", ".join(text(i) for mask, text in checks if mask[i])
    return ~failed, reason


class _StepBase:
    """What every step has: a registry name, typed parameters, an id, declared metric columns."""

    name: ClassVar[str] = ""
    kind: ClassVar[str] = ""
    metrics: ClassVar[dict[str, pa.DataType]] = {}
    doc_columns: ClassVar[dict[str, pa.DataType]] = {}  # extra columns it adds to documents (e.g. lang_score)

    @dataclass
    class Params:
        pass

    def __init__(self, params: Any = None, step_id: str | None = None) -> None:
        self.params = params if params is not None else self.Params()
        self.id = step_id or self.name

    def metric_columns(self) -> dict[str, pa.DataType]:
        """Decision-log column names of this step's metrics (prefixed by the id when it is not the name)."""
        prefix = "" if self.id == self.name else f"{self.id}_"
        return {prefix + k: v for k, v in self.metrics.items()}


class Step(_StepBase):
    """Base class of per-batch steps. Subclasses set ``name``, ``kind``, ``Params`` and ``metrics``."""

    kind: ClassVar[str] = "filter"  # "mapper" or "filter"
    # attributes setup() builds (models, engines, compiled lists): never pickled, so a step travels to
    # workers as its parameters only, and its pickle (the per-process cache key) does not hold a model
    resources: ClassVar[tuple[str, ...]] = ()

    def setup(self) -> None:
        """Load models or compile resources once per worker process (not per batch)."""

    def ready(self) -> None:
        """Run setup() unless it has run on this object (a step unpickled on a worker has not)."""
        if any(not hasattr(self, r) for r in self.resources):
            self.setup()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        for r in self.resources:
            state.pop(r, None)
        return state

    def apply(self, batch: pa.RecordBatch) -> StepResult:  # pragma: no cover - abstract
        raise NotImplementedError


class GlobalStep(_StepBase):
    """A step that needs every document: runs passes over the Parquet shards of its input.

    ``run`` receives the shard files that reach it (in stable order) and must write, for each shard
    ``i``, ``out_dir/<shard stem>.parquet`` aligned row by row with that shard, with columns
    ``keep`` (bool), ``reason`` (string) and the declared metrics. The pipeline then applies it as
    a filter. Passes go through the executor, so they can run as independent tasks.
    """

    kind: ClassVar[str] = "global"

    def run(self, shards: Sequence[Path], out_dir: Path, work_dir: Path, executor: Any, progress: Any) -> None:
        raise NotImplementedError  # pragma: no cover - abstract


STEPS: dict[str, type] = {}


def register_step(cls: type) -> type:
    """Class decorator: make a step available to recipes under ``cls.name``."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    if cls.name in STEPS and STEPS[cls.name] is not cls:
        raise ValueError(f"two steps are named {cls.name!r}: {STEPS[cls.name].__name__} and {cls.__name__}")
    STEPS[cls.name] = cls
    return cls


def as_text_array(values: Any) -> pa.Array:
    """One (Large)StringArray from an Arrow array, chunked array or list of str; nulls read as ''."""
    text = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(list(values), pa.string())
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    if not (pa.types.is_string(text.type) or pa.types.is_large_string(text.type)):
        text = text.cast(pa.string())
    if text.null_count:
        text = pc.fill_null(text, "")
    return text


def text_column(batch: pa.RecordBatch) -> pa.Array:
    """The ``text`` column as one (Large)StringArray, nulls (which the schema forbids) read as ''.

    Steps call this instead of ``batch.column("text")`` so chunked, null-holding or dictionary
    columns from user code never reach the vectorized kernels."""
    return as_text_array(batch.column("text"))


def set_column(batch: pa.RecordBatch, name: str, values: pa.Array) -> pa.RecordBatch:
    """``batch`` with column ``name`` replaced (cast to the existing type) or appended (nullable)."""
    if name in batch.schema.names:
        i = batch.schema.get_field_index(name)
        field_ = batch.schema.field(i)
        if not values.type.equals(field_.type):
            values = values.cast(field_.type)
        cols = list(batch.columns)
        cols[i] = values
        return pa.RecordBatch.from_arrays(cols, schema=batch.schema)
    return pa.RecordBatch.from_arrays(list(batch.columns) + [values],
                                      schema=batch.schema.append(pa.field(name, values.type, nullable=True)))


def as_bool_array(values: Any, n: int) -> np.ndarray:
    """Normalize a ``keep`` value (numpy, Arrow or list) to a numpy bool array of length ``n``."""
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        arr = values.to_numpy(zero_copy_only=False)
    else:
        arr = np.asarray(values)
    arr = arr.astype(bool, copy=False)
    if arr.shape != (n,):
        raise ValueError(f"keep has {arr.shape} values for a batch of {n} rows")
    return arr
