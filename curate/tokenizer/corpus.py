"""Reading a finished stage's documents for the tokenizer and shard stages.

Both stages read ``DIR/documents/*.parquet`` (a ``curate run`` output, or an ingest output) in Arrow
batches, never the whole corpus, and can sample documents deterministically: a document is in the
sample when ``xxh64(id, seed) / 2**64 < fraction``, so the same document is in or out on every run,
with any number of workers, whatever the file layout.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import xxhash

from curate.errors import CurateError
from curate.manifest import read_json

_TWO64 = float(1 << 64)


def unit_hash(ids: Sequence[str], seed: int) -> np.ndarray:
    """Map every document id to a stable float in [0, 1) (xxh64 with ``seed``)."""
    h = xxhash.xxh64_intdigest
    return np.fromiter((h(i.encode("utf-8"), seed) for i in ids), dtype=np.float64, count=len(ids)) / _TWO64


@dataclass
class Corpus:
    """The documents of a stage's output directory and what its manifest says about them."""

    directory: Path
    files: list[Path]
    manifest: dict = field(default_factory=dict)

    @property
    def kind(self) -> str | None:
        return self.manifest.get("kind")

    @property
    def recipe_hash(self) -> str | None:
        return (self.manifest.get("recipe") or {}).get("hash")

    @property
    def recipe_name(self) -> str | None:
        return (self.manifest.get("recipe") or {}).get("name")

    def describe(self) -> dict:
        """What the tokenizer and shard manifests record about their input."""
        mpath = self.directory / "manifest.json"
        return {
            "dir": str(self.directory.resolve()),
            "kind": self.kind,
            "recipe": self.recipe_name,
            "recipe_hash": self.recipe_hash,
            "manifest_sha256": hashlib.sha256(mpath.read_bytes()).hexdigest() if mpath.exists() else None,
            "files": [{"file": p.name, "bytes": p.stat().st_size, "rows": pq.ParquetFile(p).metadata.num_rows}
                      for p in self.files],
        }

    def text_bytes(self) -> int:
        """Uncompressed size of the text column per Parquet metadata (for progress bars)."""
        total = 0
        for p in self.files:
            md = pq.ParquetFile(p).metadata
            col = md.schema.to_arrow_schema().get_field_index("text")
            for rg in range(md.num_row_groups):
                total += md.row_group(rg).column(col).total_uncompressed_size
        return total


def open_corpus(directory: str | Path) -> Corpus:
    """Find ``DIR/documents/*.parquet``; refuse an unfinished run."""
    directory = Path(directory)
    docs = directory / "documents"
    files = sorted(p for p in docs.glob("*.parquet") if not p.name.startswith(".")) if docs.is_dir() else []
    if not files:
        raise CurateError(f"{directory}: no documents/*.parquet found (expected the output of `curate run` "
                          "or `curate ingest`)")
    manifest = read_json(directory / "manifest.json") or {}
    if manifest.get("kind") == "run" and not manifest.get("complete", False):
        raise CurateError(f"{directory}: the run is not complete; finish it (rerun `curate run`) first")
    for p in files:
        names = pq.ParquetFile(p).schema_arrow.names
        missing = {"id", "source", "text"} - set(names)
        if missing:
            raise CurateError(f"{p}: missing column(s) {', '.join(sorted(missing))}")
    return Corpus(directory, files, manifest)


def iter_batches(files: Sequence[Path], columns: Sequence[str], batch_size: int = 1024,
                 sample_fraction: float = 1.0, max_docs: int | None = None, seed: int = 0,
                 report=None) -> Iterator[pa.RecordBatch]:
    """Yield record batches of ``columns`` (plus ``id``) from ``files`` in order, keeping the sampled
    documents only and at most ``max_docs`` of them. ``report(nbytes, ndocs)`` is called for every
    batch *read* (before sampling) with its text bytes."""
    if not 0.0 < sample_fraction <= 1.0:
        raise CurateError(f"--sample-fraction must be in (0, 1] (got {sample_fraction})")
    cols = list(dict.fromkeys(["id", *columns]))
    left = max_docs
    for path in files:
        pf = pq.ParquetFile(path)
        present = set(pf.schema_arrow.names)
        for batch in pf.iter_batches(batch_size=batch_size, columns=[c for c in cols if c in present]):
            for c in cols:  # optional columns (lang) may be absent from foreign Parquet
                if c not in batch.schema.names:
                    batch = batch.append_column(c, pa.nulls(batch.num_rows, pa.string()))
            if report is not None:
                report(_text_nbytes(batch), batch.num_rows)
            if sample_fraction < 1.0:
                keep = unit_hash(batch.column("id").to_pylist(), seed) < sample_fraction
                batch = batch.filter(pa.array(keep))
            if left is not None:
                if left <= 0:
                    return
                if batch.num_rows > left:
                    batch = batch.slice(0, left)
                left -= batch.num_rows
            if batch.num_rows:
                yield batch


def _text_nbytes(batch: pa.RecordBatch) -> int:
    return int(pc.sum(pc.binary_length(batch.column("text"))).as_py() or 0)
