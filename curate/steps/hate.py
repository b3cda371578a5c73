"""``hate_speech``: score toxic (offensive or hateful) text and drop documents above a threshold.

Model: a fastText classifier (Joulin et al. 2016) that curate trains from the labeled comments of
BEEP! / kocohub/korean-hate-speech (Moon, Cho, Lee 2020, SocialNLP@ACL; CC BY-SA 4.0), shipped as
``curate/models/hate_ko/hate_ko.ftz`` with its data and the command that reproduces it; or any
classifier made by ``curate classifier train`` (``model``). Measurements: docs/quality.md.

Comments are short and documents long, so a document is scored line by line (docs/steps/hate.md):

* lines longer than ``max_line_chars`` are cut at sentence ends (then at spaces);
* a line is scored only when at least half of its letters are in the model's ``script`` (Hangul for
  the Korean model: English boilerplate or code in a Korean page is not judged by a Korean model);
  other lines count as clean;
* a line's toxicity is ``1 - P(none)``; the document's ``hate_score`` is the letter-weighted mean
  of its lines' toxicity (``aggregate = "mean"``: "how much of this document is toxic"), or the
  highest line (``"max"``: any toxic line) or the letter-weighted share of lines at or above
  ``threshold`` (``"share"``);
* ``hate_label`` is ``none`` below ``threshold``, else ``hate`` or ``offensive`` by which of the two
  has more (same-weighted) probability mass.

Documents whose ``lang`` is known and not in ``langs`` are not scored by the model (score and label
null, kept). For them (or every document), a word list flags documents with at least
``wordlist_min_hits`` matches, the way C4 used its "bad words" list (Raffel et al. 2020):
``wordlist = "ldnoobw"`` picks the shipped LDNOOBW list of each document's ``lang`` (about 30
languages, CC BY 4.0), or a user file (one word or phrase per line, ``#`` comments). Matching rules:
curate.classify.wordlist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate.classify.wordlist import WordList
from curate.pipeline.step import Step, StepResult, register_step
from curate.steps.normalize import text_column

_SENTENCE_END = re.compile(r"(?<=[.!?。！？…])\s+|(?<=[다요죠까네])\.\s*")


def split_lines(text: str, max_line_chars: int) -> list[str]:
    """Non-empty lines; long lines cut at sentence ends, then at spaces, to ``max_line_chars``."""
    out = []
    for line in text.split("\n"):
        line = line.strip()
        if not line:
            continue
        if len(line) <= max_line_chars:
            out.append(line)
            continue
        for sent in _SENTENCE_END.split(line):
            sent = sent.strip()
            while len(sent) > max_line_chars:
                cut = sent.rfind(" ", max_line_chars // 2, max_line_chars)
                cut = cut if cut > 0 else max_line_chars
                out.append(sent[:cut])
                sent = sent[cut:].strip()
            if sent:
                out.append(sent)
    return out


@dataclass
class DocScores:
    score: np.ndarray  # float64, NaN where not scored
    hate_mass: np.ndarray
    offensive_mass: np.ndarray
    lines: np.ndarray  # int64 lines scored by the model


class ToxicityScorer:
    """Line-by-line document scoring with a fastText toxicity classifier (module docstring)."""

    def __init__(self, model: Path | None = None, script: str | None = "Hangul", aggregate: str = "mean",
                 threshold: float = 0.5, max_line_chars: int = 300, max_lines: int = 2000) -> None:
        from curate.classify import scripts as S
        from curate.classify.fasttext_model import HATE_KO, TextClassifier

        self.model_path = Path(model) if model else HATE_KO
        self.clf = TextClassifier(self.model_path)
        labels = self.clf.labels
        negative = (self.clf.sidecar.negative if self.clf.sidecar else None) or ("none" if "none" in labels else None)
        if negative not in labels:
            from curate.errors import CurateError

            raise CurateError(f"{self.model_path}: cannot tell the clean label among {labels}; train it with "
                              "`curate classifier train --negative LABEL` (its sidecar records it)")
        self.i_neg = labels.index(negative)
        self.i_hate = labels.index("hate") if "hate" in labels else None
        others = [i for i in range(len(labels)) if i != self.i_neg and i != self.i_hate]
        self.i_off = others
        self.script = script
        self.script_index = S.SCRIPT_INDEX.get(script) if script else None
        self.aggregate = aggregate
        self.threshold = threshold
        self.max_line_chars = max_line_chars
        self.max_lines = max_lines
        S.script_table()

    def score_texts(self, texts: list[str]) -> DocScores:
        from curate.classify import scripts as S

        n = len(texts)
        lines: list[str] = []
        owner: list[int] = []
        for i, t in enumerate(texts):
            ls = split_lines(t, self.max_line_chars) if t else []
            if len(ls) > self.max_lines:  # evenly spaced lines of a huge document
                pick = np.unique(np.linspace(0, len(ls) - 1, self.max_lines).round().astype(int))
                ls = [ls[j] for j in pick]
            lines += ls
            owner += [i] * len(ls)
        score = np.zeros(n)
        hate = np.zeros(n)
        off = np.zeros(n)
        scored_lines = np.zeros(n, dtype=np.int64)
        if not lines:
            return DocScores(score, hate, off, scored_lines)
        owner_a = np.asarray(owner, dtype=np.int64)
        counts = S.script_counts(lines)
        letters = counts[:, 1:].sum(axis=1).astype(np.float64)
        judged = letters > 0
        if self.script_index is not None:
            judged &= counts[:, self.script_index] * 2 >= letters
        tox = np.zeros(len(lines))
        p_hate = np.zeros(len(lines))
        p_off = np.zeros(len(lines))
        idx = np.flatnonzero(judged)
        if len(idx):
            probs = self.clf.proba([lines[i] for i in idx])
            tox[idx] = 1.0 - probs[:, self.i_neg]
            p_hate[idx] = probs[:, self.i_hate] if self.i_hate is not None else 0.0
            p_off[idx] = probs[:, self.i_off].sum(axis=1) if self.i_off else 0.0
        weight = letters
        total = np.bincount(owner_a, weights=weight, minlength=n)
        safe = np.maximum(total, 1.0)
        scored_lines = np.bincount(owner_a, weights=judged.astype(np.float64), minlength=n).astype(np.int64)
        if self.aggregate == "max":
            score = np.zeros(n)
            np.maximum.at(score, owner_a, tox)
            hate = np.zeros(n)
            off = np.zeros(n)
            np.maximum.at(hate, owner_a, p_hate)
            np.maximum.at(off, owner_a, p_off)
        else:
            if self.aggregate == "share":
                flag = tox >= self.threshold
                score = np.bincount(owner_a, weights=weight * flag, minlength=n) / safe
            else:
                score = np.bincount(owner_a, weights=weight * tox, minlength=n) / safe
            hate = np.bincount(owner_a, weights=weight * p_hate, minlength=n) / safe
            off = np.bincount(owner_a, weights=weight * p_off, minlength=n) / safe
        return DocScores(np.clip(score, 0.0, 1.0), hate, off, scored_lines)

    def labels_for(self, s: DocScores) -> np.ndarray:
        label = np.where(s.hate_mass > s.offensive_mass, "hate", "offensive").astype(object)
        return np.where(s.score >= self.threshold, label, "none").astype(object)


@register_step
class HateSpeech(Step):
    """Score toxic text line by line with a fastText classifier; drop documents at or above ``threshold``.

    ``hate_score`` (0..1: by default the letter-weighted mean toxicity of the document's lines) and
    ``hate_label`` (none / offensive / hate) go to the decision log, with ``hate_lines`` (lines the
    model scored) and ``hate_wordlist_hits``. ``action = "flag"`` records the scores and keeps every
    document. Details and measurements: module docstring, docs/steps/hate.md, docs/quality.md.
    """

    name = "hate_speech"
    resources = ("_scorer", "_words")
    kind = "filter"
    metrics = {"hate_score": pa.float64(), "hate_label": pa.string(), "hate_lines": pa.int64(),
               "hate_wordlist_hits": pa.int64()}

    @dataclass
    class Params:
        threshold: float = 0.5
        aggregate: Literal["mean", "max", "share"] = "mean"
        action: Literal["drop", "flag"] = "drop"
        model: Path | None = None  # None: the shipped Korean model
        langs: list[str] = field(default_factory=lambda: ["ko"])  # documents the model scores ([]: all)
        script: str | None = "Hangul"  # lines scored need half their letters in it (None: every line)
        max_line_chars: int = 300
        wordlist: Path | str | None = None  # a file, "ldnoobw" (by document lang) or "ldnoobw:CODE"
        wordlist_langs: list[str] = field(default_factory=list)  # [] : documents the model does not score
        wordlist_min_hits: int = 1

        def __post_init__(self) -> None:
            if not 0.0 <= self.threshold <= 1.0:
                raise ValueError(f"threshold must be between 0 and 1 (got {self.threshold})")
            if self.max_line_chars < 20:
                raise ValueError(f"max_line_chars must be >= 20 (got {self.max_line_chars})")
            if self.wordlist_min_hits < 1:
                raise ValueError(f"wordlist_min_hits must be >= 1 (got {self.wordlist_min_hits})")
            if self.wordlist is not None:
                WordList(self.wordlist)  # a missing file or unknown shipped list fails at recipe load
            if self.script is not None:
                from curate.classify.scripts import SCRIPTS

                if self.script not in SCRIPTS or self.script in ("none", "other"):
                    raise ValueError(f"script {self.script!r} is not one of {', '.join(SCRIPTS[1:-1])}")

    def setup(self) -> None:
        p = self.params
        self._scorer = ToxicityScorer(p.model, script=p.script, aggregate=p.aggregate, threshold=p.threshold,
                                      max_line_chars=p.max_line_chars)
        self._words = WordList(p.wordlist) if p.wordlist is not None else None

    def apply(self, batch: pa.RecordBatch) -> StepResult:
        self.ready()
        p = self.params
        text = text_column(batch)
        n = len(text)
        if "lang" in batch.schema.names and p.langs:
            lang = batch.column("lang")
            if isinstance(lang, pa.ChunkedArray):
                lang = lang.combine_chunks()
            known = pc.fill_null(pc.invert(pc.is_null(lang)), False).to_numpy(zero_copy_only=False)
            known &= pc.fill_null(pc.not_equal(lang, "und"), True).to_numpy(zero_copy_only=False)
            in_langs = pc.fill_null(pc.is_in(lang, pa.array(p.langs, pa.string())), False).to_numpy(zero_copy_only=False)
            by_model = ~known | in_langs
        else:
            by_model = np.ones(n, dtype=bool)
        score = np.full(n, np.nan)
        label = np.full(n, None, dtype=object)
        lines = np.zeros(n, dtype=np.int64)
        idx = np.flatnonzero(by_model)
        texts = text.to_pylist()
        if len(idx):
            s = self._scorer.score_texts([texts[i] for i in idx])
            score[idx] = s.score
            label[idx] = self._scorer.labels_for(s)
            lines[idx] = s.lines
        hits = np.zeros(n, dtype=np.int64)
        if self._words is not None:
            lang_py = batch.column("lang").to_pylist() if "lang" in batch.schema.names else [None] * n
            if p.wordlist_langs:
                wl_rows = np.array([lg in p.wordlist_langs for lg in lang_py], dtype=bool)
            else:
                wl_rows = ~by_model
            wl_rows &= self._words.covers(lang_py)  # no list for a document's language: not judged
            idx_wl = np.flatnonzero(wl_rows)
            hits[idx_wl] = self._words.count([texts[i] for i in idx_wl], [lang_py[i] for i in idx_wl])
            flagged = wl_rows & (hits >= p.wordlist_min_hits)
            score[wl_rows & ~by_model] = np.where(flagged[wl_rows & ~by_model], 1.0, 0.0)
            label[wl_rows & ~by_model] = np.where(flagged[wl_rows & ~by_model], "offensive", "none")
            score[flagged] = 1.0
            label[flagged & by_model] = np.where(label[flagged & by_model] == "hate", "hate", "offensive")
        keep = np.ones(n, dtype=bool)
        reason: list[str | None] = [None] * n
        if p.action == "drop":
            for i in range(n):
                if score[i] == score[i] and score[i] >= p.threshold:  # not NaN
                    keep[i] = False
                    reason[i] = (f"{label[i]}: {hits[i]} listed word(s)" if hits[i] >= p.wordlist_min_hits and
                                 self._words is not None else f"{label[i]}: hate_score {score[i]:.2f} >= {p.threshold:g}")
        return StepResult(keep=keep, reason=reason, metrics={
            "hate_score": pa.array(score, pa.float64(), mask=np.isnan(score)),
            "hate_label": pa.array(list(label), pa.string()), "hate_lines": lines, "hate_wordlist_hits": hits})
