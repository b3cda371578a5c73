"""Text normalization mappers: ``normalize`` (encoding and Unicode repair) and ``whitespace``.

Both rewrite ``text`` and never drop a document. They keep document structure: line breaks and
paragraphs (blank lines) survive, unlike the Polyglot-Ko pipeline, which lost them when it removed
"unnecessary spaces" (Ko et al. 2023, "A Technical Report for Polyglot-Ko", arXiv:2306.02254,
section 2, data preprocessing). See docs/steps/cleanup.md.

Everything runs as pyarrow.compute kernels (RE2 regexes, utf8proc normalization) over the whole
text column. A cheap vectorized pre-check picks the rows that can change, and only those rows go
through the rewriting passes; ftfy (pure Python, one string at a time) only sees rows that carry a
mojibake signature.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Literal

import ftfy
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate.pipeline.step import Step, StepResult, register_step, set_column, text_column

# ---------------------------------------------------------------------------------------------------
# helpers shared by the cleanup steps (length.py, html.py and code.py import them)




def mask_of(arr: pa.Array) -> np.ndarray:
    """A boolean Arrow array (nulls as False) as a numpy bool array."""
    if arr.null_count:
        arr = pc.fill_null(arr, False)
    return arr.to_numpy(zero_copy_only=False).astype(bool, copy=False)


def ints(arr: pa.Array) -> np.ndarray:
    """An integer Arrow array (nulls as 0) as a numpy int64 array."""
    if arr.null_count:
        arr = pc.fill_null(arr, 0)
    return arr.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


def on_rows(text: pa.Array, mask: np.ndarray, fn: Callable[[pa.Array], pa.Array]) -> pa.Array:
    """Apply the array function ``fn`` to the rows where ``mask`` is set; other rows stay as they are.

    The rewriting passes of these steps are expensive next to a pre-check, and most rows of a clean
    corpus need none of them, so they only run on the candidate rows.
    """
    if not mask.any():
        return text
    if mask.all():
        return fn(text)
    sel = pa.array(mask)
    return pc.replace_with_mask(text, sel, fn(text.filter(sel)))


def python_rows(text: pa.Array, mask: np.ndarray, fn: Callable[[str], str]) -> pa.Array:
    """Apply the Python function ``fn`` to the strings of the rows where ``mask`` is set."""
    if not mask.any():
        return text
    sel = pa.array(mask)
    fixed = pa.array([fn(s) for s in text.filter(sel).to_pylist()], type=text.type)
    return pc.replace_with_mask(text, sel, fixed)


# ---------------------------------------------------------------------------------------------------
# normalize

# Mojibake signatures (UTF-8 bytes decoded as Latin-1 / Windows-1252): a lead-byte character
# U+00C2..U+00F4 followed by a continuation byte shown as Latin-1 (U+0080..U+00BF) or as its
# Windows-1252 glyph; "Ã " / "Â " (a lost U+00A0 byte); C1 controls; U+FFFD. Korean mojibake looks
# like "ì•ˆë…•" (lead bytes 0xEA..0xED). Only rows matching this go to ftfy, which decides.
_CP1252_GLYPHS = (r"\x{152}\x{153}\x{160}\x{161}\x{178}\x{17D}\x{17E}\x{192}\x{2C6}\x{2DC}\x{2013}\x{2014}"
                  r"\x{2018}-\x{201A}\x{201C}-\x{201E}\x{2020}-\x{2022}\x{2026}\x{2030}\x{2039}\x{203A}"
                  r"\x{20AC}\x{2122}")
MOJIBAKE_RE = (r"[\x{C2}-\x{F4}][\x{80}-\x{BF}" + _CP1252_GLYPHS + r"]|[\x{C2}\x{C3}] |[\x{80}-\x{9F}]|\x{FFFD}")

# ftfy repairs errors only; it does not restyle text. unescape_html is off: HTML entities are the
# html_residue step's job (it knows when '&amp;' is markup); width, ligature and quote changes are
# choices that the `form` parameter (NFKC) makes for every row, not only for ftfy's candidates;
# line breaks, control characters and normalization are done below, vectorized, for every row.
FTFY_CONFIG = ftfy.TextFixerConfig(
    unescape_html=False, remove_terminal_escapes=True, fix_encoding=True, restore_byte_a0=True,
    replace_lossy_sequences=True, decode_inconsistent_utf8=True, fix_c1_controls=True,
    fix_latin_ligatures=False, fix_character_width=False, uncurl_quotes=False, fix_line_breaks=False,
    fix_surrogates=True, remove_control_chars=False, normalization=None, explain=False)

# Line breaks: CRLF / CR (old Mac), NEL, vertical tab, form feed, LINE SEPARATOR -> "\n".
LINE_BREAK_RE = r"\r\n?|[\x{0B}\x{0C}\x{85}\x{2028}]"
PARAGRAPH_SEPARATOR = "\u2029"  # -> a blank line
# Removed: ANSI terminal escapes; C0/C1 controls except \t \n (and the line breaks above, already
# converted); zero-width space, word joiner and invisible math operators, BOM / zero-width no-break
# space, soft hyphen. Kept on purpose: ZWNJ/ZWJ (U+200C/U+200D: Persian, Indic scripts, emoji
# sequences) and the bidi marks U+200E/U+200F (Arabic, Hebrew).
REMOVE_RE = (r"\x{1B}\[[0-9;?]*[ -/]*[@-~]|[\x00-\x08\x{0E}-\x{1F}\x{7F}-\x{84}\x{86}-\x{9F}"
             r"\x{200B}\x{2060}-\x{2064}\x{FEFF}\x{AD}]")
# Exotic spaces -> ASCII space: NBSP, Ogham, en/em/thin/hair spaces, narrow NBSP, math space,
# ideographic space U+3000 (layout padding in CJK text; NFKC maps it to a space too) and the
# Hangul fillers U+3164 / U+FFA0 that Korean web text uses as invisible blanks.
SPACE_RE = r"[\x{A0}\x{1680}\x{2000}-\x{200A}\x{202F}\x{205F}\x{3000}\x{3164}\x{FFA0}]"
_SPECIAL_CLASS = (r"\x00-\x08\x{0B}-\x{1F}\x{7F}-\x{9F}\x{AD}\x{A0}\x{1680}\x{2000}-\x{200B}\x{2028}\x{2029}"
                  r"\x{202F}\x{205F}-\x{2064}\x{3000}\x{3164}\x{FEFF}\x{FFA0}")


def _ranges_class(codepoints: list[int]) -> str:
    parts, start, prev = [], None, None
    for cp in codepoints:
        if start is None:
            start = prev = cp
        elif cp == prev + 1:
            prev = cp
        else:
            parts.append((start, prev))
            start = prev = cp
    if start is not None:
        parts.append((start, prev))
    return "".join(f"\\x{{{a:X}}}" if a == b else f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in parts)


@lru_cache(maxsize=None)
def normalization_candidates(form: str) -> str:
    """An RE2 class of the characters that can make ``form`` (NFC/NFKC) change a string.

    That is: characters not in ``form`` on their own (quick-check No, e.g. U+212B ANGSTROM SIGN,
    CJK compatibility ideographs, and for NFKC full-width forms), combining marks (reordering,
    composition), second members of canonical compositions, and conjoining Hangul vowel/final jamo
    (U+1161.., U+11A8..: decomposed Hangul, as macOS writes it, composes into syllables). A string
    without any of them is already normalized, so it skips the (slower) normalization kernel.
    Built from Python's ``unicodedata``; characters newer than its Unicode version are not covered.
    """
    cps = set()
    for cp in range(0x30000):
        if 0xD800 <= cp < 0xE000:
            continue
        ch = chr(cp)
        if unicodedata.combining(ch) or not unicodedata.is_normalized(form, ch):
            cps.add(cp)
        decomp = unicodedata.decomposition(ch)
        if decomp and not decomp.startswith("<"):
            parts = decomp.split()
            if len(parts) == 2:
                cps.add(int(parts[1], 16))
    cps.update(range(0x1161, 0x1176))  # Hangul medial vowels (V)
    cps.update(range(0x11A8, 0x11C3))  # Hangul final consonants (T)
    return "[" + _ranges_class(sorted(cps)) + "]"


def normalize_text(text: pa.Array, form: str = "NFC") -> tuple[pa.Array, np.ndarray]:
    """Return (normalized text, mask of rows that ftfy changed). See :class:`Normalize`."""
    mojibake = mask_of(pc.match_substring_regex(text, MOJIBAKE_RE))
    out = python_rows(text, mojibake, lambda s: ftfy.fix_text(s, FTFY_CONFIG))
    ftfy_fixed = np.zeros(len(text), dtype=bool)
    if mojibake.any():
        ftfy_fixed = mask_of(pc.not_equal(out, text)) & mojibake
    special = r"[" + _SPECIAL_CLASS + r"]"
    if form != "none":
        special = special + "|" + normalization_candidates(form)
    todo = mask_of(pc.match_substring_regex(out, special)) | ftfy_fixed

    def passes(arr: pa.Array) -> pa.Array:
        arr = pc.replace_substring_regex(arr, LINE_BREAK_RE, "\n")
        arr = pc.replace_substring(arr, PARAGRAPH_SEPARATOR, "\n\n")
        arr = pc.replace_substring_regex(arr, REMOVE_RE, "")
        arr = pc.replace_substring_regex(arr, SPACE_RE, " ")
        if form != "none":
            arr = pc.utf8_normalize(arr, form)
        return arr

    return on_rows(out, todo, passes), ftfy_fixed


@register_step
class Normalize(Step):
    """Repair encoding damage and normalize Unicode, keeping line and paragraph structure.

    Web and blog dumps (most of Polyglot-Ko's 1.2 TB) carry mojibake, stray control characters,
    invisible characters and a dozen kinds of space; they split one word into many tokens and waste
    vocabulary. In order:

    1. ftfy (Speer 2019) on rows with a mojibake signature only: fixes UTF-8 read as Latin-1 or
       Windows-1252 (``ì•ˆë…•`` -> ``안녕``), C1 controls, terminal escapes. Its style changes
       (quote uncurling, width, ligatures) and HTML unescaping are off (``html_residue`` does that).
    2. ``\\r\\n``, ``\\r``, NEL, vertical tab, form feed, U+2028 -> ``\\n``; U+2029 -> blank line.
    3. remove control characters other than ``\\t`` and ``\\n``, ANSI escapes, zero-width space,
       word joiner, BOM, soft hyphen (ZWJ/ZWNJ and bidi marks are kept).
    4. NBSP, ideographic space U+3000, en/em/thin spaces, Hangul fillers -> ASCII space.
    5. Unicode normalization ``form`` (NFC by default: composes decomposed Hangul jamo into
       syllables and accents into precomposed letters; NFKC also folds full-width forms and
       ligatures; "none" skips it).

    Source: the text-normalization practice of CCNet (Wenzek et al. 2020) and the Polyglot-Ko
    cleaning list (Ko et al. 2023, arXiv:2306.02254, section 2); docs/steps/cleanup.md.
    """

    name = "normalize"
    kind = "mapper"
    metrics = {"normalize_changed": pa.bool_(), "normalize_ftfy_fixed": pa.bool_(),
               "normalize_chars_removed": pa.int64()}

    @dataclass
    class Params:
        form: Literal["NFC", "NFKC", "none"] = "NFC"

    def setup(self) -> None:
        if self.params.form != "none":
            normalization_candidates(self.params.form)  # build the pre-check class once per process

    def apply(self, batch: pa.RecordBatch) -> StepResult:
        text = text_column(batch)
        out, ftfy_fixed = normalize_text(text, self.params.form)
        changed = mask_of(pc.not_equal(out, text))
        removed = ints(pc.utf8_length(text)) - ints(pc.utf8_length(out))
        return StepResult(batch=set_column(batch, "text", out), metrics={
            "normalize_changed": changed, "normalize_ftfy_fixed": ftfy_fixed, "normalize_chars_removed": removed})


# ---------------------------------------------------------------------------------------------------
# whitespace

# Horizontal whitespace that is not a single ASCII space: tabs, any run of two or more, exotic spaces.
_HSPACE = r"[\t\p{Zs}]"
_ODD_SPACE = r"[\t\x{A0}\x{1680}\x{2000}-\x{200A}\x{202F}\x{205F}\x{3000}]"
# Markdown code fences pair up in order, as in the broken_code step (curate/steps/code.py).
_FENCED_SPLIT = re.compile(r"(```.*?```)", re.S)


@register_step
class Whitespace(Step):
    """Remove unnecessary whitespace without losing document structure.

    Polyglot-Ko removed "unnecessary spaces" (Ko et al. 2023, arXiv:2306.02254, section 2) but its
    cleaning also lost line breaks, so documents became one run-on line. Here lines and paragraphs
    are kept:

    * ``\\r\\n`` / ``\\r`` (and NEL, VT, FF, U+2028) become ``\\n``; U+2029 a blank line;
    * inside a line, a run of spaces/tabs (or one tab or exotic space) becomes one space;
    * spaces at the start and end of every line are removed (``keep_indentation = true`` keeps the
      leading ones, for code and Q&A sources where indentation is meaning);
    * more than ``max_blank_lines`` blank lines in a row shrink to ``max_blank_lines``;
    * blank lines at the start and end of the document are removed;
    * Markdown fenced code blocks (```...```) are left exactly as they are
      (``keep_fenced_code = true``, the default): alignment inside code and diagrams is meaning.
    """

    name = "whitespace"
    kind = "mapper"
    metrics = {"whitespace_chars_removed": pa.int64()}

    @dataclass
    class Params:
        max_blank_lines: int = 1
        keep_indentation: bool = False
        keep_fenced_code: bool = True

        def __post_init__(self) -> None:
            if self.max_blank_lines < 0:
                raise ValueError(f"max_blank_lines must be >= 0 (got {self.max_blank_lines})")

    def apply(self, batch: pa.RecordBatch) -> StepResult:
        p = self.params
        text = text_column(batch)
        out = collapse_whitespace(text, p.max_blank_lines, p.keep_indentation, p.keep_fenced_code)
        removed = ints(pc.utf8_length(text)) - ints(pc.utf8_length(out))
        return StepResult(batch=set_column(batch, "text", out), metrics={"whitespace_chars_removed": removed})


def _line_passes(arr: pa.Array, max_blank_lines: int, keep_indentation: bool) -> pa.Array:
    """Line-level rewrites; safe on a piece of a document (they never look at its two ends)."""
    k = max_blank_lines
    arr = pc.replace_substring_regex(arr, r"\r\n?|[\x{0B}\x{0C}\x{85}\x{2028}]", "\n")
    arr = pc.replace_substring(arr, PARAGRAPH_SEPARATOR, "\n\n")
    if keep_indentation:
        # inner runs only (after a visible character): indentation stays as it is
        inner = r"([^\t\n\p{Zs}])(?:" + _HSPACE + r"{2,}|" + _ODD_SPACE + r")"
        arr = pc.replace_substring_regex(arr, inner, r"\1 ")
        arr = pc.replace_substring_regex(arr, _HSPACE + r"+\n", "\n")  # trailing; whitespace-only lines
    else:
        arr = pc.replace_substring_regex(arr, _HSPACE + r"{2,}|" + _ODD_SPACE, " ")
        arr = pc.replace_substring_regex(arr, r" ?\n ?", "\n")  # runs are single spaces by now
    return pc.replace_substring_regex(arr, "\n{" + str(k + 2) + ",}", "\n" * (k + 1))


def _trim(arr: pa.Array, keep_indentation: bool) -> pa.Array:
    """Remove blank lines (and, unless indentation is kept, spaces) at both ends of each document."""
    if keep_indentation:
        return pc.replace_substring_regex(arr, r"\A(?:[\t\p{Zs}]*\n)+|[\s\p{Zs}]+\z", "")
    return pc.utf8_trim_whitespace(arr)


def collapse_whitespace(text: pa.Array, max_blank_lines: int = 1, keep_indentation: bool = False,
                        keep_fenced_code: bool = True) -> pa.Array:
    """The ``whitespace`` step's rewrite of a string array (see :class:`Whitespace`)."""
    k = max_blank_lines
    # rows that need any change: one RE2 pass over the column
    need = (r"\r|[\x{0B}\x{0C}\x{85}\x{2028}\x{2029}]|" + _HSPACE + r"{2,}|" + _ODD_SPACE
            + r"|[ \t]\n|\A[\s\p{Zs}]|[\s\p{Zs}]\z|\n[ \t]*\n" + r"[ \t]*\n" * k
            + ("" if keep_indentation else r"|\n "))
    todo = mask_of(pc.match_substring_regex(text, need))
    fenced = np.zeros(len(text), dtype=bool)
    if keep_fenced_code and todo.any():
        fenced[todo] = ints(pc.count_substring(text.filter(pa.array(todo)), "```")) >= 2
    out = on_rows(text, todo & ~fenced, lambda a: _trim(_line_passes(a, k, keep_indentation), keep_indentation))
    if fenced.any():
        # rows with code fences: rewrite the pieces between fences (one vectorized pass over all of
        # them), then put every document back together around its untouched code blocks
        sel = pa.array(fenced)
        pieces = [_FENCED_SPLIT.split(s) for s in text.filter(sel).to_pylist()]
        prose = iter(_line_passes(pa.array([p for ps in pieces for p in ps[0::2]], type=text.type), k,
                                  keep_indentation).to_pylist())
        docs = []
        for ps in pieces:
            ps[0::2] = [next(prose) for _ in ps[0::2]]
            docs.append("".join(ps))
        out = pc.replace_with_mask(out, sel, _trim(pa.array(docs, type=text.type), keep_indentation))
    return out
