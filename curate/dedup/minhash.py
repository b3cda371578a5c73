"""MinHash signatures, LSH band/row choice and band keys: library functions usable without the pipeline.

Signatures are computed for a whole batch at once with numpy (no Python loop per document or per
shingle on the hot path):

1. **fold** every code point through one lookup table (per-code-point NFKC, lower case; punctuation,
   symbols, separators and controls become a separator; format characters such as ZWJ or the soft
   hyphen are deleted);
2. **units**: for *character* shingling the folded code points with separators removed (so Korean
   copies that differ only in spacing have the same units), for *word* shingling one 64-bit hash per
   word (a run of non-separators);
3. **shingle hashes**: every n-gram of units (a document with fewer than ``n`` units has one shingle,
   all of it; a document with none has no shingle and an empty signature) hashed to 32 bits;
4. **permutations** exactly as datasketch 2.0's default ``affine32`` scheme (or its ``legacy``
   scheme): ``h -> a*fmix32(h) + b mod 2^32`` with ``a, b`` drawn by ``np.random.RandomState(seed)``;
   the minimum per document with ``np.minimum.reduceat`` over a (permutations x shingles) block;
5. optionally (``sketch_k``) each document's **bottom-k sketch**: its k smallest distinct shingle
   hashes, from which :func:`sketch_jaccard` estimates Jaccard exactly for documents of at most k
   distinct shingles, and with less variance than signature agreement otherwise.

Compatibility (tested in tests/test_minhash.py): for any text, the signature equals
``datasketch.MinHash(num_perm, seed=seed, scheme=scheme, hashfunc=shingle_hasher(mode))`` updated
with ``shingles(text, mode, n)``. Only the shingle hash function is ours (datasketch's default is
SHA-1, which would cost a Python call per shingle); it is defined in :func:`char_shingle_hash32` and
:func:`word_shingle_hash32` on the shingle strings themselves.

LSH: :func:`optimal_param` is datasketch's ``MinHashLSH._optimal_param`` (the (bands, rows) that
minimise the weighted false positive and false negative areas under the S-curve), the integrals
computed by Gauss-Legendre quadrature, exact for these polynomials. Band ``i`` covers hash values
``[i*r, (i+1)*r)`` as in datasketch's ``MinHashLSH``; :func:`band_keys` hashes each band to 64 bits.
"""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

MASK32 = 0xFFFFFFFF
MASK64 = (1 << 64) - 1
MERSENNE_PRIME = (1 << 61) - 1
SEP = 32  # folded value of every separator (whitespace, punctuation, symbols, controls)
DELETE = 0  # folded value of characters that disappear (format characters: ZWJ, soft hyphen, ...)

M_CHAR = 0x9E3779B97F4A7C15  # polynomial base over code points (odd, so the map has an inverse mod 2^64)
M_WORD = 0xC2B2AE3D27D4EB4F  # polynomial base over word hashes
TAG_CHAR = 0x243F6A8885A308D3  # xor-ed in before the final mix: char and word shingles never coincide
TAG_WORD = 0x13198A2E03707344
M_BAND = 0x9FB21C651E98DF25

SCHEMES = ("affine32", "legacy")
SHINGLINGS = ("auto", "char", "word")
# Languages written without spaces between words, or where spacing varies between copies of one text
# (Korean 띄어쓰기): character shingles. ISO 639-1 codes, compared on the part before '-' or '_'.
CHAR_LANGS = ("ko", "ja", "zh", "th", "lo", "km", "my", "bo")

_U64 = np.uint64
_U32 = np.uint32


# ---------------------------------------------------------------------------------------------------
# mixing functions (MurmurHash3 finalizers, as datasketch's _fmix)


def fmix64(h: np.ndarray, inplace: bool = False) -> np.ndarray:
    """MurmurHash3's 64-bit finalizer (a bijection on uint64), element-wise; ``inplace`` reuses ``h``."""
    h = h if inplace else h.copy()
    t = np.empty_like(h)
    for mult in (0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53):
        np.right_shift(h, _U64(33), out=t)
        np.bitwise_xor(h, t, out=h)
        np.multiply(h, _U64(mult), out=h)
    np.right_shift(h, _U64(33), out=t)
    np.bitwise_xor(h, t, out=h)
    return h


def fmix32(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> _U32(16))
    h = h * _U32(0x85EBCA6B)
    h = h ^ (h >> _U32(13))
    h = h * _U32(0xC2B2AE35)
    return h ^ (h >> _U32(16))


def _fmix64_int(h: int) -> int:
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & MASK64
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & MASK64
    return h ^ (h >> 33)


# ---------------------------------------------------------------------------------------------------
# normalization: one lookup table over all code points

