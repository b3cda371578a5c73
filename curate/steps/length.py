"""``short_text``: drop documents too short to teach a language model anything.

Words are counted script-aware and vectorized (docs/steps/cleanup.md, "short_text"):

* Korean, like English, separates words with spaces: a Korean word is an *eojeol* (어절), a stem
  with its particles and endings ("학교에서는" is one eojeol), so a whitespace-separated token that
  contains a letter or digit is one word. Punctuation-only tokens ("...", "-", "!!") are not words.
* Chinese and Japanese (Han, Hiragana, Katakana) and Thai, Lao, Khmer, Myanmar are written without
  spaces between words. Their characters are counted per script and converted to words with a
  characters-per-word ratio (``unspaced_scripts``): 1.5 for Han/Kana (modern Chinese words are
  mostly one or two characters), 4 for the Southeast Asian scripts (a rough figure; their vowel
  and tone marks are separate code points). Otherwise "我爱北京天安门。" would count as one word.

Characters are counted without whitespace, so padding does not make a document long.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate.pipeline.step import Step, StepResult, failed_checks, register_step
from curate.steps.normalize import ints, mask_of, text_column

ALNUM_RE = r"[\p{L}\p{N}]"
DEFAULT_UNSPACED = {"Han": 1.5, "Hiragana": 1.5, "Katakana": 1.5,
                    "Thai": 4.0, "Lao": 4.0, "Khmer": 4.0, "Myanmar": 4.0}


def _row_sums(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    cs = np.concatenate([[0], np.cumsum(values, dtype=np.int64)])
    return cs[offsets[1:]] - cs[offsets[:-1]]


def count_words(text: pa.Array, unspaced: dict[str, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(words, non-whitespace characters) per row of a string array.

    Words: whitespace-separated tokens with a letter or digit outside the unspaced scripts, plus
    ``ceil(sum over scripts of chars / chars_per_word)`` for the unspaced scripts (see module doc).
    """
    unspaced = DEFAULT_UNSPACED if unspaced is None else unspaced
    tokens = pc.utf8_split_whitespace(text)
    offsets = tokens.offsets.to_numpy()
    offsets = offsets - offsets[0]
    flat = pc.list_flatten(tokens)
    chars = _row_sums(ints(pc.utf8_length(flat)), offsets)
    has_word = mask_of(pc.match_substring_regex(flat, ALNUM_RE))
    unspaced_words = np.zeros(len(text), dtype=np.float64)
    if unspaced:
        union = "[" + "".join(rf"\p{{{s}}}" for s in unspaced) + "]"
        rows = mask_of(pc.match_substring_regex(text, union))
        if rows.any():
            per_row = np.diff(offsets)
            tok_rows = np.repeat(rows, per_row)  # token belongs to a row with such a script
            sub = flat.filter(pa.array(tok_rows))
            sub_offsets = np.concatenate([[0], np.cumsum(per_row[rows])])
            by_ratio: dict[float, list[str]] = {}
            for script, ratio in unspaced.items():
                by_ratio.setdefault(ratio, []).append(script)
            for ratio, scripts in by_ratio.items():
                cls = "[" + "".join(rf"\p{{{s}}}" for s in scripts) + "]"
                counts = ints(pc.count_substring_regex(sub, cls))
                unspaced_words[rows] += _row_sums(counts, sub_offsets) / ratio
            has_word[tok_rows] = mask_of(pc.match_substring_regex(pc.replace_substring_regex(sub, union, ""),
                                                                  ALNUM_RE))
    words = _row_sums(has_word.astype(np.int64), offsets) + np.ceil(unspaced_words - 1e-9).astype(np.int64)
    return words, chars


@register_step
class ShortText(Step):
    """Drop documents with fewer than ``min_words`` words or ``min_chars`` visible characters.

    Polyglot-Ko's cleaning list removes "short text" as uninformative (Ko et al. 2023,
    "A Technical Report for Polyglot-Ko", arXiv:2306.02254, section 2); Gopher's quality rules
    (Rae et al. 2021) and C4 (Raffel et al. 2020, at line level) use word-count floors the same
    way. The defaults are a lenient floor for mixed Korean sources: five eojeol is about one short
    complete sentence ("오늘 날씨가 정말 좋아서 산책했다": 5 words, 14 characters); a Korean eojeol
    averages about 3.4 visible characters in the sample news, so ``min_chars = 10`` rarely binds for
    Korean or English and mainly guards scripts whose words are estimated from characters. One-line
    reactions ("전체관람가는 아닌것 같아요", 3 words) are dropped. Stricter length
    rules belong to ``gopher_quality``. Word counting is script-aware (module docstring).
    """

    name = "short_text"
    kind = "filter"
    metrics = {"short_words": pa.int64(), "short_chars": pa.int64()}

    @dataclass
    class Params:
        min_words: int = 5
        min_chars: int = 10
        unspaced_scripts: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_UNSPACED))

        def __post_init__(self) -> None:
            if self.min_words < 0:
                raise ValueError(f"min_words must be >= 0 (got {self.min_words})")
            if self.min_chars < 0:
                raise ValueError(f"min_chars must be >= 0 (got {self.min_chars})")
            for script, ratio in self.unspaced_scripts.items():
                if not ratio > 0:
                    raise ValueError(f"unspaced_scripts.{script} must be > 0 characters per word (got {ratio})")
                try:
                    pc.count_substring_regex(pa.array([""]), rf"\p{{{script}}}")
                except pa.ArrowInvalid:
                    raise ValueError(f"unspaced_scripts: {script!r} is not a Unicode script name "
                                     "(e.g. Han, Hiragana, Katakana, Thai)") from None

    def apply(self, batch: pa.RecordBatch) -> StepResult:
        p = self.params
        words, chars = count_words(text_column(batch), p.unspaced_scripts)
        few_words = words < p.min_words
        few_chars = chars < p.min_chars
        keep, reason = failed_checks([(few_words, lambda i: f"{words[i]} words < {p.min_words}"),
                                      (few_chars, lambda i: f"{chars[i]} chars < {p.min_chars}")], len(words))
        return StepResult(keep=keep, reason=reason, metrics={"short_words": words, "short_chars": chars})
