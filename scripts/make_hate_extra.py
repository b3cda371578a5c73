"""Rebuild ``curate/models/hate_ko/data/clean_none.txt``: formal Korean text labeled ``none``.

The comments of kocohub/korean-hate-speech teach a model what toxic and clean *comments* look
like, but never show it formal prose: trained on comments alone, it scores ~73% of clean news
sentences as toxic (docs/quality.md, "Hate speech"). This file adds, as ``__label__none``:

* the distinct news titles of the same dataset (``news_title/train.news_title.txt``, CC BY-SA 4.0;
  one CSV-quoted title per comment, so duplicates are removed and quotes undone), and
* the half of ``sample_data/news/korean-english-park.dev.ko.txt`` (CC BY-SA 3.0) whose
  XXH64(line, seed 0) is even; the odd half is kept for measuring false positives on news.

    python scripts/make_hate_extra.py --titles ../shared/corpora/korean_hate_speech/train.news_title.txt

Output lines are sorted, so the file is the same whatever the input order.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import xxhash

ROOT = Path(__file__).resolve().parents[1]
NEWS = ROOT / "sample_data" / "news" / "korean-english-park.dev.ko.txt"
OUT = ROOT / "curate" / "models" / "hate_ko" / "data" / "clean_none.txt"


def unquote(s: str) -> str:
    s = s.strip()
    if len(s) >= 2 and s[0] == '"' and s[-1] == '"':
        s = s[1:-1].replace('""', '"')
    return " ".join(s.split())


def news_half(lines: list[str], even: bool) -> list[str]:
    return [" ".join(s.split()) for s in lines
            if s.strip() and (xxhash.xxh64_intdigest(s.encode("utf-8"), 0) % 2 == 0) == even]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--titles", type=Path, required=True, help="kocohub news_title/train.news_title.txt")
    ap.add_argument("--news", type=Path, default=NEWS)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    titles = {unquote(t) for t in args.titles.read_text(encoding="utf-8").splitlines()}
    news = news_half(args.news.read_text(encoding="utf-8").splitlines(), even=True)
    texts = sorted({t for t in titles | set(news) if t})
    args.out.write_text("".join(f"__label__none {t}\n" for t in texts), encoding="utf-8")
    print(f"{len(texts)} lines ({len(titles)} titles, {len(news)} news sentences) -> {args.out}")


if __name__ == "__main__":
    main()