# Blocks whose code points are letters that NFKC and lower case leave unchanged: skipped when the
# table is built (it then takes ~0.2 s once per process instead of ~0.6 s).
_IDENTITY_RANGES = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0x20000, 0x2F7FF), (0x30000, 0x3FFFF))
# Scripts written without spaces between words (or, for Hangul, with unreliable spacing): a document
# of unknown language with at least ``script_fraction`` of its letters in these is shingled by characters.
_CONTINUOUS_RANGES = ((0x0E00, 0x0EFF), (0x0F00, 0x0FFF), (0x1000, 0x109F), (0x1100, 0x11FF), (0x1780, 0x17FF),
                      (0x2E80, 0x2FDF), (0x3040, 0x30FF), (0x3130, 0x318F), (0x31F0, 0x31FF), (0x3400, 0x4DBF),
                      (0x4E00, 0x9FFF), (0xA960, 0xA97F), (0xAC00, 0xD7FF), (0xF900, 0xFAFF), (0xFF66, 0xFF9F),
                      (0x20000, 0x3FFFF))


@functools.lru_cache(maxsize=2)
def fold_table(normalize: bool = True) -> np.ndarray:
    """uint32[0x110000]: the folded value of every code point.

    ``normalize=True``: per-code-point NFKC then lower case (when that gives one code point; else
    lower case alone); letters, marks and numbers stay; punctuation (P*), symbols (S*), separators
    (Z*), controls (Cc) -> ``SEP``; format characters (Cf) -> ``DELETE``.
    ``normalize=False``: only whitespace and controls -> ``SEP`` (exact text otherwise).
    Built from Python's ``unicodedata`` (``unicodedata.unidata_version``).
    """
    tab = np.arange(0x110000, dtype=np.uint32)
    skip = np.zeros(0x110000, dtype=bool)
    for lo, hi in _IDENTITY_RANGES:
        skip[lo:hi + 1] = True
    for cp in np.flatnonzero(~skip).tolist():
        ch = chr(cp)
        cat = unicodedata.category(ch)
        if cat in ("Cn", "Co", "Cs"):
            continue
        if not normalize:
            if cat in ("Zs", "Zl", "Zp", "Cc") or ch.isspace():
                tab[cp] = SEP
            continue
        if cat[0] in "PSZ" or cat == "Cc":
            tab[cp] = SEP
            continue
        if cat == "Cf":
            tab[cp] = DELETE
            continue
        f = unicodedata.normalize("NFKC", ch).lower()
        if len(f) != 1:
            f = ch.lower()
            if len(f) != 1:
                continue
        c2 = unicodedata.category(f)
        tab[cp] = SEP if (c2[0] in "PSZ" or c2 == "Cc") else DELETE if c2 == "Cf" else ord(f)
    tab[SEP] = SEP
    tab[DELETE] = SEP  # NUL is a control: a separator (DELETE is only ever a table *value*)
    return tab


@functools.lru_cache(maxsize=1)
def continuous_script_table() -> np.ndarray:
    t = np.zeros(0x110000, dtype=bool)
    for lo, hi in _CONTINUOUS_RANGES:
        t[lo:hi + 1] = True
    return t


def normalize_text(text: str, normalize: bool = True) -> str:
    """The text as shingling sees it: folded, separators as single spaces, trimmed (reference code)."""
    tab = fold_table(normalize)
    folded = "".join(chr(v) for v in (int(tab[ord(ch)]) for ch in text) if v != DELETE)
    return " ".join(w for w in folded.split(" ") if w)


def lang_prefix(lang: str | None) -> str | None:
    if not lang:
        return None
    return lang.replace("_", "-").split("-", 1)[0].strip().lower() or None


def shingle_mode(text: str, lang: str | None = None, shingle: str = "auto", char_langs: Sequence[str] = CHAR_LANGS,
                 script_fraction: float = 0.5, normalize: bool = True) -> str:
    """``"char"`` or ``"word"`` for one document (reference code for :meth:`MinHasher.signatures`)."""
    if shingle != "auto":
        return shingle
    code = lang_prefix(lang)
    if code is not None:
        return "char" if code in char_langs else "word"
    tab = fold_table(normalize)
    cont = continuous_script_table()
    letters = [int(tab[ord(c)]) for c in text]
    letters = [v for v in letters if v > SEP]
    if not letters:
        return "word"
    return "char" if sum(bool(cont[v]) for v in letters) >= script_fraction * len(letters) else "word"


def shingles(text: str, mode: str, n: int, normalize: bool = True) -> list[str]:
    """The shingles of ``text`` (reference code; duplicates kept, as a document's n-grams).

    ``char``: n-grams of the folded code points with separators removed; ``word``: n-grams of words
    joined by one space. Fewer than ``n`` units -> one shingle of all of them; none -> no shingle.
    """
    norm = normalize_text(text, normalize)
    if mode == "char":
        units: list[str] = list(norm.replace(" ", ""))
        join = "".join
    elif mode == "word":
        units = norm.split(" ") if norm else []
        join = " ".join
    else:
        raise ValueError(f"mode must be 'char' or 'word', not {mode!r}")
    if not units:
        return []
    if len(units) < n:
        return [join(units)]
    return [join(units[i:i + n]) for i in range(len(units) - n + 1)]


