"""minhash_dedup: datasketch-compatible signatures, LSH math, components, and the global step end to end
(planted near-duplicates in real Korean text, representative policies, cluster table, memory limit,
cross-corpus index, bad input, determinism)."""

from __future__ import annotations

import hashlib
import io
import json
import random
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from curate.dedup.components import component_members, connected_components
from curate.dedup.minhash import (MinHasher, band_keys, optimal_param, shingle_hasher, shingle_mode, shingles,
                                  sketch_jaccard)
from curate.errors import CurateError
from curate.ingest import ReaderOptions, ingest
from curate.pipeline import Pipeline, parse_recipe

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
NEWS_KO = (SAMPLE / "news" / "korean-english-park.dev.ko.txt").read_text(encoding="utf-8").splitlines()
NEWS_EN = (SAMPLE / "news" / "korean-english-park.dev.en.txt").read_text(encoding="utf-8").splitlines()


def _reviews() -> list[str]:
    with open(SAMPLE / "reviews" / "nsmc_reviews.jsonl.zst", "rb") as fh:
        text = io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(fh), encoding="utf-8")
        return [json.loads(line)["review"] for line in text]


REVIEWS = _reviews()
EDGE_CASES = ["", " \n\t ", "!!! ... ???", "가", "ab", "안녕", "😀😀 🎉", "a\x00b\x01c", "ｆｕｌｌ　ｗｉｄｔｈ ＡＢＣ",
              "Ünïcödé ﬁne — “quotes”", "zero\u200bwidth\u00adsoft", "ㅋㅋㅋㅋㅋ ㅎㅎ", "日本語のテキストです。", "ไทยไม่มีช่องว่าง"]


# ---------------------------------------------------------------------------------------------------
# library: compatibility and math


@pytest.mark.parametrize("scheme", ["affine32", "legacy"])
@pytest.mark.parametrize("mode,n", [("char", 5), ("word", 5), ("char", 3), ("word", 2)])
def test_signatures_equal_datasketch(scheme, mode, n):
    datasketch = pytest.importorskip("datasketch")
    texts = NEWS_KO[:40] + REVIEWS[:40] + NEWS_EN[:20] + EDGE_CASES + [None]
    hasher = MinHasher(num_perm=64, seed=7, scheme=scheme, shingle=mode, char_ngram=n, word_ngram=n)
    res = hasher.signatures(pa.array(texts, pa.string()))
    for i, text in enumerate(texts):
        sh = shingles(text or "", mode, n)
        m = datasketch.MinHash(num_perm=64, seed=7, scheme=scheme, hashfunc=shingle_hasher(mode))
        m.update_batch(sh)  # shingles as str: our hash functions take str or bytes
        assert res.shingles[i] == len(sh), (i, text)
        assert np.array_equal(res.sig[i].astype(np.uint64), m.hashvalues.astype(np.uint64)), (i, text)


def test_optimal_param_equals_datasketch():
    lsh = pytest.importorskip("datasketch.lsh")
    cases = [(n, t, w) for n in (32, 128) for t in (0.5, 0.7, 0.8, 0.9) for w in ((0.5, 0.5), (0.05, 0.95), (0.3, 0.7))]
    for num_perm, threshold, weights in cases + [(256, 0.8, (0.5, 0.5))]:
        assert optimal_param(threshold, num_perm, *weights) == lsh._optimal_param(threshold, num_perm, *weights)
    assert optimal_param(0.8, 128) == (9, 13)


def test_auto_shingling_by_language_and_script():
    texts = [NEWS_KO[0], NEWS_EN[0], NEWS_KO[1], NEWS_EN[1], "日本語のテキストです", "中文文本没有空格", NEWS_KO[2]]
    langs = [None, None, "ko", "en", "ja", "zh-Hans", "en"]
    res = MinHasher(num_perm=16).signatures(texts, langs)
    expected = [True, False, True, False, True, True, False]  # a declared language wins over the script
    assert res.char_mode.tolist() == expected
    assert [shingle_mode(t, lang) == "char" for t, lang in zip(texts, langs)] == expected
    # spacing (띄어쓰기) does not change character shingles at all, and changes most word shingles
    spaced, unspaced = NEWS_KO[3], NEWS_KO[3].replace(" ", "")
    assert set(shingles(spaced, "char", 5)) == set(shingles(unspaced, "char", 5))
    assert not set(shingles(spaced, "word", 5)) & set(shingles(unspaced, "word", 5))


