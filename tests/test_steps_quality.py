"""Quality and repetition filters: gopher_repetition, gopher_quality, c4_quality, repeated_chars.

The vectorized steps are checked against plain-Python reference implementations written here from
the rules as Rae et al. 2021 (Gopher, A.1.1 / Table A1) and Raffel et al. 2020 (C4, section 2.2)
state them and as datatrove's GopherRepetitionFilter / GopherQualityFilter / C4QualityFilter code
them (one document at a time, loops, Counter, sets), on real documents from sample_data (Korean
reviews and news, English news, StackExchange posts, patents, web pages in several scripts) plus
crafted repetitive ones.
"""

from __future__ import annotations

import functools
import html
import itertools
import json
import math
import re
import unicodedata
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import curate.steps  # noqa: F401  (registers the steps)
from curate.pipeline.batch import documents_batch
from curate.pipeline.params import ParamError, build_params
from curate.pipeline.recipe import parse_recipe
from curate.pipeline.runner import Pipeline
from curate.pipeline.step import STEPS
from curate.steps import quality as Q
from curate.steps import repetition as R

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"


# ---------------------------------------------------------------------------------------------------
# real documents from sample_data


def _strip_html(raw: str) -> str:
    raw = re.sub(r"(?is)<(script|style|noscript)\b.*?</\1>", " ", raw)
    raw = re.sub(r"(?i)<br\s*/?>|</(p|div|li|h\d|tr|pre|blockquote)>", "\n", raw)
    text = html.unescape(re.sub(r"<[^>]+>", " ", raw))
    text = re.sub(r"[ \t]+", " ", text)
    return re.sub(r"\n\s*\n\s*\n+", "\n\n", text).strip()


@functools.lru_cache(maxsize=None)
def reviews() -> list[str]:
    import zstandard

    data = zstandard.ZstdDecompressor().stream_reader(open(SAMPLE / "reviews/nsmc_reviews.jsonl.zst", "rb")).read()
    return [json.loads(line)["review"] for line in data.decode("utf-8").splitlines()]


@functools.lru_cache(maxsize=None)
def news(lang: str, per_doc: int = 8) -> list[str]:
    lines = (SAMPLE / f"news/korean-english-park.dev.{lang}.txt").read_text(encoding="utf-8").splitlines()
    return ["\n".join(lines[i:i + per_doc]) for i in range(0, len(lines), per_doc)]


@functools.lru_cache(maxsize=None)
def posts() -> dict[str, str]:
    out = {}
    for _, el in ET.iterparse(SAMPLE / "qa/coffee.stackexchange.com/Posts.xml"):
        if el.tag == "row":
            body = _strip_html(el.get("Body") or "")
            title = el.get("Title")
            out[el.get("Id")] = f"{title}\n\n{body}" if title else body
            el.clear()
    return out


@functools.lru_cache(maxsize=None)
def patents() -> list[str]:
    files = sorted(p for p in (SAMPLE / "patents").rglob("*") if p.is_file())
    return [_strip_html(p.read_text(encoding="utf-8", errors="replace")) for p in files]


@functools.lru_cache(maxsize=None)
def web_pages() -> list[str]:
    return [_strip_html(p.read_text(encoding="utf-8", errors="replace"))
            for p in sorted((SAMPLE / "web/html").glob("*.html"))]


