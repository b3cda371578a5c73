"""Quality of the ``pii`` step: recall and precision per entity type, false positives on clean text,
and the pre-filter check. Every number in docs/quality.md, section "PII", comes from this script.

    .venv/bin/python bench/eval_pii.py                   # all three evaluations (~2 min)
    .venv/bin/python bench/eval_pii.py --only presidio   # or: korean, clean, prefilter
    .venv/bin/python bench/eval_pii.py --json out.json   # the numbers as JSON as well

Data (read at run time from ``../shared/corpora``, ``--shared`` to point elsewhere):

* ``presidio``: pii_presidio (presidio-research's synthetic English sentences with labelled spans).
  Entity types are mapped to the step's entities; the NER types (PERSON, STREET_ADDRESS, GPE,
  ORGANIZATION, TITLE, NRP, DATE_TIME, AGE, ZIP_CODE) are out of reach of patterns and listed apart.
* ``korean``: the generated Korean set (bench/make_pii_eval.py; built into .bench/pii if missing).
* ``clean``: real Korean text, assumed free of PII: news sentences, Naver movie reviews, news
  comments and titles, KorQuAD contexts (read unmodified). Every masked span is counted as a false
  positive and described by type, pattern and shape (digits -> 9, letters -> a), never by content.
* ``prefilter``: the step with and without its pre-filter on all of the above: outputs must be equal.

Both the step's engine and presidio's stock pattern recognizers (its predefined English set plus its
Korean recognizers, no NLP model: ``curate.pii.engine.build_stock_analyzer``) run on the same data.
A prediction counts for a gold span when it overlaps it and has its type; a gold span is "masked"
when any prediction overlaps it (what matters for privacy); precision is the share of predictions of
a type that overlap a gold span of that type.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

DEFAULT_SHARED = ROOT.parent / "shared" / "corpora"
KO_EVAL = ROOT / ".bench" / "pii" / "ko_eval.jsonl"

# presidio-research entity types -> the step's entity keys (None: needs NER or is not PII here)
PRESIDIO_GOLD = {"PHONE_NUMBER": "tell", "CREDIT_CARD": "card", "EMAIL_ADDRESS": "email", "IBAN_CODE": "iban",
                 "US_SSN": "ssn", "IP_ADDRESS": "ip", "DOMAIN_NAME": "url"}
NER_TYPES = ("PERSON", "STREET_ADDRESS", "GPE", "ORGANIZATION", "TITLE", "NRP", "DATE_TIME", "AGE", "ZIP_CODE",
             "US_DRIVER_LICENSE")
# presidio's stock entity types -> the step's keys (other stock types are reported as themselves)
STOCK_KEYS = {"PHONE_NUMBER": "tell", "CREDIT_CARD": "card", "EMAIL_ADDRESS": "email", "IBAN_CODE": "iban",
              "US_SSN": "ssn", "IP_ADDRESS": "ip", "URL": "url", "KR_RRN": "rrn", "KR_FRN": "frn", "KR_BRN": "brn",
              "KR_PASSPORT": "passport", "KR_DRIVER_LICENSE": "driver_license", "US_BANK_NUMBER": "acc"}


def shape(s: str) -> str:
    """A value's shape without its content: digits -> 9, ASCII letters -> a, Hangul -> 가."""
    s = re.sub(r"\d", "9", s)
    s = re.sub(r"[A-Za-z]", "a", s)
    return re.sub(r"[\uac00-\ud7a3]", "가", s)


# ------------------------------------------------------------------------------------------------
# predictors


class Ours:
    label = "curate pii"

    def __init__(self, **kwargs) -> None:
        from curate.pii.engine import PiiEngine

        self.engine = PiiEngine(**kwargs)

    def predict(self, text: str) -> list[tuple[str, int, int, float, str]]:
        from curate.pii import ENTITY_KEYS

        out = []
        for r in self.engine.analyze(text):
            out.append((ENTITY_KEYS[r.entity_type], r.start, r.end, r.score,
                        r.recognition_metadata.get("recognizer_name", "?")))
        return out


