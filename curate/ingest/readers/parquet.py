"""Parquet files (e.g. Hugging Face dataset exports) with column mapping, read batch by batch."""

from __future__ import annotations

import shutil
import tempfile
from typing import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from curate.ingest.base import Bad, Item, ReadContext
from curate.ingest.readers.mapping import record_to_doc


def read_parquet(ctx: ReadContext) -> Iterator[Item]:
    with tempfile.TemporaryFile(prefix="curate-parquet-") as spill:
        if ctx.compression == "none":
            source = ctx.path
            ctx.open().close()  # keeps progress accounting uniform; pyarrow reads the path itself
        else:  # Parquet needs random access: decompress to a temporary file (not memory: it may be big)
            with ctx.open() as opened:
                shutil.copyfileobj(opened.stream, spill, 1 << 20)
            spill.seek(0)
            source = spill
        try:
            pf = pq.ParquetFile(source)
        except (pa.ArrowException, OSError) as exc:
            yield Bad("malformed_parquet", f"not a readable Parquet file: {exc}", None, None)
            return
        position = 0
        for batch in pf.iter_batches(batch_size=1024):
            for record in batch.to_pylist():
                yield record_to_doc(record, ctx.options, position)
                position += 1
