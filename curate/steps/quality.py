"""Heuristic quality filters: Gopher's quality rules and C4's line and page rules.

* ``gopher_quality`` -- Rae et al. 2021, "Scaling Language Models: Methods, Analysis & Insights
  from Training Gopher", Appendix A.1.1 ("quality filters"), with datatrove's
  ``GopherQualityFilter`` semantics and parameter names.
* ``c4_quality`` -- Raffel et al. 2020, "Exploring the Limits of Transfer Learning with a Unified
  Text-to-Text Transformer" (JMLR 21), section 2.2 ("Colossal Clean Crawled Corpus"), with
  datatrove's ``C4QualityFilter`` semantics and defaults. It rewrites the text (drops lines) and
  filters documents.

Both work on whole batches: Arrow splits lines and words in C++; word properties (has a letter, is
a stop word, length) are computed once per *distinct* word of the batch and gathered with numpy.
Words are the whitespace tokens of ``curate.steps.repetition.split_words`` (CJK characters split
one per word when ``split_cjk``), so a recipe running both Gopher steps tokenizes each batch once.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate.pipeline.step import Step, StepResult, register_step, set_column, text_column
from curate.steps.repetition import check_fraction, first_failure, list_parts, ratio, split_lines, split_words

# Gopher's stop words (Rae et al. 2021, A.1.1): "the, be, to, of, and, that, have, with".
STOP_WORDS = {
    "en": ["the", "be", "to", "of", "and", "that", "have", "with"],
    # Korean function eojeol (stand-alone words every Korean prose uses: bound nouns, auxiliaries,
    # conjunctions, common adverbs), picked from the most frequent eojeol of Korean news, Korean
    # Wikipedia (KorQuAD contexts) and NSMC reviews. Particles attach to their noun in Korean, so
    # the list holds whole eojeol, not particles.
    "ko": ["이", "그", "저", "수", "것", "것이", "것은", "것을", "것으로", "등", "및", "더", "또", "또한", "그리고",
           "그러나", "하지만", "그래서", "때문에", "위해", "위한", "통해", "대한", "대해", "같은", "다른", "중", "때",
           "후", "전", "있다", "있는", "있었다", "없는", "없다", "한", "할", "하는", "했다", "한다", "하였다", "된다",
           "될", "되었다", "이런", "그런", "이후", "가장", "모든", "함께", "따라", "다시", "잘", "좀", "너무", "정말",
           "안", "못", "다"],
}

WORD_CHAR = r"[^\p{P}\p{S}\p{C}]"  # a letter, digit or mark: what makes a token a word, not a symbol
# "Unicode whitespace" as str.isspace() knows it, for RE2 (whose \s is ASCII only)
_WS = r"\t\n\x0b\x0c\r\x1c-\x1f\x85\p{Z}"


@dataclass
class _VocabProps:
    is_word: np.ndarray  # token has a letter, digit or mark (datatrove: not only punctuation)
    has_alpha: np.ndarray  # token has a letter (str.isalpha on some character: Latin, Hangul, Han, Kana...)
    length: np.ndarray  # characters once leading/trailing punctuation and symbols are trimmed
    stop: np.ndarray  # trimmed, lower-cased token is a stop word
    hashes: np.ndarray  # "#" in the token
    ellipses: np.ndarray  # "..." (non-overlapping) and "…" in the token


@functools.lru_cache(maxsize=None)
def punct_and_symbols() -> str:
    """Every punctuation (P*) and symbol (S*) character of Unicode planes 0-1 (none lie beyond),
    for ``utf8_trim``: several times faster than an edge-anchored regex."""
    return "".join(chr(c) for c in range(0x20000)
                   if not 0xD800 <= c < 0xE000 and unicodedata.category(chr(c))[0] in "PS")


def _vocab_props(vocab: pa.Array, stop_words: list[str]) -> _VocabProps:
    trimmed = pc.utf8_trim(vocab, characters=punct_and_symbols())
    return _VocabProps(
        is_word=np.asarray(pc.match_substring_regex(vocab, pattern=WORD_CHAR), dtype=bool),
        has_alpha=np.asarray(pc.match_substring_regex(vocab, pattern=r"\p{L}"), dtype=bool),
        length=np.asarray(pc.utf8_length(trimmed)).astype(np.int64),
        # index of the stop word each vocabulary entry is (after trimming and lower-casing), -1 if none
        stop=np.asarray(pc.index_in(pc.utf8_lower(trimmed), value_set=pa.array(stop_words, pa.string()))
                        .fill_null(-1)).astype(np.int64)
        if stop_words else np.full(len(vocab), -1, dtype=np.int64),
        hashes=np.asarray(pc.count_substring(vocab, "#")).astype(np.int64),
        ellipses=(np.asarray(pc.count_substring(vocab, "...")) + np.asarray(pc.count_substring(vocab, "…"))
                  ).astype(np.int64),
    )


def _any_affix(arr: pa.Array, affixes: list[str], func: Any) -> np.ndarray:
    out = np.zeros(len(arr), dtype=bool)
    for a in affixes:
        out |= np.asarray(func(arr, pattern=a), dtype=bool)
    return out


@register_step
class GopherQuality(Step):
    """Drop documents that fail Gopher's quality heuristics (Rae et al. 2021, Appendix A.1.1;
    datatrove's ``GopherQualityFilter`` semantics and parameter names).

    In order (the first failing rule is the reason): fewer than ``min_doc_words`` or more than
    ``max_doc_words`` words; mean word length outside [``min_avg_word_length``,
    ``max_avg_word_length``]; ``#`` or ellipses (``...``/``…``) per word above
    ``max_symbol_word_ratio``; more than ``max_bullet_lines_ratio`` of lines starting with a bullet;
    more than ``max_ellipsis_lines_ratio`` of lines ending with an ellipsis; fewer than
    ``max_non_alpha_words_ratio`` of words containing a letter (datatrove's name; it is a *minimum*
    fraction of alphabetic words); fewer than ``min_stop_words`` stop words. ``None`` disables a
    rule. For Korean, Chinese and Japanese set the word-length bounds to ``None`` and choose the
    stop words (``"ko"`` ships; see docs/steps/quality.md).
    """

    name = "gopher_quality"
    kind = "filter"
    metrics = {
        "gopher_q_words": pa.int64(),
        "gopher_q_avg_word_len": pa.float64(),
        "gopher_q_hash_ratio": pa.float64(),
        "gopher_q_ellipsis_ratio": pa.float64(),
        "gopher_q_bullet_lines_frac": pa.float64(),
        "gopher_q_ellipsis_lines_frac": pa.float64(),
        "gopher_q_alpha_words_frac": pa.float64(),
        "gopher_q_stop_words": pa.int64(),
    }

    @dataclass
    class Params:
        min_doc_words: int | None = 50
        max_doc_words: int | None = 100_000
        min_avg_word_length: float | None = 3.0
        max_avg_word_length: float | None = 10.0
        max_symbol_word_ratio: float | None = 0.1
        max_bullet_lines_ratio: float | None = 0.9
        max_ellipsis_lines_ratio: float | None = 0.3
        max_non_alpha_words_ratio: float | None = 0.8
        min_stop_words: int | None = 2
        stop_words: list[str] | str = "en"
        bullets: list[str] = field(default_factory=lambda: ["•", "-"])
        split_cjk: bool = True

        def __post_init__(self) -> None:
            for name in ("min_doc_words", "max_doc_words", "min_stop_words"):
                v = getattr(self, name)
                if v is not None and v < 0:
                    raise ValueError(f"{name} must be >= 0 or unset, got {v}")
            if self.min_doc_words is not None and self.max_doc_words is not None and self.min_doc_words > self.max_doc_words:
                raise ValueError(f"min_doc_words ({self.min_doc_words}) > max_doc_words ({self.max_doc_words})")
            for name in ("min_avg_word_length", "max_avg_word_length", "max_symbol_word_ratio"):
                v = getattr(self, name)
                if v is not None and v < 0:
                    raise ValueError(f"{name} must be >= 0 or unset, got {v}")
            for name in ("max_bullet_lines_ratio", "max_ellipsis_lines_ratio", "max_non_alpha_words_ratio"):
                check_fraction(name, getattr(self, name))
            if isinstance(self.stop_words, str) and self.stop_words not in STOP_WORDS:
                raise ValueError(f"stop_words {self.stop_words!r} is not a built-in list "
                                 f"({', '.join(sorted(STOP_WORDS))}); give a list of words instead")
            if any(not b for b in self.bullets):
                raise ValueError("bullets must be non-empty strings")

    def __init__(self, params: Any = None, step_id: str | None = None) -> None:
        super().__init__(params, step_id)
        sw = self.params.stop_words
        self.stop_list = sorted({w.lower() for w in (STOP_WORDS[sw] if isinstance(sw, str) else sw)})

    def apply(self, batch: pa.RecordBatch) -> StepResult:
        p = self.params
        text = text_column(batch)
        n = len(text)
        words = split_words(text, p.split_cjk)
        props = _vocab_props(words.vocab, self.stop_list if p.min_stop_words is not None else [])
        n_tokens = words.n_words
        word_doc = np.repeat(np.arange(n, dtype=np.int64), n_tokens)
        wid = words.wid
        is_word = props.is_word[wid]
        n_words = np.bincount(word_doc[is_word], minlength=n)
        len_sum = np.bincount(word_doc[is_word], weights=props.length[wid][is_word], minlength=n)
        avg_len = np.full(n, np.nan)
        np.divide(len_sum, n_words, out=avg_len, where=n_words > 0)
        n_alpha = np.bincount(word_doc, weights=props.has_alpha[wid], minlength=n) if len(wid) else np.zeros(n)
        # distinct stop words per document, as Gopher (Rae et al. 2021, A.1) and datatrove count them:
        # "the the" is one stop word, not two
        stop_idx = props.stop[wid] if len(wid) else np.zeros(0, dtype=np.int64)
        hit = stop_idx >= 0
        pairs = np.unique(word_doc[hit] * (len(self.stop_list) + 1) + stop_idx[hit])
        n_stop = np.bincount(pairs // (len(self.stop_list) + 1), minlength=n).astype(np.int64)

        # "#", "..." and "…" never hold whitespace, so counting them per distinct word and summing
        # over a document's words equals str.count on its text (a fraction of the bytes to scan)
        hashes = np.bincount(word_doc, weights=props.hashes[wid], minlength=n) if len(wid) else np.zeros(n)
        ellipses = np.bincount(word_doc, weights=props.ellipses[wid], minlength=n) if len(wid) else np.zeros(n)
        hash_ratio = ratio(hashes, n_tokens)
        ellipsis_ratio = ratio(ellipses, n_tokens)

        line_offsets, lines, line_doc = split_lines(text)
        n_lines = np.diff(line_offsets)
        bullet = _any_affix(pc.utf8_ltrim_whitespace(lines), p.bullets, pc.starts_with)
        ell_end = _any_affix(pc.utf8_rtrim_whitespace(lines), ["...", "…"], pc.ends_with)
        bullet_frac = ratio(np.bincount(line_doc[bullet], minlength=n), n_lines)
        ell_lines_frac = ratio(np.bincount(line_doc[ell_end], minlength=n), n_lines)
        alpha_frac = ratio(n_alpha, n_tokens)

        rules = []
        if p.min_doc_words is not None:
            rules.append(("gopher_short_doc", n_words < p.min_doc_words, n_words, "<", p.min_doc_words))
        if p.max_doc_words is not None:
            rules.append(("gopher_long_doc", n_words > p.max_doc_words, n_words, ">", p.max_doc_words))
        with np.errstate(invalid="ignore"):
            if p.min_avg_word_length is not None:
                rules.append(("gopher_below_avg_threshold", avg_len < p.min_avg_word_length, avg_len, "<",
                              p.min_avg_word_length))
            if p.max_avg_word_length is not None:
                rules.append(("gopher_above_avg_threshold", avg_len > p.max_avg_word_length, avg_len, ">",
                              p.max_avg_word_length))
        if p.max_symbol_word_ratio is not None:
            rules.append(("gopher_too_many_hashes", hash_ratio > p.max_symbol_word_ratio, hash_ratio, ">",
                          p.max_symbol_word_ratio))
            rules.append(("gopher_too_many_ellipsis", ellipsis_ratio > p.max_symbol_word_ratio, ellipsis_ratio, ">",
                          p.max_symbol_word_ratio))
        if p.max_bullet_lines_ratio is not None:
            rules.append(("gopher_too_many_bullets", bullet_frac > p.max_bullet_lines_ratio, bullet_frac, ">",
                          p.max_bullet_lines_ratio))
        if p.max_ellipsis_lines_ratio is not None:
            rules.append(("gopher_too_many_end_ellipsis", ell_lines_frac > p.max_ellipsis_lines_ratio, ell_lines_frac,
                          ">", p.max_ellipsis_lines_ratio))
        if p.max_non_alpha_words_ratio is not None:
            rules.append(("gopher_below_alpha_threshold", alpha_frac < p.max_non_alpha_words_ratio, alpha_frac, "<",
                          p.max_non_alpha_words_ratio))
        if p.min_stop_words is not None:
            rules.append(("gopher_enough_stop_words", n_stop < p.min_stop_words, n_stop, "<", p.min_stop_words))
        keep, reasons = first_failure(rules, n)
        return StepResult(keep=keep, reason=reasons, metrics={
            "gopher_q_words": n_words,
            "gopher_q_avg_word_len": avg_len,
            "gopher_q_hash_ratio": hash_ratio,
            "gopher_q_ellipsis_ratio": ellipsis_ratio,
            "gopher_q_bullet_lines_frac": bullet_frac,
            "gopher_q_ellipsis_lines_frac": ell_lines_frac,
            "gopher_q_alpha_words_frac": alpha_frac,
            "gopher_q_stop_words": n_stop,
        })


# ---------------------------------------------------------------------------------------------------
# c4_quality

CITATION = r"\[\d*\]|\[edit\]|\[citation needed\]"
POLICY_PHRASES = ["terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies"]
TERMINAL_PUNCT = [".", "?", "!", '"', "'", "。", "！", "？"]
# a sentence ends at a run of terminal marks, closing quotes/brackets, then whitespace or the end
SENTENCE_END = r"[.!?。！？]+[\"'”’)\]」』]*(?:[" + _WS + r"]|$)"


@register_step
class C4Quality(Step):
    """Keep only the lines that look like prose, and drop pages that do not (Raffel et al. 2020,
    section 2.2; datatrove's ``C4QualityFilter`` semantics and defaults).

    Each line (``str.splitlines()``, stripped) is dropped when, checked in this order: a word is
    longer than ``max_word_length``; (after removing Wikipedia citation marks like ``[1]``,
    ``[edit]``, ``[citation needed]``) it does not end in terminal punctuation or ends with
    ``...``; it has fewer than ``min_words_per_line`` words; it mentions "javascript"; it holds a
    policy phrase ("terms of use", "privacy policy", "uses cookies", ...). The whole page is
    dropped when a line that reached those checks contains "lorem ipsum" (``lorem_ipsum``) or a
    curly bracket ``{`` (``curly_bracket``), or when the kept lines hold fewer than
    ``min_num_sentences`` sentences (``too_few_sentences``). Kept pages get their kept lines joined
    by ``\\n``.

    Sentences are counted with a punctuation rule (runs of ``. ! ? 。 ！ ？`` followed by
    whitespace or the line end, at least one per kept line) where datatrove calls a tokenizer.
    """

    name = "c4_quality"
    kind = "filter"
    metrics = {
        "c4_lines": pa.int64(),
        "c4_lines_removed": pa.int64(),
        "c4_lines_long_word": pa.int64(),
        "c4_lines_no_terminal_punct": pa.int64(),
        "c4_lines_too_few_words": pa.int64(),
        "c4_lines_javascript": pa.int64(),
        "c4_lines_policy": pa.int64(),
        "c4_sentences": pa.int64(),
    }

    @dataclass
    class Params:
        split_paragraph: bool = True
        remove_citations: bool = True
        filter_no_terminal_punct: bool = True
        terminal_punct: list[str] = field(default_factory=lambda: list(TERMINAL_PUNCT))
        min_num_sentences: int | None = 5
        min_words_per_line: int | None = 3
        max_word_length: int | None = 1000
        filter_lorem_ipsum: bool = True
        filter_javascript: bool = True
        filter_curly_bracket: bool = True
        filter_policy: bool = True
        policy_phrases: list[str] = field(default_factory=lambda: list(POLICY_PHRASES))

        def __post_init__(self) -> None:
            for name in ("min_num_sentences", "min_words_per_line", "max_word_length"):
                v = getattr(self, name)
                if v is not None and v < 0:
                    raise ValueError(f"{name} must be >= 0 or unset, got {v}")
            if any(not t for t in self.terminal_punct):
                raise ValueError("terminal_punct must hold non-empty strings")
            if self.filter_policy and any(not t for t in self.policy_phrases):
                raise ValueError("policy_phrases must hold non-empty strings")

    def __init__(self, params: Any = None, step_id: str | None = None) -> None:
        super().__init__(params, step_id)
        self.policy_re = "|".join(re.escape(w) for w in self.params.policy_phrases)

    def apply(self, batch: pa.RecordBatch) -> StepResult:
        p = self.params
        text = text_column(batch)
        n = len(text)
        if p.split_paragraph:
            line_offsets, lines, line_doc = split_lines(text)
        else:  # sentences: break after terminal marks, then on line breaks
            sents = pc.replace_substring_regex(text, pattern=r"([.!?。！？]+[\"'”’)\]」』]*)[" + _WS + "]+",
                                               replacement="\\1\n")
            line_offsets, lines, line_doc = split_lines(sents)
        n_lines = np.diff(line_offsets)
        L = len(lines)
        s = pc.utf8_trim_whitespace(lines)

        long_word = np.zeros(L, dtype=bool)
        if p.max_word_length is not None:
            maybe = np.flatnonzero(np.asarray(pc.utf8_length(s)) > p.max_word_length)
            if len(maybe):  # only lines longer than the limit can hold such a word
                w_off, w = list_parts(pc.utf8_split_whitespace(s.take(pa.array(maybe, pa.int64()))))
                w_len = np.asarray(pc.utf8_length(w))
                long_word[maybe] = np.maximum.reduceat(w_len, w_off[:-1]) > p.max_word_length
        s2 = pc.replace_substring_regex(s, pattern=CITATION, replacement="") if p.remove_citations else s

        ok = ~long_word
        if p.filter_no_terminal_punct:
            punct = p.terminal_punct
            if all(len(t) == 1 for t in punct):
                term = np.asarray(pc.is_in(pc.utf8_slice_codeunits(s2, start=-1), value_set=pa.array(punct)), dtype=bool)
            else:
                term = _any_affix(s2, punct, pc.ends_with)
            no_term = ok & ~(term & ~np.asarray(pc.ends_with(s2, pattern="..."), dtype=bool))
            ok &= ~no_term
        else:
            no_term = np.zeros(L, dtype=bool)
        few_words = np.zeros(L, dtype=bool)
        idx = np.flatnonzero(ok)
        if p.min_words_per_line and len(idx):
            # lines are stripped: k words = k-1 (word, space) pairs then a word, anchored at the start
            k = p.min_words_per_line
            pattern = f"^(?:[^{_WS}]+[{_WS}]+){{{k - 1}}}[^{_WS}]" if k > 1 else f"^[^{_WS}]"
            enough = np.asarray(pc.match_substring_regex(s.take(pa.array(idx)), pattern=pattern), dtype=bool)
            few_words[idx[~enough]] = True
            ok &= ~few_words

        # page- and line-level phrase checks, on the lines that got this far
        idx = np.flatnonzero(ok)
        sub = s2.take(pa.array(idx, pa.int64()))
        false = np.zeros(len(idx), dtype=bool)
        lorem = np.asarray(pc.match_substring(sub, "lorem ipsum", ignore_case=True), dtype=bool) \
            if p.filter_lorem_ipsum else false
        js = (np.asarray(pc.match_substring(sub, "javascript", ignore_case=True), dtype=bool) & ~lorem) \
            if p.filter_javascript else false
        curly = (np.asarray(pc.match_substring(sub, "{"), dtype=bool) & ~lorem & ~js) \
            if p.filter_curly_bracket else false
        policy = (np.asarray(pc.match_substring_regex(sub, pattern=self.policy_re, ignore_case=True), dtype=bool)
                  & ~lorem & ~js & ~curly) if p.filter_policy and self.policy_re else false
        kept_sub = ~(lorem | js | curly | policy)
        sub_doc = line_doc[idx]

        # the first line (in order) that hits lorem ipsum or a curly bracket decides the page's reason
        page_reason = np.zeros(n, dtype=np.int8)  # 0 none, 1 lorem, 2 curly
        hit = np.flatnonzero(lorem | curly)
        if len(hit):
            hd = sub_doc[hit]
            first = hit[np.r_[True, hd[1:] != hd[:-1]]]
            page_reason[sub_doc[first]] = np.where(lorem[first], 1, 2)

        kept_idx = idx[kept_sub]
        kept_lines = sub.filter(pa.array(kept_sub))
        kept_doc = line_doc[kept_idx]
        if p.split_paragraph:
            sent = np.maximum(np.asarray(pc.count_substring_regex(kept_lines, pattern=SENTENCE_END)), 1) \
                if len(kept_lines) else np.zeros(0, dtype=np.int64)
        else:
            sent = np.ones(len(kept_lines), dtype=np.int64)
        sentences = np.bincount(kept_doc, weights=sent, minlength=n).astype(np.int64)
        n_kept = np.bincount(kept_doc, minlength=n)

        def per_doc(mask: np.ndarray, doc: np.ndarray) -> np.ndarray:
            return np.bincount(doc[mask], minlength=n).astype(np.int64)

        metrics = {
            "c4_lines": n_lines.astype(np.int64),
            "c4_lines_removed": (n_lines - n_kept).astype(np.int64),
            "c4_lines_long_word": per_doc(long_word, line_doc),
            "c4_lines_no_terminal_punct": per_doc(no_term, line_doc),
            "c4_lines_too_few_words": per_doc(few_words, line_doc),
            "c4_lines_javascript": per_doc(js, sub_doc),
            "c4_lines_policy": per_doc(policy, sub_doc),
            "c4_sentences": sentences,
        }

        keep = page_reason == 0
        reasons: list[str | None] = [None] * n
        for i in np.flatnonzero(page_reason == 1).tolist():
            reasons[i] = "lorem_ipsum"
        for i in np.flatnonzero(page_reason == 2).tolist():
            reasons[i] = "curly_bracket"
        if p.min_num_sentences is not None:
            few = keep & (sentences < p.min_num_sentences)
            for i in np.flatnonzero(few).tolist():
                reasons[i] = f"too_few_sentences {sentences[i]} < {p.min_num_sentences}"
            keep &= ~few

        offsets = np.zeros(n + 1, dtype=np.int32)
        np.cumsum(n_kept, out=offsets[1:])
        joined = pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets), kept_lines),
                                pa.scalar("\n" if p.split_paragraph else " ", kept_lines.type))
        new_text = pc.if_else(pa.array(keep), joined, text)
        out = set_column(batch, "text", new_text)
        return StepResult(batch=out, keep=keep, reason=reasons, metrics=metrics)