class Stock:
    label = "presidio stock"

    def __init__(self, threshold: float) -> None:
        from curate.pii.engine import build_stock_analyzer

        self.analyzer = build_stock_analyzer()
        self.threshold = threshold
        self.label = f"presidio stock (score >= {threshold:g})" if threshold > 0 else "presidio stock (any score)"

    def predict(self, text: str) -> list[tuple[str, int, int, float, str]]:
        found = []
        for lang in ("en", "ko"):
            found += self.analyzer.analyze(text=text, language=lang, score_threshold=self.threshold or None)
        found = [r for r in found if r.score > 0 and r.score >= self.threshold]
        # presidio's anonymizer would keep one of overlapping spans; use the step's rule for both
        uniq = {(r.entity_type, r.start, r.end): r for r in found}
        resolved = _resolve_any(list(uniq.values()))
        return [(STOCK_KEYS.get(r.entity_type, r.entity_type), r.start, r.end, r.score, r.entity_type) for r in resolved]


def _resolve_any(results: list) -> list:
    ordered = sorted(results, key=lambda r: (-r.score, -(r.end - r.start), r.entity_type, r.start))
    kept = []
    for r in ordered:
        if all(r.end <= k.start or r.start >= k.end for k in kept):
            kept.append(r)
    return sorted(kept, key=lambda r: r.start)


# ------------------------------------------------------------------------------------------------
# scoring


def score_docs(docs: list[dict], predictor, group_layout: bool = False) -> dict:
    """docs: {"text", "spans": [{"type", "start", "end", ["layout"]}]} with types already mapped
    (None for types out of scope). Returns per-type counts."""
    gold_n, tp, masked, exact = Counter(), Counter(), Counter(), Counter()
    pred_n, pred_ok = Counter(), Counter()
    wrong = Counter()  # (predicted type, what it hit) for predictions that match no gold span of their type
    by_layout: dict[str, Counter] = defaultdict(Counter)
    missed_layouts = Counter()
    for d in docs:
        preds = predictor.predict(d["text"])
        for g in d["spans"]:
            t = g["type"]
            if t is None:
                continue
            gold_n[t] += 1
            hit = [p for p in preds if p[1] < g["end"] and g["start"] < p[2]]
            ok = [p for p in hit if p[0] == t]
            if ok:
                tp[t] += 1
            if hit:
                masked[t] += 1
            if any(p[1] == g["start"] and p[2] == g["end"] for p in ok):
                exact[t] += 1
            if group_layout and "layout" in g:
                by_layout[t][(g["layout"], bool(ok))] += 1
                if not ok:
                    missed_layouts[(t, g["layout"])] += 1
        for p in preds:
            pred_n[p[0]] += 1
            over = [g for g in d["spans"] if p[1] < g["end"] and g["start"] < p[2]]
            if any(g["type"] == p[0] for g in over):
                pred_ok[p[0]] += 1
            else:
                what = over[0].get("orig_type") or over[0]["type"] if over else "no gold span"
                wrong[(p[0], str(what))] += 1
    return {"gold": gold_n, "tp": tp, "masked": masked, "exact": exact, "pred": pred_n, "pred_ok": pred_ok,
            "wrong": wrong, "missed_layouts": missed_layouts}


def _ratio(a: int, b: int) -> str:
    return f"{a / b:.3f}" if b else "-"


