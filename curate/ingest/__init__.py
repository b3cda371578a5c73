"""Streaming ingest of raw dumps into Parquet documents (see docs/ingest.md).

    from curate.ingest import ingest, ReaderOptions
    ingest(["dumps/news.jsonl.zst"], source="news", out="runs/raw", options=ReaderOptions(lang="ko"))
"""

from curate.ingest.base import Bad, Doc, ReadContext, ReaderOptions, Skip
from curate.ingest.formats import FORMATS
from curate.ingest.runner import ingest, make_id

__all__ = ["Bad", "Doc", "FORMATS", "ReadContext", "ReaderOptions", "Skip", "ingest", "make_id"]
