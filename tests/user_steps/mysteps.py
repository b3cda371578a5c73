"""User steps for tests: plain functions with the batch contract, named as 'mysteps:fn' in recipes."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from curate.pipeline import StepResult


def drop_digits(batch: pa.RecordBatch) -> StepResult:
    text = batch.column("text")
    digits = pc.count_substring_regex(text, r"\d")
    return StepResult(keep=pc.equal(digits, 0), reason="has digits", metrics={"digits": digits.cast(pa.int64())})


drop_digits.metrics = {"digits": "int64"}


def explode_on(batch: pa.RecordBatch, needle: str) -> pa.RecordBatch:
    """A mapper that raises on documents containing ``needle`` (to test quarantine)."""
    if any(needle in t for t in batch.column("text").to_pylist()):
        raise RuntimeError(f"cannot handle {needle!r}")
    return batch


def crash_once(batch: pa.RecordBatch, flag_file: str) -> pa.RecordBatch:
    """Simulate Ctrl-C on the first batch of the second shard it sees, once (flag file absent)."""
    flag = Path(flag_file)
    seen = Path(flag_file + ".seen")
    files = set(batch.column("input_file").to_pylist())
    if not flag.exists():
        previous = set(seen.read_text().split("\n")) if seen.exists() else set()
        previous |= files
        seen.write_text("\n".join(sorted(previous)))
        if len(previous) >= 2:
            flag.write_text("crashed")
            seen.unlink()
            raise KeyboardInterrupt
    return batch
