"""Low-level I/O shared by every stage: compressed streams, atomic Parquet writing."""
