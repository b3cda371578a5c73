#!/usr/bin/env python3
"""Build sample_data/qa/squad/korean_news_squad.json: a small SQuAD-format file for tests and docs.

Why synthetic: the Korean reading-comprehension set at hand (KorQuAD 1.0) is CC BY-ND, so nothing
derived from it may enter the repository. Instead this script takes real Korean news sentences that
the repo already ships (sample_data/news/korean-english-park.dev.ko.txt, CC BY-SA 3.0; Park, Hong,
Cha 2016) and writes simple *template* questions over them. The contexts are real text; the
questions are machine-made, every answer is a span that really occurs in its context and its
``answer_start`` is checked. The file's ``version`` field says so.

Layout: the first 120 lines, 4 consecutive sentences per context (30 contexts), 3 contexts per
article (10 articles). Questions per context, when the context allows them:

* the first year written in digits ("1992년")  -> "이 글에서 숫자로 처음 언급되는 연도는?"
  (no such year in the context: the same question as a SQuAD 2.0 unanswerable one, ``is_impossible``)
* the first number with a unit from a fixed list ("1억1천만 달러"), asked about that unit
  -> "이 글에서 '달러' 단위와 함께 숫자로 처음 나오는 표현은 무엇인가?"
* the first quotation ("...")                        -> "이 글에서 따옴표 안에 인용된 첫 번째 말은 무엇인가?"
* a cloze on the first sentence (its longest word blanked) -> "다음 문장의 빈칸에 들어갈 말은 무엇인가? ..."

Deterministic: the same input gives a byte-identical file. Run from the repository root:

    python scripts/make_sample_squad.py
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "sample_data" / "news" / "korean-english-park.dev.ko.txt"
OUT = ROOT / "sample_data" / "qa" / "squad" / "korean_news_squad.json"
SENTENCES_PER_CONTEXT = 4
CONTEXTS = 30
CONTEXTS_PER_ARTICLE = 3
VERSION = ("curate-sample-synthetic-qa-1: real Korean news sentences (korean-english-park dev, CC BY-SA 3.0, "
           "Park, Hong, Cha 2016) with machine-made template questions (scripts/make_sample_squad.py); "
           "not human-written QA")

_YEAR = re.compile(r"\d{4}년")
_NUMBER = r"\d[\d,.]*(?:\s?(?:조|억|천만|백만|만|천)(?:\s?\d[\d,.]*)?)*"
_UNIT = (r"(?:%포인트|%|달러|위안|원|명|개국|개|대|건|번|배|마일|km|kw|mm|메가와트|와트|척|채|권|세|주|시간|분|"
         r"페이지)")
_QUANTITY = re.compile(rf"(?<![\d,.]){_NUMBER}\s?(?P<unit>{_UNIT})")
_QUOTE = re.compile(r"“([^”]{2,})”|\"([^\"]{2,})\"|‘([^’]{2,})’|'([^']{2,})'")
_WORD = re.compile(r"\S+")
_HANGUL_WORD = re.compile(r"^[가-힣]{3,}$")
_TRIM = ".,!?;:\"'“”‘’()[]"


def _qa(qid: str, question: str, context: str, start: int | None, answer: str | None) -> dict:
    if answer is None:
        return {"id": qid, "question": question, "answers": [], "is_impossible": True}
    assert context[start:start + len(answer)] == answer, (qid, answer)
    return {"id": qid, "question": question, "answers": [{"text": answer, "answer_start": start}],
            "is_impossible": False}


def _cloze(sentence: str, offset: int) -> tuple[str, int, str] | None:
    """Blank the longest all-Hangul word (3+ syllables, first on ties) of ``sentence``."""
    best = None
    for m in _WORD.finditer(sentence):
        word = m.group().strip(_TRIM)
        if _HANGUL_WORD.match(word) and (best is None or len(word) > len(best[1])):
            best = (m.start() + m.group().index(word), word)
    if best is None:
        return None
    start, word = best
    blanked = sentence[:start] + "___" + sentence[start + len(word):]
    return blanked, offset + start, word


def questions(context: str, first_sentence: str, prefix: str) -> list[dict]:
    qas = []
    year = _YEAR.search(context)
    q = "이 글에서 숫자로 처음 언급되는 연도는?"
    qas.append(_qa(f"{prefix}-year", q, context, year.start() if year else None, year.group() if year else None))
    quantity = _QUANTITY.search(context)
    if quantity:
        question = f"이 글에서 '{quantity.group('unit')}' 단위와 함께 숫자로 처음 나오는 표현은 무엇인가?"
        qas.append(_qa(f"{prefix}-quantity", question, context, quantity.start(), quantity.group()))
    quote = _QUOTE.search(context)
    if quote:
        group = next(i for i in range(1, 5) if quote.group(i))
        qas.append(_qa(f"{prefix}-quote", "이 글에서 따옴표 안에 인용된 첫 번째 말은 무엇인가?", context,
                       quote.start(group), quote.group(group)))
    cloze = _cloze(first_sentence, 0)
    if cloze:
        blanked, start, word = cloze
        qas.append(_qa(f"{prefix}-cloze", f"다음 문장의 빈칸에 들어갈 말은 무엇인가? \"{blanked}\"", context, start, word))
    return qas


def build() -> dict:
    lines = [line.strip() for line in SOURCE.read_text(encoding="utf-8").lstrip("\ufeff").splitlines()]
    lines = [line for line in lines if line][:CONTEXTS * SENTENCES_PER_CONTEXT]
    if len(lines) < CONTEXTS * SENTENCES_PER_CONTEXT:
        sys.exit(f"{SOURCE} has too few lines")
    data = []
    for a in range(CONTEXTS // CONTEXTS_PER_ARTICLE):
        paragraphs = []
        for k in range(CONTEXTS_PER_ARTICLE):
            c = a * CONTEXTS_PER_ARTICLE + k
            first = c * SENTENCES_PER_CONTEXT
            sentences = lines[first:first + SENTENCES_PER_CONTEXT]
            context = " ".join(sentences)
            paragraphs.append({"context": context, "qas": questions(context, sentences[0], f"kenp-dev-{c:03d}")})
        lo = a * CONTEXTS_PER_ARTICLE * SENTENCES_PER_CONTEXT + 1
        hi = lo + CONTEXTS_PER_ARTICLE * SENTENCES_PER_CONTEXT - 1
        data.append({"title": f"korean-english-park dev, sentences {lo}-{hi}", "paragraphs": paragraphs})
    return {"version": VERSION, "data": data}


def main() -> None:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(build(), ensure_ascii=False, indent=1) + "\n"
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)} ({len(text.encode()):,} bytes)")


if __name__ == "__main__":
    main()