CRAFTED = [
    "",
    "   \n\n  ",
    "same line\n" * 10,
    "\n".join(["• Home", "• About us", "• Products", "• Contact", "• Careers", "• Blog", "• Press", "• FAQ",
               "• Privacy", "• Terms"]),
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit. Sed do eiusmod tempor incididunt ut labore et "
    "dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris.",
    "ㅋㅋㅋㅋㅋㅋㅋㅋㅋㅋㅋㅋㅋㅋ",
    "ㅋㅋㅋ 재밌다",
    "재밌다ㅋㅋㅋㅋㅋㅋㅋ 진짜!!!!!! 최고       영화.......",
    "buy now buy now buy now buy now buy now buy now buy now buy now",
    "a b c d e f g a b c d e f g h a b c d e f g h i a b c d e f g x y z b c d e f g h",
    "one two three four five six seven\r\none two three four five six seven\r\neight nine ten eleven twelve.\r\n",
    "Para one is here.\n\nPara one is here.\n\nPara two is different.\n\n\n\nPara one is here.",
    "東京は日本の首都です。東京は日本の首都です。東京は日本の首都です。大阪も大きな都市です。",
    "中华人民共和国是一个国家。中华人民共和国是一个国家。",
    "word " * 300,
    "The function is {x: 1}. It works well in practice. We use it daily. It is good. It is fast.",
    "Enable JavaScript to view this page. This is a sentence. Another one here. And one more. Five now. Six.",
    "Read our privacy policy here. " + "This is a good sentence with words.\n" * 6,
    "Trailing ellipsis line...\nAnother one...\nAnd a third one…\nFinally a normal line of text.",
    "# Heading\n## Sub heading\n### Third\n#### fourth # # # #\nSome words here and there.",
    "Citation test.[1] More text here, a full sentence.[citation needed]\nAnd [edit] another line is here.",
    "x" * 1200 + " is a very long word. Then a normal line with words.",
    "한국어 문장입니다. 이것은 테스트입니다! 정말 그런가요? 그렇습니다. 다섯 번째 문장입니다.\n짧은 줄\n",
    "Ünïcödé  wörds\u00a0with\u3000odd\u2028spaces and a tab\there. And ... dots … end",
    "\ufeffBOM text — with “quotes” and ‘single’ ones. “Quoted sentence.”",
]


@functools.lru_cache(maxsize=None)
def corpus() -> list[str]:
    rev = reviews()
    runs = [t for t in rev if re.search(r"(\S)\1{4,}", t)][:60]
    se = list(posts().values())
    docs = rev[:150] + runs + news("ko")[:40] + news("en")[:40] + se[:150] + patents() + web_pages() + CRAFTED
    return docs


# ---------------------------------------------------------------------------------------------------
# reference implementations (one document at a time, plain Python)


@functools.lru_cache(maxsize=None)
def _cjk_set() -> frozenset:
    """Characters of the Han, Hiragana and Katakana scripts (the classification is data: taken from
    the same Unicode tables the step's regex uses)."""
    cps = [c for c in range(0x40000) if not 0xD800 <= c <= 0xDFFF]
    hit = pc.match_substring_regex(pa.array([chr(c) for c in cps]), pattern=R.CJK_CHARS).to_numpy(zero_copy_only=False)
    return frozenset(chr(c) for c, h in zip(cps, hit) if h)


def ref_words(text: str, split_cjk: bool = True) -> list[str]:
    if split_cjk:
        cjk = _cjk_set()
        text = "".join(f" {c} " if c in cjk else c for c in text)
    return text.split()


def ref_find_duplicates(x: list[str]) -> tuple[int, int]:
    seen, dup_chars, dup_n = set(), 0, 0
    for e in x:
        if e in seen:
            dup_chars += len(e)
            dup_n += 1
        else:
            seen.add(e)
    return dup_n, dup_chars


def ref_top_chars(words: list[str], n: int, min_count: int = 1) -> int:
    grams = [" ".join(words[i:i + n]) for i in range(len(words) - n + 1)]
    if not grams:
        return 0
    gram, count = Counter(grams).most_common(1)[0]
    return len(gram) * count if count >= min_count else 0


def ref_dup_chars(words: list[str], n: int) -> int:
    seen, rep, idx = set(), 0, 0
    while idx < len(words) - n + 1:
        gram = tuple(words[idx:idx + n])
        if gram in seen:
            rep += len("".join(gram))
            idx += n
        else:
            seen.add(gram)
            idx += 1
    return rep


REP_RULES = [("dup_para_frac", 0.3), ("dup_para_char_frac", 0.2), ("dup_line_frac", 0.3), ("dup_line_char_frac", 0.2),
             ("top_2_gram", 0.2), ("top_3_gram", 0.18), ("top_4_gram", 0.16), ("duplicated_5_n_grams", 0.15),
             ("duplicated_6_n_grams", 0.14), ("duplicated_7_n_grams", 0.13), ("duplicated_8_n_grams", 0.12),
             ("duplicated_9_n_grams", 0.11), ("duplicated_10_n_grams", 0.10)]


