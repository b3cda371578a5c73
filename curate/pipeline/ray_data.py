"""A recipe's per-batch steps on a Ray Dataset: ``map_batches`` over Arrow batches (docs/ray.md).

For users whose data already lives in Ray Data (a training job's preprocessing, a larger Ray
pipeline). The steps run unchanged, exactly as in ``curate run``: Arrow record batches in, Arrow
record batches out (DESIGN.md, "One data model"). They run in a pool of Ray actors, so a step that
loads a model (language ID, PII, a classifier, a tokenizer) loads it once per actor, not per batch::

    import ray
    from curate.pipeline.ray_data import apply_recipe, decisions, documents

    ds = ray.data.read_parquet("runs/ko/raw/documents")
    out = apply_recipe(ds, "my-recipe.toml").materialize()      # one row per input document
    documents(out, "my-recipe.toml").write_parquet("runs/ko/clean-ray/documents")
    decisions(out, "my-recipe.toml").write_parquet("runs/ko/clean-ray/decisions")

``apply_recipe`` returns one row per input document: the decision row (``schemas/decision.json`` plus
every step's metric columns, as in ``DIR/decisions``) followed by the document columns (text, url,
... as in ``DIR/documents``), which are null unless the document was kept (so the dropped documents'
raw text, which may hold PII, is not carried on). :func:`documents` and :func:`decisions` select the
two views; ``.materialize()`` first so that the steps run once for both.

Global steps (exact and MinHash dedup) need all data and are passes over Parquet: write the dataset
with ``write_parquet(DIR/documents)`` and run ``curate run --executor ray`` (or
``Pipeline(..., executor=RayExecutor())``) on it. A recipe with global steps is refused here.

Row order follows Ray Data's execution (set ``DataContext.get_current().execution_options.
preserve_order = True`` to keep input order); the values are those of ``curate run`` on the same
documents, except that the reason of a quarantined document is the bare error (``curate run`` prefixes
``error in step <id>:``) and no quarantine table is written (``status == 'quarantined'`` rows say it).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from curate.errors import CurateError
from curate.pipeline.recipe import Recipe, load_recipe
from curate.pipeline.runner import DOC_SCHEMA, Pipeline, prepared
from curate.schema import conform
from curate.ray_executor import _ray

REQUIRED = ("id", "text")


def _recipe(recipe: Recipe | str | Path) -> Recipe:
    return recipe if isinstance(recipe, Recipe) else load_recipe(recipe)


def _pipeline(recipe: Recipe) -> Pipeline:
    pipeline = Pipeline(recipe, progress=False)
    if len(pipeline.stages) > 1:
        globals_ = [s.id for kind, s in pipeline.stages if kind == "global"]
        raise CurateError(f"recipe {recipe.name!r} has global steps ({', '.join(globals_)}); they need all data: "
                          "write the dataset to DIR/documents/*.parquet and use `curate run --executor ray` "
                          "(docs/ray.md)")
    return pipeline


def output_schema(recipe: Recipe | str | Path) -> pa.Schema:
    """Columns of :func:`apply_recipe`'s rows: the decision columns, then the other document columns."""
    pipeline = _pipeline(_recipe(recipe))
    return _combined_schema(pipeline)


def _combined_schema(pipeline: Pipeline) -> pa.Schema:
    fields = list(pipeline.decision_schema)
    names = set(pipeline.decision_schema.names)
    for f in pipeline.document_schema:
        if f.name not in names:
            fields.append(f.with_nullable(True))  # null on the rows of documents not kept
    return pa.schema(fields)


def _as_batch(table: pa.Table) -> pa.RecordBatch:
    table = table.combine_chunks()
    batches = table.to_batches()
    if len(batches) == 1:
        return batches[0]
    return pa.RecordBatch.from_arrays([pa.array([], f.type) for f in table.schema], schema=table.schema)


