"""Build the benchmark corpus: a deterministic, real, mixed-language JSONL corpus.

    .venv/bin/python bench/make_corpus.py                       # 200,000 docs (~55 MB) -> .bench/corpus/mixed-200k.jsonl
    .venv/bin/python bench/make_corpus.py --scale 10            # the same mixture, 10x the documents
    .venv/bin/python bench/make_corpus.py --stats               # print the unique pool per source and exit

Every line is ``{"id", "text", "source"}``. Texts come from the real public data in
``../shared/corpora`` (the folder next to the repository; ``--shared`` to point elsewhere):

| source        | from                                                                  | unit                     |
|---------------|-----------------------------------------------------------------------|--------------------------|
| nsmc          | korean_nsmc_reviews (Naver movie reviews, Korean)                     | one review               |
| news_ko       | korean_news_park ``.ko`` (Korean news sentences)                      | one sentence             |
| news_en       | korean_news_park ``.en`` (their English translations)                 | one sentence             |
| hate          | korean_hate_speech/train.tsv ``comments`` (Korean news comments)      | one comment              |
| lingua        | lingua_langid/sentences (20 languages)                                | one sentence             |
| korquad       | korquad_v1 contexts (Korean Wikipedia paragraphs; CC BY-ND: read      | one paragraph            |
|               | unmodified at benchmark time, never copied into the repository)       |                          |
| stackexchange | stackexchange_posts beer + coffee: title + question + answers, HTML   | one question thread      |
|               | stripped with lxml                                                    |                          |
| web_html      | web_html_trafilatura/html/*.html, main text by trafilatura            | one page                 |
| web_warc      | warc_samples via ``curate ingest`` (trafilatura on HTML responses)    | one page                 |
| patents       | uspto_patents via ``curate ingest`` (all seven USPTO formats)         | one patent               |

Documents are drawn *with replacement* (seeded ``numpy.random.Generator``): first a source by the
document shares in ``MIXTURE``, then a uniform document of that source. The shares give long
documents (web, patents, Q&A, Wikipedia) most of the bytes although short Korean texts are most of
the documents, as in a real Korean pretraining mix. Because the unique pool is small (~40k texts),
the corpus contains many exact repeats: fine for per-document filters and ingest, *not* a dedup
benchmark. ``--scale K`` draws ``K * docs`` documents from the same generator, so the 1x corpus is
the first ``docs`` lines of every larger one.

The unique pool is cached in ``.bench/corpus/pool-<key>.jsonl`` (key = names and sizes of the input
files), since extracting the HTML pages takes a minute.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import html
import json
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SHARED = ROOT.parent / "shared" / "corpora"
BENCH_DIR = ROOT / ".bench"

# Share of *documents* drawn from each source (sums to 1). Bytes follow from the pool's mean lengths;
# `--stats` prints both. Chosen so that 200,000 documents are ~55 MB and long documents carry most bytes.
MIXTURE = {
    "nsmc": 0.40885,
    "hate": 0.17,
    "lingua": 0.20,
    "news_ko": 0.08,
    "news_en": 0.07,
    "korquad": 0.04,
    "stackexchange": 0.02,
    "web_html": 0.007,
    "web_warc": 0.004,
    "patents": 0.00015,
}
assert abs(sum(MIXTURE.values()) - 1.0) < 1e-9


def fail(msg: str) -> None:
    print(f"make_corpus: {msg}", file=sys.stderr)
    sys.exit(2)


def check_shared(shared: Path) -> None:
    needed = ["korean_nsmc_reviews", "korean_news_park", "korean_hate_speech", "lingua_langid", "korquad_v1",
              "stackexchange_posts", "web_html_trafilatura", "warc_samples", "uspto_patents"]
    if not shared.is_dir():
        fail(f"the shared corpora folder {shared} does not exist.\n  The benchmark corpus is built from the real "
             "public data in ../shared/corpora (next to the repository checkout). Put that folder there, or pass "
             "--shared PATH.")
    missing = [n for n in needed if not (shared / n).is_dir()]
    if missing:
        fail(f"{shared} lacks {', '.join(missing)}; the benchmark corpus needs all of: {', '.join(needed)}")


# --------------------------------------------------------------------------------------------------
# one loader per source; each returns a list of non-empty texts in a fixed order


def load_nsmc(shared: Path) -> list[str]:
    out = []
    with open(shared / "korean_nsmc_reviews" / "nsmc_raw_reviews_first312movies.jsonl", encoding="utf-8") as fh:
        for line in fh:
            out.append(json.loads(line)["review"])
    return out


def load_lines(path: Path) -> list[str]:
    return [line.rstrip("\n") for line in path.read_text(encoding="utf-8").splitlines()]


def load_news(shared: Path, ext: str) -> list[str]:
    return load_lines(shared / "korean_news_park" / f"korean-english-park.dev.{ext}")


def load_hate(shared: Path) -> list[str]:
    with open(shared / "korean_hate_speech" / "train.tsv", encoding="utf-8", newline="") as fh:
        return [row["comments"] for row in csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)]


def load_lingua(shared: Path) -> list[str]:
    out = []
    for path in sorted((shared / "lingua_langid" / "sentences").glob("*.txt")):
        out += load_lines(path)
    return out


def load_korquad(shared: Path) -> list[str]:
    # CC BY-ND: read the file as it is, at benchmark time; the contexts go only into .bench/ (git-ignored).
    data = json.loads((shared / "korquad_v1" / "KorQuAD_v1.0_dev.json").read_text(encoding="utf-8"))
    return [p["context"] for article in data["data"] for p in article["paragraphs"]]


def _html_text(fragment: str) -> str:
    import lxml.html

    if not fragment.strip():
        return ""
    return lxml.html.fromstring(fragment).text_content().strip()


def load_stackexchange(shared: Path) -> list[str]:
    from lxml import etree

    out = []
    for site in ("beer.stackexchange.com", "coffee.stackexchange.com"):
        questions: dict[str, dict] = {}
        answers: dict[str, list[tuple[int, str]]] = {}
        for _, row in etree.iterparse(str(shared / "stackexchange_posts" / site / "Posts.xml"), tag="row"):
            kind = row.get("PostTypeId")
            if kind == "1":
                questions[row.get("Id")] = {"title": row.get("Title") or "", "body": row.get("Body") or ""}
            elif kind == "2":
                answers.setdefault(row.get("ParentId"), []).append((int(row.get("Id")), row.get("Body") or ""))
            row.clear()
        for qid in sorted(questions, key=int):
            q = questions[qid]
            parts = [html.unescape(q["title"]).strip(), _html_text(q["body"])]
            parts += [_html_text(body) for _, body in sorted(answers.get(qid, []))]
            text = "\n\n".join(p for p in parts if p)
            if text:
                out.append(text)
    return out


def _extract_page(path: str) -> str:
    import trafilatura

    return trafilatura.extract(Path(path).read_bytes()) or ""


def load_web_html(shared: Path) -> list[str]:
    paths = [str(p) for p in sorted((shared / "web_html_trafilatura" / "html").glob("*.html"))]
    with ProcessPoolExecutor(2) as pool:
        return list(pool.map(_extract_page, paths, chunksize=4))


def _curate_ingest_texts(paths: list[str], source: str) -> list[str]:
    sys.path.insert(0, str(ROOT))
    import pyarrow.parquet as pq

    from curate.ingest.runner import ingest

    with tempfile.TemporaryDirectory(dir=BENCH_DIR) as tmp:
        ingest(paths, source, Path(tmp) / "out", workers=2, progress=False)
        texts = []
        for shard in sorted((Path(tmp) / "out" / "documents").glob("*.parquet")):
            texts += pq.read_table(shard, columns=["text"]).column("text").to_pylist()
    return texts


def load_web_warc(shared: Path) -> list[str]:
    files = sorted(p for p in (shared / "warc_samples").iterdir() if p.name != "README.md")
    return _curate_ingest_texts([str(p) for p in files], "web_warc")


def load_patents(shared: Path) -> list[str]:
    files = sorted(p for p in (shared / "uspto_patents").glob("*/*") if p.is_file())
    return _curate_ingest_texts([str(p) for p in files], "patents")


LOADERS = {
    "nsmc": load_nsmc,
    "hate": load_hate,
    "lingua": load_lingua,
    "news_ko": lambda s: load_news(s, "ko"),
    "news_en": lambda s: load_news(s, "en"),
    "korquad": load_korquad,
    "stackexchange": load_stackexchange,
    "web_html": load_web_html,
    "web_warc": load_web_warc,
    "patents": load_patents,
}


def pool_key(shared: Path) -> str:
    h = hashlib.sha256()
    for name in sorted(LOADERS):
        h.update(name.encode())
    for path in sorted(shared.rglob("*")):
        if path.is_file():
            h.update(f"{path.relative_to(shared)}\0{path.stat().st_size}\n".encode())
    import inspect

    for fn in (load_nsmc, load_lines, load_news, load_hate, load_lingua, load_korquad, _html_text, load_stackexchange,
               _extract_page, load_web_html, _curate_ingest_texts, load_web_warc, load_patents):
        h.update(inspect.getsource(fn).encode())  # a loader changed -> rebuild the pool
    return h.hexdigest()[:12]


def load_pool(shared: Path, verbose: bool = True) -> dict[str, list[str]]:
    BENCH_DIR.mkdir(exist_ok=True)
    cache = BENCH_DIR / "corpus" / f"pool-{pool_key(shared)}.jsonl"
    if cache.exists():
        pool: dict[str, list[str]] = {name: [] for name in LOADERS}
        with open(cache, encoding="utf-8") as fh:
            for line in fh:
                row = json.loads(line)
                pool[row["source"]].append(row["text"])
        return pool
    pool = {}
    for name, loader in LOADERS.items():
        t0 = time.perf_counter()
        texts = [t for t in loader(shared) if t and t.strip()]
        if not texts:
            fail(f"source {name}: no texts found")
        pool[name] = texts
        if verbose:
            print(f"  pool {name:14s} {len(texts):7,d} texts  ({time.perf_counter() - t0:.1f}s)", file=sys.stderr)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for name, texts in pool.items():
            for t in texts:
                fh.write(json.dumps({"source": name, "text": t}, ensure_ascii=False) + "\n")
    tmp.replace(cache)
    return pool


def pool_stats(pool: dict[str, list[str]], docs: int) -> list[dict]:
    rows = []
    for name, texts in pool.items():
        nbytes = [len(t.encode("utf-8")) for t in texts]
        mean = sum(nbytes) / len(nbytes)
        rows.append({"source": name, "unique": len(texts), "unique_mb": sum(nbytes) / 1e6, "mean_bytes": mean,
                     "share": MIXTURE[name], "expected_mb": docs * MIXTURE[name] * mean / 1e6})
    return rows


def build(shared: Path, out: Path, docs: int, seed: int) -> dict:
    import numpy as np

    pool = load_pool(shared)
    names = list(MIXTURE)
    probs = np.array([MIXTURE[n] for n in names])
    rng = np.random.default_rng(seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    n_docs: Counter[str] = Counter()
    n_bytes: Counter[str] = Counter()
    chunk = 100_000
    written = 0
    with open(tmp, "w", encoding="utf-8") as fh:
        while written < docs:
            n = min(chunk, docs - written)
            src = rng.choice(len(names), size=n, p=probs)
            pick = rng.random(n)
            lines = []
            for i in range(n):
                name = names[src[i]]
                texts = pool[name]
                text = texts[int(pick[i] * len(texts))]
                line = json.dumps({"id": f"bench-{seed}-{written + i:09d}", "text": text, "source": name},
                                  ensure_ascii=False)
                lines.append(line)
                n_docs[name] += 1
                n_bytes[name] += len(text.encode("utf-8"))
            fh.write("\n".join(lines) + "\n")
            written += n
    tmp.replace(out)
    return {"path": str(out), "docs": docs, "file_mb": out.stat().st_size / 1e6, "text_mb": sum(n_bytes.values()) / 1e6,
            "by_source": {n: {"docs": n_docs[n], "text_mb": n_bytes[n] / 1e6} for n in names}}


def default_out(docs: int, scale: int) -> Path:
    total = docs * scale
    label = f"{total // 1000}k" if total % 1000 == 0 else str(total)
    return BENCH_DIR / "corpus" / f"mixed-{label}.jsonl"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=200_000, help="documents in the 1x corpus (default 200000)")
    ap.add_argument("--scale", type=int, default=1, help="make a K-times larger corpus (K * docs documents)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help=f"shared corpora folder (default {DEFAULT_SHARED})")
    ap.add_argument("--out", type=Path, help="output JSONL (default .bench/corpus/mixed-<N>k.jsonl)")
    ap.add_argument("--stats", action="store_true", help="print the unique pool and the expected mixture, then exit")
    args = ap.parse_args(argv)
    check_shared(args.shared)
    if args.stats:
        pool = load_pool(args.shared)
        total = 0.0
        print("| source | unique texts | unique MB | mean bytes | doc share | expected MB at --docs |")
        print("|---|---:|---:|---:|---:|---:|")
        for r in pool_stats(pool, args.docs * args.scale):
            total += r["expected_mb"]
            print(f"| {r['source']} | {r['unique']:,} | {r['unique_mb']:.2f} | {r['mean_bytes']:,.0f} | "
                  f"{r['share']:.2%} | {r['expected_mb']:.1f} |")
        print(f"| total | | | | 100% | {total:.1f} |")
        return 0
    out = args.out or default_out(args.docs, args.scale)
    t0 = time.perf_counter()
    info = build(args.shared, out, args.docs * args.scale, args.seed)
    print(f"wrote {info['path']}: {info['docs']:,} documents, {info['file_mb']:.1f} MB JSONL "
          f"({info['text_mb']:.1f} MB of text) in {time.perf_counter() - t0:.1f}s")
    print("| source | docs | text MB | share of bytes |")
    print("|---|---:|---:|---:|")
    for name, s in info["by_source"].items():
        print(f"| {name} | {s['docs']:,} | {s['text_mb']:.1f} | {s['text_mb'] / info['text_mb']:.1%} |")
    meta = out.with_suffix(".json")
    meta.write_text(json.dumps({**info, "seed": args.seed, "mixture": MIXTURE}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
