"""curate: build LLM pretraining corpora from raw dumps.

The command line (``curate ...``) is a thin layer over this package; training jobs import the same
functions, e.g. ``curate.ingest.ingest(...)``.
"""

__version__ = "0.1.0"