def ref_gopher_repetition(text: str, min_count: int = 1) -> tuple[dict[str, float], str | None]:
    L = len(text)

    def frac(x: float) -> float:
        return x / L if L else 0.0

    paras = re.split(r"\n{2,}", text.strip())
    pd, pc_ = ref_find_duplicates(paras)
    lines = re.split("\n+", text)
    ld, lc = ref_find_duplicates(lines)
    words = ref_words(text)
    m = {"dup_para_frac": pd / len(paras), "dup_para_char_frac": frac(pc_),
         "dup_line_frac": ld / len(lines), "dup_line_char_frac": frac(lc)}
    for n in (2, 3, 4):
        m[f"top_{n}_gram"] = frac(ref_top_chars(words, n, min_count))
    for n in range(5, 11):
        m[f"duplicated_{n}_n_grams"] = frac(ref_dup_chars(words, n))
    reason = next((name for name, thr in REP_RULES if m[name] > thr), None)
    return m, reason


REP_COLUMNS = {"dup_para_frac": "gopher_rep_dup_para_frac", "dup_para_char_frac": "gopher_rep_dup_para_char_frac",
               "dup_line_frac": "gopher_rep_dup_line_frac", "dup_line_char_frac": "gopher_rep_dup_line_char_frac",
               **{f"top_{n}_gram": f"gopher_rep_top_{n}gram_frac" for n in (2, 3, 4)},
               **{f"duplicated_{n}_n_grams": f"gopher_rep_dup_{n}gram_frac" for n in range(5, 11)}}


def _cat(c: str) -> str:
    return unicodedata.category(c)


def _trim_symbols(w: str) -> str:
    i, j = 0, len(w)
    while i < j and _cat(w[i])[0] in "PS":
        i += 1
    while j > i and _cat(w[j - 1])[0] in "PS":
        j -= 1
    return w[i:j]


def ref_gopher_quality(text: str, stop_words=("the", "be", "to", "of", "and", "that", "have", "with"),
                       min_avg: float | None = 3, max_avg: float | None = 10, min_stop: int | None = 2,
                       min_words: int | None = 50) -> tuple[dict[str, float], str | None]:
    words = ref_words(text)
    n_tokens = len(words)
    real = [w for w in words if any(_cat(c)[0] not in "PSC" for c in w)]
    n = len(real)
    avg = sum(len(_trim_symbols(w)) for w in real) / n if n else math.nan
    lines = text.splitlines()
    stops = set(stop_words)
    m = {
        "gopher_q_words": n,
        "gopher_q_avg_word_len": avg,
        "gopher_q_hash_ratio": text.count("#") / n_tokens if n_tokens else 0.0,
        "gopher_q_ellipsis_ratio": (text.count("...") + text.count("…")) / n_tokens if n_tokens else 0.0,
        "gopher_q_bullet_lines_frac": (sum(s.lstrip().startswith(("•", "-")) for s in lines) / len(lines)
                                       if lines else 0.0),
        "gopher_q_ellipsis_lines_frac": (sum(s.rstrip().endswith(("...", "…")) for s in lines) / len(lines)
                                         if lines else 0.0),
        "gopher_q_alpha_words_frac": (sum(any(c.isalpha() for c in w) for w in words) / n_tokens
                                      if n_tokens else 0.0),
        "gopher_q_stop_words": len({_trim_symbols(w).lower() for w in words} & stops),  # distinct, as datatrove
    }
    checks = [
        ("gopher_short_doc", min_words is not None and n < min_words),
        ("gopher_long_doc", n > 100_000),
        ("gopher_below_avg_threshold", min_avg is not None and avg < min_avg),
        ("gopher_above_avg_threshold", max_avg is not None and avg > max_avg),
        ("gopher_too_many_hashes", m["gopher_q_hash_ratio"] > 0.1),
        ("gopher_too_many_ellipsis", m["gopher_q_ellipsis_ratio"] > 0.1),
        ("gopher_too_many_bullets", m["gopher_q_bullet_lines_frac"] > 0.9),
        ("gopher_too_many_end_ellipsis", m["gopher_q_ellipsis_lines_frac"] > 0.3),
        ("gopher_below_alpha_threshold", m["gopher_q_alpha_words_frac"] < 0.8),
        ("gopher_enough_stop_words", min_stop is not None and m["gopher_q_stop_words"] < min_stop),
    ]
    return m, next((name for name, failed in checks if failed), None)


