"""curate: build LLM pretraining corpora from raw dumps.

The command line (``curate ...``) is a thin layer over this package; training jobs import the same
functions, e.g. ``curate.ingest.ingest(...)``.
"""

__version__ = "0.1.0"

__all__ = ["Pipeline", "__version__"]


def __getattr__(name: str):
    # Lazy: `import curate` stays cheap for the CLI; `from curate import Pipeline` works for training jobs.
    if name == "Pipeline":
        from curate.pipeline import Pipeline

        return Pipeline
    raise AttributeError(f"module 'curate' has no attribute {name!r}")
