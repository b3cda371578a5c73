"""One module per input kind. Each exposes reader functions following curate.ingest.base."""
