"""Pattern recognizers for the ``pii`` step: Korean identifiers first, then international ones.

Every recognizer is a presidio ``PatternRecognizer`` (so it plugs into presidio's ``AnalyzerEngine``
like the stock ones), with three changes that matter for Korean text and for running offline:

* **Boundaries that work next to Hangul.** Presidio's stock patterns use ``\\b``; Korean particles
  attach to the number (``010-1234-5678로``, ``900101-1234567입니다``), and since Hangul is a word
  character there is no ``\\b`` between ``8`` and ``로``: the stock patterns miss those. Here a
  number must not touch another digit or ASCII letter, nor continue as a longer dash/dot-separated
  digit sequence (so an account number is never read as a phone number plus digits).
* **Context words without an NLP model.** Presidio raises scores with context words through spaCy
  lemmas; with the offline ``NoOpNlpEngine`` there are no tokens, so stock context never fires.
  :meth:`ContextPatternRecognizer.enhance_using_context` (presidio's recognizer-level hook) looks for
  the words in a character window before and after the match instead: Korean context words
  (``계좌``, ``연락처``, ``주민번호``) are matched as substrings, because particles attach to them
  (``계좌번호는``); ASCII words must not sit inside a longer ASCII word (``ip`` is not in ``ship``).
* **Scores that mean something.** A score of 0.5 or more is masked on its own (the default
  threshold); weaker shapes (a bare 13-digit run, a 12-digit run) need a context word, which adds
  ``CONTEXT_BOOST``. Checksums (RRN, FRN, BRN, Luhn, IBAN) raise confidence; only where every valid
  number carries one (cards, IBAN, BRN without context) does a failed checksum reject. Resident
  registration numbers issued since October 2020 carry no checksum, so a failed RRN checksum never
  rejects.

Korean recognizers follow presidio's own (``KrRrnRecognizer``, ``KrFrnRecognizer``, ``KrBrnRecognizer``,
``KrPassportRecognizer``, ``KrDriverLicenseRecognizer`` in presidio-analyzer 2.2): same entity names,
same checksums (tests check that they agree), wider layouts and Korean context words.

Patterns use Python's ``re`` (compiled once per process). Full-width forms
(``０１０－１２３４－５６７８``, ``ｈｏｎｇ＠ｎａｖｅｒ．ｃｏｍ``) are read as ASCII by the engine before they
get here (curate.pii.engine).
"""

from __future__ import annotations

import ipaddress
import re
from calendar import monthrange
from typing import Callable, Iterable, Optional

from curate.pii import import_presidio

import_presidio()  # before the first presidio import: keeps transformers/torch out of the process

from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer, RecognizerResult  # noqa: E402

LANGUAGE = "xx"  # one analyzer language for every document: the patterns do not depend on the language
# Recognition metadata flag of a *generic* match: a digit group next to "phone", a number the
# phonenumbers library reads as valid in some region. Where it overlaps a specific match (an RRN, an
# account with its bank's name, a licence number) the specific one wins whatever the scores
# (curate.pii.engine.resolve_overlaps): "주민번호 앞뒤 다 0504064176030" is an RRN, although
# some region's numbering plan would also accept it.
GENERIC_KEY = "curate_generic"


# --- shared regex pieces --------------------------------------------------------------------------

DASH = "[-\u2010\u2011\u2012\u2013\u2014\u2212\uFF0D]"  # hyphen-minus, hyphens, en/em dash, minus, full-width
SEP = rf"(?:\s?{DASH}\s?|[ .])"  # one separator inside a number: dash (spaces around allowed), space, dot
# Boundaries of a number: no digit or ASCII letter next to it, and it does not continue a longer
# dash- or dot-separated digit sequence (a date, an account, a version string). NB is the left
# boundary written *after* the number's first digit ("\d{NB}..."): a pattern that starts with a
# character class lets Python's regex engine jump from digit to digit instead of trying every
# position (15x faster on Korean news than a leading lookbehind).
NB = rf"(?<![\dA-Za-z]\d)(?<!\d{DASH}\d)(?<!\d\.\d)"
RB = rf"(?![\dA-Za-z])(?!{DASH}\d)(?!\.\d)"

_NON_DIGITS = re.compile(r"\D")
_DIGIT = re.compile(r"\d")
_LAST_DIGIT = re.compile(r"\d(?=\D*$)")


def digits_of(s: str) -> str:
    """The decimal digits of ``s`` as ASCII (full-width and other Unicode digits converted)."""
    return "".join(str(int(c)) for c in _NON_DIGITS.sub("", s))


