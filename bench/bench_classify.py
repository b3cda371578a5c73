"""Documents per second per core of the fastText steps: lang_id and hate_speech (docs/benchmarks.md).

    .venv/bin/python bench/bench_classify.py            # prints a markdown table
    .venv/bin/python bench/bench_classify.py --json out.json --repeat 5

Each row applies one step (set up once, as in a worker) to batches of 2,048 documents in this one
process and reports documents per CPU-second of the process (time.process_time: one core; the
machine is shared, so wall time would measure the neighbours) — the best of ``--repeat`` runs.
Inputs, all from the repository (plus the Lingua sentences when ``../shared`` has them):

* ``ko sentences`` / ``en sentences``: the 1,000 + 1,000 lines of sample_data/news (one per document);
* ``reviews``: 4,000 Naver movie reviews (sample_data/reviews, short informal Korean);
* ``ko 2 KB`` / ``en 2 KB`` / ``mixed 2 KB``: documents of ~2,000 characters made of consecutive news
  lines (mixed: Korean lines with every fourth line English);
* ``1.5 MB``: eight Korean documents of 537,000 characters (1.5 MB of UTF-8) each;
* ``lingua``: the 9,570 Lingua sentences of 20 languages (the accuracy benchmark's input).

``raw fastText`` is lid.176.ftz's own ``predict`` on the same lines (newlines replaced), for scale.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NEWS = ROOT / "sample_data" / "news"
REVIEWS = ROOT / "sample_data" / "reviews" / "nsmc_reviews.jsonl.zst"
LINGUA = ROOT.parent / "shared" / "corpora" / "lingua_langid" / "sentences"


def inputs() -> dict[str, list[str]]:
    import zstandard

    ko = [s for s in (NEWS / "korean-english-park.dev.ko.txt").read_text(encoding="utf-8").splitlines() if s.strip()]
    en = [s for s in (NEWS / "korean-english-park.dev.en.txt").read_text(encoding="utf-8").splitlines() if s.strip()]
    raw = zstandard.ZstdDecompressor().stream_reader(open(REVIEWS, "rb"))
    reviews = [json.loads(line)["review"] for line in io.TextIOWrapper(raw, encoding="utf-8") if line.strip()]

    def docs(lines: list[str], size: int = 2000, mix: list[str] | None = None) -> list[str]:
        out, cur, n, j = [], [], 0, 0
        for i in range(4000):
            line = mix[i % len(mix)] if (mix and i % 4 == 3) else lines[i % len(lines)]
            cur.append(line)
            n += len(line) + 1
            if n >= size:
                out.append("\n".join(cur))
                cur, n = [], 0
                j += 1
        return out

    data = {"ko sentences": ko, "en sentences": en, "reviews": reviews, "ko 2 KB": docs(ko), "en 2 KB": docs(en),
            "mixed 2 KB": docs(ko, mix=en), "1.5 MB": [("\n".join(ko) + "\n") * 8] * 8}
    if LINGUA.exists():
        data["lingua"] = [s for f in sorted(LINGUA.glob("*.txt")) for s in f.read_text(encoding="utf-8").splitlines()]
    return data


def measure(fn, chunks: list, docs: int, repeat: int) -> float:
    """Best documents/CPU-second of ``fn`` over every chunk (inputs built beforehand, not timed)."""
    best = 0.0
    fn(chunks[0])  # warm-up
    for _ in range(repeat):
        t0 = time.process_time()
        for chunk in chunks:
            fn(chunk)
        best = max(best, docs / max(time.process_time() - t0, 1e-9))
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    import curate.steps  # noqa: F401
    from bench._common import print_machine, versions
    from curate.classify.fasttext_model import LID176, load_fasttext, predict
    from curate.pipeline.batch import documents_batch
    from curate.pipeline.runner import apply_safely
    from curate.steps.hate import HateSpeech
    from curate.steps.langid import LangId

    lid = LangId(LangId.Params())
    lid.setup()
    hate = HateSpeech(HateSpeech.Params(langs=[]))
    hate.setup()
    # the word-list rule alone: the model scores no language ("xx"), LDNOOBW by each document's lang
    words = HateSpeech(HateSpeech.Params(langs=["xx"], wordlist="ldnoobw"))
    words.setup()
    ft = load_fasttext(LID176)
    data = inputs()

    def raw_fn(texts):
        predict(ft, [t.replace("\n", " ") for t in texts], k=1)

    rows = []
    print_machine(versions("fasttext-numpy2-wheel", "pyarrow", "numpy"))
    print("\n| input | docs | mean chars | raw fastText docs/s | lang_id docs/s | hate_speech docs/s "
          "| word list (ldnoobw) docs/s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, texts in data.items():
        mean = sum(map(len, texts)) / len(texts)
        chunks = [texts[i:i + 2048] for i in range(0, len(texts), 2048)]  # batches as a worker gets them
        batches = [documents_batch(c) for c in chunks]
        with_lang = [apply_safely(lid, b)[0] for b in batches]  # the `lang` column lang_id writes
        n = len(texts)
        r = {"input": name, "docs": n, "mean_chars": round(mean),
             "raw_fasttext": measure(raw_fn, chunks, n, args.repeat),
             "lang_id": measure(lid.apply, batches, n, args.repeat),
             "hate_speech": measure(hate.apply, batches, n, args.repeat),
             "wordlist": measure(words.apply, with_lang, n, args.repeat)}
        rows.append(r)
        print(f"| {name} | {len(texts):,} | {mean:,.0f} | {r['raw_fasttext']:,.0f} | {r['lang_id']:,.0f} | "
              f"{r['hate_speech']:,.0f} | {r['wordlist']:,.0f} |", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