def _poly(values: Iterable[int], base: int) -> int:
    h, p = 0, 1
    for v in values:
        h = (h + v * p) & MASK64
        p = (p * base) & MASK64
    return h


def _as_str(s: str | bytes) -> str:
    return s.decode("utf-8") if isinstance(s, (bytes, bytearray, memoryview)) else s


def char_shingle_hash32(shingle: str | bytes) -> int:
    """32-bit hash of a character shingle: ``fmix64(sum((ord(c)+1) * M_CHAR^k) ^ TAG_CHAR) & 0xFFFFFFFF``."""
    s = _as_str(shingle)
    return _fmix64_int(_poly((ord(c) + 1 for c in s), M_CHAR) ^ TAG_CHAR) & MASK32


def word_hash64(word: str) -> int:
    return _fmix64_int(_poly((ord(c) + 1 for c in word), M_CHAR))


def word_shingle_hash32(shingle: str | bytes) -> int:
    """32-bit hash of a word shingle (words joined by one space):
    ``fmix64(sum(word_hash64(w_k) * M_WORD^k) ^ TAG_WORD) & 0xFFFFFFFF``."""
    s = _as_str(shingle)
    return _fmix64_int(_poly((word_hash64(w) for w in s.split(" ")), M_WORD) ^ TAG_WORD) & MASK32


def shingle_hasher(mode: str) -> Callable[[Any], int]:
    """The ``hashfunc`` to give datasketch.MinHash for shingles of ``mode``."""
    return char_shingle_hash32 if mode == "char" else word_shingle_hash32


# ---------------------------------------------------------------------------------------------------
# permutations (datasketch 2.0: MinHash._init_permutations)


def permutations(num_perm: int, seed: int = 1, scheme: str = "affine32") -> tuple[np.ndarray, np.ndarray]:
    """(a, b) as datasketch draws them: ``np.random.RandomState(seed)``; affine32: ``a`` odd uint32,
    ``b`` uint32; legacy: ``a`` in [1, p), ``b`` in [0, p) (uint64, p = 2^61-1), drawn pairwise."""
    gen = np.random.RandomState(seed)
    if scheme == "affine32":
        a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
        b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
        return a, b
    if scheme == "legacy":
        p = np.uint64(MERSENNE_PRIME)
        ab = np.array([(gen.randint(1, p, dtype=np.uint64), gen.randint(0, p, dtype=np.uint64))
                       for _ in range(num_perm)], dtype=np.uint64).T
        return np.ascontiguousarray(ab[0]), np.ascontiguousarray(ab[1])
    raise ValueError(f"scheme must be one of {', '.join(SCHEMES)}, not {scheme!r}")


# ---------------------------------------------------------------------------------------------------
# LSH parameters (datasketch.lsh._optimal_param, integrals by exact Gauss-Legendre quadrature)


def candidate_probability(s: float | np.ndarray, bands: int, rows: int) -> float | np.ndarray:
    """Probability that two documents of Jaccard ``s`` share at least one band: 1 - (1 - s^r)^b."""
    return 1.0 - (1.0 - np.asarray(s, dtype=np.float64) ** float(rows)) ** float(bands)


@functools.lru_cache(maxsize=8)
def _gauss_legendre(points: int) -> tuple[np.ndarray, np.ndarray]:
    return np.polynomial.legendre.leggauss(points)


