"""Writing-system (script) profiles of texts, vectorized: one table lookup per character.

Language identification uses them for decisions that need no statistics: Hangul is only written for
Korean, Thai script only for Thai, kana only for Japanese, and a text with no Cyrillic letter is not
Serbian whatever a character n-gram model says. See docs/steps/langid.md.

A character's script comes from a lookup table over the first 0x30000 code points, built once per
process from RE2's Unicode script classes (the same engine as the pyarrow kernels of the other steps).
Counting is numpy over the UTF-32 code units of a whole batch: no per-character Python loop.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# Script groups, in table order. A group is what a language is written in: "Korean" is Hangul plus
# the Han characters (Hanja) that Korean text mixes in; "Japanese" is kana plus Han; "Han" alone is
# Chinese. Index 0 is "no letter" (digits, punctuation, spaces, symbols, unassigned).
SCRIPTS: tuple[str, ...] = (
    "none", "Latin", "Cyrillic", "Arabic", "Han", "Kana", "Hangul", "Devanagari", "Bengali", "Thai",
    "Greek", "Hebrew", "Georgian", "Armenian", "Tamil", "Telugu", "Kannada", "Malayalam", "Gujarati",
    "Gurmukhi", "Oriya", "Sinhala", "Khmer", "Lao", "Myanmar", "Tibetan", "Ethiopic", "Thaana", "other",
)
SCRIPT_INDEX = {s: i for i, s in enumerate(SCRIPTS)}
_RE2_CLASS = {"Kana": r"[\p{Hiragana}\p{Katakana}\x{30FC}]"}  # U+30FC prolonged sound mark is 'Common'
_TABLE_SIZE = 0x30000


@lru_cache(maxsize=1)
def script_table() -> np.ndarray:
    """uint8 script index of every code point below 0x30000 (letters and Brahmic vowel signs; others 0).

    Built in about 0.2 s: each script class is one RE2 pass over a single string of all code points
    (marking the matches with U+0001), not one regex call per code point.
    """
    cps = np.arange(_TABLE_SIZE, dtype=np.uint32)
    cps = cps[(cps < 0xD800) | (cps > 0xDFFF)]  # no surrogates in UTF-8
    everything = pa.array([cps.astype("<u4").tobytes().decode("utf-32-le")], pa.string())

    def marks(cls: str) -> np.ndarray:
        marked = pc.replace_substring_regex(everything, cls, "\x01")[0].as_py()
        return np.frombuffer(marked.encode("utf-32-le"), dtype=np.uint32) == 1

    # letters and the (spacing or combining) vowel signs of Brahmic scripts; inherited combining
    # marks (U+0300 accents) and everything else (digits, punctuation, symbols) have no script
    letter = marks(r"[\p{L}\p{M}]")
    table = np.zeros(_TABLE_SIZE, dtype=np.uint8)
    assigned = np.zeros(len(cps), dtype=bool)
    for i, name in enumerate(SCRIPTS):
        if name in ("none", "other"):
            continue
        hit = marks(_RE2_CLASS.get(name, rf"\p{{{name}}}")) & letter & ~assigned
        table[cps[hit]] = i
        assigned |= hit
    table[cps[marks(r"\p{L}") & ~assigned]] = SCRIPT_INDEX["other"]
    table[:0x30] = 0  # controls (U+0001 itself marked every pass), space, punctuation, digits
    return table


def script_counts(texts: Sequence[str]) -> np.ndarray:
    """(n, len(SCRIPTS)) int64 counts of the letters of each script in each text.

    Code points at or above 0x30000 (rare Han extensions) count as Han.
    """
    n = len(texts)
    out = np.zeros((n, len(SCRIPTS)), dtype=np.int64)
    if n == 0:
        return out
    lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=n)
    if not lengths.any():
        return out
    cps = np.frombuffer("".join(texts).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    table = script_table()
    big = cps >= _TABLE_SIZE
    ids = table[np.where(big, 0, cps)]
    if big.any():
        ids[big] = SCRIPT_INDEX["Han"]
    rows = np.repeat(np.arange(n, dtype=np.int64), lengths)
    flat = np.bincount(rows * len(SCRIPTS) + ids, minlength=n * len(SCRIPTS))
    return flat.reshape(n, len(SCRIPTS)).astype(np.int64, copy=False)


# Script groups a language is written in, for the 176 languages of fastText's lid.176 and common
# extra labels (GlotLID's are "xxx_Scrp": the script is taken from the label itself). Languages not
# listed are written in Latin script. Some languages have two (Serbian, Uzbek, Kurdish).
LANG_SCRIPTS: dict[str, tuple[str, ...]] = {
    # Cyrillic
    **{lang: ("Cyrillic",) for lang in (
        "ru", "uk", "bg", "mk", "be", "kk", "tt", "ky", "ba", "mn", "ce", "tg", "cv", "mhr", "sah", "os",
        "myv", "mrj", "bxr", "kv", "krc", "av", "rue", "xal", "lez", "tyv", "udm", "ab", "kbd", "koi",
        "mdf", "inh", "crh_cyrl", "alt", "kjh")},
    "sr": ("Cyrillic", "Latin"), "uz": ("Latin", "Cyrillic"), "sh": ("Latin", "Cyrillic"),
    "ku": ("Latin", "Arabic"), "az": ("Latin", "Arabic"),
    # Arabic
    **{lang: ("Arabic",) for lang in ("ar", "fa", "ur", "ug", "ckb", "arz", "azb", "pnb", "ps", "sd", "mzn",
                                       "lrc", "glk", "bal", "ks", "prs", "ary", "arq", "acm", "apc", "ajp")},
    "he": ("Hebrew",), "yi": ("Hebrew",), "el": ("Greek",), "ka": ("Georgian",), "xmf": ("Georgian",),
    "hy": ("Armenian",), "am": ("Ethiopic",), "ti": ("Ethiopic",), "dv": ("Thaana",), "si": ("Sinhala",),
    "th": ("Thai",), "lo": ("Lao",), "km": ("Khmer",), "my": ("Myanmar",), "bo": ("Tibetan",),
    "dz": ("Tibetan",),
    **{lang: ("Devanagari",) for lang in ("hi", "mr", "ne", "sa", "new", "bh", "mai", "gom", "dty", "bho",
                                           "awa", "mag", "hne", "doi", "brx")},
    "bn": ("Bengali",), "as": ("Bengali",), "bpy": ("Bengali",), "mni": ("Bengali",),
    "pa": ("Gurmukhi",), "gu": ("Gujarati",), "or": ("Oriya",), "ta": ("Tamil",), "te": ("Telugu",),
    "kn": ("Kannada",), "ml": ("Malayalam",),
    "zh": ("Han",), "yue": ("Han",), "wuu": ("Han",), "gan": ("Han",), "hak": ("Han",), "cdo": ("Han",),
    "lzh": ("Han",), "nan": ("Han", "Latin"),
    "ja": ("Japanese",), "ko": ("Korean",),
}

# Scripts written for one language only among lid.176's languages: a text mostly in one of them is
# that language, decisively (no model needed). Han is not here (Chinese, Cantonese, Wu...).
DECISIVE: dict[str, str] = {"Korean": "ko", "Japanese": "ja", "Thai": "th", "Greek": "el",
                            "Armenian": "hy", "Ethiopic": "am", "Thaana": "dv", "Sinhala": "si",
                            "Lao": "lo", "Khmer": "km", "Myanmar": "my", "Tamil": "ta", "Telugu": "te",
                            "Kannada": "kn", "Malayalam": "ml", "Gujarati": "gu", "Gurmukhi": "pa",
                            "Oriya": "or"}

# Text groups: like SCRIPTS, with Han folded into Korean (Hanja in Hangul text) or Japanese (kanji
# with kana) where those are present. Index into GROUPS.
GROUPS: tuple[str, ...] = tuple(s for s in SCRIPTS if s not in ("none", "Kana", "Hangul")) + ("Japanese", "Korean")
GROUP_INDEX = {g: i for i, g in enumerate(GROUPS)}


def group_counts(counts: np.ndarray, kana_min_share: float = 0.1, hangul_min_share: float = 0.1) -> np.ndarray:
    """Fold (n, SCRIPTS) letter counts into (n, GROUPS) counts.

    Han letters belong to Japanese when kana make at least ``kana_min_share`` of kana+Han (Japanese
    prose is rarely below 20%; a stray の in Chinese text is far below), to Korean when Hangul make
    at least ``hangul_min_share`` of Hangul+Han (Korean with Hanja), else to Han (Chinese).
    """
    s = SCRIPT_INDEX
    n = counts.shape[0]
    out = np.zeros((n, len(GROUPS)), dtype=np.int64)
    for g in GROUPS:
        if g in s:
            out[:, GROUP_INDEX[g]] = counts[:, s[g]]
    han, kana, hangul = counts[:, s["Han"]], counts[:, s["Kana"]], counts[:, s["Hangul"]]
    japanese = (kana > 0) & (kana >= kana_min_share * (kana + han))
    korean = ~japanese & (hangul > 0) & (hangul >= hangul_min_share * (hangul + han))
    out[:, GROUP_INDEX["Japanese"]] = np.where(japanese, kana + han, kana)
    out[:, GROUP_INDEX["Korean"]] = np.where(korean, hangul + han, hangul)
    out[:, GROUP_INDEX["Han"]] = np.where(japanese | korean, 0, han)
    return out


def label_groups(labels: Sequence[str]) -> list[tuple[int, ...]]:
    """Group indexes each label may be written in (GlotLID-style ``xxx_Scrp`` labels carry theirs)."""
    script_alias = {"Latn": "Latin", "Cyrl": "Cyrillic", "Arab": "Arabic", "Hani": "Han", "Hans": "Han",
                    "Hant": "Han", "Jpan": "Japanese", "Kore": "Korean", "Hang": "Korean", "Deva": "Devanagari",
                    "Beng": "Bengali", "Thai": "Thai", "Grek": "Greek", "Hebr": "Hebrew", "Geor": "Georgian",
                    "Armn": "Armenian", "Taml": "Tamil", "Telu": "Telugu", "Knda": "Kannada", "Mlym": "Malayalam",
                    "Gujr": "Gujarati", "Guru": "Gurmukhi", "Orya": "Oriya", "Sinh": "Sinhala", "Khmr": "Khmer",
                    "Laoo": "Lao", "Mymr": "Myanmar", "Tibt": "Tibetan", "Ethi": "Ethiopic", "Thaa": "Thaana"}
    out = []
    for label in labels:
        base, _, scr = label.partition("_")
        if scr in script_alias:
            groups: tuple[str, ...] = (script_alias[scr],)
        elif scr:
            groups = ("other",)
        else:
            groups = LANG_SCRIPTS.get(label, ("Latin",))
        out.append(tuple(GROUP_INDEX[g] for g in groups))
    return out