def luhn_ok(d: str) -> bool:
    """Luhn (mod 10) check of an ASCII digit string, as presidio's CreditCardRecognizer does it."""
    total = 0
    for i, c in enumerate(reversed(d)):
        n = ord(c) - 48
        if i % 2:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def birth_date_ok(d: str, gender: int) -> bool:
    """YYMMDD of a resident/foreigner registration number is a real calendar date."""
    yy, mm, dd = int(d[0:2]), int(d[2:4]), int(d[4:6])
    if not 1 <= mm <= 12 or dd < 1:
        return False
    century = {1: 1900, 2: 1900, 5: 1900, 6: 1900, 3: 2000, 4: 2000, 7: 2000, 8: 2000, 9: 1800, 0: 1800}[gender]
    return dd <= monthrange(century + yy, mm)[1]


def rrn_checksum_ok(d: str) -> bool:
    """Check digit of a resident registration number issued before October 2020 (KoreanRrnRecognizer)."""
    s = sum(int(d[i]) * w for i, w in enumerate((2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)))
    return (11 - s % 11) % 10 == int(d[12])


def frn_checksum_ok(d: str) -> bool:
    """Check digit of a foreign registration number issued before October 2020 (KoreanFrnRecognizer)."""
    s = sum(int(d[i]) * w for i, w in enumerate((2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)))
    return (13 - s % 11) % 10 == int(d[12])


def brn_checksum_ok(d: str) -> bool:
    """Check digit of a business registration number (KoreanBrnRecognizer)."""
    keys = (1, 3, 7, 1, 3, 7, 1, 3, 5)
    s = sum(int(d[i]) * keys[i] for i in range(8))
    last = int(d[8]) * 5
    s += last // 10 + last
    return (10 - s % 10) % 10 == int(d[9])


_PHONE_CHARS = frozenset("0123456789+()-./ \u00a0\u2010\u2011\u2012\u2013\u2014\u2212\uff0d")
_URL_TOKEN = re.compile(r"(?:[A-Za-z][A-Za-z0-9+.\-]*://|www\.)\S*$")


def in_url(text: str, start: int) -> bool:
    """``text[start]`` is inside a URL: the whitespace-delimited token up to it has a scheme or www."""
    lo = max(0, start - 300)
    cut = max(text.rfind(" ", lo, start), text.rfind("\n", lo, start), text.rfind("\t", lo, start))
    token = text[cut + 1 if cut >= 0 else lo:start]
    return "/" in token and _URL_TOKEN.search(token) is not None


def _context_regex(words: Iterable[str]) -> re.Pattern[str] | None:
    """One regex for a list of context words. An ASCII word must not be part of a longer ASCII word
    (``ip`` is not in ``ship``). A Hangul word matches as a substring, since particles attach
    (``계좌번호는``, ``연락처로``) and compounds prefix it (``입금계좌``, ``비상연락처``); a word written
    ``^하나`` must start a word: bank names that are also common syllables (``안하나``, ``우리는``)."""
    parts = []
    for w in sorted(set(words), key=len, reverse=True):
        start = w.startswith("^")
        w = w.lstrip("^")
        esc = re.escape(w.lower())
        if w.isascii():
            parts.append(rf"(?<![a-z]){esc}(?![a-z])")
        elif start:
            parts.append(rf"(?<![\uac00-\ud7a3a-z]){esc}")
        else:
            parts.append(esc)
    return re.compile("|".join(parts), re.IGNORECASE) if parts else None


# --- the base class -------------------------------------------------------------------------------