def conform_input(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The document columns in contract order and types (missing optional ones as nulls), then any
    other columns of the input as they are (steps may read them)."""
    missing = [name for name in REQUIRED if name not in batch.schema.names]
    if missing:
        raise CurateError(f"apply_recipe: the dataset has no {', '.join(missing)} column (documents need "
                          f"{', '.join(REQUIRED)}; see schemas/document.json)")
    docs = conform(batch, DOC_SCHEMA)
    cols, fields = list(docs.columns), list(DOC_SCHEMA)
    for f in batch.schema:
        if f.name not in DOC_SCHEMA.names:
            cols.append(batch.column(f.name))
            fields.append(f)
    return pa.RecordBatch.from_arrays(cols, schema=pa.schema(fields))


class RecipeActor:
    """A Ray Data callable class: set up the recipe's steps once, then apply them to each batch."""

    def __init__(self, recipe: Recipe) -> None:
        self.pipeline = _pipeline(recipe)
        self.schema = _combined_schema(self.pipeline)
        for step in self.pipeline.stages[0][1]:
            prepared(step)  # load models now, once per actor

    def __call__(self, table: pa.Table) -> pa.Table:
        batch = conform_input(_as_batch(table))
        if batch.num_rows == 0:
            return self.schema.empty_table()
        kept, decided = self.pipeline.apply_batch(batch)
        return combine(decided, conform(kept, self.pipeline.document_schema), self.schema)


def combine(decided: pa.Table, kept: pa.RecordBatch, schema: pa.Schema) -> pa.Table:
    """Decision rows (input order) with the kept documents' columns scattered onto the kept rows."""
    n = decided.num_rows
    is_kept = decided.column("kept").to_numpy(zero_copy_only=False).astype(bool)
    if int(is_kept.sum()) != kept.num_rows:
        raise RuntimeError(f"{int(is_kept.sum())} kept decisions for {kept.num_rows} kept documents")
    take = np.full(n, kept.num_rows, dtype=np.int64)  # index kept.num_rows = the null appended below
    take[is_kept] = np.arange(kept.num_rows, dtype=np.int64)
    indices = pa.array(take)
    cols = []
    for f in schema:
        if f.name in decided.schema.names:
            col = decided.column(f.name).combine_chunks()
        else:
            src = kept.column(f.name)
            col = pa.concat_arrays([src, pa.nulls(1, src.type)]).take(indices)
        cols.append(col if col.type.equals(f.type) else col.cast(f.type))
    return pa.Table.from_arrays(cols, schema=schema)


def apply_recipe(ds: Any, recipe: Recipe | str | Path, *, batch_size: int = 2048, actors: int | None = None,
                 num_cpus: float = 1) -> Any:
    """Apply ``recipe``'s per-batch steps to Ray Dataset ``ds``; one output row per input document.

    Args:
        ds: a ``ray.data.Dataset`` of documents (at least ``id`` and ``text``; the other columns of
            schemas/document.json are used when present).
        recipe: a Recipe, a recipe file or the name of a shipped recipe (no global steps).
        batch_size: documents per Arrow batch handed to the steps.
        actors: size of the actor pool (default: an autoscaling pool of 1 to as many as fit).
        num_cpus: CPUs reserved per actor.
    """
    ray = _ray()
    rec = _recipe(recipe)
    _pipeline(rec)  # validate before Ray starts anything
    if actors and ray.is_initialized():
        cpus = ray.cluster_resources().get("CPU", 0)
        if actors * num_cpus >= cpus:  # the actors would hold every CPU and the read tasks wait forever
            warnings.warn(f"apply_recipe: {actors} actors x {num_cpus} CPU take all {cpus:g} CPUs of the Ray cluster; "
                          "leave at least one CPU for reading (actors <= CPUs - 1) or the dataset can stall",
                          RuntimeWarning, stacklevel=2)
    compute = ray.data.ActorPoolStrategy(size=actors) if actors else ray.data.ActorPoolStrategy(min_size=1)
    return ds.map_batches(RecipeActor, fn_constructor_args=(rec,), batch_format="pyarrow", batch_size=batch_size,
                          compute=compute, num_cpus=num_cpus)


def _select(table: pa.Table, schema: pa.Schema, kept_only: bool) -> pa.Table:
    if kept_only:
        table = table.filter(table.column("kept"))
    return pa.Table.from_arrays([table.column(f.name) for f in schema], schema=schema)


def documents(ds: Any, recipe: Recipe | str | Path) -> Any:
    """The kept documents of :func:`apply_recipe`'s output (the columns and types of ``DIR/documents``)."""
    schema = _pipeline(_recipe(recipe)).document_schema
    return ds.map_batches(_select, fn_args=(schema, True), batch_format="pyarrow")


def decisions(ds: Any, recipe: Recipe | str | Path) -> Any:
    """The decision rows of :func:`apply_recipe`'s output (the columns and types of ``DIR/decisions``)."""
    schema = _pipeline(_recipe(recipe)).decision_schema
    return ds.map_batches(_select, fn_args=(schema, False), batch_format="pyarrow")
