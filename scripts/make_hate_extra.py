"""Rebuild the extra ``none`` text of the Korean hate model: ``clean_none.txt`` and ``informal_none.txt``.

The comments of kocohub/korean-hate-speech teach a model what toxic and clean *comments* look
like, but never show it formal prose: trained on comments alone, it scores ~73% of clean news
sentences as toxic (docs/quality.md, "Hate speech"). This file adds, as ``__label__none``:

* the distinct news titles of the same dataset (``news_title/train.news_title.txt``, CC BY-SA 4.0;
  one CSV-quoted title per comment, so duplicates are removed and quotes undone), and
* the half of ``sample_data/news/korean-english-park.dev.ko.txt`` (CC BY-SA 3.0) whose
  XXH64(line, seed 0) is even; the odd half is kept for measuring false positives on news.

A model trained on comments and formal text still calls benign *informal* text toxic (21% of
Naver movie reviews score above 0.5: it learned the comment register). ``informal_none.txt`` adds
1,000 movie reviews rated 9 or 10 of 10 (NSMC raw crawl, e9t/nsmc, CC0 1.0) as ``none``, chosen
deterministically: reviews of the lines after the first 4,000 of the shared file whose text is not
among those 4,000 (they are ``sample_data/reviews``, kept unseen for the sample run), rating >= 9,
at least 5 characters, XXH64(review, seed 0) even (the odd half is kept for measuring), then the
1,000 smallest XXH64(review, seed 1). Measured: comment ROC-AUC unchanged (docs/quality.md).

    python scripts/make_hate_extra.py --titles ../shared/corpora/korean_hate_speech/train.news_title.txt \
        --reviews ../shared/corpora/korean_nsmc_reviews/nsmc_raw_reviews_first312movies.jsonl

Output lines are sorted, so the files are the same whatever the input order.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import xxhash

ROOT = Path(__file__).resolve().parents[1]
NEWS = ROOT / "sample_data" / "news" / "korean-english-park.dev.ko.txt"
OUT = ROOT / "curate" / "models" / "hate_ko" / "data" / "clean_none.txt"
OUT_INFORMAL = ROOT / "curate" / "models" / "hate_ko" / "data" / "informal_none.txt"
SAMPLE_REVIEWS = 4_000  # the first lines of the shared NSMC file, shipped as sample_data/reviews
N_REVIEWS = 1_000


def unquote(s: str) -> str:
    s = s.strip()
    if len(s) >= 2 and s[0] == '"' and s[-1] == '"':
        s = s[1:-1].replace('""', '"')
    return " ".join(s.split())


def news_half(lines: list[str], even: bool) -> list[str]:
    return [" ".join(s.split()) for s in lines
            if s.strip() and (xxhash.xxh64_intdigest(s.encode("utf-8"), 0) % 2 == 0) == even]


def benign_reviews(lines: list[str], n: int = N_REVIEWS) -> list[str]:
    """The ``informal_none.txt`` reviews of the shared NSMC JSONL lines (module docstring)."""
    import json

    records = [json.loads(line) for line in lines if line.strip()]

    def text(rec: dict) -> str:
        return " ".join(str(rec.get("review", "")).split())

    sample = {text(rec) for rec in records[:SAMPLE_REVIEWS]}
    pool = {text(rec) for rec in records[SAMPLE_REVIEWS:] if int(rec.get("rating", 0)) >= 9}
    pool = {t for t in pool - sample if len(t) >= 5 and xxhash.xxh64_intdigest(t.encode("utf-8"), 0) % 2 == 0}
    return sorted(pool, key=lambda t: (xxhash.xxh64_intdigest(t.encode("utf-8"), 1), t))[:n]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--titles", type=Path, required=True, help="kocohub news_title/train.news_title.txt")
    ap.add_argument("--reviews", type=Path, default=None,
                    help="shared korean_nsmc_reviews/nsmc_raw_reviews_first312movies.jsonl (-> informal_none.txt)")
    ap.add_argument("--news", type=Path, default=NEWS)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--out-informal", type=Path, default=OUT_INFORMAL)
    args = ap.parse_args()
    if args.reviews is not None:
        reviews = sorted(benign_reviews(args.reviews.read_text(encoding="utf-8").splitlines()))
        args.out_informal.write_text("".join(f"__label__none {t}\n" for t in reviews), encoding="utf-8")
        print(f"{len(reviews)} reviews rated 9-10 -> {args.out_informal}")
    titles = {unquote(t) for t in args.titles.read_text(encoding="utf-8").splitlines()}
    news = news_half(args.news.read_text(encoding="utf-8").splitlines(), even=True)
    texts = sorted({t for t in titles | set(news) if t})
    args.out.write_text("".join(f"__label__none {t}\n" for t in texts), encoding="utf-8")
    print(f"{len(texts)} lines ({len(titles)} titles, {len(news)} news sentences) -> {args.out}")


if __name__ == "__main__":
    main()