class ContextPatternRecognizer(PatternRecognizer):
    """A presidio pattern recognizer with per-match scoring and character-window context words.

    Subclasses set ``ENTITY``, ``PATTERNS`` (presidio ``Pattern`` objects; a named group ``v``, when
    present, is the span to mask), ``CONTEXT`` and may override :meth:`score` to validate a match
    (return 0 to reject it).
    """

    ENTITY: str = ""
    PATTERNS: list[Pattern] = []
    CONTEXT: list[str] = []
    CONTEXT_BOOST = 0.35
    WINDOW_BEFORE = 40  # characters before the match searched for context words
    WINDOW_AFTER = 20  # and after it ("110-123-456789 (신한)", "781 1704 office")
    FLAGS = 0
    GENERIC: frozenset[str] = frozenset()  # names of patterns that only say "some number" (see below)
    SKIP_IN_URL = True  # digits inside a URL are ids ("/posts/2395361813834269"), not someone's number
    REQUIRES: str | None = None  # a regex the text must contain before the patterns run (a cheap pre-check)
    PATTERN_REQUIRES: dict[str, str] = {}  # the same per pattern name

    def __init__(self, context: Optional[list[str]] = None, supported_language: str = LANGUAGE,
                 context_boost: Optional[float] = None) -> None:
        patterns = [Pattern(p.name, p.regex, p.score) for p in self.PATTERNS]
        super().__init__(supported_entity=self.ENTITY, name=type(self).__name__, supported_language=supported_language,
                         patterns=patterns, context=list(context if context is not None else self.CONTEXT),
                         global_regex_flags=self.FLAGS)
        if context_boost is not None:
            self.CONTEXT_BOOST = context_boost
        self._compiled = [(p, re.compile(p.regex, self.FLAGS),
                           re.compile(self.PATTERN_REQUIRES[p.name]) if p.name in self.PATTERN_REQUIRES else None)
                          for p in self.patterns]
        self._context_re = _context_regex(self.context)
        self._requires = re.compile(self.REQUIRES) if self.REQUIRES else None

    def score(self, pattern: Pattern, match: re.Match[str], value: str) -> float:
        """The confidence of one match (``pattern.score`` unless a subclass validates); 0 rejects."""
        return pattern.score

    def analyze(self, text: str, entities: list[str], nlp_artifacts=None, regex_flags=None) -> list[RecognizerResult]:
        if self._requires is not None and self._requires.search(text) is None:
            return []
        results = []
        meta = {RecognizerResult.RECOGNIZER_NAME_KEY: self.name, RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id}
        for pattern, rx, pre in self._compiled:
            if pre is not None and pre.search(text) is None:
                continue
            for m in rx.finditer(text):
                g = "v" if "v" in rx.groupindex else 0
                start, end = m.span(g)
                if start == end:
                    continue
                s = self.score(pattern, m, m.group(g))
                if s > 0 and self.SKIP_IN_URL and in_url(text, start):
                    continue
                if s > 0:
                    md = dict(meta)
                    if pattern.name in self.GENERIC:
                        md[GENERIC_KEY] = True
                    results.append(RecognizerResult(self.ENTITY, start, end, min(s, 1.0), recognition_metadata=md))
        return EntityRecognizer.remove_duplicates(results) if len(results) > 1 else results

    def has_context(self, text: str, start: int, end: int) -> bool:
        """A context word near ``text[start:end]`` that belongs to it rather than to a neighbouring
        number. Before the match: within ``WINDOW_BEFORE`` characters and after the previous digit
        (labels precede their number: ``연락처 010-1234-5678, 계좌 110-123-456789``: ``계좌`` is the
        account's). After it: within ``WINDOW_AFTER`` characters, before the next digit, and no
        closer to the next number than to this one (``110-123-456789 (신한)`` counts, but in
        ``1800-3600 feet, 고객센터 1588-1234`` the label belongs to the second number)."""
        rx = self._context_re
        if rx is None:
            return False
        lo = max(0, start - self.WINDOW_BEFORE)
        m = _LAST_DIGIT.search(text, lo, start)
        if rx.search(text, m.end() if m is not None else lo, start):
            return True
        hi = min(len(text), end + self.WINDOW_AFTER)
        m = _DIGIT.search(text, end, hi)
        if m is None:
            return rx.search(text, end, hi) is not None
        nxt = m.start()
        for w in rx.finditer(text, end, nxt):
            word_end = w.end()  # the label runs to the end of its word ("고객센터로", "전화번호는")
            while word_end < nxt and text[word_end].isalnum():
                word_end += 1
            if w.start() - end <= nxt - word_end:
                return True
        return False

    def enhance_using_context(self, text, raw_recognizer_results, other_raw_recognizer_results, nlp_artifacts,
                              context=None) -> list[RecognizerResult]:
        """Presidio's recognizer-level context hook: add ``CONTEXT_BOOST`` when a context word is near."""
        for r in raw_recognizer_results:
            if r.score < 1.0 and self.has_context(text, r.start, r.end):
                r.score = min(1.0, r.score + self.CONTEXT_BOOST)
                r.recognition_metadata[RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY] = True
        return raw_recognizer_results


# --- Korean ---------------------------------------------------------------------------------------


class KoreanRrnRecognizer(ContextPatternRecognizer):
    """Korean resident registration number (주민등록번호): YYMMDD-GNNNNNN, G = 1..4.

    The birth date must be a real date. Written with a dash it is masked on its own; with a space,
    barely (0.5); as 13 bare digits it needs a valid check digit or a context word. Numbers issued
    since October 2020 have a random last digit: the checksum raises confidence, it never rejects.
    """

    ENTITY = "KR_RRN"
    GENDERS = "1-4"
    PATTERNS = [
        Pattern("rrn dash", rf"(?P<v>\d{NB}\d{{5}}\s?{DASH}\s?[{GENDERS}]\d{{6}})" + RB, 0.75),
        Pattern("rrn space/dot", rf"(?P<v>\d{NB}\d{{5}}[ .][{GENDERS}]\d{{6}})" + RB, 0.5),
        Pattern("rrn bare", rf"(?P<v>\d{NB}\d{{5}}[{GENDERS}]\d{{6}})" + RB, 0.3),
    ]
    CONTEXT = ["주민등록", "주민번호", "주민 번호", "주민등록번호", "주번", "생년월일", "resident registration", "rrn"]
    CHECKSUM_BOOST = 0.3

    @staticmethod
    def checksum_ok(d: str) -> bool:
        return rrn_checksum_ok(d)

    def score(self, pattern: Pattern, match: re.Match[str], value: str) -> float:
        d = digits_of(value)
        if len(d) != 13 or not birth_date_ok(d, int(d[6])):
            return 0.0
        s = pattern.score
        if self.checksum_ok(d):
            s += self.CHECKSUM_BOOST
        return s