def test_long_documents_are_streamed_in_windows_with_the_same_result():
    long_ko = "\n\n".join(NEWS_KO[:200])
    long_en = " ".join(NEWS_EN[:200])
    texts = [long_ko, long_en, NEWS_KO[5], "x" * 50]
    whole = MinHasher(num_perm=32, sketch_k=64).signatures(texts)
    windowed = MinHasher(num_perm=32, sketch_k=64, window_chars=500, batch_chars=2000).signatures(texts)
    assert np.array_equal(whole.sig, windowed.sig)
    assert np.array_equal(whole.shingles, windowed.shingles)
    assert np.array_equal(whole.sketch, windowed.sketch) and np.array_equal(whole.sketch_offsets, windowed.sketch_offsets)


def test_sketch_jaccard_is_exact_up_to_k_shingles():
    rng = random.Random(1)
    docs = [r for r in REVIEWS if len(r) > 40][:60]
    variants = [d.replace(" ", "", 2) if i % 2 else d[:-3] + "좋다" for i, d in enumerate(docs)]
    texts = docs + variants
    k = 256
    res = MinHasher(num_perm=32, sketch_k=k).signatures(texts)
    pairs = [(i, i + len(docs)) for i in range(len(docs))] + [(rng.randrange(60), rng.randrange(60)) for _ in range(40)]
    a = np.array([p[0] for p in pairs])
    b = np.array([p[1] for p in pairs])
    off = res.sketch_offsets
    ja = sketch_jaccard(np.concatenate([res.sketch_of(i) for i in a]), np.concatenate([[0], np.cumsum(off[a + 1] - off[a])]),
                        np.concatenate([res.sketch_of(i) for i in b]), np.concatenate([[0], np.cumsum(off[b + 1] - off[b])]), k)
    for (i, j), est in zip(pairs, ja):
        si, sj = set(shingles(texts[i], "char", 5)), set(shingles(texts[j], "char", 5))
        assert abs(est - len(si & sj) / len(si | sj)) < 1e-12
    # long documents: an unbiased sample of the union, close to the exact value
    long_a = "\n".join(NEWS_KO[:30])
    long_b = "\n".join(NEWS_KO[3:33])
    r2 = MinHasher(num_perm=32, sketch_k=k).signatures([long_a, long_b])
    est = sketch_jaccard(r2.sketch_of(0), np.array([0, r2.sketch_of(0).size]), r2.sketch_of(1),
                         np.array([0, r2.sketch_of(1).size]), k)[0]
    sa, sb = set(shingles(long_a, "char", 5)), set(shingles(long_b, "char", 5))
    assert abs(est - len(sa & sb) / len(sa | sb)) < 0.08


def test_band_keys_equal_exactly_when_bands_equal():
    sig = MinHasher(num_perm=64).signatures([NEWS_KO[0], NEWS_KO[0].replace(" ", ""), NEWS_KO[1]]).sig
    keys = band_keys(sig, 8, 8)
    for k in range(8):
        same = [np.array_equal(sig[i, k * 8:(k + 1) * 8], sig[j, k * 8:(k + 1) * 8]) for i, j in ((0, 1), (0, 2))]
        assert [keys[0, k] == keys[1, k], keys[0, k] == keys[2, k]] == same


