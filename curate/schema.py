"""Load the data contracts in ``schemas/`` as Arrow schemas and enforce them.

The JSON files are the source of truth (other programs can read them); this module turns them into
``pyarrow.Schema`` objects once and checks tables against them before anything is written.
"""

from __future__ import annotations

import json
from functools import lru_cache

import pyarrow as pa

from curate.resources import resource_dir

_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int64": pa.int64(),
    "int32": pa.int32(),
    "float64": pa.float64(),
    "float32": pa.float32(),
    "bool": pa.bool_(),
    "timestamp[ms, UTC]": pa.timestamp("ms", tz="UTC"),
}


@lru_cache(maxsize=None)
def load_contract(name: str) -> dict:
    """Return the parsed JSON contract ``schemas/<name>.json``."""
    path = resource_dir("schemas") / f"{name}.json"
    with path.open(encoding="utf-8") as fh:
        return json.load(fh)


@lru_cache(maxsize=None)
def arrow_schema(name: str) -> pa.Schema:
    """Arrow schema of contract ``name`` (``document``, ``quarantine``, ...), with descriptions as field metadata."""
    contract = load_contract(name)
    fields = []
    for spec in contract["fields"]:
        try:
            dtype = _TYPES[spec["type"]]
        except KeyError as exc:  # a broken contract file is a packaging bug: say which field
            raise ValueError(f"schemas/{name}.json: field {spec['name']!r} has unknown type {spec['type']!r}") from exc
        fields.append(pa.field(spec["name"], dtype, nullable=spec["nullable"],
                               metadata={"description": spec.get("description", "")}))
    return pa.schema(fields, metadata={"curate.contract": name, "curate.contract_version": str(contract["version"])})


def validate_table(table: pa.Table | pa.RecordBatch, name: str) -> None:
    """Raise ``ValueError`` naming the column if ``table`` does not follow contract ``name``.

    Checks names, order, types and that non-nullable columns have no nulls. Extra columns are
    allowed only after the contract's columns (later stages append metric columns).
    """
    schema = arrow_schema(name)
    got = table.schema
    for i, field in enumerate(schema):
        if i >= len(got) or got.field(i).name != field.name:
            raise ValueError(f"{name} contract: column {i} should be {field.name!r}, got "
                             f"{got.field(i).name if i < len(got) else 'nothing'!r}")
        if not got.field(i).type.equals(field.type):
            raise ValueError(f"{name} contract: column {field.name!r} should be {field.type}, got {got.field(i).type}")
        if not field.nullable and table.column(i).null_count:
            raise ValueError(f"{name} contract: column {field.name!r} must not be null "
                             f"({table.column(i).null_count} nulls)")


def conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """``batch`` with exactly ``schema``'s columns, in order: cast where the type differs, nulls where
    a column is missing (only nullable ones may be)."""
    cols = []
    for f in schema:
        if f.name in batch.schema.names:
            col = batch.column(f.name)
            cols.append(col if col.type.equals(f.type) else col.cast(f.type))
        else:
            cols.append(pa.nulls(batch.num_rows, f.type))
    return pa.RecordBatch.from_arrays(cols, schema=schema)