C4_CITATION = re.compile(r"\[\d*]|\[edit]|\[citation needed]")
C4_END = (".", "?", "!", '"', "'", "。", "！", "？")
C4_POLICY = ["terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies"]
C4_SENT = re.compile(r"[.!?。！？]+[\"'”’)\]」』]*(?:\s|$)")


def ref_c4(text: str, min_sentences: int = 5) -> tuple[dict[str, int], str | None, str]:
    """datatrove's C4QualityFilter.filter, with the punctuation sentence counter."""
    lines = text.splitlines()
    st = Counter()
    kept, sentences, reason = [], 0, None
    for line in lines:
        line = line.strip()
        words = line.split()
        if any(len(w) > 1000 for w in words):
            st["long_word"] += 1
            continue
        line = C4_CITATION.sub("", line)
        if not line.endswith(C4_END) or line.endswith("..."):
            st["no_terminal_punct"] += 1
            continue
        if len(words) < 3:
            st["too_few_words"] += 1
            continue
        low = line.lower()
        if "lorem ipsum" in low:
            reason = reason or "lorem_ipsum"
            continue
        if "javascript" in low:
            st["javascript"] += 1
            continue
        if "{" in line:
            reason = reason or "curly_bracket"
            continue
        if any(p in low for p in C4_POLICY):
            st["policy"] += 1
            continue
        sentences += max(1, len(C4_SENT.findall(line)))
        kept.append(line)
    if reason is None and sentences < min_sentences:
        reason = "too_few_sentences"
    m = {"c4_lines": len(lines), "c4_lines_removed": len(lines) - len(kept), "c4_sentences": sentences,
         **{f"c4_lines_{k}": st[k] for k in ("long_word", "no_terminal_punct", "too_few_words", "javascript",
                                            "policy")}}
    return m, reason, "\n".join(kept).strip()


def ref_repeated_chars(text: str, min_run: int = 5, squash_to: int | None = None) -> tuple[int, float, str]:
    runs = [(ch, len(list(g))) for ch, g in itertools.groupby(text)]
    counted = [(ch, n) for ch, n in runs if not ch.isspace()]
    max_run = max((n for _, n in counted), default=0)
    frac = sum(n for _, n in counted if n >= min_run) / len(text) if text else 0.0
    squashed = "".join(ch * (squash_to if squash_to and not ch.isspace() and n >= min_run else n) for ch, n in runs)
    return max_run, frac, squashed


# ---------------------------------------------------------------------------------------------------
# helpers


def step(name: str, **params):
    cls = STEPS[name]
    return cls(build_params(cls.Params, params, name))


def run(st, texts: list[str], batch_size: int | None = None):
    """Apply a step over ``texts`` in batches; return keep, reasons, metrics (numpy) and texts."""
    batch_size = batch_size or max(len(texts), 1)
    keep, reasons, texts_out, metrics = [], [], [], {}
    for i in range(0, len(texts), batch_size):
        R._WORDS_CACHE.clear()
        b = documents_batch(texts[i:i + batch_size])
        res = st.apply(b)
        k = np.ones(b.num_rows, bool) if res.keep is None else np.asarray(res.keep, bool)
        keep.append(k)
        r = res.reason
        reasons += [None] * b.num_rows if r is None else ([r if not kk else None for kk in k] if isinstance(r, str)
                                                          else list(r))
        out = res.batch if res.batch is not None else b
        texts_out += out.column("text").to_pylist()
        for key, v in res.metrics.items():
            arr = v.to_numpy(zero_copy_only=False) if isinstance(v, (pa.Array, pa.ChunkedArray)) else np.asarray(v)
            metrics.setdefault(key, []).append(arr)
    return (np.concatenate(keep), reasons, {k: np.concatenate(v) for k, v in metrics.items()}, texts_out)


def label(reason: str | None) -> str | None:
    return None if reason is None else reason.split(" ")[0]


# ---------------------------------------------------------------------------------------------------
# gopher_repetition


