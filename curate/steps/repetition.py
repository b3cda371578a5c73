"""Repetition filters: Gopher's repetition rules and runs of one repeated character.

* ``gopher_repetition`` -- Rae et al. 2021, "Scaling Language Models: Methods, Analysis & Insights
  from Training Gopher", Appendix A.1.1 and Table A1 (duplicate lines/paragraphs, top n-grams,
  duplicate n-grams), with datatrove's ``GopherRepetitionFilter`` semantics.
* ``repeated_chars`` -- runs of one character ("ㅋㅋㅋㅋㅋㅋ", "!!!!!!!!", "........"), the
  "repeated characters" item of Polyglot-Ko's cleaning list (Ko et al. 2023, section 2.2).

Everything is computed for a whole batch at once: Arrow splits the texts into lines, paragraphs and
words in C++, ``dictionary_encode`` turns them into integer ids (hash tables, no Python objects per
word), and numpy finds the repeated ones per document. Only n-grams that occur at least twice in
their document ever reach Python (the greedy duplicate-n-gram scan of datatrove is sequential).

Words are whitespace tokens (``str.split()``), and with ``split_cjk`` every Han, Hiragana and
Katakana character is a word of its own (Chinese and Japanese are written without spaces). Korean
eojeol (space-separated units) are words as they are. The shared tokenizer lives here so that
``curate.steps.quality`` uses exactly the same words.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate.pipeline.step import Step, StepResult, register_step, set_column, text_column

# ---------------------------------------------------------------------------------------------------
# shared text helpers (also used by curate.steps.quality)

CJK_CHARS = r"[\p{Han}\p{Hiragana}\p{Katakana}]"
# Python's str.splitlines() boundaries, as an RE2 pattern ("\r\n" first so it counts as one break).
LINE_BREAKS = "\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]"
# str.isspace() code points (Arrow's utf8 whitespace is the same set).
WHITESPACE_CODEPOINTS = np.array(sorted(c for c in range(0x3100) if chr(c).isspace()), dtype=np.uint32)




def string_offsets(text: pa.Array) -> np.ndarray:
    """Byte offsets (n + 1, int64) of a String/LargeString array into its data buffer."""
    dtype = np.int32 if pa.types.is_string(text.type) else np.int64
    buf = text.buffers()[1]
    return np.frombuffer(buf, dtype=dtype, count=len(text) + 1, offset=text.offset * np.dtype(dtype).itemsize
                         ).astype(np.int64)


def list_parts(lists: pa.Array) -> tuple[np.ndarray, pa.Array]:
    """(offsets as int64 numpy, flat values) of a freshly computed ListArray."""
    offsets = np.asarray(lists.offsets, dtype=np.int64)
    values = lists.values
    if offsets[0] != 0 or len(values) != offsets[-1]:
        values = values.slice(int(offsets[0]), int(offsets[-1] - offsets[0]))
        offsets = offsets - offsets[0]
    return offsets, values


def dense_ids(keys: np.ndarray) -> np.ndarray:
    """Dense ids 0..k-1 of ``keys``, numbered in order of first occurrence (one C++ hash pass)."""
    if len(keys) == 0:
        return np.zeros(0, dtype=np.int64)
    enc = pc.dictionary_encode(pa.array(keys))
    return np.asarray(enc.indices).astype(np.int64, copy=False)


def first_occurrence(ids: np.ndarray) -> np.ndarray:
    """True where a dense id (numbered by first occurrence) appears for the first time."""
    if len(ids) == 0:
        return np.zeros(0, dtype=bool)
    cm = np.maximum.accumulate(ids)
    out = np.empty(len(ids), dtype=bool)
    out[0] = True
    np.greater(cm[1:], cm[:-1], out=out[1:])
    return out


def split_lines(text: pa.Array) -> tuple[np.ndarray, pa.Array, np.ndarray]:
    """Lines as ``str.splitlines()`` gives them: (offsets, flat lines, line -> doc).

    A break at the very end of a text does not open an empty last line, and "" has no lines.
    """
    n = len(text)
    offsets, flat = list_parts(pc.split_pattern_regex(text, pattern=LINE_BREAKS))
    counts = np.diff(offsets)
    last = offsets[1:] - 1
    if len(flat):
        last_len = np.asarray(pc.binary_length(flat.take(pa.array(last))))
        drop_last = last_len == 0
    else:
        drop_last = np.zeros(n, dtype=bool)
    if drop_last.any():
        keep = np.ones(len(flat), dtype=bool)
        keep[last[drop_last]] = False
        flat = flat.filter(pa.array(keep))
        counts = counts - drop_last
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    line_doc = np.repeat(np.arange(n, dtype=np.int64), counts)
    return offsets, flat, line_doc


@dataclass
class Words:
    """Whitespace words of a batch: ``wid`` indexes ``vocab`` (the batch's distinct words)."""

    offsets: np.ndarray  # int64, n_docs + 1
    wid: np.ndarray  # int64 per word
    vocab: pa.Array
    vocab_len: np.ndarray  # characters per vocab entry

    @property
    def n_words(self) -> np.ndarray:
        return np.diff(self.offsets)


_WORDS_CACHE: list[tuple[Any, bool, Words]] = []


def _buffers_key(text: pa.Array) -> tuple:
    return (text.offset, len(text), tuple((b.address, b.size) if b is not None else None for b in text.buffers()))


def split_words(text: pa.Array, split_cjk: bool) -> Words:
    """Tokenize a batch (cached for the last batch: gopher_quality and gopher_repetition share it).

    The cache holds a reference to the text array, so its buffers cannot be freed and their addresses
    cannot be reused by other data while the entry lives: equal addresses mean equal, immutable bytes.
    """
    key = _buffers_key(text)
    for cached_text, cjk, words in _WORDS_CACHE:
        if cjk == split_cjk and _buffers_key(cached_text) == key:
            return words
    src = pc.replace_substring_regex(text, pattern=CJK_CHARS, replacement=r" \0 ") if split_cjk else text
    # Arrow's split gives empty strings for leading/trailing whitespace ("  a " -> ["", "a", ""]):
    # trim first; then only a text with no words at all still yields one "" token, which goes
    src = pc.utf8_trim_whitespace(src)
    offsets, flat = list_parts(pc.utf8_split_whitespace(src))
    blank = np.asarray(pc.binary_length(src)) == 0
    if blank.any():
        drop = np.zeros(len(flat), dtype=bool)
        drop[offsets[:-1][blank]] = True
        flat = flat.filter(pa.array(~drop))
        counts = np.diff(offsets) - blank
        offsets = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
    if len(flat):
        enc = pc.dictionary_encode(flat)
        wid = np.asarray(enc.indices).astype(np.int64)
        vocab = enc.dictionary
    else:
        wid = np.zeros(0, dtype=np.int64)
        vocab = pa.array([], pa.string())
    vocab_len = np.asarray(pc.utf8_length(vocab)).astype(np.int64)
    words = Words(offsets=offsets, wid=wid, vocab=vocab, vocab_len=vocab_len)
    _WORDS_CACHE[:] = [(text, split_cjk, words)]
    return words


def fmt(x: float) -> str:
    return f"{x:.2f}" if abs(x) < 1000 else f"{x:.0f}"


def first_failure(rules: list[tuple[str, np.ndarray, np.ndarray, str, float]], n: int) -> tuple[np.ndarray, list]:
    """Combine rules (label, failed mask, value, comparator, threshold), checked in order, into
    ``keep`` and a reason per row naming the first rule that failed (``'label 0.41 > 0.30'``;
    counts print as integers)."""
    keep = np.ones(n, dtype=bool)
    reasons: list[str | None] = [None] * n
    for label, failed, value, op, threshold in rules:
        hit = np.flatnonzero(failed & keep)
        if not len(hit):
            continue
        value = np.asarray(value)
        integral = np.issubdtype(value.dtype, np.integer)
        tail = f" {op} {threshold if integral else fmt(float(threshold))}"
        vals = value[hit].tolist()
        if integral:
            strs = [f"{label} {v}{tail}" for v in vals]
        else:
            strs = [f"{label} {v:.2f}{tail}" if abs(v) < 1000 else f"{label} {v:.0f}{tail}" for v in vals]
        for i, r in zip(hit.tolist(), strs):
            reasons[i] = r
        keep[hit] = False
    return keep, reasons


# ---------------------------------------------------------------------------------------------------
# gopher_repetition


def _dup_elements(offsets: np.ndarray, flat: pa.Array, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per document: (elements, elements equal to an earlier one, characters in those) -- datatrove's
    ``find_duplicates`` over every document of the batch at once."""
    counts = np.diff(offsets)
    if len(flat) == 0:
        return counts, np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    enc = pc.dictionary_encode(flat)
    sid = np.asarray(enc.indices).astype(np.int64)
    slen = np.asarray(pc.utf8_length(enc.dictionary)).astype(np.int64)[sid]
    doc = np.repeat(np.arange(n, dtype=np.int64), counts)
    dup = ~first_occurrence(dense_ids(doc * len(enc.dictionary) + sid))
    dup_n = np.bincount(doc[dup], minlength=n)
    dup_chars = np.bincount(doc[dup], weights=slen[dup], minlength=n).astype(np.int64)
    return counts, dup_n, dup_chars


def _greedy_loop(pos: np.ndarray, ids: np.ndarray, chars: np.ndarray, docs: np.ndarray, n: int,
                 out: np.ndarray) -> None:
    """datatrove's ``find_all_duplicate`` as a plain loop over the repeated n-grams of some documents.

    Walk the n-gram positions of a document in order; an n-gram seen before counts its characters
    and the walk jumps n words ahead (skipped n-grams are not remembered); otherwise it is remembered
    and the walk moves one word. N-grams that occur once never count and never make a later one
    count, so walking only the repeated ones gives the same sum. Ids are unique per (document,
    n-gram), and a jump never leaves the document, so one pass serves every document.
    """
    seen: set[int] = set()
    add = seen.add
    nxt = -1
    acc: dict[int, int] = {}
    for p, k, c, d in zip(pos.tolist(), ids.tolist(), chars.tolist(), docs.tolist()):
        if p < nxt:
            continue
        if k in seen:
            acc[d] = acc.get(d, 0) + c
            nxt = p + n
        else:
            add(k)
    for d, c in acc.items():
        out[d] = c


def _chain(q: np.ndarray, n: int) -> np.ndarray:
    """Indices of the greedy chain over sorted positions ``q``: take q[0], then always the first
    position at least ``n`` after the last one taken. Pointer doubling: after round k, ``on`` holds
    the chain's first 2**(k+1) members and ``jump`` leaps 2**(k+1) members ahead."""
    m = len(q)
    jump = np.empty(m + 1, dtype=np.int64)
    jump[:m] = np.searchsorted(q, q + n, side="left")
    jump[m] = m
    on = np.zeros(m + 1, dtype=bool)
    on[0] = True
    while jump[0] < m:
        on[jump[np.flatnonzero(on)]] = True
        jump = jump[jump]
    return np.flatnonzero(on[:m])


def greedy_duplicate_chars(pos: np.ndarray, ids: np.ndarray, chars: np.ndarray, docs: np.ndarray, n: int,
                           n_docs: int, skip: np.ndarray | None = None) -> np.ndarray:
    """Characters in duplicate n-grams per document, exactly as datatrove's greedy scan counts them,
    given the positions (sorted), ids, character counts and documents of the n-grams that occur at
    least twice in their document.

    Vectorized for the usual case: if every first occurrence is visited, every later occurrence the
    walk reaches is a duplicate, so the walk is the greedy chain over later occurrences (take one,
    jump n words, take the next one reached). That holds for a document unless one of its first
    occurrences lies inside a jump; those documents (phrases repeated with shifts: web boilerplate,
    patent claims) are walked by the plain loop, except those marked in ``skip`` (their value is
    not needed), which get -1.
    """
    out = np.zeros(n_docs, dtype=np.int64)
    if len(pos) == 0:
        return out
    first = first_occurrence(ids)
    later = np.flatnonzero(~first)
    if len(later) == 0:
        return out
    q = pos[later]
    sel = later[_chain(q, n)]
    sel_pos = pos[sel]
    f_pos = pos[first]
    j = np.searchsorted(sel_pos, f_pos, side="left") - 1
    inside = (j >= 0) & (f_pos < sel_pos[np.maximum(j, 0)] + n)
    bad_docs = np.unique(docs[first][inside])
    out += np.bincount(docs[sel], weights=chars[sel], minlength=n_docs).astype(np.int64)
    if len(bad_docs):
        out[bad_docs] = 0
        if skip is not None:
            out[bad_docs[skip[bad_docs]]] = -1
            bad_docs = bad_docs[~skip[bad_docs]]
        m = np.isin(docs, bad_docs)
        _greedy_loop(pos[m], ids[m], chars[m], docs[m], n, out)
    return out


def ngram_repetition(words: Words, top_ns: list[int], dup_ns: list[int], top_min_count: int = 1
                     ) -> tuple[dict[int, np.ndarray], dict[int, tuple]]:
    """Per document: characters of the most frequent n-gram times its count (``top``, words joined by
    one space, as datatrove) for every n in ``top_ns``; and for every n in ``dup_ns`` the arguments
    of :func:`greedy_duplicate_chars` (the n-grams that occur twice or more), which counts the
    characters in duplicate n-grams (words joined without separator, datatrove's greedy count).

    N-gram identity is exact (no hashing): the id of an n-gram at position p is the dense id of the
    pair (id of its (n-1)-gram prefix at p, word at p+n-1), and document ids are folded into the
    unigram ids, so equal ids mean equal documents and equal word sequences. Only positions whose
    (n-1)-grams at p and at p+1 both repeat can hold a repeated n-gram; everything else is known to
    occur once and is never encoded, so the work shrinks quickly with n.
    """
    n_docs = len(words.offsets) - 1
    nw = words.n_words
    W = len(words.wid)
    top: dict[int, np.ndarray] = {}
    dup: dict[int, tuple] = {}
    max_n = max([*top_ns, *dup_ns], default=0)
    if max_n == 0:
        return top, dup
    V = max(len(words.vocab), 1)
    word_doc = np.repeat(np.arange(n_docs, dtype=np.int64), nw)
    doc_end = words.offsets[1:][word_doc]
    csum = np.zeros(W + 1, dtype=np.int64)
    np.cumsum(words.vocab_len[words.wid], out=csum[1:])
    first_word = words.offsets[:-1]

    def ngram_chars(p: np.ndarray, n: int) -> np.ndarray:
        return csum[p + n] - csum[p]

    # level 1: (document, word)
    pos = np.arange(W, dtype=np.int64)
    d = dense_ids(word_doc * V + words.wid)
    c = np.bincount(d)[d] if W else np.zeros(0, dtype=np.int64)
    rep = c >= 2
    rep_full = np.zeros(W + 1, dtype=bool)
    id_full = np.zeros(W + 1, dtype=np.int64)
    rep_full[:W] = rep
    id_full[:W] = d

    for n in range(1, max_n + 1):
        if n > 1:
            prev = pos[rep]
            ok = rep_full[prev + 1] & (prev + n - 1 < doc_end[prev])
            cand = prev[ok]
            key = id_full[cand] * V + words.wid[cand + n - 1]
            d = dense_ids(key)
            c = np.bincount(d)[d] if len(d) else np.zeros(0, dtype=np.int64)
            rep = c >= 2
            rep_full[prev] = False
            rep_full[cand[rep]] = True
            id_full[cand[rep]] = d[rep]
            pos = cand
        rp, rc, rid = pos[rep], c[rep], d[rep]
        if n in top_ns:
            has = nw >= n
            frac_chars = np.zeros(n_docs, dtype=np.int64)
            if top_min_count <= 1:  # datatrove: the top n-gram of a document without repeats occurs once
                idx = np.flatnonzero(has)
                frac_chars[idx] = ngram_chars(first_word[idx], n) + (n - 1)
            if len(rp):
                rd = word_doc[rp]
                starts = np.flatnonzero(np.r_[True, rd[1:] != rd[:-1]])
                seg_max = np.maximum.reduceat(rc, starts)
                seg_len = np.diff(np.r_[starts, len(rd)])
                is_max = rc == np.repeat(seg_max, seg_len)
                # the earliest position holding a maximal count is that n-gram's first occurrence,
                # which is the one Counter.most_common(1) returns among ties
                mi = np.flatnonzero(is_max)
                md = rd[mi]
                firsts = mi[np.r_[True, md[1:] != md[:-1]]]
                ok_docs = rd[firsts]
                cnt = rc[firsts]
                chars = (ngram_chars(rp[firsts], n) + (n - 1)) * cnt
                sel = cnt >= top_min_count
                frac_chars[ok_docs[sel]] = chars[sel]
            top[n] = frac_chars
        if n in dup_ns:
            dup[n] = (rp, rid, ngram_chars(rp, n), word_doc[rp], n, n_docs)
    return top, dup


def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def _n_table(value: Any, what: str) -> dict[int, float]:
    if value is None:
        return {}
    out = {}
    for k, v in dict(value).items():
        try:
            n = int(k)
        except (TypeError, ValueError):
            raise ValueError(f"{what}: key {k!r} is not an n-gram size (an integer)") from None
        if not 1 <= n <= 64:
            raise ValueError(f"{what}: n-gram size {n} is outside 1..64")
        if v is not None and not 0.0 <= float(v) <= 1.0:
            raise ValueError(f"{what}: threshold for n={n} is {v}, expected a fraction in [0, 1]")
        out[n] = None if v is None else float(v)
    return dict(sorted(out.items()))


def check_fraction(name: str, value: float | None) -> None:
    if value is not None and not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a fraction in [0, 1] or unset, got {value}")


REP_METRICS_FIXED = {
    "gopher_rep_dup_para_frac": pa.float64(),
    "gopher_rep_dup_para_char_frac": pa.float64(),
    "gopher_rep_dup_line_frac": pa.float64(),
    "gopher_rep_dup_line_char_frac": pa.float64(),
}


def _rep_metrics(top_ns: list[int], dup_ns: list[int]) -> dict[str, pa.DataType]:
    m = dict(REP_METRICS_FIXED)
    m.update({f"gopher_rep_top_{n}gram_frac": pa.float64() for n in top_ns})
    m.update({f"gopher_rep_dup_{n}gram_frac": pa.float64() for n in dup_ns})
    return m


@register_step
class GopherRepetition(Step):
    """Drop documents with too much repeated content (Rae et al. 2021, Gopher, Appendix A.1.1,
    Table A1; semantics of datatrove's ``GopherRepetitionFilter``).

    Per document, over the text as it is (denominators are ``len(text)`` in characters):

    * paragraphs = ``text.strip()`` split on ``\\n{2,}``; lines = ``text`` split on ``\\n+``;
      a paragraph/line is a duplicate when an equal one came earlier in the document;
      ``dup_para_frac``/``dup_line_frac`` = duplicates / elements, ``*_char_frac`` = characters of
      the duplicates / characters of the text;
    * top n-gram character fraction (n = 2, 3, 4): characters of the most frequent word n-gram
      (words joined by a space) times its count / characters of the text;
    * duplicate n-gram character fraction (n = 5..10): characters of n-grams that repeat an earlier
      n-gram, counted greedily without overlap as datatrove does / characters of the text.

    The first rule that fails gives the reason (``'dup_line_frac 0.45 > 0.30'``). A threshold of
    ``None`` disables its rule (the metric is still recorded). Like datatrove, which stops at the
    first failing rule, the duplicate n-gram fractions of a document that an earlier rule already
    dropped are left null unless ``all_metrics`` is set (they are the expensive ones on repetitive
    text).
    """

    name = "gopher_repetition"
    kind = "filter"
    metrics = _rep_metrics([2, 3, 4], [5, 6, 7, 8, 9, 10])

    @dataclass
    class Params:
        dup_line_frac: float | None = 0.30
        dup_para_frac: float | None = 0.30
        dup_line_char_frac: float | None = 0.20
        dup_para_char_frac: float | None = 0.20
        top_n_grams: dict[str, float] = field(default_factory=lambda: {"2": 0.20, "3": 0.18, "4": 0.16})
        dup_n_grams: dict[str, float] = field(default_factory=lambda: {
            "5": 0.15, "6": 0.14, "7": 0.13, "8": 0.12, "9": 0.11, "10": 0.10})
        top_ngram_min_count: int = 1
        split_cjk: bool = True
        all_metrics: bool = False

        def __post_init__(self) -> None:
            for name in ("dup_line_frac", "dup_para_frac", "dup_line_char_frac", "dup_para_char_frac"):
                check_fraction(name, getattr(self, name))
            _n_table(self.top_n_grams, "top_n_grams")
            _n_table(self.dup_n_grams, "dup_n_grams")
            if self.top_ngram_min_count < 1:
                raise ValueError(f"top_ngram_min_count must be >= 1, got {self.top_ngram_min_count}")

    def __init__(self, params: Any = None, step_id: str | None = None) -> None:
        super().__init__(params, step_id)
        self.top = _n_table(self.params.top_n_grams, "top_n_grams")
        self.dup = _n_table(self.params.dup_n_grams, "dup_n_grams")
        self.metrics = _rep_metrics(list(self.top), list(self.dup))

    def apply(self, batch: pa.RecordBatch) -> StepResult:
        p = self.params
        text = text_column(batch)
        n = len(text)
        text_len = np.asarray(pc.utf8_length(text)).astype(np.int64)

        para_offsets, paras = list_parts(pc.split_pattern_regex(pc.utf8_trim_whitespace(text), pattern=r"\n{2,}"))
        n_para, dup_para, dup_para_chars = _dup_elements(para_offsets, paras, n)
        line_offsets, lines = list_parts(pc.split_pattern_regex(text, pattern=r"\n+"))
        n_line, dup_line, dup_line_chars = _dup_elements(line_offsets, lines, n)

        words = split_words(text, p.split_cjk)
        top, dup = ngram_repetition(words, list(self.top), list(self.dup), p.top_ngram_min_count)

        m = {
            "gopher_rep_dup_para_frac": ratio(dup_para, n_para),
            "gopher_rep_dup_para_char_frac": ratio(dup_para_chars, text_len),
            "gopher_rep_dup_line_frac": ratio(dup_line, n_line),
            "gopher_rep_dup_line_char_frac": ratio(dup_line_chars, text_len),
        }
        for k in self.top:
            m[f"gopher_rep_top_{k}gram_frac"] = ratio(top[k], text_len)

        rules = []
        for label, metric, thr in (("dup_para_frac", "gopher_rep_dup_para_frac", p.dup_para_frac),
                                   ("dup_para_char_frac", "gopher_rep_dup_para_char_frac", p.dup_para_char_frac),
                                   ("dup_line_frac", "gopher_rep_dup_line_frac", p.dup_line_frac),
                                   ("dup_line_char_frac", "gopher_rep_dup_line_char_frac", p.dup_line_char_frac)):
            if thr is not None:
                rules.append((label, m[metric] > thr, m[metric], ">", thr))
        for k, thr in self.top.items():
            if thr is not None:
                v = m[f"gopher_rep_top_{k}gram_frac"]
                rules.append((f"top_{k}_gram", v > thr, v, ">", thr))
        # duplicate n-grams, in order; without all_metrics, documents an earlier rule dropped are not
        # measured (null), as datatrove stops at the first failing rule -- this spares the slow walk
        dropped = np.zeros(n, dtype=bool)
        for _, failed, *_ in rules:
            dropped |= failed
        for k, thr in self.dup.items():
            skip = None if p.all_metrics else dropped
            chars = greedy_duplicate_chars(*dup[k], skip=skip)
            v = ratio(chars, text_len)
            if skip is not None:
                v[skip] = np.nan
            m[f"gopher_rep_dup_{k}gram_frac"] = v
            if thr is not None:
                with np.errstate(invalid="ignore"):
                    failed = v > thr
                rules.append((f"duplicated_{k}_n_grams", failed, v, ">", thr))
                dropped |= failed
        keep, reasons = first_failure(rules, n)
        return StepResult(keep=keep, reason=reasons, metrics=m)


# ---------------------------------------------------------------------------------------------------
# repeated_chars


def char_runs(text: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Runs of one code point over a whole batch: (code points, char offsets per doc, run starts,
    run lengths, run -> doc). Runs never cross documents."""
    n = len(text)
    char_len = np.asarray(pc.utf8_length(text)).astype(np.int64)
    char_off = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(char_len, out=char_off[1:])
    total = int(char_off[-1])
    if total == 0:
        z = np.zeros(0, dtype=np.int64)
        return np.zeros(0, dtype=np.uint32), char_off, z, z, z
    offs = string_offsets(text)
    data = text.buffers()[2]
    raw = memoryview(data)[int(offs[0]):int(offs[-1])]
    cp = np.frombuffer(str(raw, "utf-8").encode("utf-32-le"), dtype=np.uint32)
    boundary = np.empty(total, dtype=bool)
    boundary[0] = True
    np.not_equal(cp[1:], cp[:-1], out=boundary[1:])
    boundary[char_off[:-1][char_len > 0]] = True
    starts = np.flatnonzero(boundary)
    lengths = np.diff(np.r_[starts, total])
    run_doc = np.searchsorted(char_off, starts, side="right") - 1
    return cp, char_off, starts, lengths, run_doc


@register_step
class RepeatedChars(Step):
    """Drop (or shorten) documents full of one character repeated: "ㅋㅋㅋㅋㅋㅋㅋㅋ", "ㅎㅎㅎㅎㅎ",
    "!!!!!!!!", "........", "^^^^^^" (Polyglot-Ko, Ko et al. 2023, section 2.2, "repeated
    characters").

    A *run* is a maximal stretch of one code point; whitespace runs do not count. Metrics:
    ``char_run_max`` (longest run) and ``char_run_frac`` (characters in runs of at least
    ``min_run`` / characters of the text). Drops when ``char_run_frac > max_run_fraction`` or the
    longest run exceeds ``max_run``. With ``squash_to = k`` the surviving documents have every run
    of ``min_run`` or more cut to ``k`` characters ("재밌다ㅋㅋㅋㅋㅋㅋㅋ" -> "재밌다ㅋㅋㅋ").
    Default thresholds were chosen on 20,030 NSMC movie reviews: see docs/steps/quality.md.
    """

    name = "repeated_chars"
    kind = "filter"
    metrics = {"char_run_max": pa.int64(), "char_run_frac": pa.float64()}

    @dataclass
    class Params:
        min_run: int = 5
        max_run_fraction: float | None = 0.5
        max_run: int | None = None
        squash_to: int | None = None

        def __post_init__(self) -> None:
            if self.min_run < 2:
                raise ValueError(f"min_run must be >= 2, got {self.min_run}")
            check_fraction("max_run_fraction", self.max_run_fraction)
            if self.max_run is not None and self.max_run < 1:
                raise ValueError(f"max_run must be >= 1 or unset, got {self.max_run}")
            if self.squash_to is not None and not 1 <= self.squash_to < self.min_run:
                raise ValueError(f"squash_to must be in 1..min_run-1 ({self.min_run - 1}) or unset, got {self.squash_to}")

    def apply(self, batch: pa.RecordBatch) -> StepResult:
        p = self.params
        text = text_column(batch)
        n = len(text)
        cp, char_off, starts, lengths, run_doc = char_runs(text)
        char_len = np.diff(char_off)
        counted = ~np.isin(cp[starts], WHITESPACE_CODEPOINTS) if len(starts) else np.zeros(0, dtype=bool)
        eff = np.where(counted, lengths, 0)
        run_max = np.zeros(n, dtype=np.int64)
        nonempty = char_len > 0
        if len(eff):
            first_run = np.searchsorted(run_doc, np.flatnonzero(nonempty), side="left")
            run_max[nonempty] = np.maximum.reduceat(eff, first_run)
        long_run = counted & (lengths >= p.min_run)
        in_runs = np.bincount(run_doc[long_run], weights=lengths[long_run], minlength=n)
        frac = ratio(in_runs, char_len)

        rules = []
        if p.max_run_fraction is not None:
            rules.append(("char_run_frac", frac > p.max_run_fraction, frac, ">", p.max_run_fraction))
        if p.max_run is not None:
            rules.append(("char_run_max", run_max > p.max_run, run_max, ">", p.max_run))
        keep, reasons = first_failure(rules, n)
        out = None
        if p.squash_to is not None and long_run.any():
            out = set_column(batch, "text", _squash(text, cp, char_off, starts, lengths, long_run, p.squash_to))
        return StepResult(batch=out, keep=keep if rules else None, reason=reasons if rules else None,
                          metrics={"char_run_max": run_max, "char_run_frac": frac})


def _squash(text: pa.Array, cp: np.ndarray, char_off: np.ndarray, starts: np.ndarray, lengths: np.ndarray,
            long_run: np.ndarray, k: int) -> pa.Array:
    """Cut every run marked in ``long_run`` to ``k`` code points and rebuild the StringArray."""
    n = len(text)
    drop = np.zeros(len(cp) + 1, dtype=np.int64)
    s, ln = starts[long_run], lengths[long_run]
    np.add.at(drop, s + k, 1)
    np.add.at(drop, s + ln, -1)
    keep = np.cumsum(drop[:-1]) == 0
    new_cp = cp[keep]
    doc_of_char = np.repeat(np.arange(n, dtype=np.int64), np.diff(char_off))
    utf8_len = 1 + (new_cp >= 0x80).astype(np.int64) + (new_cp >= 0x800) + (new_cp >= 0x10000)
    byte_len = np.bincount(doc_of_char[keep], weights=utf8_len, minlength=n).astype(np.int64)
    offsets = np.zeros(n + 1, dtype=np.int32 if pa.types.is_string(text.type) else np.int64)
    np.cumsum(byte_len, out=offsets[1:])
    data = new_cp.tobytes().decode("utf-32-le").encode("utf-8")
    arr_type = pa.string() if pa.types.is_string(text.type) else pa.large_string()
    return pa.Array.from_buffers(arr_type, n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])