class KoreanFrnRecognizer(KoreanRrnRecognizer):
    """Korean foreign registration number (외국인등록번호): YYMMDD-GNNNNNN, G = 5..8."""

    ENTITY = "KR_FRN"
    GENDERS = "5-8"
    PATTERNS = [
        Pattern("frn dash", rf"(?P<v>\d{NB}\d{{5}}\s?{DASH}\s?[{GENDERS}]\d{{6}})" + RB, 0.75),
        Pattern("frn space/dot", rf"(?P<v>\d{NB}\d{{5}}[ .][{GENDERS}]\d{{6}})" + RB, 0.5),
        Pattern("frn bare", rf"(?P<v>\d{NB}\d{{5}}[{GENDERS}]\d{{6}})" + RB, 0.3),
    ]
    CONTEXT = ["외국인등록", "외국인 등록", "외국인번호", "등록번호", "foreigner registration", "alien registration", "frn"]

    @staticmethod
    def checksum_ok(d: str) -> bool:
        return frn_checksum_ok(d)


class KoreanBrnRecognizer(ContextPatternRecognizer):
    """Korean business registration number (사업자등록번호): NNN-NN-NNNNN with a check digit."""

    ENTITY = "KR_BRN"
    PATTERNS = [
        Pattern("brn dash", rf"(?P<v>\d{NB}\d{{2}}{DASH}\d{{2}}{DASH}\d{{5}})" + RB, 0.65),
        Pattern("brn bare", rf"(?P<v>\d{NB}\d{{9}})" + RB, 0.2),
    ]
    CONTEXT = ["사업자", "등록번호", "business registration", "brn", "tax id"]

    def score(self, pattern: Pattern, match: re.Match[str], value: str) -> float:
        d = digits_of(value)
        if brn_checksum_ok(d):
            return pattern.score
        # a dashed number with a wrong check digit may still be written as one ("사업자번호 123-45-67890")
        return 0.15 if pattern.name == "brn dash" else 0.0


class KoreanPassportRecognizer(ContextPatternRecognizer):
    """Korean passport number: M123A4567 (since 2021; masked on its own) or M12345678 (older; needs
    a context word such as 여권)."""

    ENTITY = "KR_PASSPORT"
    _L = r"[MSRODmsrod](?<![A-Za-z0-9][MSRODmsrod])"  # the letter, not preceded by a letter or digit
    PATTERNS = [
        Pattern("passport current", rf"(?P<v>{_L}\d{{3}}[A-Za-z]\d{{4}})(?![A-Za-z0-9])", 0.5),
        Pattern("passport previous", rf"(?P<v>{_L}\d{{8}})(?![A-Za-z0-9])", 0.2),
    ]
    CONTEXT = ["여권", "passport"]


# region names printed on licences since 2011 instead of the two-digit code
_DL_REGIONS = ("서울|부산|경기|강원|충북|충남|전북|전남|경북|경남|제주|대구|인천|광주|대전|울산|세종|경기남부|경기북부"
               "|전북특별자치도|강원특별자치도")
_DL_CODES = {"11", "12", "13", "14", "15", "16", "17", "18", "19", "20", "21", "22", "23", "24", "25", "26", "28"}


class KoreanDriverLicenseRecognizer(ContextPatternRecognizer):
    """Korean driver's licence number: RR-YY-NNNNNN-CC (RR a region code 11..28 or a region name)."""

    ENTITY = "KR_DRIVER_LICENSE"
    PATTERNS = [
        Pattern("licence region name", rf"(?P<v>(?:{_DL_REGIONS})\s?\d{{2}}{DASH}\d{{6}}{DASH}\d{{2}})" + RB, 0.7),
        Pattern("licence dash", rf"(?P<v>\d{NB}\d{DASH}\d{{2}}{DASH}\d{{6}}{DASH}\d{{2}})" + RB, 0.55),
        Pattern("licence bare", rf"(?P<v>\d{NB}\d{{11}})" + RB, 0.2),
    ]
    CONTEXT = ["운전면허", "면허번호", "면허증", "driver's license", "driver license", "driving licence", "driver's licence"]

    def score(self, pattern: Pattern, match: re.Match[str], value: str) -> float:
        if pattern.name != "licence region name" and digits_of(value)[:2] not in _DL_CODES:
            return 0.0
        return pattern.score


# Korean phone numbers. After the leading 0: mobile 10, 11, 16-19; Seoul 2; area codes 31-33, 41-44,
# 51-55, 61-64; 70 (internet phone), 80 (toll-free), 502-508 (personal safe numbers).
_KR_MOBILE = "1[016789]"
_KR_PREFIX = r"1[016789]|2|3[1-3]|4[1-4]|5[1-5]|6[1-4]|70|80|50[2-8]"
_CLOSE = r"(?:\)\s?)"