def test_gopher_repetition_matches_reference():
    docs = corpus()
    keep, reasons, m, _ = run(step("gopher_repetition", all_metrics=True), docs, batch_size=97)
    mismatches = []
    for i, text in enumerate(docs):
        ref, ref_reason = ref_gopher_repetition(text)
        for name, col in REP_COLUMNS.items():
            if not math.isclose(m[col][i], ref[name], rel_tol=1e-9, abs_tol=1e-12):
                mismatches.append((i, name, m[col][i], ref[name], text[:60]))
        if label(reasons[i]) != ref_reason or keep[i] != (ref_reason is None):
            mismatches.append((i, "reason", reasons[i], ref_reason, text[:60]))
    assert not mismatches, mismatches[:10]
    assert 0 < keep.sum() < len(docs)


def test_gopher_repetition_lazy_metrics_same_decisions():
    docs = corpus()
    k_all, r_all, m_all, _ = run(step("gopher_repetition", all_metrics=True), docs)
    k, r, m, _ = run(step("gopher_repetition"), docs)
    assert (k == k_all).all() and r == r_all
    for n in range(5, 11):
        col = f"gopher_rep_dup_{n}gram_frac"
        measured = ~np.isnan(m[col])
        assert np.allclose(m[col][measured], m_all[col][measured])
        assert measured[k].all()  # every kept document was measured


def test_gopher_repetition_batching_independent():
    docs = corpus()
    a = run(step("gopher_repetition", all_metrics=True), docs, batch_size=len(docs))
    b = run(step("gopher_repetition", all_metrics=True), docs, batch_size=5)
    assert (a[0] == b[0]).all() and a[1] == b[1]
    for col in a[2]:
        assert np.allclose(a[2][col], b[2][col])


def test_greedy_duplicate_count_random_against_loop():
    rng = np.random.default_rng(7)
    for _ in range(400):
        n = int(rng.integers(2, 7))
        docs = [[str(x) for x in rng.integers(0, int(rng.integers(1, 5)), size=int(rng.integers(0, 60)))]
                for _ in range(int(rng.integers(1, 4)))]
        texts = [" ".join(d) for d in docs]
        words = R.split_words(pa.array(texts), False)
        R._WORDS_CACHE.clear()
        _, dup = R.ngram_repetition(words, [], [n])
        got = R.greedy_duplicate_chars(*dup[n])
        assert got.tolist() == [ref_dup_chars(d, n) for d in docs], (n, docs)


def test_gopher_repetition_drops_repeated_lines_and_keeps_prose():
    st = step("gopher_repetition")
    answer = posts()["18"]
    texts = ["Buy cheap watches here!\n" * 10, ("Click here to subscribe now. " * 30).strip(), answer,
             news("en")[3]]
    keep, reasons, m, _ = run(st, texts)
    assert keep.tolist() == [False, False, True, True], reasons
    assert reasons[0].startswith("dup_para") or reasons[0].startswith("dup_line")
    assert m["gopher_rep_dup_line_frac"][0] == pytest.approx(0.9 / 1.0 * 10 / 11)  # 9 of 11 "\n+" pieces


def test_gopher_repetition_short_texts_top_ngram_min_count():
    # datatrove semantics: a two-word text's top 2-gram is all of it, so short texts fail top_2_gram;
    # top_ngram_min_count = 2 counts only n-grams that actually repeat
    texts = ["ㅋㅋㅋ 재밌다", "정말 재밌는 영화였다 다시 보고 싶다"]
    keep, reasons, _, _ = run(step("gopher_repetition"), texts)
    assert not keep.any() and all(r.startswith("top_2_gram") for r in reasons)
    keep, _, m, _ = run(step("gopher_repetition", top_ngram_min_count=2), texts)
    assert keep.all() and (m["gopher_rep_top_2gram_frac"] == 0).all()


def test_gopher_repetition_cjk_characters_are_words():
    text = "東京は日本の首都です。" * 4
    _, reasons, m, _ = run(step("gopher_repetition"), [text])
    assert m["gopher_rep_top_2gram_frac"][0] > 0.2 and reasons[0].startswith("top_2_gram")
    _, _, m2, _ = run(step("gopher_repetition", split_cjk=False), [text])
    assert m2["gopher_rep_top_2gram_frac"][0] == 0  # one "word": no 2-grams at all


