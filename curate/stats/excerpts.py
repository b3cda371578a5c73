"""Short, anonymized excerpts of documents for the report. Raw PII never reaches the HTML.

Dropped documents are not in ``DIR/documents``; their text comes from the run's input directory
(``manifest.input.dir``, the ``input_documents`` view), looked up by id. Before an excerpt is cut:

1. the ``pii`` step (curate.steps.pii, presidio offline) replaces identifiers with its placeholder
   tokens (``<|tell|>``, ``<|rrn|>``, ``<|email|>`` ...), with the run recipe's ``pii`` parameters
   when the recipe has that step, with the step's defaults otherwise;
2. then, whatever step 1 did or could not do (presidio missing), a conservative regex masks every
   e-mail-like string (``<|email|>``) and every run of six or more digits, separators allowed
   (``<|digits|>``): phone, account, card and resident numbers all have more digits than that.

The text is anonymized whole (its first ``WINDOW`` characters) and only then cut, so a number that
straddles the end of the excerpt is masked too.
"""

from __future__ import annotations

import re
from typing import Callable, Sequence

WINDOW = 2000
EMAIL = re.compile(r"[\w.%+-]+[@\uFF20][\w-]+(?:[.\uFF0E][\w-]+)+")
DIGITS = re.compile(r"\d(?:[\s\-.()/\u2010-\u2015]{0,2}\d){5,}")


def regex_mask(text: str) -> str:
    """Mask e-mail-like strings and runs of 6+ digits (separators allowed)."""
    return DIGITS.sub("<|digits|>", EMAIL.sub("<|email|>", text))


def make_anonymizer(recipe_steps: Sequence[dict]) -> tuple[Callable[[list[str]], list[str]], str]:
    """(function anonymizing a list of texts, a sentence saying how) for a run's recipe."""
    spec = next((s for s in recipe_steps if s.get("name") == "pii"), None)
    params = dict((spec or {}).get("params") or {})
    try:
        from curate.pipeline.batch import documents_batch
        from curate.pipeline.recipe import build_step

        step = build_step({"name": "pii", **params}, 1, None)
        step.setup()
    except Exception as exc:  # noqa: BLE001 - missing extra or a broken step: fall back, and say so
        why = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        return (lambda texts: [regex_mask(t) for t in texts],
                f"the pii step is not available here ({why}); excerpts were masked with a conservative regex "
                "only: e-mail addresses and every run of 6 or more digits")

    def anonymize(texts: list[str]) -> list[str]:
        if not texts:
            return []
        out = step.apply(documents_batch(list(texts)))
        rewritten = out.batch.column("text").to_pylist() if out.batch is not None else list(texts)
        return [regex_mask(t) for t in rewritten]

    origin = ("with the run recipe's pii parameters" if spec else
              "with its default parameters, since the recipe has no pii step")
    return anonymize, (f"excerpts were anonymized with curate's pii step {origin}; then e-mail addresses and runs "
                       "of 6 or more digits left over were masked with a conservative regex")


def excerpt(text: str, limit: int = 320) -> str:
    """The start of an (already anonymized) text: blank lines squeezed, cut at a word boundary."""
    text = re.sub(r"[ \t\r\f\v]+", " ", text)
    text = re.sub(r"\n\s*\n+", "\n", text).strip()
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    if space > limit * 0.6:
        cut = cut[:space]
    return cut.rstrip() + " …"