class KoreanPhoneRecognizer(ContextPatternRecognizer):
    """Korean phone numbers: mobile 010 and 011-019, landlines 02 and 0xx, 070/080/050x, and the
    8-digit representative numbers 15xx/16xx/18xx; separated by ``-``, ``.``, space, ``)`` or
    nothing; ``+82`` forms. Bare digit runs other than 010 need a context word."""

    ENTITY = "PHONE_NUMBER"
    PATTERNS = [
        Pattern("kr intl", rf"(?P<v>\+(?<![\dA-Za-z]\+)\s?82[ .\-]?(?:\(0\)\s?)?0?(?P<p>{_KR_PREFIX})(?:{_CLOSE}|{SEP})?\d{{3,4}}{SEP}?\d{{4}})" + RB, 0.85),
        Pattern("kr parenthesized", rf"(?P<v>\(0(?P<p>{_KR_PREFIX})\)\s?\d{{3,4}}{SEP}\d{{4}})" + RB, 0.65),
        Pattern("kr separated", rf"(?P<v>0{NB}(?P<p>{_KR_PREFIX})(?:{_CLOSE}|{SEP})?\d{{3,4}}{SEP}\d{{4}})" + RB, 0.65),
        Pattern("kr bare", rf"(?P<v>0{NB}(?P<p>{_KR_PREFIX})\d{{7,8}})" + RB, 0.3),
        Pattern("kr representative", rf"(?P<v>1{NB}[568]\d\d{SEP}\d{{4}})" + RB, 0.55),
        Pattern("kr representative bare", rf"(?P<v>1{NB}[568]\d{{6}})" + RB, 0.15),
    ]
    CONTEXT = ["전화", "연락", "휴대폰", "핸드폰", "휴대전화", "폰번호", "문의", "팩스", "콜센터", "고객센터", "대표번호",
               "담당", "tel", "phone", "telephone", "fax", "mobile", "cell", "call", "contact"]

    def score(self, pattern: Pattern, match: re.Match[str], value: str) -> float:
        name = pattern.name
        if name in ("kr separated", "kr bare"):
            prefix = match.group("p")
            n = len(digits_of(value))
            if prefix == "10":
                if n != 11:
                    return 0.0
                return 0.85 if name == "kr separated" else 0.6  # 010 + 8 digits is unmistakable
            if prefix.startswith("1"):  # 011, 016-019: 10 or 11 digits
                return pattern.score + 0.1 if name == "kr separated" else 0.4
            if prefix == "70" and n != 11:
                return 0.0
        if name == "kr representative":
            a, b = int(digits_of(value)[:4]), int(digits_of(value)[4:])
            # "1592-1598" (years), "1800-3600 feet", "1500-2000원": a range, not 1588-xxxx
            if 0 < b - a <= 300 or (b > a and b % 100 == 0):
                return 0.15
        return pattern.score


# Bank account numbers: digit groups joined by dashes as Korean banks print them.
KNOWN_ACCOUNT_LAYOUTS = {
    (3, 3, 6),  # 신한 110-123-456789, 케이뱅크
    (3, 2, 6),  # SC제일
    (6, 2, 6),  # 국민, 농협 (old), 우체국
    (3, 2, 4, 3),  # 국민 (old)
    (4, 3, 6),  # 우리 1002-123-456789
    (3, 6, 5),  # 하나 123-123456-12345
    (3, 4, 4, 2),  # 농협 302-1234-1234-11, 부산
    (3, 6, 2, 3),  # 기업 123-123456-12-123
    (4, 2, 7),  # 카카오뱅크 3333-01-1234567
    (4, 4, 4),  # 토스뱅크 1000-1234-5678, 수협
    (4, 4, 4, 1),  # 새마을금고 9002-1234-5678-9
    (3, 2, 6, 1),  # 대구 123-12-123456-1
    (3, 6, 3),  # 씨티 etc.
    (3, 4, 6),  # 경남, 광주
    (6, 2, 5), (3, 3, 5), (3, 5, 3), (3, 2, 5, 1), (4, 2, 6), (3, 4, 4, 3), (2, 3, 6), (3, 6, 2),
}


