"""Build document batches in memory: for tests, notebooks, and users checking their own steps."""

from __future__ import annotations

from typing import Sequence

import pyarrow as pa

from curate.ingest.runner import make_id
from curate.schema import arrow_schema


def documents_batch(texts: Sequence[str], source: str = "test", lang: str | Sequence[str | None] | None = None,
                    input_file: str = "memory") -> pa.RecordBatch:
    """A RecordBatch following schemas/document.json with the given texts (ids as ingest makes them)."""
    n = len(texts)
    langs = list(lang) if isinstance(lang, (list, tuple)) else [lang] * n
    rows = {
        "id": [make_id(source, input_file, i) for i in range(n)],
        "source": [source] * n,
        "text": list(texts),
        "url": [None] * n,
        "title": [None] * n,
        "lang": langs,
        "created": [None] * n,
        "meta": ["{}"] * n,
        "input_file": [input_file] * n,
        "position": list(range(n)),
    }
    return pa.RecordBatch.from_pydict(rows, schema=arrow_schema("document"))
