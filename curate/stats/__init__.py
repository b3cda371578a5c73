"""Statistics over a stage's output directory, computed by DuckDB over the Parquet in place."""

from curate.stats.views import connect
from curate.stats.summary import summarize

__all__ = ["connect", "summarize"]
