"""MinHash near-duplicate quality: precision, recall and F1 against exact Jaccard, curate vs datatrove.

    .venv/bin/python bench/bench_minhash_quality.py                  # all sections
    .venv/bin/python bench/bench_minhash_quality.py --section shingling
    .venv/bin/python bench/bench_minhash_quality.py --bases 2400 --seed 0 --json out.json

Data: real texts from ``/work/shared/corpora`` read at benchmark time (never copied into the
repository; KorQuAD is CC BY-ND and only ever lives in memory and in a temporary folder deleted at the
end): KorQuAD paragraphs, Korean news (4 consecutive sentences), NSMC reviews and hate-speech comments
of 60+ characters, StackExchange threads, English news, Lingua sentences (4 per document, 20
languages). About 40% of the documents get one or two planted near-duplicates made by one of:

* ``spacing`` (Korean): spaces removed (10-70%) and inserted between syllables (0-10%);
* ``spelling`` (Korean): common confusions (되/돼, 안/않, 에/애, 데/대, 로서/로써 ...) and random
  syllable substitutions (0.2-3%), sometimes with spacing changes;
* ``char_edits``: substitutions, deletions and insertions of characters (0.2-5%);
* ``word_edits``: words replaced, deleted or inserted (1-15%);
* ``insertion``: a passage of another document of the same language inserted (5-50% of the length);
* ``reorder``: sentences/paragraphs swapped or rotated;
* ``truncate``: the last 5-40% cut.

Ground truth: the exact Jaccard similarity of every pair of documents (brute force, sparse
matrix product over the shingle sets), under character 5-grams (whitespace removed) and under word
5-grams, as curate shingles them (curate.dedup.minhash.shingles). A pair is a duplicate when its exact
Jaccard is >= the threshold (0.8).

Measured:

* **pairs**: the pairs a method reports as duplicates. curate: pairs sharing an LSH band (9 x 13 for
  0.8/128) whose estimated Jaccard (signature agreement) is >= 0.8 (``verify = true``); also without
  verification. datatrove: pairs sharing one of its 14 buckets of 8 hashes (its default 5-gram
  MinHash, no verification), computed by its own ``MinhashDedupSignature``.
* **documents** (end to end): the documents removed. Truth: every document of a connected component
  of the truth pairs except its first. curate: the ``minhash_dedup`` step run by the pipeline
  (``curate run``); datatrove: every document of a component of its bucket pairs except the first (what
  its clustering stage removes).

``--section shingling`` measures which shingling separates Korean near-duplicates from unrelated
texts: the exact Jaccard of spacing / spelling variants and of unrelated paragraphs (including
paragraphs of the same Wikipedia article) under word and character n-grams.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import ROOT, print_machine, table, versions  # noqa: E402

from curate.dedup.minhash import band_keys, shingles, sketch_jaccard  # noqa: E402

HANGUL = re.compile(r"[\uac00-\ud7a3]")
SENT = re.compile(r"(?<=[.!?。！？])\s+|\n+")
CONFUSIONS = [("되", "돼"), ("돼", "되"), ("안", "않"), ("않", "안"), ("에", "애"), ("애", "에"), ("데", "대"),
              ("대", "데"), ("로서", "로써"), ("로써", "로서"), ("던", "든"), ("었", "엇"), ("했", "햇"), ("습니다", "읍니다")]


# ---------------------------------------------------------------------------------------------------
# data


def shared_dir() -> Path:
    for p in (ROOT.parent / "shared" / "corpora", Path("/work/shared/corpora")):
        if p.is_dir():
            return p
    raise SystemExit("shared corpora not found (expected ../shared/corpora next to the repository)")


def load_bases(shared: Path, n: int, rng: random.Random) -> list[dict]:
    import make_corpus  # bench/make_corpus.py: the loaders of the shared benchmark corpus

    def group(lines: list[str], k: int) -> list[str]:
        return [" ".join(lines[i:i + k]) for i in range(0, len(lines) - k + 1, k)]

    data = json.loads((shared / "korquad_v1" / "KorQuAD_v1.0_dev.json").read_text(encoding="utf-8"))
    korquad = [(p["context"], a_i) for a_i, a in enumerate(data["data"]) for p in a["paragraphs"]]
    pools: dict[str, list[tuple[str, str, int | None]]] = {
        "korquad": [(t, "ko", g) for t, g in korquad],
        "news_ko": [(t, "ko", None) for t in group(make_corpus.load_news(shared, "ko"), 4)],
        "nsmc": [(t, "ko", None) for t in make_corpus.load_nsmc(shared) if len(t) >= 60],
        "hate": [(t, "ko", None) for t in make_corpus.load_hate(shared) if len(t) >= 60],
        "stackexchange": [(t[:4000], "en", None) for t in make_corpus.load_stackexchange(shared) if len(t) >= 200],
        "news_en": [(t, "en", None) for t in group(make_corpus.load_news(shared, "en"), 4)],
    }
    lingua = []
    for path in sorted((shared / "lingua_langid" / "sentences").glob("*.txt")):
        lines = [x for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
        lingua += [(t, path.stem, None) for t in group(lines, 4)]
    pools["lingua"] = lingua
    shares = {"korquad": 0.25, "news_ko": 0.08, "nsmc": 0.12, "hate": 0.05, "stackexchange": 0.2, "news_en": 0.08,
              "lingua": 0.22}
    bases = []
    for name, share in shares.items():
        pool = pools[name]
        k = min(len(pool), int(round(n * share)))
        for t, lang, g in rng.sample(pool, k):
            bases.append({"text": t, "lang": lang, "source": name, "group": g})
    rng.shuffle(bases)
    return bases


def _sentences(text: str) -> list[str]:
    parts = [p for p in SENT.split(text) if p.strip()]
    return parts if len(parts) > 1 else [text[i:i + 80] for i in range(0, len(text), 80)]


def spacing(text: str, rng: random.Random, remove: float, insert: float) -> str:
    out = []
    for i, ch in enumerate(text):
        if ch == " " and rng.random() < remove:
            continue
        out.append(ch)
        if (insert and i + 1 < len(text) and HANGUL.match(ch) and HANGUL.match(text[i + 1])
                and rng.random() < insert):
            out.append(" ")
    return "".join(out)


def spelling(text: str, rng: random.Random, rate: float, confusion: float = 0.1) -> str:
    for a, b in CONFUSIONS:
        if a in text:
            parts = text.split(a)
            text = parts[0] + "".join((b if rng.random() < confusion else a) + p for p in parts[1:])
    syll = [m.start() for m in HANGUL.finditer(text)]
    chars = list(text)
    for i in syll:
        if rng.random() < rate:
            chars[i] = chr(0xAC00 + rng.randrange(11172))
    return "".join(chars)


def char_edits(text: str, rng: random.Random, rate: float) -> str:
    alphabet = [c for c in text if not c.isspace()] or ["x"]
    out = []
    for ch in text:
        r = rng.random()
        if r < rate / 3:
            continue  # delete
        if r < 2 * rate / 3:
            out.append(rng.choice(alphabet))  # substitute
            continue
        out.append(ch)
        if r < rate:
            out.append(rng.choice(alphabet))  # insert
    return "".join(out)


def word_edits(text: str, rng: random.Random, rate: float) -> str:
    words = text.split(" ")
    vocab = words[:]
    out = []
    for w in words:
        r = rng.random()
        if r < rate / 3:
            continue
        if r < 2 * rate / 3:
            out.append(rng.choice(vocab))
            continue
        out.append(w)
        if r < rate:
            out.append(rng.choice(vocab))
    return " ".join(out)


def insertion(text: str, other: str, rng: random.Random, frac: float) -> str:
    k = max(1, int(len(text) * frac))
    start = rng.randrange(max(1, len(other) - k))
    passage = other[start:start + k]
    sents = _sentences(text)
    at = rng.randrange(len(sents) + 1)
    return " ".join(sents[:at] + [passage] + sents[at:])


def reorder(text: str, rng: random.Random) -> str:
    sents = _sentences(text)
    if len(sents) < 3:
        return " ".join(reversed(sents))
    if rng.random() < 0.5:
        k = rng.randrange(1, len(sents))
        sents = sents[k:] + sents[:k]  # rotate
    else:
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(sents) - 1)
            sents[i], sents[i + 1] = sents[i + 1], sents[i]
    return " ".join(sents)


def truncate(text: str, rng: random.Random, frac: float) -> str:
    return text[:max(1, int(len(text) * (1 - frac)))]


def make_variant(base: dict, others: list[dict], rng: random.Random) -> tuple[str, str]:
    t = base["text"]
    korean = base["lang"] == "ko"
    kinds = ["char_edits", "insertion", "reorder", "truncate"]
    kinds += ["spacing", "spacing", "spelling", "spelling"] if korean else ["word_edits", "word_edits"]
    kind = rng.choice(kinds)
    if kind == "spacing":
        return spacing(t, rng, rng.uniform(0.1, 0.7), rng.uniform(0.0, 0.1)), kind
    if kind == "spelling":
        out = spelling(t, rng, rng.uniform(0.002, 0.03))
        if rng.random() < 0.5:
            out = spacing(out, rng, rng.uniform(0.0, 0.4), rng.uniform(0.0, 0.05))
        return out, kind
    if kind == "char_edits":
        return char_edits(t, rng, rng.uniform(0.002, 0.05)), kind
    if kind == "word_edits":
        return word_edits(t, rng, rng.uniform(0.01, 0.15)), kind
    if kind == "insertion":
        same = [o for o in others if o["lang"] == base["lang"] and o is not base] or others
        return insertion(t, rng.choice(same)["text"], rng, rng.uniform(0.05, 0.5)), kind
    if kind == "reorder":
        return reorder(t, rng), kind
    return truncate(t, rng, rng.uniform(0.05, 0.4)), kind


def build_corpus(n_bases: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    bases = load_bases(shared_dir(), n_bases, rng)
    docs = []
    for i, b in enumerate(bases):
        docs.append({**b, "base": i, "kind": "original"})
        if rng.random() < 0.4:
            for _ in range(1 if rng.random() < 0.7 else 2):
                text, kind = make_variant(b, bases, rng)
                docs.append({**b, "text": text, "base": i, "kind": kind})
    rng.shuffle(docs)  # variants are not next to their originals in the stable order
    return docs


# ---------------------------------------------------------------------------------------------------
# exact Jaccard (brute force over all pairs)


def exact_pairs(sets: list[set], floor: float = 0.3) -> dict[tuple[int, int], float]:
    """Exact Jaccard of every pair with Jaccard >= floor, by a sparse matrix product."""
    import scipy.sparse as sp

    vocab: dict[str, int] = {}
    rows, cols = [], []
    for i, s in enumerate(sets):
        for x in s:
            cols.append(vocab.setdefault(x, len(vocab)))
            rows.append(i)
    X = sp.csr_matrix((np.ones(len(rows), dtype=np.int32), (rows, cols)), shape=(len(sets), max(1, len(vocab))))
    C = sp.triu(X @ X.T, k=1).tocoo()
    size = np.array([len(s) for s in sets], dtype=np.float64)
    jac = C.data / (size[C.row] + size[C.col] - C.data)
    keep = jac >= floor
    return {(int(a), int(b)): float(j) for a, b, j in zip(C.row[keep], C.col[keep], jac[keep])}


# ---------------------------------------------------------------------------------------------------
# methods


def bucket_pairs(keys: np.ndarray, valid: np.ndarray) -> set[tuple[int, int]]:
    """All pairs of documents that share a key in some column (band/bucket)."""
    pairs = set()
    for k in range(keys.shape[1]):
        buckets = defaultdict(list)
        for i in np.flatnonzero(valid).tolist():
            buckets[keys[i, k]].append(i)
        for members in buckets.values():
            if len(members) > 1:
                for x in range(len(members)):
                    for y in range(x + 1, len(members)):
                        pairs.add((members[x], members[y]))
    return pairs


def step_for(shingle: str, threshold: float, **params):
    """The minhash_dedup step as a recipe would configure it (bands, rows and sketch size included)."""
    from curate.pipeline.params import build_params
    from curate.steps.dedup_minhash import MinHashDedup

    return MinHashDedup(build_params(MinHashDedup.Params, {"shingle": shingle, "threshold": threshold, **params},
                                     "bench"))


def curate_pairs(texts: list[str], langs: list[str], shingle: str, threshold: float, **params):
    """(candidate pairs, verified pairs) exactly as minhash_dedup decides them, but for *every* pair
    of a bucket (the step itself only checks the edges it needs for the components)."""
    step = step_for(shingle, threshold, **params)
    res = step.hasher().signatures(texts, langs)
    keys = band_keys(res.sig, step.bands, step.rows)
    cand = sorted(bucket_pairs(keys, res.shingles > 0))
    if not cand:
        return set(), set()
    a = np.array([p[0] for p in cand])
    b = np.array([p[1] for p in cand])
    if step.sketch_k:
        off = res.sketch_offsets
        la, lb = off[a + 1] - off[a], off[b + 1] - off[b]
        va = np.concatenate([res.sketch_of(i) for i in a])
        vb = np.concatenate([res.sketch_of(i) for i in b])
        jac = sketch_jaccard(va, np.concatenate([[0], np.cumsum(la)]), vb, np.concatenate([[0], np.cumsum(lb)]),
                             step.sketch_k)
    else:
        jac = (res.sig[a] == res.sig[b]).mean(axis=1)
    verified = {p for p, j in zip(cand, jac) if j >= threshold - 1e-9} if step.params.verify else set(cand)
    return set(cand), verified


def datatrove_pairs(texts: list[str]):
    from bench_minhash import run_datatrove

    sigs = run_datatrove(texts, "sigs")
    n = len(texts)
    valid = np.array([s is not None for s in sigs])
    keys = np.zeros((n, 14), dtype=object)
    for i, s in enumerate(sigs):
        if s is not None:
            for k, bucket in enumerate(s):
                keys[i, k] = tuple(bucket)
    return bucket_pairs(keys, valid)


def components_removed(n: int, pairs) -> set[int]:
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {i for i in range(n) if find(i) != i}


def prf(pred: set, truth: set) -> dict:
    tp = len(pred & truth)
    p = tp / len(pred) if pred else 1.0
    r = tp / len(truth) if truth else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "recall": r, "f1": f, "tp": tp, "fp": len(pred - truth), "fn": len(truth - pred)}


def run_step(docs: list[dict], shingle: str, threshold: float, workdir: Path) -> set[int]:
    """Run the minhash_dedup step through the pipeline; return the indices of the removed documents."""
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq

    from curate.pipeline import Pipeline, parse_recipe
    from curate.pipeline.batch import documents_batch

    raw = workdir / f"raw-{shingle}"
    (raw / "documents").mkdir(parents=True)
    step = 1000
    for k in range(0, len(docs), step):
        part = docs[k:k + step]
        batch = documents_batch([d["text"] for d in part], source="bench", lang=[d["lang"] for d in part],
                                input_file=f"part-{k // step:03d}")
        pq.write_table(pa.Table.from_batches([batch]), raw / "documents" / f"part-{k // step:03d}.parquet")
    recipe = f'name = "bench"\n[[steps]]\nname = "minhash_dedup"\nshingle = "{shingle}"\nthreshold = {threshold}\n'
    out = workdir / f"run-{shingle}"
    Pipeline(parse_recipe(recipe), progress=False).run(raw, out)
    con = duckdb.connect()
    rows = con.sql(f"""SELECT input_file, position FROM read_parquet('{out}/decisions/*.parquet')
                       WHERE dropped_by = 'minhash_dedup'""").fetchall()
    return {int(f.split("-")[1]) * step + int(p) for f, p in rows}


# ---------------------------------------------------------------------------------------------------
# sections


def section_quality(docs: list[dict], threshold: float, with_datatrove: bool) -> dict:
    texts = [d["text"] for d in docs]
    langs = [d["lang"] for d in docs]
    n = len(docs)
    results: dict = {"documents": n, "planted": sum(d["kind"] != "original" for d in docs)}
    dt_pairs = None
    if with_datatrove:
        t0 = time.perf_counter()
        dt_pairs = datatrove_pairs(texts)
        results["datatrove_seconds"] = time.perf_counter() - t0
    tmp = Path(tempfile.mkdtemp(prefix="curate-mhq-"))
    try:
        for track in ("char", "word", "auto"):
            modes = []
            sets = []
            from curate.dedup.minhash import shingle_mode
            for t, lang in zip(texts, langs):
                mode = shingle_mode(t, lang, track)
                modes.append(mode)
                sets.append(set(shingles(t, mode, 5)))
            truth_j = exact_pairs(sets)
            truth = {p for p, j in truth_j.items() if j >= threshold}
            cand, verified = curate_pairs(texts, langs, track, threshold)
            _, sig_verified = curate_pairs(texts, langs, track, threshold, verify_sketch=0)
            _, unverified = curate_pairs(texts, langs, track, threshold, verify=False)
            truth_removed = components_removed(n, truth)
            step_removed = run_step(docs, track, threshold, tmp)
            r = {"truth_pairs": len(truth), "candidates": len(cand),
                 "curate_verified": prf(verified, truth), "curate_signature_verified": prf(sig_verified, truth),
                 "curate_unverified": prf(unverified, truth),
                 "curate_step_documents": prf(step_removed, truth_removed), "truth_removed": len(truth_removed)}
            # recall by exact-Jaccard bin and precision near the threshold
            bins = [(threshold, 0.9), (0.9, 1.0001)]
            r["recall_by_bin"] = {f"[{lo:.2f},{min(hi, 1):.2f}]": prf(verified, {p for p in truth if lo <= truth_j[p] < hi})["recall"]
                                  for lo, hi in bins}
            near = {p for p, j in truth_j.items() if threshold - 0.1 <= j < threshold}
            r["false_positive_rate_0.7_0.8"] = len(verified & near) / max(1, len(near))
            # by planted kind: recall of planted pairs (original, variant) that are truly >= threshold
            by_kind = {}
            index = {(d["base"], d["kind"]): i for i, d in enumerate(docs)}
            orig = {d["base"]: i for i, d in enumerate(docs) if d["kind"] == "original"}
            for kind in sorted({d["kind"] for d in docs} - {"original"}):
                planted = {tuple(sorted((orig[d["base"]], i))) for i, d in enumerate(docs) if d["kind"] == kind}
                planted_true = {p for p in planted if p in truth}
                row = {"planted": len(planted), "exact_j_mean": float(np.mean([truth_j.get(p, 0.0) for p in planted])),
                       "truth_dups": len(planted_true),
                       "curate_found_of_planted": len(planted & verified) / max(1, len(planted)),
                       "curate_recall": len(planted_true & verified) / max(1, len(planted_true))}
                if dt_pairs is not None:
                    row["datatrove_found_of_planted"] = len(planted & dt_pairs) / max(1, len(planted))
                    row["datatrove_recall"] = len(planted_true & dt_pairs) / max(1, len(planted_true))
                by_kind[kind] = row
            del index
            r["by_kind"] = by_kind
            if dt_pairs is not None:
                r["datatrove_pairs"] = prf(dt_pairs, truth)
                r["datatrove_documents"] = prf(components_removed(n, dt_pairs), truth_removed)
            results[track] = r
            print(f"  track {track}: done", file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return results


def section_shingling(seed: int) -> dict:
    """Exact Jaccard of Korean near-duplicates vs unrelated texts under several shingling choices."""
    rng = random.Random(seed)
    shared = shared_dir()
    bases = [b for b in load_bases(shared, 1500, rng) if b["lang"] == "ko" and len(b["text"]) >= 100]
    data = json.loads((shared / "korquad_v1" / "KorQuAD_v1.0_dev.json").read_text(encoding="utf-8"))
    same_article = []
    for a in data["data"]:
        ps = [p["context"] for p in a["paragraphs"]]
        same_article += [(ps[i], ps[i + 1]) for i in range(len(ps) - 1)]
    same_article = rng.sample(same_article, min(300, len(same_article)))
    reviews: dict[str, list[str]] = defaultdict(list)
    with open(shared / "korean_nsmc_reviews" / "nsmc_raw_reviews_first312movies.jsonl", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            if len(row["review"]) >= 30:
                reviews[row["movie_id"]].append(row["review"])
    same_movie = []
    for rs in reviews.values():
        same_movie += [(rs[i], rs[i + 1]) for i in range(0, len(rs) - 1, 2)]
    same_movie = rng.sample(same_movie, min(2000, len(same_movie)))
    pairs = {"spacing": [], "spelling": [], "spelling+spacing": [], "char_edits 2%": [], "unrelated": [],
             "same article": same_article, "same-movie reviews": same_movie}
    for b in bases[:300]:
        t = b["text"]
        pairs["spacing"].append((t, spacing(t, rng, rng.uniform(0.1, 0.7), rng.uniform(0, 0.1))))
        pairs["spelling"].append((t, spelling(t, rng, 0.01)))
        pairs["spelling+spacing"].append((t, spacing(spelling(t, rng, 0.01), rng, 0.3, 0.03)))
        pairs["char_edits 2%"].append((t, char_edits(t, rng, 0.02)))
    for _ in range(2000):
        a, b = rng.sample(bases, 2)
        pairs["unrelated"].append((a["text"], b["text"]))
    configs = [("word", 1), ("word", 2), ("word", 3), ("word", 5), ("char", 2), ("char", 3), ("char", 4), ("char", 5),
               ("char", 6), ("char", 7)]
    out = {}
    for mode, k in configs:
        row = {}
        for name, ps in pairs.items():
            js = []
            for a, b in ps:
                sa, sb = set(shingles(a, mode, k)), set(shingles(b, mode, k))
                js.append(len(sa & sb) / max(1, len(sa | sb)))
            js = np.array(js)
            row[name] = {"mean": float(js.mean()), "p05": float(np.quantile(js, 0.05)),
                         "p99": float(np.quantile(js, 0.99)), "max": float(js.max()), "ge_0.8": float((js >= 0.8).mean())}
        out[f"{mode}-{k}"] = row
    return out


def print_quality(res: dict, threshold: float) -> None:
    v, nv = step_for("auto", threshold), step_for("auto", threshold, verify=False)
    print(f"\n{res['documents']:,} documents, {res['planted']:,} planted near-duplicates; threshold {threshold}; "
          f"curate 128 perms, {v.bands} bands x {v.rows} rows verified with bottom-{v.sketch_k} sketches "
          f"(without verification: {nv.bands} x {nv.rows}); datatrove 5-gram words, 14 x 8")
    rows = []
    for track in ("char", "word", "auto"):
        r = res[track]
        line = [track, f"{r['truth_pairs']:,}"]
        for key in ("curate_verified", "curate_signature_verified", "curate_unverified", "datatrove_pairs"):
            m = r.get(key)
            line.append(f"{m['precision']:.3f} / {m['recall']:.3f} / **{m['f1']:.3f}**" if m else "-")
        for key in ("curate_step_documents", "datatrove_documents"):
            m = r.get(key)
            line.append(f"{m['precision']:.3f} / {m['recall']:.3f} / **{m['f1']:.3f}**" if m else "-")
        rows.append(line)
    print(table(["truth shingling", "truth pairs (J >= t)", "curate pairs P / R / F1",
                 "curate, verify by signature", "curate, no verify", "datatrove pairs",
                 "curate step, documents removed", "datatrove, documents removed"], rows, "lrrrrrrr"))
    for track in ("char", "word"):
        r = res[track]
        print(f"\nby planted transformation (truth: {track} 5-grams): share of planted pairs found, "
              "and recall of those that are true duplicates")
        rows = []
        for kind, k in r["by_kind"].items():
            rows.append([kind, k["planted"], f"{k['exact_j_mean']:.2f}", k["truth_dups"],
                         f"{k['curate_found_of_planted']:.3f}", f"{k['curate_recall']:.3f}",
                         f"{k.get('datatrove_found_of_planted', float('nan')):.3f}", f"{k.get('datatrove_recall', float('nan')):.3f}"])
        print(table(["planted", "pairs", "mean exact J", "J >= t", "curate found", "curate recall",
                     "datatrove found", "datatrove recall"], rows))
        print(f"recall by exact-Jaccard bin: {r['recall_by_bin']}; share of pairs with 0.7 <= J < 0.8 reported: "
              f"{r['false_positive_rate_0.7_0.8']:.3f}")


NEGATIVES = ("unrelated", "same article", "same-movie reviews")


def print_shingling(res: dict) -> None:
    names = list(next(iter(res.values())).keys())
    rows = []
    for cfg, row in res.items():
        rows.append([cfg] + [f"{row[n]['mean']:.2f} ({row[n]['ge_0.8']:.2f})" if n not in NEGATIVES
                             else f"{row[n]['p99']:.3f} / {row[n]['max']:.3f}" for n in names])
    print("\nKorean: exact Jaccard by shingling. Near-duplicates: mean (share >= 0.8); unrelated pairs: p99 / max")
    print(table(["shingles"] + names, rows))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bases", type=int, default=2400)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("--section", choices=["all", "quality", "shingling"], default="all")
    ap.add_argument("--no-datatrove", action="store_true")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    print_machine(versions("numpy", "datasketch", "duckdb", "scipy"))
    out = {}
    if args.section in ("all", "shingling"):
        out["shingling"] = section_shingling(args.seed)
        print_shingling(out["shingling"])
    if args.section in ("all", "quality"):
        from bench_minhash import datatrove_available

        docs = build_corpus(args.bases, args.seed)
        out["quality"] = section_quality(docs, args.threshold, datatrove_available() and not args.no_datatrove)
        print_quality(out["quality"], args.threshold)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, default=str))


if __name__ == "__main__":
    main()