def test_connected_components_bounded_and_order_independent():
    rng = np.random.default_rng(3)
    n = 5000
    a, b = rng.integers(0, n, 3000), rng.integers(0, n, 3000)
    parent = list(range(n))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for x, y in zip(a.tolist(), b.tolist()):
        rx, ry = find(x), find(y)
        if rx != ry:
            parent[max(rx, ry)] = min(rx, ry)
    ref = np.array([find(i) for i in range(n)])
    labels = connected_components(n, lambda: ((a[i:i + 500], b[i:i + 500]) for i in range(0, 3000, 500)))
    assert labels.dtype == np.int32 and np.array_equal(labels, ref)
    perm = rng.permutation(3000)
    shuffled = connected_components(n, lambda: iter([(b[perm], a[perm])]))
    assert np.array_equal(shuffled, ref)
    members = np.concatenate([m[0] for m in component_members(labels, chunk=777)])
    sizes = np.bincount(ref, minlength=n)[ref]
    assert np.array_equal(members, np.flatnonzero(sizes > 1))


# ---------------------------------------------------------------------------------------------------
# the step, end to end


def _spacing(text: str, rng: random.Random) -> str:
    out = []
    for i, ch in enumerate(text):
        if ch == " " and rng.random() < 0.6:
            continue
        out.append(ch)
        if "가" <= ch <= "힣" and i + 1 < len(text) and "가" <= text[i + 1] <= "힣" and rng.random() < 0.04:
            out.append(" ")
    return "".join(out)


def _edit(text: str, rng: random.Random, rate: float = 0.01) -> str:
    chars = list(text)
    for i, ch in enumerate(chars):
        if "가" <= ch <= "힣" and rng.random() < rate:
            chars[i] = chr(0xAC00 + rng.randrange(11172))
    return "".join(chars)


def _write_jsonl(path: Path, texts: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts), encoding="utf-8")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """News documents (3 sentences, one paragraph each), planted near-duplicates of some of them in a
    later shard, and the NSMC reviews as unrelated documents."""
    rng = random.Random(0)
    base = ["\n\n".join(NEWS_KO[i:i + 4]) for i in range(0, 900, 4)]
    planted: list[tuple[str, int, str]] = []  # (text, base index, kind)

    def jaccard(x: str, y: str) -> float:
        a, b = set(shingles(x, "char", 5)), set(shingles(y, "char", 5))
        return len(a & b) / len(a | b)

    def rotate(t: str) -> str:
        paragraphs = t.split("\n\n")
        return "\n\n".join(paragraphs[1:] + paragraphs[:1])

    makers = [("spacing", lambda t: _spacing(t, rng)), ("edit", lambda t: _edit(t, rng, 0.004)),
              ("reorder", rotate), ("cluster3", None), ("longer", lambda t: t + "\n\n관련 기사 더 보기")]
    i = 0
    for kind, make in makers:  # 12 (6 for the last two) clear near-duplicates (exact Jaccard >= 0.88) each
        found = 0
        while found < (12 if kind in ("spacing", "edit", "reorder") else 6):
            copies = [_spacing(base[i], rng), _edit(base[i], rng, 0.004)] if make is None else [make(base[i])]
            if all(jaccard(c, base[i]) >= 0.88 for c in copies):
                planted += [(c, i, "spacing" if make is None and k == 0 else "edit" if make is None else kind)
                            for k, c in enumerate(copies)]
                found += 1
            i += 1
    src = tmp_path_factory.mktemp("mh_src")
    _write_jsonl(src / "a_news" / "news.jsonl", base)
    _write_jsonl(src / "b_planted" / "planted.jsonl", [t for t, _, _ in planted])
    raw = tmp_path_factory.mktemp("mh_raw")
    ingest([str(src / "a_news")], source="news", out=raw, options=ReaderOptions(lang="ko"), progress=False)
    ingest([str(src / "b_planted")], source="planted", out=raw, options=ReaderOptions(lang="ko"), progress=False)
    ingest([str(SAMPLE / "reviews")], source="reviews", out=raw, options=ReaderOptions(text_field="review"),
           progress=False)
    docs = pq.read_table(raw / "documents").to_pylist()
    ids = {(d["source"], d["position"]): d["id"] for d in docs}
    text_by_id = {d["id"]: d["text"] for d in docs}
    return {"raw": raw, "base": base, "planted": planted, "ids": ids, "text": text_by_id, "src": src}