# ---------------------------------------------------------------------------------------------------
# gopher_quality


def test_gopher_quality_matches_reference():
    docs = corpus()
    keep, reasons, m, _ = run(step("gopher_quality"), docs, batch_size=101)
    bad = []
    for i, text in enumerate(docs):
        ref, ref_reason = ref_gopher_quality(text)
        for col, v in ref.items():
            got = m[col][i]
            if not (math.isclose(got, v, rel_tol=1e-9, abs_tol=1e-12) or (math.isnan(v) and math.isnan(got))):
                bad.append((i, col, got, v, text[:60]))
        if label(reasons[i]) != ref_reason:
            bad.append((i, "reason", reasons[i], ref_reason, text[:60]))
    assert not bad, bad[:10]
    assert 0 < keep.sum() < len(docs)


def test_gopher_quality_korean_settings_match_reference():
    docs = news("ko") + reviews()[:200]
    st = step("gopher_quality", min_avg_word_length=None, max_avg_word_length=None, stop_words="ko", min_doc_words=30)
    keep, reasons, m, _ = run(st, docs)
    for i, text in enumerate(docs):
        ref, ref_reason = ref_gopher_quality(text, stop_words=Q.STOP_WORDS["ko"], min_avg=None, max_avg=None,
                                             min_words=30)
        assert m["gopher_q_stop_words"][i] == ref["gopher_q_stop_words"]
        assert label(reasons[i]) == ref_reason, (text, reasons[i], ref_reason)
    assert keep[:len(news("ko"))].mean() > 0.9  # Korean news paragraphs pass
    assert keep[len(news("ko")):].mean() < 0.05  # one-line reviews are too short


def test_gopher_quality_keeps_stackexchange_answer_drops_boilerplate():
    st = step("gopher_quality")
    answer = posts()["18"]
    bullets = "\n".join(f"• Item number {i} in the big list of links for the site and the rest" for i in range(30))
    hashtags = " ".join(f"#tag{i} the word" for i in range(60))
    keep, reasons, _, _ = run(st, [answer, bullets, hashtags, "too short to be a document."])
    assert keep.tolist() == [True, False, False, False], reasons
    assert reasons[1].startswith("gopher_too_many_bullets")
    assert reasons[2].startswith("gopher_too_many_hashes")
    assert reasons[3] == "gopher_short_doc 6 < 50"


def test_gopher_quality_korean_news_kept_with_korean_settings():
    text = news("ko")[2]
    keep, reasons, _, _ = run(step("gopher_quality"), [text])
    assert not keep[0] and reasons[0].startswith("gopher_enough_stop_words")  # English stop words
    st = step("gopher_quality", min_avg_word_length=None, max_avg_word_length=None, stop_words="ko")
    keep, reasons, m, _ = run(st, [text])
    assert keep[0], reasons
    assert m["gopher_q_alpha_words_frac"][0] > 0.9  # Hangul counts as alphabetic


# ---------------------------------------------------------------------------------------------------
# c4_quality


def test_c4_quality_matches_reference():
    docs = corpus()
    keep, reasons, m, texts = run(step("c4_quality"), docs, batch_size=89)
    bad = []
    for i, text in enumerate(docs):
        ref, ref_reason, ref_text = ref_c4(text)
        for col, v in ref.items():
            if m[col][i] != v:
                bad.append((i, col, m[col][i], v, text[:60]))
        if label(reasons[i]) != ref_reason:
            bad.append((i, "reason", reasons[i], ref_reason, text[:60]))
        if keep[i] and texts[i] != ref_text:
            bad.append((i, "text", texts[i][:80], ref_text[:80]))
    assert not bad, bad[:10]
    assert 0 < keep.sum() < len(docs)


