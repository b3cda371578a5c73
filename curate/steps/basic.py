"""Basic filters every recipe starts with."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate.pipeline.step import Step, StepResult, register_step


@register_step
class EmptyText(Step):
    """Drop documents with no visible text (empty or only whitespace).

    The first step of Polyglot-Ko's cleaning list (Ko et al. 2023, "A Technical Report for
    Polyglot-Ko", section 2.2: "empty text").
    """

    name = "empty_text"
    kind = "filter"
    metrics = {"n_chars": pa.int64()}

    @dataclass
    class Params:
        pass

    def apply(self, batch: pa.RecordBatch) -> StepResult:
        text = batch.column("text")
        n_chars = pc.utf8_length(text)
        stripped = pc.utf8_length(pc.utf8_trim_whitespace(text))
        keep = pc.greater(stripped, 0).to_numpy(zero_copy_only=False)
        return StepResult(keep=keep, reason="empty text", metrics={"n_chars": n_chars.cast(pa.int64())})


_ = np
