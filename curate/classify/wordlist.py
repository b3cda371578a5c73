"""Word-list rules: count listed words and phrases in documents, per language.

The rule C4 used against offensive pages (Raffel et al. 2020, sec. 2.2: drop any page with a word of
the "List of Dirty, Naughty, Obscene or Otherwise Bad Words"). curate ships that list,
LDNOOBW (Shutterstock, CC BY 4.0), in ``curate/models/wordlists/ldnoobw/`` (one file per language,
with its source commit in ``SOURCES.tsv``), and takes any user file in the same format: one word or
phrase per line, ``#`` starts a comment line.

Matching is case-insensitive (``str.casefold``). An entry written in a script without spaces
between words (Han, kana, Thai, Lao, Khmer, Myanmar) matches anywhere, since those languages have no
word boundary to look for; a single character of those scripts is skipped, because inside words it
means something else (性 "sex" is also the 性 of 性能 "performance", 卵 "egg", 奶 "milk"). Every
other entry matches whole words only (not preceded or followed by a letter, digit or ``_``), so
"ass" does not fire in "class".

``ldnoobw`` picks the list by the document's ``lang`` (ISO 639-1 as lid.176 writes it). Regional
and romanized lists of the same source are added to their language: ``de`` also uses ``de-AT``,
``fr`` also ``fr-CA-u-sd-caqc``, ``vi`` also ``vn`` (Vietnamese without diacritics), ``hi`` also
``hn`` (romanized Hindi), and lid.176's ``tl`` uses ``fil``. ``ldnoobw:CODE`` is one list for every
document.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

from curate.errors import CurateError

LDNOOBW_DIR = Path(__file__).resolve().parents[1] / "models" / "wordlists" / "ldnoobw"
SHIPPED = "ldnoobw"
# extra lists of the same source that belong to a language code (module docstring)
_ALIASES: dict[str, tuple[str, ...]] = {"de": ("de-AT",), "fr": ("fr-CA-u-sd-caqc",), "vi": ("vn",),
                                        "hi": ("hn",), "tl": ("fil",)}
# scripts written without spaces between words: entries in them match as substrings
_NO_SPACE_SCRIPT = re.compile(r"[\u0E00-\u0EFF\u1000-\u109F\u1780-\u17FF\u3040-\u30FF\u3400-\u4DBF"
                              r"\u4E00-\u9FFF\uF900-\uFAFF\uFF66-\uFF9F]")


def shipped_codes() -> list[str]:
    """Codes of the shipped LDNOOBW lists (file names without ``.txt``)."""
    return list(_shipped_codes())


@lru_cache(maxsize=1)
def _shipped_codes() -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in LDNOOBW_DIR.glob("*.txt")))


def read_words(path: Path) -> list[str]:
    """Entries of a word-list file: stripped, non-empty, not ``#`` comments."""
    words = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        w = line.strip()
        if w and not w.startswith("#"):
            words.append(w)
    return words


def trie_pattern(words: Sequence[str]) -> str:
    """One regex alternation of ``words`` written as a character trie ("ab|ac" -> "a(?:b|c)").

    Python's ``re`` tries the branches of a flat alternation one after the other at every position;
    with the shared prefixes factored out, a position that starts no word costs one character test
    (the trick of Perl's Regexp::Trie). Matches are the same as the flat alternation of the words
    sorted longest first: a longer word wins over its prefix.
    """
    root: dict = {}
    for w in words:
        node = root
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict) -> str:
        end = "" in node
        branches = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        if len(branches) > 1:
            body = "(?:" + "|".join(branches) + ")"
        elif end and len(branches[0]) > 1:
            body = "(?:" + branches[0] + ")"
        else:
            body = branches[0]
        return body + "?" if end else body

    return build(root)


def compile_words(words: Sequence[str]) -> re.Pattern[str] | None:
    """One regex over casefolded text (whole words, or anywhere for no-space scripts); None if empty.

    Single characters of no-space scripts are skipped (module docstring).
    """
    folded = {w.casefold() for w in words if w.strip()}
    anywhere = [w for w in folded if _NO_SPACE_SCRIPT.search(w) and len(w) > 1]
    whole = [w for w in folded if not _NO_SPACE_SCRIPT.search(w)]
    parts = []
    if whole:
        parts.append(r"(?<!\w)(?:" + trie_pattern(whole) + r")(?!\w)")
    if anywhere:
        parts.append("(?:" + trie_pattern(anywhere) + ")")
    return re.compile("|".join(parts)) if parts else None


@lru_cache(maxsize=64)
def _shipped_pattern(codes: tuple[str, ...]) -> re.Pattern[str] | None:
    words: list[str] = []
    for code in codes:
        words += read_words(LDNOOBW_DIR / f"{code}.txt")
    return compile_words(words)


class WordList:
    """Counts listed words per document: one list for all, or LDNOOBW chosen by each document's ``lang``."""

    def __init__(self, spec: str | Path) -> None:
        self.spec = str(spec)
        self.by_lang = False
        self._one: re.Pattern[str] | None = None
        self._by_lang: dict[str | None, re.Pattern[str] | None] = {}
        if isinstance(spec, Path) or (self.spec != SHIPPED and not self.spec.startswith(SHIPPED + ":")):
            path = Path(spec)
            if not path.is_file():
                raise CurateError(f"word list {spec!r}: no such file, and not a shipped list "
                                  f"({SHIPPED} or {SHIPPED}:CODE with CODE one of {', '.join(shipped_codes())})")
            self._one = compile_words(read_words(path))
            if self._one is None:
                raise CurateError(f"word list {path} has no entries")
        elif self.spec == SHIPPED:
            self.by_lang = True
        else:
            code = self.spec.split(":", 1)[1]
            if code not in shipped_codes():
                raise CurateError(f"word list {self.spec!r}: no shipped list {code!r} "
                                  f"(one of {', '.join(shipped_codes())})")
            self._one = _shipped_pattern((code,))

    def pattern_for(self, lang: str | None) -> re.Pattern[str] | None:
        """The pattern a document of language ``lang`` is matched with (None: no list for it)."""
        if not self.by_lang:
            return self._one
        if lang not in self._by_lang:
            have = _shipped_codes()
            codes = tuple(c for c in (lang, *_ALIASES.get(lang, ())) if c in have) if lang else ()
            self._by_lang[lang] = _shipped_pattern(codes) if codes else None
        return self._by_lang[lang]

    def covers(self, langs: Sequence[str | None]) -> np.ndarray:
        """True where a document of that language has a list to be matched against."""
        return np.array([self.pattern_for(lg) is not None for lg in langs], dtype=bool)

    def count(self, texts: Sequence[str], langs: Sequence[str | None]) -> np.ndarray:
        """Listed words and phrases found in each text (0 where its language has no list)."""
        hits = np.zeros(len(texts), dtype=np.int64)
        for i, (t, lg) in enumerate(zip(texts, langs)):
            rx = self.pattern_for(lg)
            if rx is not None and t:
                hits[i] = len(rx.findall(t.casefold()))
        return hits