class KoreanBankAccountRecognizer(ContextPatternRecognizer):
    """Korean bank account numbers: 10-14 digits in dash-separated groups (layouts of the main banks),
    or bare. Account numbers have no public checksum, so the score comes from the layout and from
    context words (계좌, 은행, 입금, 예금주, bank names): a known layout needs one of them nearby, as
    does a bare digit run."""

    ENTITY = "KR_BANK_ACCOUNT"
    CONTEXT_BOOST = 0.4
    WINDOW_BEFORE = 40
    WINDOW_AFTER = 24
    PATTERNS = [
        Pattern("account groups", rf"(?P<v>\d{NB}\d{{1,5}}(?:{DASH}\d{{1,7}}){{2,3}})" + RB, 0.15),
        Pattern("account bare", rf"(?P<v>\d{NB}\d{{9,13}})" + RB, 0.1),
    ]
    CONTEXT = ["계좌", "입금", "송금", "이체", "예금주", "통장", "은행", "뱅크", "무통장", "환불", "후원", "우체국",
               "새마을", "^농협", "^신한", "^국민", "^우리", "^하나", "^기업", "^신협", "^수협", "^카뱅", "^카카오", "^토스",
               "^씨티", "^sc제일", "^부산", "^대구", "^경남", "^광주", "^전북", "^제주", "^산업", "^저축", "^증권",
               "kb", "nh", "ibk", "account", "bank", "acct"]

    def score(self, pattern: Pattern, match: re.Match[str], value: str) -> float:
        if pattern.name == "account groups":
            groups = tuple(len(g) for g in re.split(DASH, value))
            n = sum(groups)
            if not 10 <= n <= 14:
                return 0.0
            return 0.35 if groups in KNOWN_ACCOUNT_LAYOUTS else pattern.score
        return pattern.score


# --- international --------------------------------------------------------------------------------

# Issuer prefixes: Visa 4, Mastercard 51-55 / 2221-2720, Amex 34/37, Diners 30/36/38/39, JCB 35 /
# 1800 / 2131, Discover / UnionPay / Maestro 6, Maestro 50/56-58, Korean domestic cards 9.
_IIN = re.compile(r"4|5[0-8]|2(?:2[2-9]|[3-6]|7[01]|720)|3[0-9]|6|1800|2131|9")


class PaymentCardRecognizer(ContextPatternRecognizer):
    """Payment card numbers, 13-19 digits, Luhn check required (like presidio's CreditCardRecognizer);
    grouped 4-4-4-4(-3) or 4-6-5/4-6-4 with a consistent separator, or bare."""

    ENTITY = "CREDIT_CARD"
    PATTERNS = [
        Pattern("card 4x4", rf"(?P<v>\d{NB}\d{{3}}(?P<s>[ \-]|{DASH})\d{{4}}(?P=s)\d{{4}}(?P=s)\d{{4}}(?:(?P=s)\d{{3}})?)" + RB, 0.85),
        Pattern("card 4-6-5", rf"(?P<v>\d{NB}\d{{3}}(?P<s>[ \-]|{DASH})\d{{6}}(?P=s)\d{{4,5}})" + RB, 0.85),
        Pattern("card bare", rf"(?P<v>\d{NB}\d{{12,18}})" + RB, 0.6),
    ]
    CONTEXT = ["카드", "결제", "credit", "card", "visa", "mastercard", "amex", "american express", "discover", "jcb",
               "diners", "maestro", "unionpay"]

    def score(self, pattern: Pattern, match: re.Match[str], value: str) -> float:
        d = digits_of(value)
        if not 13 <= len(d) <= 19 or not luhn_ok(d) or len(set(d)) == 1:
            return 0.0
        known = _IIN.match(d) is not None and not (len(d) == 13 and d[:3] in ("978", "979"))  # ISBN-13
        if pattern.name != "card bare":
            return pattern.score if known else 0.5
        if not known:
            return 0.2
        return pattern.score if len(d) >= 15 else 0.4


class EmailAddressRecognizer(ContextPatternRecognizer):
    """E-mail addresses with an ASCII domain whose public suffix is known (tldextract's bundled
    suffix list, read offline). Unlike presidio's pattern, the domain stops before Hangul, so
    ``hong@naver.com으로`` is found as ``hong@naver.com``."""

    ENTITY = "EMAIL_ADDRESS"
    PATTERNS = [
        Pattern("email", r"(?P<v>[A-Za-z0-9](?<![A-Za-z0-9_%+\-][A-Za-z0-9])(?<![A-Za-z0-9_%+\-.]\.[A-Za-z0-9])(?:[A-Za-z0-9._%+\-]{0,63}[A-Za-z0-9_%+\-])?"
                         r"@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24})(?![A-Za-z0-9\-])",
                1.0),
    ]
    CONTEXT = ["email", "e-mail", "mail", "메일", "이메일"]
    REQUIRES = "@"
    SKIP_IN_URL = False  # "?email=kim@naver.com" is still an address

    def __init__(self, suffix_ok: Callable[[str], bool], **kwargs) -> None:
        self._suffix_ok = suffix_ok
        super().__init__(**kwargs)

    def score(self, pattern: Pattern, match: re.Match[str], value: str) -> float:
        return pattern.score if self._suffix_ok(value.rsplit("@", 1)[1]) else 0.0