def test_c4_quality_rewrites_lines():
    page = "\n".join([
        "Home | News | Sports",
        "The committee met on Tuesday to discuss the new budget proposal.",
        "Members raised concerns about the cost of the program.",
        "Please enable JavaScript in your browser to continue.",
        "The chair said a vote would take place next week.",
        "This site uses cookies to improve your experience.",
        "Critics argued that the plan lacked detail.",
        "Supporters said it would create jobs.",
        "Share",
    ])
    keep, reasons, m, texts = run(step("c4_quality"), [page, "Lorem ipsum dolor sit amet, consectetur adipiscing "
                                                               "elit.\n" + page, page.replace("Tuesday", "{Tuesday}")])
    assert keep.tolist() == [True, False, False]
    assert texts[0].splitlines() == [
        "The committee met on Tuesday to discuss the new budget proposal.",
        "Members raised concerns about the cost of the program.",
        "The chair said a vote would take place next week.",
        "Critics argued that the plan lacked detail.",
        "Supporters said it would create jobs."]
    assert m["c4_lines"][0] == 9 and m["c4_lines_removed"][0] == 4
    assert m["c4_lines_javascript"][0] == 1 and m["c4_lines_policy"][0] == 1
    assert m["c4_lines_no_terminal_punct"][0] == 2 and m["c4_sentences"][0] == 5
    assert reasons[1] == "lorem_ipsum" and reasons[2] == "curly_bracket"


def test_c4_quality_korean_and_cjk_terminal_punctuation():
    ko = "\n".join(news("ko")[0].splitlines()[:6])
    ja = "東京は日本の首都です。\n大阪は大きな都市です。\n京都は古い都です。\n奈良には鹿がいます。\n北海道は寒いです。"
    keep, reasons, m, _ = run(step("c4_quality"), [ko, ja])
    assert keep[0], reasons  # Korean sentences end in "다."
    # Japanese lines end in "。" but are one whitespace word each: min_words_per_line drops them
    assert not keep[1] and m["c4_lines_too_few_words"][1] == 5
    keep, _, _, _ = run(step("c4_quality", min_words_per_line=None), [ja])
    assert keep[0]


def test_c4_quality_sentence_mode():
    text = ("The first sentence is here. The second one follows it! Is this the third one? Yes it is.\n"
            "A fifth sentence ends the page. Menu")
    keep, reasons, m, texts = run(step("c4_quality", split_paragraph=False), [text])
    assert keep[0], reasons
    assert texts[0] == ("The first sentence is here. The second one follows it! Is this the third one? "
                        "Yes it is. A fifth sentence ends the page.")
    assert m["c4_sentences"][0] == 5 and m["c4_lines"][0] == 6 and m["c4_lines_removed"][0] == 1


# ---------------------------------------------------------------------------------------------------
# repeated_chars


def test_repeated_chars_matches_reference():
    docs = corpus()
    st = step("repeated_chars", squash_to=3)
    keep, reasons, m, texts = run(st, docs, batch_size=64)
    for i, text in enumerate(docs):
        max_run, frac, squashed = ref_repeated_chars(text, squash_to=3)
        assert m["char_run_max"][i] == max_run, text
        assert m["char_run_frac"][i] == pytest.approx(frac, abs=1e-12), text
        assert keep[i] == (frac <= 0.5)
        if keep[i]:
            assert texts[i] == squashed


def test_repeated_chars_drops_spam_keeps_laughter():
    texts = ["ㅋㅋㅋ 재밌다", "ㅋㅋㅋㅋㅋㅋㅋㅋㅋㅋㅋㅋㅋㅋ", "!!!!!!!!!!!!!!!", "재밌다ㅋㅋㅋㅋㅋㅋ 다시 봐도 명작이네요", "^^^^^^^^",
             "정말 최고의 영화였어요 다시 보고 싶네요.........."]
    keep, reasons, m, _ = run(step("repeated_chars"), texts)
    assert keep.tolist() == [True, False, False, True, False, True], reasons
    assert reasons[1] == "char_run_frac 1.00 > 0.50"
    assert m["char_run_max"].tolist() == [3, 14, 15, 6, 8, 10]
    keep, _, _, out = run(step("repeated_chars", max_run_fraction=None, squash_to=2), texts)
    assert keep.all() and out[1] == "ㅋㅋ" and out[3] == "재밌다ㅋㅋ 다시 봐도 명작이네요"
    keep, reasons, _, _ = run(step("repeated_chars", max_run_fraction=None, max_run=9), texts)
    assert keep.tolist() == [True, False, False, True, True, False]


