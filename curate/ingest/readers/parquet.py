"""Parquet files (e.g. Hugging Face dataset exports) with column mapping, read batch by batch."""

from __future__ import annotations

import io
from typing import Iterator

import pyarrow.parquet as pq

from curate.ingest.base import Bad, Item, ReadContext
from curate.ingest.readers.mapping import record_to_doc


def read_parquet(ctx: ReadContext) -> Iterator[Item]:
    if ctx.compression == "none":
        source = ctx.path
        ctx.open().close()  # keeps progress accounting uniform; pyarrow reads the path itself
    else:  # a compressed Parquet file must be decompressed to be seekable
        with ctx.open() as opened:
            source = io.BytesIO(opened.stream.read())
    try:
        pf = pq.ParquetFile(source)
    except Exception as exc:  # pyarrow raises ArrowInvalid / OSError subclasses
        yield Bad("malformed_parquet", f"not a readable Parquet file: {exc}", None, None)
        return
    position = 0
    for batch in pf.iter_batches(batch_size=1024):
        for record in batch.to_pylist():
            yield record_to_doc(record, ctx.options, position)
            position += 1