_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_H = "[0-9A-Fa-f]{1,4}"
_IPV6 = (rf"(?:(?:{_H}:){{7}}{_H}|(?:{_H}:){{1,7}}:|(?:{_H}:){{1,6}}:{_H}|(?:{_H}:){{1,5}}(?::{_H}){{1,2}}"
         rf"|(?:{_H}:){{1,4}}(?::{_H}){{1,3}}|(?:{_H}:){{1,3}}(?::{_H}){{1,4}}|(?:{_H}:){{1,2}}(?::{_H}){{1,5}}"
         rf"|{_H}:(?::{_H}){{1,6}}|:(?::{_H}){{1,7}}|(?:{_H}:){{6}}{_OCTET}(?:\.{_OCTET}){{3}}"
         rf"|::(?:ffff(?::0{{1,4}})?:)?{_OCTET}(?:\.{_OCTET}){{3}})")


class IpAddressRecognizer(ContextPatternRecognizer):
    """IPv4 and IPv6 addresses (checked with ``ipaddress``), presidio's patterns with boundaries that
    work next to Hangul. Dotted quads of single digits (``1.2.3.4``, version-like) need context."""

    ENTITY = "IP_ADDRESS"
    PATTERNS = [
        # octets and prefix length are checked by ipaddress
        Pattern("ipv4", r"(?P<v>\d(?<![\dA-Za-z.]\d)\d{0,2}(?:\.\d{1,3}){3}(?:/\d{1,2})?)(?![\dA-Za-z])(?!\.\d)", 0.6),
        Pattern("ipv6", rf"(?<![0-9A-Za-z_:.])(?P<v>{_IPV6}(?:%[0-9A-Za-z]+)?(?:/(?:12[0-8]|1[01]\d|[1-9]?\d))?)(?![0-9A-Za-z_:]|\.\d)", 0.6),
    ]
    CONTEXT = ["ip", "ipv4", "ipv6", "아이피", "서버", "접속", "address", "host", "주소"]
    PATTERN_REQUIRES = {"ipv6": r"[0-9A-Fa-f]:[0-9A-Fa-f:]|::"}
    SKIP_IN_URL = False  # "http://203.0.113.7/admin": the host is an address

    def score(self, pattern: Pattern, match: re.Match[str], value: str) -> float:
        try:
            addr = ipaddress.ip_interface(value).ip
        except ValueError:
            return 0.0
        if addr.is_multicast or addr.is_loopback or addr.is_unspecified or addr.is_reserved:
            return 0.0  # protocol constants (224.0.0.1, 127.0.0.1, 0.0.0.0, 240.0.0.0/4) identify no one
        if pattern.name == "ipv4":
            return 0.3 if all(len(p) == 1 for p in value.split("/")[0].split(".")) else pattern.score
        groups = [g for g in value.split("%")[0].split("/")[0].split(":") if g]
        if len(groups) < 3 and not any(c.isdigit() for c in value):
            return 0.2  # "cafe::bad"-like words
        return pattern.score if len(groups) >= 3 or "." in value else 0.4


class SsnRecognizer(ContextPatternRecognizer):
    """US social security numbers AAA-GG-SSSS (presidio's UsSsnRecognizer rules: no 000/666/9xx area,
    no 00 group, no 0000 serial); other separators and bare 9 digits need a context word."""

    ENTITY = "US_SSN"
    PATTERNS = [
        Pattern("ssn dash", rf"(?P<v>\d{NB}\d{{2}}{DASH}\d{{2}}{DASH}\d{{4}})" + RB, 0.5),
        Pattern("ssn space/dot", rf"(?P<v>\d{NB}\d{{2}}(?P<s>[ .])\d{{2}}(?P=s)\d{{4}})" + RB, 0.3),
        Pattern("ssn bare", rf"(?P<v>\d{NB}\d{{8}})" + RB, 0.15),
    ]
    CONTEXT = ["ssn", "social security", "social-security", "sozialversicherung", "사회보장"]

    def score(self, pattern: Pattern, match: re.Match[str], value: str) -> float:
        d = digits_of(value)
        if d[:3] in ("000", "666") or d[0] == "9" or d[3:5] == "00" or d[5:] == "0000" or len(set(d)) == 1:
            return 0.0
        return pattern.score


class IntlPhoneRecognizer(ContextPatternRecognizer):
    """Phone numbers outside Korea by shape: ``+CC`` numbers, and digit groups next to a context word
    ("Phone: 467 3395", "082 490 1693-Office"). Numbers valid in the configured regions are found by
    :class:`PhoneNumbersRecognizer` (the phonenumbers library)."""

    ENTITY = "PHONE_NUMBER"
    PATTERNS = [
        Pattern("intl plus", r"(?P<v>\+(?<![\dA-Za-z]\+)\d{1,3}(?:[ .\-]?\(\d{1,4}\))?(?:[ .\-]?\d{1,5}){2,6})" + RB, 0.6),
        Pattern("grouped", rf"(?P<v>\d{NB}\d{{1,4}}(?:[ .\-]\d{{2,5}}){{1,4}})" + RB, 0.15),
        Pattern("grouped parenthesized", r"(?P<v>\(\d{1,4}\)\s?\d{2,5}(?:[ .\-]\d{2,5}){0,4})" + RB, 0.15),
    ]
    CONTEXT = ["phone", "tel", "telephone", "fax", "mobile", "cell", "call", "office", "contact", "whatsapp",
               "전화", "연락", "휴대폰", "핸드폰", "팩스", "담당"]
    GENERIC = frozenset({"grouped", "grouped parenthesized"})

    def score(self, pattern: Pattern, match: re.Match[str], value: str) -> float:
        n = len(digits_of(value))
        if pattern.name == "intl plus":
            return pattern.score if 8 <= n <= 15 else 0.0
        return pattern.score if 7 <= n <= 15 else 0.0


