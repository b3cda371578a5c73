"""The ``pii`` mapper: replace personal identifiers with placeholder tokens (presidio, offline).

Polyglot-Ko replaced account numbers, resident registration numbers and phone numbers with
``<|acc|>``, ``<|rrn|>`` and ``<|tell|>`` before training (Ko et al. 2023, "A Technical Report for
Polyglot-Ko", arXiv:2306.02254, section 2, data preprocessing). This step does the same with
presidio-analyzer and presidio-anonymizer, Korean recognizers first, plus e-mail, card, IP, IBAN,
SSN and other countries' phone numbers; each type has its own token from curate/tokens.py, which
the tokenizer reserves as a single token. See docs/steps/pii.md and docs/quality.md.

Presidio (and its dependencies) load in ``setup()``, once per worker process, so importing
``curate.steps`` stays fast and works without the ``pii`` extra. The detected values are never
written anywhere: the decision log gets counts per type, and errors carry only the error's type.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate.errors import CurateError
from curate.pii import DEFAULT_ENTITIES, DEFAULT_PHONE_REGIONS
from curate.pipeline.step import Step, StepResult, register_step, set_column, text_column
from curate.steps.normalize import mask_of
from curate.tokens import PII_TOKENS

_EXTRA_HINT = "the pii step needs presidio-analyzer, presidio-anonymizer and phonenumbers: pip install 'curate[pii]'"


def prefilter_regex(entities: list[str] | tuple[str, ...]) -> str | None:
    """An RE2 regex that every document with a detectable entity matches (None: no pre-filter).

    Every enabled entity but e-mail, IPv6 and URL needs a decimal digit; an e-mail needs ``@``
    (or the full-width ``＠``); an IPv6 address may be written with hex letters only (``fe::a``).
    A URL needs only a dot, which nearly every document has, so with ``url`` on nothing is skipped.
    """
    if "url" in entities:
        return None
    parts = [r"\p{Nd}"]
    if "email" in entities:
        parts.append("[@\uFF20]")
    if "ip" in entities:
        parts.append(r"::|[0-9A-Fa-f\x{FF10}-\x{FF19}\x{FF21}-\x{FF26}\x{FF41}-\x{FF46}][:\x{FF1A}]")
    return "|".join(parts)


@register_step
class Pii(Step):
    """Replace PII with placeholder tokens: Korean RRN/FRN/BRN, passport, driver's licence, phone
    and bank account numbers; e-mail, payment card, IPv4/IPv6, IBAN, US SSN, phone numbers of other
    countries (the phonenumbers library, ``phone_regions``).

    Recognizers are presidio pattern recognizers with boundaries that work next to Hangul particles
    and context words read from a character window (no spaCy model); checksums raise confidence
    (a post-October-2020 resident number has none and is still caught). A span scoring at least
    ``score_threshold`` is replaced with ``tokens[entity]`` (default: curate.tokens.PII_TOKENS, i.e.
    Polyglot-Ko's ``<|acc|>``, ``<|rrn|>``, ``<|tell|>`` and one token per other type).

    Metrics, per document: ``pii_<entity>`` (spans replaced, for every entity of PII_TOKENS) and
    ``pii_total``. Rows without a digit or ``@`` (``prefilter``) skip the analyzer: they cannot
    contain a detectable entity, so the output is the same (checked in bench/eval_pii.py).
    Source: Ko et al. 2023, arXiv:2306.02254, section 2; docs/steps/pii.md.
    """

    name = "pii"
    resources = ("_engine", "_prefilter")
    kind = "mapper"
    metrics = {"pii_total": pa.int64(), **{f"pii_{k}": pa.int64() for k in PII_TOKENS}}

    @dataclass
    class Params:
        entities: list[str] = field(default_factory=lambda: list(DEFAULT_ENTITIES))
        tokens: dict[str, str] = field(default_factory=dict)  # entity -> replacement, over PII_TOKENS
        score_threshold: float = 0.5
        phone_regions: list[str] = field(default_factory=lambda: list(DEFAULT_PHONE_REGIONS))
        prefilter: bool = True

        def __post_init__(self) -> None:
            known = ", ".join(PII_TOKENS)
            if not self.entities:
                raise ValueError(f"entities is empty; choose from: {known}")
            for e in self.entities:
                if e not in PII_TOKENS:
                    raise ValueError(f"entities: unknown entity {e!r}; known: {known}")
            if len(set(self.entities)) != len(self.entities):
                raise ValueError("entities lists an entity twice")
            for e in self.tokens:
                if e not in PII_TOKENS:
                    raise ValueError(f"tokens: unknown entity {e!r}; known: {known}")
            if not 0.0 < self.score_threshold <= 1.0:
                raise ValueError(f"score_threshold must be in (0, 1] (got {self.score_threshold})")
            for r in self.phone_regions:
                if not re.fullmatch(r"[A-Z]{2}", r):
                    raise ValueError(f"phone_regions: {r!r} is not a two-letter upper-case region code (e.g. 'US')")
            if importlib.util.find_spec("presidio_analyzer") is None or importlib.util.find_spec("phonenumbers") is None:
                raise ValueError(_EXTRA_HINT)
            import phonenumbers

            bad = [r for r in self.phone_regions if r not in phonenumbers.SUPPORTED_REGIONS]
            if bad:
                raise ValueError(f"phone_regions: {bad[0]!r} is not a region the phonenumbers library knows")

    def setup(self) -> None:
        try:
            from curate.pii.engine import PiiEngine
        except ImportError as exc:
            raise CurateError(f"{_EXTRA_HINT} ({exc.name} is missing)") from None
        p = self.params
        self._engine = PiiEngine(entities=p.entities, tokens=p.tokens, score_threshold=p.score_threshold,
                                 phone_regions=p.phone_regions)
        self._prefilter = prefilter_regex(p.entities) if p.prefilter else None

    def apply(self, batch: pa.RecordBatch) -> StepResult:
        self.ready()
        text = text_column(batch)
        n = len(text)
        counts = {k: np.zeros(n, dtype=np.int64) for k in PII_TOKENS}
        if self._prefilter is not None:
            todo = mask_of(pc.match_substring_regex(text, self._prefilter))
        else:
            todo = np.ones(n, dtype=bool)
        changed = np.zeros(n, dtype=bool)
        rows = np.flatnonzero(todo)
        new_values: list[str] = []
        if rows.size:
            engine = self._engine
            for i, s in zip(rows.tolist(), text.take(pa.array(rows)).to_pylist()):
                out, found = engine.anonymize(s)
                if found:
                    changed[i] = True
                    new_values.append(out)
                    for k, c in found.items():
                        counts[k][i] = c
        if changed.any():
            text = pc.replace_with_mask(text, pa.array(changed), pa.array(new_values, type=text.type))
            batch = set_column(batch, "text", text)
        total = np.sum(np.stack(list(counts.values())), axis=0) if counts else np.zeros(n, dtype=np.int64)
        metrics = {"pii_total": total, **{f"pii_{k}": v for k, v in counts.items()}}
        return StepResult(batch=batch, metrics=metrics)
