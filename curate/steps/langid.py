"""``lang_id``: identify each document's language and keep the languages a recipe asks for.

Model: fastText's lid.176 (Joulin et al. 2016, "Bag of Tricks for Efficient Text Classification";
"FastText.zip", 2016), the quantized ``lid.176.ftz`` that ships inside curate (``curate/models/lid176``,
CC BY-SA 3.0), or any fastText LID model given as ``model`` (lid.176.bin, GlotLID). Judgement rules
(script evidence, priors, long documents) are in :mod:`curate.classify.langid`; measurements in
docs/steps/langid.md and docs/quality.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa

from curate.pipeline.step import Step, StepResult, register_step, set_column
from curate.steps.normalize import text_column

_SHIPPED_LABELS: list[str] | None = None


def _shipped_labels() -> list[str]:
    global _SHIPPED_LABELS
    if _SHIPPED_LABELS is None:
        from curate.classify.fasttext_model import LID176, load_fasttext, model_labels

        _SHIPPED_LABELS = model_labels(load_fasttext(LID176))
    return _SHIPPED_LABELS


@register_step
class LangId(Step):
    """Identify the language of every document; keep those in ``keep`` with a high enough score.

    Writes the document columns ``lang`` (ISO 639 code of the model, e.g. ``ko``; ``und`` when not
    judged) and ``lang_score`` (0..1), and the decision metrics ``lid_lang``, ``lid_score`` and
    ``lid_short``. A document with fewer than ``min_letters`` letters (empty, digits, emoji only)
    is not judged: it is flagged ``lid_short``, keeps the language it came with (else ``und``), and
    is kept or dropped by ``short``. Script rules decide Hangul, kana, Thai, Greek... text without
    the model; long documents are judged chunk by chunk over their whole length (up to
    ``max_chars`` characters, evenly spaced), so the score of a mixed document reads as the share
    of it in its main language. ``priors`` (label -> weight) re-rank fastText's top labels; the
    default down-weights regional varieties that lid.176 over-predicts (``{}`` switches it off).

    CCNet (Wenzek et al. 2020) and Polyglot-Ko's source filtering use fastText LID the same way
    (language plus a score threshold, 0.5 in CCNet).
    """

    name = "lang_id"
    resources = ("_lid",)
    kind = "filter"
    metrics = {"lid_lang": pa.string(), "lid_score": pa.float64(), "lid_short": pa.bool_()}
    doc_columns = {"lang_score": pa.float64()}

    @dataclass
    class Params:
        keep: list[str] = field(default_factory=list)  # languages to keep; empty = all
        min_score: float = 0.0
        min_score_per_lang: dict[str, float] = field(default_factory=dict)
        short: Literal["keep", "drop"] = "keep"
        min_letters: int = 5
        model: Path | None = None  # None: the shipped lid.176.ftz
        priors: dict[str, float] | None = None  # None: the default priors; {}: none
        script_rules: bool = True
        max_chars: int = 4000

        def __post_init__(self) -> None:
            for name, v in [("min_score", self.min_score), *((f"min_score_per_lang.{k}", v)
                                                             for k, v in self.min_score_per_lang.items())]:
                if not 0.0 <= v <= 1.0:
                    raise ValueError(f"{name} must be between 0 and 1 (got {v})")
            if self.min_letters < 0:
                raise ValueError(f"min_letters must be >= 0 (got {self.min_letters})")
            if self.max_chars < 0:
                raise ValueError(f"max_chars must be >= 0 (0: no limit) (got {self.max_chars})")
            for k, v in (self.priors or {}).items():
                if not v >= 0:
                    raise ValueError(f"priors.{k} must be >= 0 (got {v})")
            if self.model is None:  # the shipped model: check the codes now, before any data is read
                labels = set(_shipped_labels())
                bad = sorted({*self.keep, *self.min_score_per_lang} - labels)
                if bad:
                    raise ValueError(f"unknown language code(s) {', '.join(map(repr, bad))} for lid.176 "
                                     f"(ISO 639-1 where there is one, e.g. 'ko', 'en', 'ja', 'zh'); "
                                     "see docs/steps/langid.md")

    def setup(self) -> None:
        from curate.classify.langid import DEFAULT_PRIORS, LanguageIdentifier

        p = self.params
        self._lid = LanguageIdentifier(model_path=p.model, min_letters=p.min_letters, script_rules=p.script_rules,
                                       max_chars=p.max_chars,
                                       priors=dict(DEFAULT_PRIORS) if p.priors is None else dict(p.priors))
        if p.model is not None:
            labels = set(self._lid.labels)
            bad = sorted({*p.keep, *p.min_score_per_lang} - labels)
            if bad:
                from curate.errors import CurateError

                raise CurateError(f"step {self.id}: language code(s) {', '.join(map(repr, bad))} are not labels "
                                  f"of {p.model} (its labels look like {sorted(labels)[:5]})")

    def apply(self, batch: pa.RecordBatch) -> StepResult:
        self.ready()
        p = self.params
        text = text_column(batch)
        r = self._lid.identify(text)
        n = len(text)
        short = r.short
        lang = r.lang
        # short documents keep the language they came with (ingest --lang), else "und"
        old = batch.column("lang") if "lang" in batch.schema.names else pa.nulls(n, pa.string())
        if isinstance(old, pa.ChunkedArray):
            old = old.combine_chunks()
        old_py = old.to_pylist()
        doc_lang = [(o if (s and o) else lab) for lab, s, o in zip(lang, short, old_py)]
        out = set_column(batch, "lang", pa.array(doc_lang, pa.string()))
        out = set_column(out, "lang_score", pa.array(r.score, pa.float64()))
        lang_arr = np.asarray(lang, dtype=object)
        in_keep = np.isin(lang_arr, np.asarray(p.keep, dtype=object)) if p.keep else np.ones(n, dtype=bool)
        floor = np.full(n, p.min_score)
        for code, v in p.min_score_per_lang.items():
            floor[lang_arr == code] = v
        low = r.score < floor
        keep = np.where(short, p.short == "keep", in_keep & ~low)
        reason: list[str | None] = [None] * n
        for i in np.flatnonzero(~keep):  # reasons for dropped rows only
            if short[i]:
                reason[i] = f"too short to identify ({int(r.letters[i])} letters < {p.min_letters})"
            elif not in_keep[i]:
                reason[i] = f"lang {lang[i]} not in keep"
            else:
                reason[i] = f"lang {lang[i]} score {r.score[i]:.2f} < {floor[i]:g}"
        return StepResult(batch=out, keep=keep, reason=reason, metrics={
            "lid_lang": pa.array(list(lang), pa.string()), "lid_score": r.score, "lid_short": short})