def test_repeated_chars_on_real_reviews_drops_few():
    keep, _, _, _ = run(step("repeated_chars"), reviews())
    assert 0.99 < keep.mean() < 1.0


# ---------------------------------------------------------------------------------------------------
# contracts: parameters, recipes, batches


@pytest.mark.parametrize("name,params", [
    ("gopher_repetition", {"dup_line_frac": 1.5}),
    ("gopher_repetition", {"top_n_grams": {"two": 0.2}}),
    ("gopher_repetition", {"top_ngram_min_count": 0}),
    ("gopher_quality", {"max_non_alpha_words_ratio": 2.0}),
    ("gopher_quality", {"stop_words": "klingon"}),
    ("gopher_quality", {"min_doc_words": 100, "max_doc_words": 10}),
    ("c4_quality", {"min_num_sentences": -1}),
    ("c4_quality", {"terminal_punct": [""]}),
    ("repeated_chars", {"min_run": 1}),
    ("repeated_chars", {"squash_to": 9}),
])
def test_bad_parameters_are_rejected(name, params):
    with pytest.raises(ParamError):
        build_params(STEPS[name].Params, params, name)


def test_recipe_runs_all_four_steps():
    recipe = parse_recipe("""
name = "quality"
[[steps]]
name = "repeated_chars"
squash_to = 3
[[steps]]
name = "gopher_repetition"
top_n_grams = { 2 = 0.2, 3 = 0.18 }
dup_n_grams = { 5 = 0.15, 10 = 0.1 }
[[steps]]
name = "gopher_quality"
[[steps]]
name = "c4_quality"
""")
    rep = recipe.steps[1]
    assert set(rep.metric_columns()) == {*R.REP_METRICS_FIXED, "gopher_rep_top_2gram_frac", "gopher_rep_top_3gram_frac",
                                         "gopher_rep_dup_5gram_frac", "gopher_rep_dup_10gram_frac"}
    docs = list(posts().values())[:300] + CRAFTED
    kept, decisions = Pipeline(recipe).apply_batch(documents_batch(docs))
    assert decisions.num_rows == len(docs)
    assert kept.num_rows == decisions.filter(pc.field("kept")).num_rows > 0
    dropped = decisions.filter(~pc.field("kept"))
    assert dropped.column("reason").null_count == 0
    assert set(dropped.column("dropped_by").to_pylist()) <= {"repeated_chars", "gopher_repetition",
                                                             "gopher_quality", "c4_quality"}
    assert decisions.schema.field("gopher_q_words").type == pa.int64()


def test_recipe_in_docs_is_valid():
    doc = (Path(__file__).resolve().parent.parent / "docs/steps/quality.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```toml\n(.*?)```", doc, flags=re.S)
    assert blocks
    for block in blocks:
        recipe = parse_recipe(block)
        kept, decisions = Pipeline(recipe).apply_batch(documents_batch(news("ko")[:20] + reviews()[:20]))
        assert decisions.num_rows == 40 and kept.num_rows > 0


def test_sliced_batch_and_all_empty():
    docs = corpus()
    b = documents_batch(docs).slice(37, 120)
    for name in ("gopher_repetition", "gopher_quality", "c4_quality", "repeated_chars"):
        R._WORDS_CACHE.clear()
        res = STEPS[name]().apply(b)
        R._WORDS_CACHE.clear()
        ref = STEPS[name]().apply(documents_batch(docs[37:157]))
        assert np.array_equal(np.asarray(res.keep), np.asarray(ref.keep)), name
        for k in res.metrics:
            assert np.allclose(np.asarray(res.metrics[k], float), np.asarray(ref.metrics[k], float), equal_nan=True)
        empty = STEPS[name]().apply(documents_batch(["", "", " "]))
        assert len(np.asarray(empty.keep)) == 3


def test_gopher_quality_counts_distinct_stop_words():
    """Gopher's rule asks for 2 different stop words: 'the the' is one (datatrove counts the same way)."""
    text = " ".join(["the"] * 3 + ["cat"] * 60)
    keep, reasons, m, _ = run(step("gopher_quality"), [text, text.replace("cat", "cat and", 1)])
    assert list(m["gopher_q_stop_words"]) == [1, 2]
    assert not keep[0] and reasons[0].startswith("gopher_enough_stop_words")
