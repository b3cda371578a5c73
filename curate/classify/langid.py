"""Language identification: fastText (lid.176 or a user's model) plus writing-system evidence.

``LanguageIdentifier.identify`` takes a string array and returns, per text, a language code, a
score in [0, 1] and a "too short to tell" flag. How (docs/steps/langid.md has the measurements):

1. **Script profile.** Letters are counted per writing system (curate.classify.scripts).
2. **Decisive scripts.** A text whose letters are mostly (``decisive_share``) in a script written
   for one language only (Hangul -> ko, kana with kanji -> ja, Thai -> th, Greek -> el, ...) gets
   that language without the model; its score is that script's share of the letters.
3. **Too short.** A text with fewer than ``min_letters`` letters (and no decisive script) is not
   judged: language ``und``, score 0, flagged short.
4. **Text prepared for fastText.** Every kind of whitespace, newlines included, becomes one space
   (fastText reads one line) and the text is lowercased (lid.176 is more accurate on lowercased
   text: +0.3 points on the tune half of the Lingua sentences, mostly Swedish).
5. **Model, constrained by script, with priors.** fastText's top ``k`` labels are kept only if the
   text has at least ``min_script_share`` of its letters in a script the language is written in
   (Serbian needs Cyrillic or Latin; Chinese needs Han without kana). Each remaining probability
   is multiplied by the label's prior weight (``priors``; by default < 1 for regional varieties and
   small neighbours of big languages that lid.176 over-predicts, e.g. Malay next to Indonesian),
   and the best one wins. The score is renormalized: removed labels are impossible, labels outside
   the top ``k`` keep their mass. When none of the top ``k`` fits, every label is scored.
6. **Long texts** (more than ``max_chunk`` characters) are judged line by line: lines shorter than
   ``min_chunk`` are merged with the next, longer than ``max_chunk`` cut; each chunk is judged as
   above; the text's language is the one with the most letters x score, and its score is that
   mass over all letters (so it reads as "share of the text in this language"). Mixed-language
   documents are judged far better this way than on the whole text at once (docs/steps/langid.md).
   Above ``max_chars`` characters, evenly spaced chunks covering ``max_chars`` are judged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate.classify import scripts as S
from curate.classify.fasttext_model import LID176, load_fasttext, model_labels, one_line, predict
from curate.pipeline.step import as_text_array

UND = "und"

# Labels that lid.176 (trained on Wikipedia, Tatoeba and SETimes) predicts far more often than they
# occur on the web: regional varieties and small close neighbours of big languages, constructed and
# classical languages, Wikipedia-bot languages. Chosen from what they are, before any measurement;
# only their common weight (0.3) was chosen on the tune half of the Lingua sentences
# (docs/steps/langid.md). A corpus *of* one of these languages sets ``priors = {}`` (or its own).
MINOR_VARIETIES: dict[str, tuple[str, ...]] = {
    "Indonesian/Malay": ("ms", "jv", "su", "min"),
    "Hindi belt": ("mr", "ne", "sa", "bh", "mai", "new", "gom", "dty", "bpy", "hif"),
    "German and Dutch varieties": ("als", "bar", "nds", "pfl", "vls", "frr", "li", "hsb", "dsb"),
    "Romance varieties": ("an", "ast", "cbk", "mwl", "lmo", "pms", "vec", "scn", "nap", "eml", "co", "sc", "wa"),
    "constructed and classical": ("la", "ia", "ie", "io", "vo", "jbo"),
    "Philippine (Wikipedia bots)": ("war", "ceb", "bcl", "pam"),
    "other": ("wuu", "yue", "sco", "rue", "nn"),
}
MINOR_WEIGHT = 0.3
DEFAULT_PRIORS: dict[str, float] = {lab: MINOR_WEIGHT for labs in MINOR_VARIETIES.values() for lab in labs}


def sample_windows(text: str, max_chars: int, max_chunk: int) -> str:
    """Evenly spaced windows of a huge text (``max_chars // max_chunk`` of ``2 * max_chunk``
    characters), joined by newlines: what is judged of a text longer than ``4 * max_chars``."""
    windows = max(1, max_chars // max(1, max_chunk))
    size = 2 * max_chunk
    starts = np.linspace(0, max(0, len(text) - size), windows).astype(int)
    return "\n".join(text[a:a + size] for a in starts)


def split_chunks(text: str, min_chunk: int, max_chunk: int, max_chars: int) -> list[str]:
    """Cut a long text into chunks at line breaks: lines (paragraphs), merged while shorter than
    ``min_chunk`` characters, cut (at a space where there is one) when longer than ``max_chunk``.

    When the text is longer than ``max_chars`` (> 0), evenly spaced chunks covering about
    ``max_chars`` are kept: a megabyte document costs as much as a ``max_chars`` one and is still
    judged over its whole length, not on its beginning.
    """
    if max_chars > 0 and len(text) > 4 * max_chars:
        text = sample_windows(text, max_chars, max_chunk)
    pieces: list[str] = []
    for line in text.split("\n"):
        line = line.strip()
        if not line:
            continue
        a, n = 0, len(line)
        while n - a > max_chunk:
            cut = line.rfind(" ", a + max_chunk // 2, a + max_chunk)
            cut = cut if cut > a else a + max_chunk
            pieces.append(line[a:cut])
            a = cut + (1 if line[cut:cut + 1] == " " else 0)
        if a < n:
            pieces.append(line[a:])
    chunks: list[str] = []
    cur: list[str] = []
    size = 0
    for piece in pieces:
        cur.append(piece)
        size += len(piece) + 1
        if size >= min_chunk:
            chunks.append(" ".join(cur))
            cur, size = [], 0
    if cur:
        if chunks:
            chunks[-1] = chunks[-1] + " " + " ".join(cur)
        else:
            chunks.append(" ".join(cur))
    total = sum(len(c) for c in chunks)
    if max_chars > 0 and total > max_chars and len(chunks) > 1:
        keep = max(1, int(round(len(chunks) * max_chars / total)))
        pick = np.unique(np.linspace(0, len(chunks) - 1, keep).round().astype(int))
        chunks = [chunks[i] for i in pick]
    return chunks


@dataclass
class LidResult:
    lang: np.ndarray  # object array of str ("und": not judged)
    score: np.ndarray  # float64 in [0, 1]
    short: np.ndarray  # bool: too few letters to judge
    letters: np.ndarray  # int64: letters looked at
    decided_by: np.ndarray  # object: "script", "model", "chunks", "short"

    @classmethod
    def empty(cls, n: int) -> "LidResult":
        return cls(lang=np.full(n, UND, dtype=object), score=np.zeros(n), short=np.zeros(n, dtype=bool),
                   letters=np.zeros(n, dtype=np.int64), decided_by=np.full(n, "short", dtype=object))

    def put(self, rows: np.ndarray, other: "LidResult") -> None:
        for name in ("lang", "score", "short", "letters", "decided_by"):
            getattr(self, name)[rows] = getattr(other, name)


@dataclass
class LanguageIdentifier:
    model_path: Path | None = None  # None: the shipped lid.176.ftz
    k: int = 3
    min_letters: int = 5
    min_chunk: int = 30
    max_chunk: int = 500
    max_chars: int = 4000
    script_rules: bool = True
    decisive_share: float = 0.8
    min_script_share: float = 0.25
    lowercase: bool = True
    priors: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_PRIORS))  # label -> weight

    def __post_init__(self) -> None:
        self.model = load_fasttext(self.model_path or LID176)
        self.labels = model_labels(self.model)
        S.script_table()
        self._index = {lab: i for i, lab in enumerate(self.labels)}
        self._label_groups = np.zeros((len(self.labels), len(S.GROUPS)), dtype=bool)
        for i, gs in enumerate(S.label_groups(self.labels)):
            self._label_groups[i, list(gs)] = True
        self._weights = np.array([float(self.priors.get(lab, 1.0)) for lab in self.labels])

    def __getstate__(self) -> dict:  # the fastText model does not pickle: reload where unpickled
        state = dict(self.__dict__)
        state.pop("model", None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.model = load_fasttext(self.model_path or LID176)

    # -------------------------------------------------------------------------------------------
    def identify(self, text: pa.Array | Sequence[str]) -> LidResult:
        """Language, score and short flag of every text (module docstring)."""
        arr = as_text_array(text)
        n = len(arr)
        out = LidResult.empty(n)
        if n == 0:
            return out
        long_rows = np.zeros(n, dtype=bool)
        if self.max_chunk > 0:
            long_rows = np.asarray(pc.greater(pc.utf8_length(arr), self.max_chunk)
                                   .to_numpy(zero_copy_only=False), dtype=bool)
        if not long_rows.any():
            return self._judge(arr)
        if self.max_chars > 0:  # huge texts: evenly spaced windows of them are what is judged
            huge = np.asarray(pc.greater(pc.utf8_length(arr), 4 * self.max_chars)
                              .to_numpy(zero_copy_only=False), dtype=bool)
            if huge.any():
                sampled = [sample_windows(t, self.max_chars, self.max_chunk)
                           for t in arr.filter(pa.array(huge)).to_pylist()]
                arr = pc.replace_with_mask(arr, pa.array(huge), pa.array(sampled, pa.string()))
        if (~long_rows).any():
            out.put(np.flatnonzero(~long_rows), self._judge(arr.filter(pa.array(~long_rows))))
        idx = np.flatnonzero(long_rows)
        longs = arr.filter(pa.array(long_rows))
        # a long text in a decisive script is decided on its whole length, without chunking
        whole = self._judge(longs, model=False)
        done = whole.decided_by == "script"
        out.put(idx[done], LidResult(*(getattr(whole, f)[done] for f in
                                        ("lang", "score", "short", "letters", "decided_by"))))
        idx = idx[~done]
        if len(idx):
            out.put(idx, self._judge_chunked(longs.filter(pa.array(~done)).to_pylist()))
        return out

    def _judge_chunked(self, texts: list[str]) -> LidResult:
        chunks, owner = [], []
        for j, t in enumerate(texts):
            cs = split_chunks(t, self.min_chunk, self.max_chunk, self.max_chars)
            chunks += cs
            owner += [j] * len(cs)
        m = len(texts)
        res = LidResult.empty(m)
        if not chunks:
            return res
        owner_a = np.asarray(owner, dtype=np.int64)
        r = self._judge(pa.array(chunks, pa.string()))
        names = np.asarray([UND, *self.labels], dtype=object)
        codes = {lab: i for i, lab in enumerate(names)}
        extra = sorted(set(r.lang) - set(codes))  # labels outside the model (none today)
        for lab in extra:
            codes[lab] = len(codes)
        names = np.asarray(list(codes), dtype=object)
        code = np.fromiter((codes[lab] for lab in r.lang), dtype=np.int64, count=len(r.lang))
        weight = r.letters.astype(np.float64)
        mass = np.zeros((m, len(codes)), dtype=np.float64)
        np.add.at(mass, (owner_a, code), weight * r.score)
        mass[:, 0] = 0.0
        letters = np.bincount(owner_a, weights=weight, minlength=m)
        best = mass.argmax(axis=1)
        top = mass[np.arange(m), best]
        short = letters < self.min_letters
        und = short | (top <= 0)
        res.lang = np.where(und, UND, names[best]).astype(object)
        res.score = np.where(und, 0.0, np.clip(top / np.maximum(letters, 1.0), 0.0, 1.0))
        res.short = short
        res.letters = letters.astype(np.int64)
        res.decided_by = np.where(und, "short", "chunks").astype(object)
        return res

    def _judge(self, arr: pa.Array, model: bool = True) -> LidResult:
        """One judgement per text: script rules, short flag, then (``model``) fastText."""
        n = len(arr)
        res = LidResult.empty(n)
        lines_arr = one_line(arr)
        if self.lowercase:
            lines_arr = pc.utf8_lower(lines_arr)
        lines = lines_arr.to_pylist()
        counts = S.script_counts(lines)
        letters = counts[:, 1:].sum(axis=1)
        res.letters = letters
        groups = S.group_counts(counts)
        safe_letters = np.maximum(letters, 1)
        todo = np.ones(n, dtype=bool)
        if self.script_rules:
            top = groups.argmax(axis=1)
            share = groups[np.arange(n), top] / safe_letters
            for g_name, code in S.DECISIVE.items():
                rows = todo & (top == S.GROUP_INDEX[g_name]) & (share >= self.decisive_share) & (letters > 0)
                if rows.any():
                    res.lang[rows] = code
                    res.score[rows] = share[rows]
                    res.decided_by[rows] = "script"
                    todo &= ~rows
        res.short = todo & (letters < self.min_letters)
        todo &= ~res.short
        rows = np.flatnonzero(todo)
        if not model or not len(rows):
            if not model:
                res.decided_by[rows] = "pending"
            return res
        sub = [lines[i] for i in rows]
        allowed = (groups[rows] / safe_letters[rows, None]) >= self.min_script_share
        labs, probs = predict(self.model, sub, k=self.k)
        best, best_score, ok = self._choose(labs, probs, allowed)
        if not ok.all():  # none of the top k fits the script: score every label
            redo = np.flatnonzero(~ok)
            labs2, probs2 = predict(self.model, [sub[j] for j in redo], k=-1)
            b2, s2, ok2 = self._choose(labs2, probs2, allowed[redo])
            for j in np.flatnonzero(~ok2):  # no label fits the script at all: the model's top-1
                b2[j], s2[j] = (labs2[j][0], float(probs2[j][0])) if len(labs2[j]) else (UND, 0.0)
            best[redo], best_score[redo] = b2, s2
        res.lang[rows], res.score[rows] = best, best_score
        res.decided_by[rows] = "model"
        return res

    def _choose(self, labs: list[list[str]], probs: list, allowed: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Best label per row among fastText's top labels, vectorized over rows.

        A label stays if the text has ``min_script_share`` of its letters in one of the label's
        scripts (``allowed``: rows x groups); its value is probability x prior weight. The score is
        that value renormalized: the removed labels are impossible, the labels outside the top k
        keep their (unweighted) mass. Returns (label, score, fits) where ``fits`` is False for rows
        with no admissible label among those given.
        """
        n = len(labs)
        width = max((len(r) for r in labs), default=0)
        idx = np.full((n, max(width, 1)), -1, dtype=np.int64)
        p = np.zeros((n, max(width, 1)), dtype=np.float64)
        get = self._index.get
        for r, (row_l, row_p) in enumerate(zip(labs, probs)):
            m = len(row_l)
            if m:
                idx[r, :m] = [get(lab, -1) for lab in row_l]
                p[r, :m] = row_p
        valid = idx >= 0
        safe = np.where(valid, idx, 0)
        if self.script_rules:
            fits = (self._label_groups[safe] & allowed[:, None, :]).any(axis=2) & valid
        else:
            fits = valid
        v = np.where(fits, p * self._weights[safe], 0.0)
        removed = np.where(valid & ~fits, p, 0.0).sum(axis=1)
        kept = np.where(fits, p, 0.0).sum(axis=1)
        rest = np.clip(1.0 - kept - removed, 0.0, None)
        j = v.argmax(axis=1)
        best_v = v[np.arange(n), j]
        denom = v.sum(axis=1) + rest
        ok = fits.any(axis=1)
        score = np.where(ok & (denom > 0), best_v / np.where(denom > 0, denom, 1.0), 0.0)
        labels = np.asarray(self.labels, dtype=object)[safe[np.arange(n), j]]
        labels = np.where(ok, labels, UND).astype(object)
        return labels, np.clip(score, 0.0, 1.0), ok