def _integrate(f: Callable[[np.ndarray], np.ndarray], lo: float, hi: float, degree: int) -> float:
    # an n-point rule integrates polynomials of degree <= 2n-1 exactly; the integrands have degree b*r
    # (one rule per power of two of the degree, so a whole search builds at most a few)
    x, w = _gauss_legendre(max(32, 1 << max(0, int(degree // 2 + 1).bit_length())))
    mid, half = (hi + lo) / 2.0, (hi - lo) / 2.0
    return float(half * np.dot(w, f(mid + half * x)))


def false_positive_probability(threshold: float, bands: int, rows: int) -> float:
    """Area under the S-curve below the threshold (datasketch's _false_positive_probability)."""
    return _integrate(lambda s: 1 - (1 - s ** float(rows)) ** float(bands), 0.0, threshold, bands * rows)


def false_negative_probability(threshold: float, bands: int, rows: int) -> float:
    """Area above the S-curve above the threshold (datasketch's _false_negative_probability)."""
    return _integrate(lambda s: 1 - (1 - (1 - s ** float(rows)) ** float(bands)), threshold, 1.0, bands * rows)


def optimal_param(threshold: float, num_perm: int, false_positive_weight: float = 0.5,
                  false_negative_weight: float = 0.5) -> tuple[int, int]:
    """(bands, rows) minimising ``fp * w_fp + fn * w_fn`` over b*r <= num_perm, searched in
    datasketch's order (b ascending, then r ascending; the first strict minimum wins)."""
    min_error = float("inf")
    opt = (0, 0)
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            fp = false_positive_probability(threshold, b, r)
            fn = false_negative_probability(threshold, b, r)
            error = fp * false_positive_weight + fn * false_negative_weight
            if error < min_error:
                min_error = error
                opt = (b, r)
    return opt


def band_keys(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """int64[n, bands]: a 64-bit key per band of ``rows`` consecutive hash values (band i covers
    ``sig[:, i*rows:(i+1)*rows]``). Equal bands give equal keys; unequal ones collide with
    probability ~2^-64 (and verification would catch it)."""
    n = sig.shape[0]
    s = sig[:, :bands * rows].reshape(n, bands, rows).astype(np.uint64)
    h = np.broadcast_to((np.arange(bands, dtype=np.uint64) + _U64(1)) * _U64(M_BAND), (n, bands)).copy()
    for j in range(rows):
        h = fmix64(h * _U64(M_BAND) + s[:, :, j] + _U64(1))
    return h.view(np.int64)


def jaccard_estimate(sa: np.ndarray, sb: np.ndarray) -> np.ndarray:
    """Fraction of equal hash values, row by row (float64)."""
    if sa.shape[1] == 0:
        return np.zeros(sa.shape[0])
    return (sa == sb).mean(axis=1)


# ---------------------------------------------------------------------------------------------------
# the vectorized signature computation


@functools.lru_cache(maxsize=4)
def _powers(base: int, count: int) -> np.ndarray:
    p = np.empty(count, dtype=np.uint64)
    p[0] = 1
    for k in range(1, min(count, 64)):
        p[k] = (int(p[k - 1]) * base) & MASK64
    # doubling: p[k+m] = p[k] * p[m] (wraps mod 2^64 as intended)
    filled = min(count, 64)
    while filled < count:
        m = min(filled, count - filled)
        p[filled:filled + m] = p[:m] * p[filled]
        filled += m
    return p


def _power_table(base: int, count: int) -> np.ndarray:
    size = 1 << max(10, int(count - 1).bit_length())
    return _powers(base, size)


@dataclass
class Signatures:
    """Signatures of a batch: ``sig`` (n, num_perm) uint32, all 0xFFFFFFFF where there is no shingle;
    ``shingles`` (n,) int64 number of shingles (n-gram positions, duplicates counted); ``char_mode``
    (n,) bool (True: character shingles). With ``sketch_k``: document i's bottom-k sketch (its
    ``sketch_k`` smallest distinct 32-bit shingle hashes, ascending) is
    ``sketch[sketch_offsets[i]:sketch_offsets[i+1]]``; a document with at most ``sketch_k`` distinct
    shingles has all of them in its sketch, so its Jaccard estimates are exact."""

    sig: np.ndarray
    shingles: np.ndarray
    char_mode: np.ndarray
    sketch: np.ndarray | None = None
    sketch_offsets: np.ndarray | None = None

    def sketch_of(self, i: int) -> np.ndarray:
        return self.sketch[self.sketch_offsets[i]:self.sketch_offsets[i + 1]]


def bottom_k(h32: np.ndarray, counts: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` smallest distinct values of each segment of ``h32`` (segment i has ``counts[i]``
    values): (segment index of each kept value, the values), ascending within a segment."""
    nd = counts.size
    if h32.size == 0 or k <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.uint32)
    key = np.repeat(np.arange(nd, dtype=np.uint64), counts) << _U64(32)
    key |= h32.astype(np.uint64)
    key.sort(kind="stable")  # runs of one document are contiguous: timsort merges them fast
    first = np.empty(key.size, dtype=bool)
    first[0] = True
    np.not_equal(key[1:], key[:-1], out=first[1:])
    key = key[first]
    doc = (key >> _U64(32)).astype(np.int64)
    per_doc = np.bincount(doc, minlength=nd)
    start = np.zeros(nd, dtype=np.int64)
    np.cumsum(per_doc[:-1], out=start[1:])
    keep = (np.arange(key.size, dtype=np.int64) - start[doc]) < k
    return doc[keep], (key[keep] & _U64(MASK32)).astype(np.uint32)


def sketch_jaccard(a: np.ndarray, a_offsets: np.ndarray, b: np.ndarray, b_offsets: np.ndarray, k: int) -> np.ndarray:
    """Jaccard estimates of pairs of bottom-k sketches (pair i: ``a[a_offsets[i]:a_offsets[i+1]]`` and
    the same of ``b``): among the k smallest values of the union of the two sketches (a uniform sample
    of the union of the two sets, drawn without replacement), the share present in both. Exact when
    both documents have at most k distinct shingles."""
    m = a_offsets.size - 1
    if m <= 0:
        return np.zeros(0)
    la, lb = np.diff(a_offsets), np.diff(b_offsets)
    key = np.concatenate([np.repeat(np.arange(m, dtype=np.uint64), la) << _U64(32) | a.astype(np.uint64),
                          np.repeat(np.arange(m, dtype=np.uint64), lb) << _U64(32) | b.astype(np.uint64)])
    if key.size == 0:
        return np.zeros(m)
    key.sort(kind="stable")
    dup = key[1:] == key[:-1]  # a value in both sketches (each sketch holds distinct values)
    first = np.ones(key.size, dtype=bool)
    first[1:] = ~dup
    both = np.zeros(key.size, dtype=bool)
    both[:-1] = dup
    pid = (key[first] >> _U64(32)).astype(np.int64)
    both = both[first]
    per_pair = np.bincount(pid, minlength=m)
    start = np.zeros(m, dtype=np.int64)
    np.cumsum(per_pair[:-1], out=start[1:])
    in_union_k = (np.arange(pid.size, dtype=np.int64) - start[pid]) < k
    inter = np.bincount(pid[in_union_k & both], minlength=m)
    union = np.minimum(per_pair, k)
    return np.where(union > 0, inter / np.maximum(union, 1), 0.0)


@dataclass
class MinHasher:
    """Batch MinHash with datasketch-compatible permutations (see the module docstring).

    ``shingle``: ``"auto"`` (characters for ``char_langs`` and for documents of unknown language whose
    letters are at least ``script_fraction`` Hangul/CJK/kana/Thai...; words otherwise), ``"char"`` or
    ``"word"``. ``window_chars``: documents longer than this are streamed in windows (exactly the same
    signature, bounded memory); ``batch_chars``: characters processed at once.
    """

    num_perm: int = 128
    seed: int = 1
    scheme: str = "affine32"
    shingle: str = "auto"
    char_ngram: int = 5
    word_ngram: int = 5
    char_langs: tuple[str, ...] = CHAR_LANGS
    script_fraction: float = 0.5
    normalize: bool = True
    window_chars: int = 1 << 20
    batch_chars: int = 1 << 22
    chunk: int = 0  # shingles per permutation block (0: ~4 MB blocks)
    sketch_k: int = 0  # also keep each document's bottom-k sketch of distinct shingle hashes (0: no)
    _a: np.ndarray = field(init=False, repr=False)
    _b: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {', '.join(SCHEMES)}, not {self.scheme!r}")
        if self.shingle not in SHINGLINGS:
            raise ValueError(f"shingle must be one of {', '.join(SHINGLINGS)}, not {self.shingle!r}")
        if self.num_perm < 1:
            raise ValueError("num_perm must be >= 1")
        if self.char_ngram < 1 or self.word_ngram < 1:
            raise ValueError("char_ngram and word_ngram must be >= 1")
        self.char_langs = tuple(self.char_langs)
        self._a, self._b = permutations(self.num_perm, self.seed, self.scheme)
        self._fold = fold_table(self.normalize)
        self._cont = continuous_script_table()
        if not self.chunk:
            self.chunk = max(256, (4 << 20) // (4 * self.num_perm))
        self.window_chars = max(int(self.window_chars), 64)
        self.batch_chars = max(int(self.batch_chars), self.window_chars)

    # -- public API -------------------------------------------------------------------------------

    def signatures(self, texts: Any, langs: Any = None) -> Signatures:
        """Signatures of ``texts`` (a pyarrow string array or a sequence of str/None); ``langs`` (same
        length, str/None) drives ``shingle="auto"``."""
        arr = _as_string_array(texts)
        n = len(arr)
        sig = np.full((n, self.num_perm), MASK32, dtype=np.uint32)
        nsh = np.zeros(n, dtype=np.int64)
        char_mode = np.zeros(n, dtype=bool)
        if n == 0:
            return Signatures(sig, nsh, char_mode)
        lang_mode = self._lang_modes(langs, n)  # 1 char, 0 word, -1 decide by script
        lens = pc.utf8_length(arr).to_numpy(zero_copy_only=False).astype(np.int64)
        text = _decode_all(arr, lens)
        if text is None:  # invalid UTF-8 somewhere: decode document by document, replacing bad bytes
            strs = [bytes(s.as_buffer()).decode("utf-8", "replace") if s.is_valid else "" for s in arr]
            lens = np.fromiter((len(s) for s in strs), dtype=np.int64, count=n)
            text = "".join(strs)
        starts = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(lens, out=starts[1:])
        long_docs = np.flatnonzero(lens > self.window_chars)
        sk_docs: list[np.ndarray] = []
        sk_vals: list[np.ndarray] = []
        i = 0
        while i < n:
            if lens[i] > self.window_chars:
                i += 1
                continue
            # a run of short documents holding at most batch_chars characters
            j = i
            total = 0
            while j < n and lens[j] <= self.window_chars and (j == i or total + lens[j] <= self.batch_chars):
                total += lens[j]
                j += 1
            for d, v in self._batch(text[starts[i]:starts[j]], lens[i:j], lang_mode[i:j],
                                    sig[i:j], nsh[i:j], char_mode[i:j]):
                sk_docs.append(d + i)
                sk_vals.append(v)
            i = j
        for d in long_docs.tolist():
            s, c, m, v = self._long_document(text[starts[d]:starts[d + 1]], int(lang_mode[d]))
            sig[d], nsh[d], char_mode[d] = s, c, m
            sk_docs.append(np.full(v.size, d, dtype=np.int64))
            sk_vals.append(v)
        if not self.sketch_k:
            return Signatures(sig, nsh, char_mode)
        docs = np.concatenate(sk_docs) if sk_docs else np.zeros(0, dtype=np.int64)
        vals = np.concatenate(sk_vals) if sk_vals else np.zeros(0, dtype=np.uint32)
        order = np.argsort(docs, kind="stable")
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(docs, minlength=n), out=offsets[1:])
        return Signatures(sig, nsh, char_mode, vals[order], offsets)

    # -- internals --------------------------------------------------------------------------------

    def _lang_modes(self, langs: Any, n: int) -> np.ndarray:
        if self.shingle == "char":
            return np.ones(n, dtype=np.int8)
        if self.shingle == "word":
            return np.zeros(n, dtype=np.int8)
        if langs is None:
            return np.full(n, -1, dtype=np.int8)
        if isinstance(langs, (pa.Array, pa.ChunkedArray)):
            enc = pc.dictionary_encode(langs.combine_chunks() if isinstance(langs, pa.ChunkedArray) else langs)
            values = enc.dictionary.to_pylist()
            valid = enc.indices.is_valid().to_numpy(zero_copy_only=False)
            idx = enc.indices.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
        else:
            values = sorted({v for v in langs if v}, key=str)
            pos = {v: k for k, v in enumerate(values)}
            idx = np.array([pos.get(v, 0) if v else 0 for v in langs], dtype=np.int64)
            valid = np.array([bool(v) for v in langs], dtype=bool)
        table = np.array([-1 if lang_prefix(v) is None else 1 if lang_prefix(v) in self.char_langs else 0
                          for v in values] or [-1], dtype=np.int8)
        out = np.where(valid, table[np.where(valid, idx, 0)], -1).astype(np.int8)
        return out

    def _decide(self, folded: np.ndarray, offsets: np.ndarray, lang_mode: np.ndarray) -> np.ndarray:
        """True where a document is shingled by characters (``lang_mode``: 1 char, 0 word, -1 by script)."""
        char = lang_mode == 1
        undecided = lang_mode == -1
        if undecided.any():
            letter = folded > SEP
            n_letters = _segment_counts(letter, offsets)
            n_cont = _segment_counts(letter & self._cont[folded], offsets)
            by_script = (n_letters > 0) & (n_cont >= self.script_fraction * n_letters)
            char = np.where(undecided, by_script, char)
        return char

    def _word_units(self, folded: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One 64-bit hash per word (a run of non-separators, never across documents) and the number of
        words per document; ``offsets`` (n+1) delimit the documents in ``folded``."""
        nd = offsets.size - 1
        keep = folded != DELETE
        if keep.all():
            g, goff = folded, offsets
        else:
            g = folded[keep]
            goff = np.zeros(nd + 1, dtype=np.int64)
            np.cumsum(_segment_counts(keep, offsets), out=goff[1:])
        if g.size == 0:
            return np.zeros(0, dtype=np.uint64), np.zeros(nd, dtype=np.int64)
        nonsep = g != SEP
        first = np.empty(g.size, dtype=bool)
        first[0] = True
        np.equal(g[:-1], SEP, out=first[1:])
        first[goff[:-1][goff[:-1] < g.size]] = True  # a word never continues into the next document
        word_start = nonsep & first
        counts = _segment_counts(word_start, goff)
        nwords = int(counts.sum())
        if nwords == 0:
            return np.zeros(0, dtype=np.uint64), counts
        wid = np.cumsum(word_start)[nonsep] - 1
        chars = g[nonsep].astype(np.uint64) + _U64(1)
        wlen = np.bincount(wid, minlength=nwords)
        woff = np.zeros(nwords, dtype=np.int64)
        np.cumsum(wlen[:-1], out=woff[1:])
        pos_in_word = np.arange(chars.size, dtype=np.int64) - np.repeat(woff, wlen)
        pw = _power_table(M_CHAR, int(wlen.max()))
        np.multiply(chars, pw[pos_in_word], out=chars)
        wh = fmix64(np.add.reduceat(chars, woff), inplace=True)
        return wh, counts

    def _ngram_hashes(self, units: np.ndarray, counts: np.ndarray, n: int, base: int, tag: int) -> tuple[np.ndarray, np.ndarray]:
        """32-bit hashes of every n-gram of units within each document, in document order, and the
        number of shingles per document (fewer than n units: one shingle of all of them)."""
        nd = counts.size
        N = units.size
        nsh = np.where(counts >= n, counts - n + 1, np.minimum(counts, 1)).astype(np.int64)
        if N == 0:
            return np.zeros(0, dtype=np.uint32), nsh
        pw = _powers(base, 64) if n <= 64 else _power_table(base, n)
        h = units.copy()
        tmp = np.empty_like(units)
        for k in range(1, min(n, N)):
            t = tmp[:N - k]
            np.multiply(units[k:], pw[k], out=t)
            h[:N - k] += t
        off = np.zeros(nd + 1, dtype=np.int64)
        np.cumsum(counts, out=off[1:])
        short = np.flatnonzero((counts > 0) & (counts < n))
        if short.size:  # a document shorter than n: one shingle over its units only
            st, ln = off[short], counts[short]
            hs = np.zeros(short.size, dtype=np.uint64)
            for k in range(int(ln.max())):
                m = ln > k
                hs[m] += units[st[m] + k] * pw[k]
            h[st] = hs
        valid = np.ones(N, dtype=bool)
        ends = off[1:]
        for j in range(1, n):
            sel = counts > j
            valid[ends[sel] - j] = False
        out = h[valid]
        np.bitwise_xor(out, _U64(tag), out=out)
        return fmix64(out, inplace=True).astype(np.uint32), nsh  # the low 32 bits

    def _permute_into(self, h32: np.ndarray, nsh: np.ndarray, docs: np.ndarray, sig: np.ndarray) -> None:
        """sig[docs[i]] = min over document i's shingles of the permuted hashes (rows of docs with no
        shingle stay untouched)."""
        S = h32.size
        if S == 0:
            return
        a, b = self._a, self._b
        P = self.num_perm
        if self.scheme == "affine32":
            hv = fmix32(h32)
            buf = np.empty((P, self.chunk), dtype=np.uint32)
        else:
            hv = h32.astype(np.uint64)
            buf = np.empty((P, self.chunk), dtype=np.uint64)
        soff = np.zeros(nsh.size + 1, dtype=np.int64)
        np.cumsum(nsh, out=soff[1:])
        nonempty = nsh > 0
        a_col, b_col = a[:, None], b[:, None]
        prime = _U64(MERSENNE_PRIME)
        for c0 in range(0, S, self.chunk):
            c1 = min(S, c0 + self.chunk)
            m = buf[:, :c1 - c0]
            np.multiply(a_col, hv[None, c0:c1], out=m)
            np.add(m, b_col, out=m)
            if self.scheme == "legacy":
                np.remainder(m, prime, out=m)
                np.bitwise_and(m, _U64(MASK32), out=m)
            d0 = int(np.searchsorted(soff, c0, side="right")) - 1
            d1 = int(np.searchsorted(soff, c1, side="left"))
            ds = np.arange(d0, d1)
            ds = ds[nonempty[ds]]
            segs = np.maximum(soff[ds], c0) - c0
            red = np.minimum.reduceat(m, segs, axis=1).T.astype(np.uint32)
            rows = docs[ds]
            sig[rows] = np.minimum(sig[rows], red)

    def _batch(self, text: str, lens: np.ndarray, lang_mode: np.ndarray, sig: np.ndarray, nsh: np.ndarray,
               char_mode: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Signatures of a run of documents (in place); returns their sketches as (doc, value) parts."""
        sketches = []
        nd = lens.size
        cp = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        folded = self._fold[cp]
        offsets = np.zeros(nd + 1, dtype=np.int64)
        np.cumsum(lens, out=offsets[1:])
        char = self._decide(folded, offsets, lang_mode)
        char_mode[:] = char
        docs = np.arange(nd)
        n_char = int(char.sum())
        cmask = np.repeat(char, lens) if 0 < n_char < nd else None
        if n_char:
            sel = folded > SEP
            if cmask is not None:
                sel &= cmask
            units = folded[sel].astype(np.uint64)
            units += _U64(1)
            counts = _segment_counts(sel, offsets)
            h32, ns = self._ngram_hashes(units, counts, self.char_ngram, M_CHAR, TAG_CHAR)
            nsh[char] = ns[char]
            self._permute_into(h32, ns, docs, sig)
            if self.sketch_k:
                sketches.append(bottom_k(h32, ns, self.sketch_k))
        if n_char < nd:
            if cmask is None:
                wf, woffsets = folded, offsets
            else:
                wf = folded[~cmask]
                woffsets = np.zeros(nd + 1, dtype=np.int64)
                np.cumsum(np.where(char, 0, lens), out=woffsets[1:])
            wh, counts = self._word_units(wf, woffsets)
            h32, ns = self._ngram_hashes(wh, counts, self.word_ngram, M_WORD, TAG_WORD)
            nsh[~char] = ns[~char]
            self._permute_into(h32, ns, docs, sig)
            if self.sketch_k:
                sketches.append(bottom_k(h32, ns, self.sketch_k))
        return sketches

    def _long_document(self, text: str, lang_mode: int) -> tuple[np.ndarray, int, bool, np.ndarray]:
        """Signature of one long document, streamed in windows of ``window_chars``: the last n-1 units
        of a window (and, for words, the unfinished last word) carry over, so the shingles are exactly
        those of the whole document."""
        W = self.window_chars
        sig = np.full((1, self.num_perm), MASK32, dtype=np.uint32)
        first = self._fold[np.frombuffer(text[:W].encode("utf-32-le"), dtype=np.uint32)]
        char = bool(self._decide(first, np.array([0, first.size], np.int64), np.array([lang_mode], np.int8))[0])
        n = self.char_ngram if char else self.word_ngram
        base, tag = (M_CHAR, TAG_CHAR) if char else (M_WORD, TAG_WORD)
        carry_units = np.zeros(0, dtype=np.uint64)
        carry_text = ""
        total = 0
        pos = 0
        one = np.zeros(1, dtype=np.int64)
        sketch = np.zeros(0, dtype=np.uint32)

        def add(h32: np.ndarray, ns: np.ndarray) -> None:
            nonlocal sketch
            self._permute_into(h32, ns, one, sig)
            if self.sketch_k:
                _, v = bottom_k(np.concatenate([sketch, h32]), np.array([sketch.size + h32.size]), self.sketch_k)
                sketch = v

        while pos < len(text):
            piece = carry_text + text[pos:pos + W]
            pos += W
            folded = self._fold[np.frombuffer(piece.encode("utf-32-le"), dtype=np.uint32)]
            carry_text = ""
            if char:
                units = folded[folded > SEP].astype(np.uint64) + _U64(1)
            else:
                if pos < len(text):  # keep the unfinished last word for the next window
                    seps = np.flatnonzero(folded == SEP)
                    if seps.size and seps[-1] > 0:
                        cut = int(seps[-1])
                        carry_text = piece[cut:]
                        folded = folded[:cut]
                units, _ = self._word_units(folded, np.array([0, folded.size], np.int64))
            seq = np.concatenate([carry_units, units])
            if seq.size >= n:
                h32, ns = self._ngram_hashes(seq, np.array([seq.size], np.int64), n, base, tag)
                add(h32, ns)
                total += int(ns[0])
                carry_units = seq[seq.size - (n - 1):] if n > 1 else np.zeros(0, dtype=np.uint64)
            else:
                carry_units = seq
        if total == 0 and carry_units.size:
            h32, ns = self._ngram_hashes(carry_units, np.array([carry_units.size], np.int64), n, base, tag)
            add(h32, ns)
            total = int(ns[0])
        return sig[0], total, char, sketch


def _segment_counts(mask: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Number of True values of ``mask`` in each segment ``[offsets[i], offsets[i+1])``."""
    c = np.zeros(mask.size + 1, dtype=np.int64)
    np.cumsum(mask, out=c[1:])
    return c[offsets[1:]] - c[offsets[:-1]]


def _as_string_array(texts: Any) -> pa.Array:
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    if not isinstance(texts, pa.Array):
        texts = pa.array(list(texts), type=pa.large_string())
    if not (pa.types.is_string(texts.type) or pa.types.is_large_string(texts.type)):
        texts = texts.cast(pa.large_string())
    if texts.null_count:
        texts = pc.fill_null(texts, "")
    return texts


def _decode_all(arr: pa.Array, lens: np.ndarray) -> str | None:
    """The concatenated text of ``arr`` as one str (None if it is not valid UTF-8)."""
    bufs = arr.buffers()
    odt = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    if bufs[2] is None or len(arr) == 0:
        return "" if int(lens.sum()) == 0 else None
    offsets = np.frombuffer(bufs[1], dtype=odt)[arr.offset:arr.offset + len(arr) + 1]
    data = memoryview(bufs[2])[int(offsets[0]):int(offsets[-1])]
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        return None
    if len(text) != int(lens.sum()):
        return None
    return text