def _run(raw: Path, out: Path, workers: int = 1, recipe_extra: str = "", pre: str = "", overwrite=False) -> dict:
    recipe = f'name = "mh"\n{pre}[[steps]]\nname = "minhash_dedup"\n{recipe_extra}'
    return Pipeline(parse_recipe(recipe), workers=workers).run(raw, out, overwrite=overwrite)


def _decisions(out: Path) -> dict[str, dict]:
    return {r["id"]: r for r in pq.read_table(out / "decisions").to_pylist()}


@pytest.fixture(scope="module")
def default_run(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("mh_run") / "run"
    manifest = _run(corpus["raw"], out)
    return out, manifest


def test_planted_near_duplicates_are_clustered_unrelated_are_not(corpus, default_run):
    out, manifest = default_run
    dec = _decisions(out)
    ids = corpus["ids"]
    for k, (_text, i, kind) in enumerate(corpus["planted"]):
        d = dec[ids[("planted", k)]]
        base_id = ids[("news", i)]
        assert d["status"] == "dropped" and d["dropped_by"] == "minhash_dedup", (kind, d)
        assert d["minhash_rep"] == base_id and base_id in d["reason"], (kind, d)
        assert d["minhash_cluster"] == base_id  # the cluster is named after its first document
        assert 0.8 <= d["minhash_jaccard"] <= 1.0
        assert dec[base_id]["kept"] and dec[base_id]["minhash_rep"] == base_id
        if kind == "spacing":
            assert d["minhash_jaccard"] == 1.0  # spacing changes nothing in character shingles
    sizes = {}
    for _t, i, _k in corpus["planted"]:
        sizes[i] = sizes.get(i, 1) + 1
    for i, size in sizes.items():
        assert dec[ids[("news", i)]]["minhash_cluster_size"] == size
    # no original news document is dropped; every cluster holds truly similar documents only
    assert all(dec[ids[("news", i)]]["kept"] for i in range(len(corpus["base"])))
    con = duckdb.connect()
    pairs = con.sql(f"""SELECT c.id, c.representative FROM '{out}/clusters/*.parquet' c
                        WHERE NOT c.is_representative""").fetchall()
    assert len(pairs) == manifest["counts_by_step"]["minhash_dedup"]["dropped"]
    text = corpus["text"]
    for doc, rep in pairs:
        a, b = set(shingles(text[doc], "char", 5)), set(shingles(text[rep], "char", 5))
        assert len(a & b) / len(a | b) >= 0.7, (text[doc], text[rep])
    # reviews: only (near-)identical short reviews are clustered, and they are few
    dropped_reviews = sum(1 for d in dec.values() if d["source"] == "reviews" and not d["kept"])
    assert dropped_reviews < 100


def test_representative_policies(corpus, default_run, tmp_path):
    ids = corpus["ids"]
    longer = [(k, i) for k, (_t, i, kind) in enumerate(corpus["planted"]) if kind == "longer"]
    dec = _decisions(default_run[0])
    assert all(not dec[ids[("planted", k)]]["kept"] for k, _ in longer)  # first: the original wins
    _run(corpus["raw"], tmp_path / "longest", recipe_extra='keep = "longest"\n')
    dec = _decisions(tmp_path / "longest")
    for k, i in longer:
        assert dec[ids[("planted", k)]]["kept"] and not dec[ids[("news", i)]]["kept"]
        assert dec[ids[("news", i)]]["minhash_rep"] == ids[("planted", k)]
    # a quality column from an earlier step: empty_text's n_chars gives the same choice as "longest"
    _run(corpus["raw"], tmp_path / "column", pre='[[steps]]\nname = "empty_text"\n',
         recipe_extra='keep = "column:n_chars"\n')
    col = _decisions(tmp_path / "column")
    assert {i for i, d in col.items() if not d["kept"]} == {i for i, d in dec.items() if not d["kept"]}
    _run(corpus["raw"], tmp_path / "none", recipe_extra='keep = "none"\n')
    none = _decisions(tmp_path / "none")
    for k, (_t, i, _kind) in enumerate(corpus["planted"]):
        assert not none[ids[("planted", k)]]["kept"] and not none[ids[("news", i)]]["kept"]
        assert "keep = none" in none[ids[("news", i)]]["reason"]
    with pytest.raises(CurateError, match="n_chars"):
        _run(corpus["raw"], tmp_path / "missing", recipe_extra='keep = "column:n_chars"\n')
    with pytest.raises(CurateError, match="keep"):
        parse_recipe('name = "x"\n[[steps]]\nname = "minhash_dedup"\nkeep = "biggest"\n')


def test_cluster_table_and_stats(default_run):
    from curate.stats.summary import render, summarize
    from curate.stats.views import connect, has_view

    out, _ = default_run
    con = connect(out)
    assert has_view(con, "clusters")
    rows = con.sql("""SELECT dup_cluster, count(*) AS n, count(*) FILTER (WHERE is_representative) AS reps,
                             max(cluster_size) AS size FROM clusters GROUP BY 1""").fetchall()
    assert rows and all(reps == 1 and n == size for _c, n, reps, size in rows)
    joined = con.sql("""SELECT count(*) FROM clusters c JOIN decisions d USING (id)
                        WHERE d.kept <> c.is_representative""").fetchall()[0][0]
    assert joined == 0
    tables = summarize(out)
    sizes = [t for t in tables if t.title.startswith("near-duplicate clusters")]
    assert sizes and {r[1] for r in sizes[0].rows} >= {"2", "3"}
    assert "near-duplicate clusters" in render(tables)


def test_memory_limit_below_signature_data_completes(corpus, default_run, tmp_path):
    # 1024 hash values per document: 4 KiB of signature per document, 4,300+ documents: more signature
    # data than the 16 MB DuckDB limit (and bottom-256 sketches on top)
    extra = 'num_perm = 1024\nbands = 16\nrows = 8\nmemory_limit = "16MB"\nthreads = 1\n'
    manifest = _run(corpus["raw"], tmp_path / "small", recipe_extra=extra)
    docs = manifest["counts"]["read"]
    sig_bytes = sum(pq.ParquetFile(p).metadata.num_rows for p in (corpus["raw"] / "documents").glob("*.parquet")) * 4096
    assert docs * 1024 * 4 == sig_bytes > 16_000_000
    dec = _decisions(tmp_path / "small")
    ids = corpus["ids"]
    assert all(not dec[ids[("planted", k)]]["kept"] for k in range(len(corpus["planted"])))
    # the same decisions as with plenty of memory
    _run(corpus["raw"], tmp_path / "large", recipe_extra=extra.replace('"16MB"', '"1GB"'))
    small, large = _files(tmp_path / "small"), _files(tmp_path / "large")
    assert small == large and manifest["counts"]["dropped"] > len(corpus["planted"])


def test_index_out_and_against_dedup_a_new_corpus_without_the_old_one(corpus, tmp_path):
    src = corpus["src"]
    old_raw, new_raw = tmp_path / "old_raw", tmp_path / "new_raw"
    ingest([str(src / "a_news")], source="news", out=old_raw, options=ReaderOptions(lang="ko"), progress=False)
    index = tmp_path / "index" / "news-v1"
    _run(old_raw, tmp_path / "old_run", recipe_extra=f'index_out = "{index}"\n')
    info = json.loads((index / "index.json").read_text())
    assert info["docs"] == len(corpus["base"]) and info["params"]["num_perm"] == 128
    shutil.rmtree(old_raw)  # the old corpus is gone: only its index is left
    shutil.rmtree(tmp_path / "old_run")
    fresh = [r for r in REVIEWS if len(r) > 30][:200]
    _write_jsonl(tmp_path / "new_src" / "new.jsonl", [t for t, _, _ in corpus["planted"]] + fresh)
    ingest([str(tmp_path / "new_src")], source="new", out=new_raw, options=ReaderOptions(lang="ko"), progress=False)
    out = tmp_path / "new_run"
    manifest = _run(new_raw, out, recipe_extra=f'against = ["{index}"]\n')
    dec = pq.read_table(out / "decisions").to_pylist()
    planted = [d for d in dec if d["position"] < len(corpus["planted"])]
    assert all(not d["kept"] and "in index news-v1" in d["reason"] for d in planted)
    base_ids = {corpus["ids"][("news", i)] for _t, i, _k in corpus["planted"]}
    assert {d["minhash_rep"] for d in planted} == base_ids  # the old documents are the representatives
    assert manifest["counts"]["kept"] >= len(fresh) - 10
    # parameters that change signatures cannot be compared with the index
    with pytest.raises(CurateError, match="other parameters"):
        _run(new_raw, tmp_path / "bad", recipe_extra=f'against = ["{index}"]\nnum_perm = 64\n')
    with pytest.raises(CurateError, match="not a MinHash index"):
        parse_recipe(f'name = "x"\n[[steps]]\nname = "minhash_dedup"\nagainst = ["{tmp_path}"]\n')


def test_bad_input_is_counted_never_crashes(tmp_path):
    rng = random.Random(5)
    long_text = "\n".join(NEWS_KO * 17)  # ~1.1M characters: streamed in windows
    assert len(long_text) > (1 << 20)
    long_copy = _edit(long_text, rng, 0.0005)
    texts = EDGE_CASES + [long_text, long_copy, NEWS_KO[10], NEWS_KO[10] + "!"]
    _write_jsonl(tmp_path / "src" / "bad.jsonl", texts)
    raw = tmp_path / "raw"
    ingest([str(tmp_path / "src")], source="bad", out=raw, progress=False)
    manifest = _run(raw, tmp_path / "run")
    assert manifest["counts"]["read"] == len(texts) and manifest["counts"]["quarantined"] == 0
    dec = sorted(pq.read_table(tmp_path / "run" / "decisions").to_pylist(), key=lambda d: d["position"])
    shingle_counts = [d["minhash_shingles"] for d in dec]
    for i, text in enumerate(EDGE_CASES):
        assert shingle_counts[i] == len(shingles(text, shingle_mode(text), 5))
        assert dec[i]["kept"]  # nothing to compare (or only a short shingle of their own): kept
    assert shingle_counts[:3] == [0, 0, 0] and shingle_counts[3] == 1  # "가": one shingle shorter than 5
    assert dec[len(EDGE_CASES)]["kept"] and not dec[len(EDGE_CASES) + 1]["kept"]  # the long near-copy
    assert not dec[-1]["kept"]  # punctuation is not a difference
    _write_jsonl(tmp_path / "src_short" / "short.jsonl", EDGE_CASES)
    ingest([str(tmp_path / "src_short")], source="short", out=tmp_path / "raw_short", progress=False)
    drop = _run(tmp_path / "raw_short", tmp_path / "drop", recipe_extra='no_shingles = "drop"\n')
    dec = sorted(pq.read_table(tmp_path / "drop" / "decisions").to_pylist(), key=lambda d: d["position"])
    assert [d["kept"] for d in dec[:3]] == [False, False, False] and "no shingles" in dec[0]["reason"]
    assert drop["counts"]["dropped"] == sum(1 for t in EDGE_CASES if not shingles(t, shingle_mode(t), 5))


def _files(directory: Path) -> dict[str, str]:
    return {p.relative_to(directory).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for sub in ("documents", "decisions", "clusters") for p in sorted((directory / sub).glob("*.parquet"))}


def test_workers_give_byte_identical_outputs(corpus, default_run, tmp_path):
    _run(corpus["raw"], tmp_path / "w2", workers=2)
    one, two = _files(default_run[0]), _files(tmp_path / "w2")
    assert one and any(k.startswith("clusters/") for k in one) and one == two