def table(results: dict[str, dict], types: list[str]) -> str:
    labels = list(results)
    head = "| type | gold | " + " | ".join(f"{lab}: recall / precision" for lab in labels) + " |"
    lines = [head, "|" + "---|" * (2 + len(labels))]
    for t in types:
        cells = []
        for lab in labels:
            r = results[lab]
            cells.append(f"{_ratio(r['tp'][t], r['gold'][t])} ({r['tp'][t]}/{r['gold'][t]}) / "
                         f"{_ratio(r['pred_ok'][t], r['pred'][t])} ({r['pred_ok'][t]}/{r['pred'][t]})")
        lines.append(f"| {t} | {results[labels[0]]['gold'][t]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------
# data


def load_presidio(shared: Path) -> tuple[list[dict], Counter]:
    data = json.loads((shared / "pii_presidio" / "synth_dataset_v2.slice10.json").read_text(encoding="utf-8"))
    docs, out_of_scope = [], Counter()
    for rec in data:
        spans = []
        for s in rec["spans"]:
            t = PRESIDIO_GOLD.get(s["entity_type"])
            if t is None:
                out_of_scope[s["entity_type"]] += 1
            spans.append({"type": t, "orig_type": s["entity_type"], "start": s["start_position"], "end": s["end_position"]})
        docs.append({"text": rec["full_text"], "spans": spans})
    return docs, out_of_scope


def load_korean(shared: Path) -> list[dict]:
    if not KO_EVAL.exists():
        import make_pii_eval

        make_pii_eval.main(["--shared", str(shared), "--out", str(KO_EVAL)])
    return [json.loads(line) for line in KO_EVAL.read_text(encoding="utf-8").splitlines()]


def load_clean(shared: Path) -> dict[str, list[str]]:
    news = (shared / "korean_news_park" / "korean-english-park.dev.ko").read_text(encoding="utf-8").splitlines()
    reviews = [json.loads(line)["review"] for line in
               (shared / "korean_nsmc_reviews" / "nsmc_raw_reviews_first312movies.jsonl").read_text(encoding="utf-8").splitlines()]
    with open(shared / "korean_hate_speech" / "train.tsv", encoding="utf-8", newline="") as fh:
        comments = [row["comments"] for row in csv.DictReader(fh, delimiter="\t")]
    titles = (shared / "korean_hate_speech" / "train.news_title.txt").read_text(encoding="utf-8").splitlines()
    squad = json.loads((shared / "korquad_v1" / "KorQuAD_v1.0_dev.json").read_text(encoding="utf-8"))
    contexts = [p["context"] for a in squad["data"] for p in a["paragraphs"]]
    # KLUE-NER dev slice: news and review sentences full of dates (DT) and quantities (QT)
    klue = []
    for line in (shared / "pii_korean_klue_ner" / "klue-ner-v1.1_dev.slice10.tsv").read_text(encoding="utf-8").splitlines():
        if line.startswith("## klue-ner"):
            klue.append(re.sub(r"<([^<>]+?):[A-Z]{2}>", r"\1", line.split("\t", 1)[1]))
    # de-identification NER slice: Korean Wikipedia sentences about people and companies (ages, dates)
    blocks = (shared / "pii_korean_deid_ner" / "test_conv_merge.slice10.txt").read_text(encoding="utf-8").split("\n\n")
    deid = [b.splitlines()[1] for b in blocks if len(b.splitlines()) > 1]
    return {"news sentences": [t for t in news if t.strip()], "movie reviews": [t for t in reviews if t.strip()],
            "news comments": [t for t in comments if t.strip()], "news titles": [t for t in titles if t.strip()],
            "KorQuAD contexts": contexts, "KLUE-NER sentences": klue, "de-id NER sentences": deid}


# ------------------------------------------------------------------------------------------------
# evaluations


def eval_presidio(shared: Path, ours, stocks, out: dict) -> None:
    docs, out_of_scope = load_presidio(shared)
    results = {p.label: score_docs(docs, p) for p in [ours, *stocks]}
    types = [t for t in ("tell", "card", "email", "iban", "ssn", "ip", "url") if results[ours.label]["gold"][t]]
    print(f"\n### pii_presidio ({len(docs)} records)\n")
    print(table(results, types))
    print("\nOut of reach of patterns (NER types; not counted above): "
          + ", ".join(f"{t} {n}" for t, n in out_of_scope.most_common()))
    for lab, r in results.items():
        wrong = ", ".join(f"{p} on {w} x{n}" for (p, w), n in r["wrong"].most_common())
        print(f"\n{lab}: predictions that match no gold span of their type: {wrong or 'none'}")
    from curate.pii import DEFAULT_ENTITIES

    with_url = Ours(entities=list(DEFAULT_ENTITIES) + ["url"])
    r = score_docs(docs, with_url)
    print(f"\n{ours.label} with `url` added to `entities` (off by default): url recall "
          f"{_ratio(r['tp']['url'], r['gold']['url'])} ({r['tp']['url']}/{r['gold']['url']}), precision "
          f"{_ratio(r['pred_ok']['url'], r['pred']['url'])} ({r['pred_ok']['url']}/{r['pred']['url']}); other types: "
          + ", ".join(f"{t} {r['tp'][t]}/{r['gold'][t]}" for t in types if t != "url"))
    out["presidio"] = {lab: {k: dict(v) if isinstance(v, Counter) else v for k, v in r.items() if k != "wrong"}
                       for lab, r in results.items()}


def eval_korean(shared: Path, ours, stocks, out: dict) -> None:
    docs = load_korean(shared)
    results = {p.label: score_docs(docs, p, group_layout=True) for p in [ours, *stocks]}
    types = ["rrn", "tell", "email", "card", "acc", "frn", "brn", "passport", "driver_license", "ip"]
    n_spans = sum(len(d["spans"]) for d in docs)
    print(f"\n### Korean set ({len(docs)} documents, {n_spans} spans; bench/make_pii_eval.py defaults)\n")
    print(table(results, types))
    r = results[ours.label]
    print(f"\n{ours.label}: masked by any type (privacy recall): "
          + ", ".join(f"{t} {_ratio(r['masked'][t], r['gold'][t])}" for t in types)
          + "; exact span: " + ", ".join(f"{t} {_ratio(r['exact'][t], r['gold'][t])}" for t in types))
    missed = ", ".join(f"{t} {lay} x{n}" for (t, lay), n in r["missed_layouts"].most_common())
    print(f"\n{ours.label}: missed (type, layout/context): {missed or 'none'}")
    wrong = ", ".join(f"{p} on {w} x{n}" for (p, w), n in r["wrong"].most_common())
    print(f"\n{ours.label}: predictions that match no gold span of their type: {wrong or 'none'}")
    out["korean"] = {lab: {k: {str(kk): vv for kk, vv in v.items()} for k, v in rr.items()} for lab, rr in results.items()}


def eval_clean(shared: Path, ours, stocks, out: dict, show: bool = False) -> None:
    sets = load_clean(shared)
    print("\n### Clean Korean text (every masked span is a false positive)\n")
    labels = [ours.label] + [s.label for s in stocks]
    print("| source | documents | " + " | ".join(f"{lab}: masked spans (per 1,000 docs)" for lab in labels) + " |")
    print("|" + "---|" * (2 + len(labels)))
    from curate.pii import DEFAULT_ENTITIES

    what: dict[str, Counter] = {lab: Counter() for lab in labels}
    totals, same = Counter(), Counter()
    res = {}
    for name, texts in sets.items():
        cells = []
        for p in [ours, *stocks]:
            n = m = 0
            for t in texts:
                for typ, s, e, score, rec in p.predict(t):
                    n += 1
                    m += typ in DEFAULT_ENTITIES
                    what[p.label][(typ, rec, shape(t[s:e]))] += 1
                    if show and p is ours:
                        print(f"  [{name}] {typ} {score:.2f} {rec}: ...{t[max(0, s - 30):e + 15]}...", file=sys.stderr)
            totals[p.label] += n
            same[p.label] += m
            cells.append(f"{n} ({1000 * n / len(texts):.2f})" + ("" if p is ours else f"; {m} ({1000 * m / len(texts):.2f})"))
            res.setdefault(p.label, {})[name] = {"docs": len(texts), "spans": n, "spans_step_types": m}
        totals["docs"] += len(texts)
        print(f"| {name} | {len(texts)} | " + " | ".join(cells) + " |")
    print(f"| all | {totals['docs']} | " + " | ".join(
        f"{totals[lab]} ({1000 * totals[lab] / totals['docs']:.2f})"
        + ("" if lab == ours.label else f"; {same[lab]} ({1000 * same[lab] / totals['docs']:.2f})") for lab in labels) + " |")
    print("\n(presidio stock: all its types; then only the types the step masks by default, i.e. without "
          "URL, DATE_TIME, US_DRIVER_LICENSE and other stock types)")
    for lab in labels:
        top = ", ".join(f"{t} via {r} `{s}` x{n}" for (t, r, s), n in what[lab].most_common(25))
        print(f"\n{lab}: masked spans by type, recognizer and shape: {top or 'none'}")
    out["clean"] = res


def eval_prefilter(shared: Path, out: dict) -> None:
    """The step with and without its pre-filter must write the same text and metrics."""
    from curate.pipeline.batch import documents_batch
    from curate.steps.pii import Pii

    texts = [d["text"] for d in load_korean(shared)] + [d["text"] for d in load_presidio(shared)[0]]
    for v in load_clean(shared).values():
        texts += v
    with_pf, without = Pii(Pii.Params(prefilter=True)), Pii(Pii.Params(prefilter=False))
    with_pf.setup()
    without.setup()
    same, n, t_on, t_off, skipped = True, 0, 0.0, 0.0, 0
    for i in range(0, len(texts), 2000):
        batch = documents_batch(texts[i:i + 2000])
        t0 = time.perf_counter()
        a = with_pf.apply(batch)
        t1 = time.perf_counter()
        b = without.apply(batch)
        t2 = time.perf_counter()
        t_on += t1 - t0
        t_off += t2 - t1
        n += batch.num_rows
        same &= a.batch.column("text").equals(b.batch.column("text"))
        same &= all((a.metrics[k] == b.metrics[k]).all() for k in a.metrics)
        import pyarrow.compute as pc

        from curate.steps.pii import prefilter_regex

        skipped += batch.num_rows - int(pc.sum(pc.match_substring_regex(batch.column("text"),
                                                                        prefilter_regex(with_pf.params.entities))).as_py() or 0)
    print(f"\n### Pre-filter\n\n{n} documents (Korean set, pii_presidio, clean sets): output identical with and "
          f"without the pre-filter: {same}; {skipped} documents ({100 * skipped / n:.1f}%) skip the analyzer; "
          f"step time {t_off:.1f} s without, {t_on:.1f} s with (one process)")
    out["prefilter"] = {"docs": n, "identical": bool(same), "skipped": skipped, "s_without": t_off, "s_with": t_on}
    if not same:
        raise SystemExit("pre-filter changed the output")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    ap.add_argument("--only", choices=["presidio", "korean", "clean", "prefilter"], action="append")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--show", action="store_true", help="print clean-text false positives with context to stderr "
                                                        "(for looking at them; never paste them into docs)")
    args = ap.parse_args(argv)
    only = set(args.only or ["presidio", "korean", "clean", "prefilter"])
    from importlib import metadata

    print(f"presidio-analyzer {metadata.version('presidio-analyzer')}, phonenumbers {metadata.version('phonenumbers')}")
    out: dict = {}
    if only & {"presidio", "korean", "clean"}:
        ours = Ours()
        stocks = [Stock(0.0), Stock(0.5)]
    if "presidio" in only:
        eval_presidio(args.shared, ours, stocks, out)
    if "korean" in only:
        eval_korean(args.shared, ours, stocks, out)
    if "clean" in only:
        eval_clean(args.shared, ours, stocks, out, show=args.show)
    if "prefilter" in only:
        eval_prefilter(args.shared, out)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
