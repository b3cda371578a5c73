"""Language-ID accuracy per language on Lingua's test sentences (docs/quality.md, "Language ID").

    .venv/bin/python bench/eval_langid.py                       # curate's lang_id, test half
    .venv/bin/python bench/eval_langid.py --split all --raw     # plain lid.176.ftz top-1, every sentence
    .venv/bin/python bench/eval_langid.py --json out.json
    .venv/bin/python bench/eval_langid.py --documents           # long and mixed documents: whole text vs lines

Data: ``../shared/corpora/lingua_langid/sentences/<lang>.txt`` (20 languages, one sentence per
line; Apache-2.0, from the lingua-py repository). Lines are split by position in each file: even
positions (0, 2, 4, ...) are the *tune* half (every choice of curate's LID rules was looked at on it
only), odd positions the *test* half (never looked at while choosing). ``--split all`` reports both.

``--documents`` builds 3,000 documents of 3-40 sentences of the *tune* half, one per line (every
third document has every fourth sentence from another language and is labeled by its main language)
and compares ways of judging a long text.

A sentence counts as correct when the predicted code equals the file's code; "und" (too short)
counts as wrong. Speed is documents per CPU-second of this process (time.process_time), i.e. per
core, over every sentence of the split, after one warm-up pass.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_DATA = ROOT.parent / "shared" / "corpora" / "lingua_langid" / "sentences"


def load(data: Path, split: str) -> list[tuple[str, str]]:
    rows = []
    for f in sorted(data.glob("*.txt")):
        lines = f.read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines):
            if split == "all" or (split == "tune") == (i % 2 == 0):
                rows.append((f.stem, line))
    return rows


def documents(data: Path) -> None:
    import random

    import numpy as np
    import pyarrow as pa

    from curate.classify.langid import LanguageIdentifier

    by: dict[str, list[str]] = {}
    for lang, text in load(data, "tune"):
        by.setdefault(lang, []).append(text)
    rng = random.Random(0)
    langs = sorted(by)
    docs, gold, mixed = [], [], []
    for i in range(3000):
        g = rng.choice(langs)
        sents = [rng.choice(by[g]) for _ in range(rng.randint(3, 40))]
        if i % 3 == 0:
            other = rng.choice([x for x in langs if x != g])
            for j in range(0, len(sents), 4):
                sents[j] = rng.choice(by[other])
        docs.append("\n".join(sents))
        gold.append(g)
        mixed.append(i % 3 == 0)
    gold_a, mixed_a = np.asarray(gold, dtype=object), np.asarray(mixed)
    print(f"{len(docs)} documents, mean {np.mean([len(d) for d in docs]):,.0f} characters\n")
    print("| method | pure documents | mixed documents | docs per CPU-second |\n|---|---:|---:|---:|")
    variants = [
        ("first 80 characters", LanguageIdentifier(max_chunk=0), lambda d: d[:80]),
        ("whole text, newlines -> spaces", LanguageIdentifier(max_chunk=0, max_chars=0), None),
        ("chunks: lines merged up to 200 characters", LanguageIdentifier(min_chunk=200, max_chunk=500), None),
        ("lines (merged under 30 characters), all of the text", LanguageIdentifier(max_chars=0), None),
        ("**lines (merged under 30 characters), <= 4,000 characters judged** (default)", LanguageIdentifier(), None),
    ]
    for name, lid, cut in variants:
        texts = pa.array([cut(d) for d in docs] if cut else docs, pa.string())
        lid.identify(texts[:50])
        t0 = time.process_time()
        pred = lid.identify(texts).lang
        cpu = time.process_time() - t0
        ok = pred == gold_a
        print(f"| {name} | {100 * ok[~mixed_a].mean():.1f}% | {100 * ok[mixed_a].mean():.1f}% | {len(docs) / cpu:,.0f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--split", choices=["tune", "test", "all"], default="test")
    ap.add_argument("--raw", action="store_true", help="plain fastText top-1 (no curate rules)")
    ap.add_argument("--model", type=Path, default=None, help="another fastText LID model (lid.176.bin, GlotLID)")
    ap.add_argument("--no-script-rules", action="store_true")
    ap.add_argument("--min-letters", type=int, default=None)
    ap.add_argument("--no-lowercase", action="store_true")
    ap.add_argument("--no-priors", action="store_true")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--documents", action="store_true", help="long/mixed documents: whole text vs lines")
    args = ap.parse_args()
    if args.documents:
        documents(args.data)
        return

    from curate.classify.fasttext_model import LID176, load_fasttext, predict
    from curate.classify.langid import LanguageIdentifier
    from curate.classify.langid import DEFAULT_PRIORS

    rows = load(args.data, args.split)
    langs = [r[0] for r in rows]
    texts = [r[1] for r in rows]
    if args.raw:
        model = load_fasttext(args.model or LID176)

        def run():
            labs, _ = predict(model, [t.replace("\n", " ") for t in texts], k=1)
            return [lab[0] if lab else "und" for lab in labs]
        name = f"raw fastText top-1 ({(args.model or LID176).name})"
    else:
        kw = {}
        if args.min_letters is not None:
            kw["min_letters"] = args.min_letters
        lid = LanguageIdentifier(model_path=args.model, script_rules=not args.no_script_rules,
                                 lowercase=not args.no_lowercase,
                                 priors={} if args.no_priors else dict(DEFAULT_PRIORS), **kw)
        name = f"curate lang_id ({(args.model or LID176).name})"

        def run():
            import pyarrow as pa

            return list(lid.identify(pa.array(texts, pa.string())).lang)
    run()  # warm-up
    t0, w0 = time.process_time(), time.perf_counter()
    pred = run()
    cpu, wall = time.process_time() - t0, time.perf_counter() - w0
    per = collections.defaultdict(lambda: [0, 0])
    conf = collections.Counter()
    for gold, p in zip(langs, pred):
        per[gold][1] += 1
        if p == gold:
            per[gold][0] += 1
        else:
            conf[(gold, p)] += 1
    ok = sum(v[0] for v in per.values())
    report = {
        "system": name, "split": args.split, "sentences": len(rows), "accuracy": ok / len(rows),
        "per_language": {k: round(v[0] / v[1], 4) for k, v in sorted(per.items())},
        "confusions": [[g, p, c] for (g, p), c in conf.most_common()],
        "docs_per_cpu_s": round(len(rows) / cpu), "docs_per_wall_s": round(len(rows) / wall),
    }
    print(f"{name}, split {args.split}: {ok}/{len(rows)} = {100 * report['accuracy']:.2f}%  "
          f"({report['docs_per_cpu_s']:,} docs per CPU-second, {report['docs_per_wall_s']:,} per wall second)")
    print("per language: " + "  ".join(f"{k} {100 * v:.1f}" for k, v in report["per_language"].items()))
    print("confusions (gold->predicted): " + ", ".join(f"{g}->{p} {c}" for g, p, c in report["confusions"]))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