class PhoneNumbersRecognizer(ContextPatternRecognizer):
    """Phone numbers valid in the given regions, found by the phonenumbers library (Google's
    libphonenumber), as presidio's PhoneRecognizer does; one scan per region. A number needs at
    least 7 digits in a row of phone-like characters, which is checked first."""

    ENTITY = "PHONE_NUMBER"
    # the pattern is the cheap pre-check; its score (presidio's PhoneRecognizer's) is the matches' score
    PATTERNS = [Pattern("phonenumbers", r"\d(?:[\s().\-/]{0,3}\d){6}", 0.4)]
    BARE_SCORE = 0.2  # a bare digit run that the library reads as some region's number: weaker still
    CONTEXT = IntlPhoneRecognizer.CONTEXT + KoreanPhoneRecognizer.CONTEXT

    def __init__(self, regions: Iterable[str], leniency: int = 1, score_threshold: float = 0.5, **kwargs) -> None:
        import phonenumbers

        self._pn = phonenumbers
        self.regions = tuple(regions)
        self.leniency = leniency
        super().__init__(**kwargs)
        self._precheck = self._compiled[0][1]
        # Scanning a page full of digits costs phonenumbers ~0.5 s per region. When a match without a
        # context word cannot reach the threshold, only the text around context words is scanned
        # (the result is the same: the others would be dropped).
        self.context_only = self.patterns[0].score < score_threshold

    def _windows(self, text: str) -> list[tuple[int, int]]:
        """Stretches of ``text`` where a number would have a context word in reach, widened so that
        they never cut through a number (they stop at a character that cannot be part of one)."""
        spans: list[tuple[int, int]] = []
        for w in self._context_re.finditer(text):
            lo, hi = max(0, w.start() - self.WINDOW_AFTER - 32), min(len(text), w.end() + self.WINDOW_BEFORE + 32)
            while lo > 0 and text[lo - 1] in _PHONE_CHARS:
                lo -= 1
            while hi < len(text) and text[hi] in _PHONE_CHARS:
                hi += 1
            if spans and lo <= spans[-1][1]:
                spans[-1] = (spans[-1][0], max(hi, spans[-1][1]))
            else:
                spans.append((lo, hi))
        return spans

    def analyze(self, text: str, entities: list[str], nlp_artifacts=None, regex_flags=None) -> list[RecognizerResult]:
        if not self.regions or self._precheck.search(text) is None:
            return []
        windows = self._windows(text) if self.context_only else [(0, len(text))]
        meta = {RecognizerResult.RECOGNIZER_NAME_KEY: self.name, RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id}
        score = self.patterns[0].score
        seen, results = set(), []
        for lo, hi in windows:
            part = text[lo:hi]
            if self._precheck.search(part) is None:
                continue
            for region in self.regions:
                for m in self._pn.PhoneNumberMatcher(part, region, leniency=self.leniency):
                    span = (lo + m.start, lo + m.end)
                    if span not in seen:
                        seen.add(span)
                        s = self.BARE_SCORE if m.raw_string.isdigit() else score
                        results.append(RecognizerResult(self.ENTITY, span[0], span[1], s,
                                                        recognition_metadata={**meta, GENERIC_KEY: True}))
        return results


class IbanCodeRecognizer(ContextPatternRecognizer):
    """IBANs: presidio's IbanRecognizer (per-country layout and the mod-97 check), run only on text
    that has two capital letters followed by two digits somewhere."""

    ENTITY = "IBAN_CODE"
    PATTERNS = [Pattern("iban pre-check", r"[A-Z]{2}\d\d", 0.5)]
    CONTEXT = ["iban", "송금", "bank", "account"]

    def __init__(self, **kwargs) -> None:
        from presidio_analyzer.predefined_recognizers import IbanRecognizer as PresidioIban

        super().__init__(**kwargs)
        self._iban = PresidioIban(supported_language=self.supported_language)
        self._precheck = self._compiled[0][1]

    def analyze(self, text: str, entities: list[str], nlp_artifacts=None, regex_flags=None) -> list[RecognizerResult]:
        if self._precheck.search(text) is None:
            return []
        results = self._iban.analyze(text, [self.ENTITY], nlp_artifacts)
        for r in results:
            r.recognition_metadata = {RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                                      RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id}
        return results
