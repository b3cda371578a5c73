"""Helpers for tests/test_ray.py, importable by Ray workers (tests put this folder on PYTHONPATH)."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc


def die_once(batch: pa.RecordBatch, flag_file: str, out_dir: str, min_position: int = 128) -> pa.RecordBatch:
    """Kill this worker process (``os._exit``, no clean-up, no exception) the first time a batch of
    documents at ``position >= min_position`` arrives; the flag file makes it happen once per test.

    The flag records how many half-written temporary files the run had at that moment, so a test can
    check that the retry really met one.
    """
    flag = Path(flag_file)
    if batch.num_rows and not flag.exists() and pc.min(batch.column("position")).as_py() >= min_position:
        tmp = [p.name for p in Path(out_dir).rglob(".tmp-*")]
        flag.write_text("\n".join(tmp) + "\n")
        os._exit(1)
    return batch


def count_and_fail(task: str, report) -> str:
    """An executor task that records each call, then raises a data error (must not be retried)."""
    with open(task, "a") as fh:
        fh.write("called\n")
    raise ValueError(f"bad data in {Path(task).name}")


def echo(task: int, report) -> int:
    """An executor task that reports progress and returns its input."""
    report(task * 10, task)
    return task * task
