"""Shards: the MMIDIDX layout (checked by an independent reader), round trip, deterministic splits,
mixing weights, bounded files, dtype choice, resume, manifest, CLI."""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("tokenizers")

from curate.cli import app  # noqa: E402
from curate.errors import CurateError  # noqa: E402
from curate.ingest import ingest  # noqa: E402
from curate.pipeline import Pipeline, parse_recipe  # noqa: E402
from curate.shards import IndexedDataset, IndexedDatasetWriter, ShardSet, best_dtype, build_shards  # noqa: E402
from curate.shards import build as build_mod  # noqa: E402
from curate.tokenizer import load_tokenizer, train_tokenizer  # noqa: E402
from curate.tokenizer.corpus import iter_batches, open_corpus, unit_hash  # noqa: E402
from curate.tokens import EOD_ID, PAD_ID, TOKEN_IDS  # noqa: E402
from ingest_util import ingest_sample_news_and_reviews  # noqa: E402


RECIPE = """
name = "shards-test"
description = "drop empty documents and exact duplicates"
[[steps]]
name = "empty_text"
[[steps]]
name = "exact_dedup"
"""


# --------------------------------------------------------------------------------------------------
# an MMIDIDX reader written here from the documented layout (Megatron-LM's
# megatron/core/datasets/indexed_dataset.py), sharing no code with curate.shards


def read_mmidx(prefix: Path) -> dict:
    idx = Path(str(prefix) + ".idx").read_bytes()
    assert idx[:9] == b"MMIDIDX\x00\x00"
    (version,) = struct.unpack("<Q", idx[9:17])
    (code,) = struct.unpack("<B", idx[17:18])
    seq_count, doc_count = struct.unpack("<QQ", idx[18:34])
    dtype = {1: np.uint8, 2: np.int8, 3: np.int16, 4: np.int32, 5: np.int64, 6: np.float64, 7: np.float32,
             8: np.uint16}[code]
    off = 34
    sizes = np.frombuffer(idx, dtype="<i4", count=seq_count, offset=off)
    off += 4 * seq_count
    pointers = np.frombuffer(idx, dtype="<i8", count=seq_count, offset=off)
    off += 8 * seq_count
    doc_idx = np.frombuffer(idx, dtype="<i8", count=doc_count, offset=off)
    off += 8 * doc_count
    assert off == len(idx), "trailing bytes in .idx"
    data = Path(str(prefix) + ".bin").read_bytes()
    itemsize = np.dtype(dtype).itemsize
    seqs = [np.frombuffer(data, dtype=dtype, count=int(n), offset=int(p)) for n, p in zip(sizes, pointers)]
    return {"version": version, "code": code, "dtype": np.dtype(dtype), "sizes": sizes, "pointers": pointers,
            "doc_idx": doc_idx, "seqs": seqs, "bin_bytes": len(data), "itemsize": itemsize}


# --------------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A finished `curate run` over Korean/English news and Korean reviews, plus tricky documents."""
    raw = tmp_path_factory.mktemp("raw")
    extra = tmp_path_factory.mktemp("extra") / "tricky.jsonl"
    tricky = ["리터럴 <|endoftext|> 은 본문이고 <|padding|> 도 그렇다",
              "주민번호 <|rrn|> 전화 <|tell|> 계좌 <|acc|> 메일 <|email|>",
              "이모지 😀👍🏽👨‍👩‍👧‍👦\n\n줄바꿈\t탭  공백", "   "]
    extra.write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in tricky), encoding="utf-8")
    ingest_sample_news_and_reviews(raw)
    ingest([str(extra)], source="tricky", out=raw, progress=False)
    out = tmp_path_factory.mktemp("run") / "clean"
    Pipeline(parse_recipe(RECIPE), progress=False).run(raw, out)
    return out


@pytest.fixture(scope="module")
def tok_dir(run_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tok") / "bpe"
    train_tokenizer(run_dir, out, vocab_size=3000, progress=False)
    return out


@pytest.fixture(scope="module")
def docs(run_dir) -> list[dict]:
    """The run's kept documents in input order."""
    return [r for b in iter_batches(open_corpus(run_dir).files, ["source", "text"]) for r in b.to_pylist()]


@pytest.fixture(scope="module")
def built(run_dir, tok_dir, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("shards") / "s"
    return out, build_shards(run_dir, tok_dir, out, valid_fraction=0.05, test_fraction=0.03, progress=False)


def _decoded(tok, ds) -> list[str]:
    out = []
    for seq in ds:
        assert seq[-1] == EOD_ID
        out.append(tok.decode(seq[:-1].tolist(), skip_special_tokens=False))
    return out


def _files(directory: Path) -> dict[str, str]:
    return {p.relative_to(directory).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.suffix in (".bin", ".idx")}


# --------------------------------------------------------------------------------------------------
# tests


def test_independent_reader_agrees_with_ours(built):
    out, manifest = built
    prefixes = [out / f["prefix"] for split in manifest["files"].values() for f in split]
    assert prefixes
    for prefix in prefixes:
        theirs = read_mmidx(prefix)
        ours = IndexedDataset(prefix)
        assert theirs["version"] == 1 and theirs["code"] == 8 and theirs["dtype"] == np.uint16 == ours.dtype
        n = len(theirs["sizes"])
        assert len(ours) == n and ours.num_documents == n
        np.testing.assert_array_equal(theirs["doc_idx"], np.arange(n + 1))  # one sequence per document
        np.testing.assert_array_equal(theirs["sizes"], ours.sizes)
        np.testing.assert_array_equal(theirs["pointers"], ours.pointers)
        np.testing.assert_array_equal(theirs["doc_idx"], ours.doc_idx)
        expected_ptr = np.concatenate([[0], np.cumsum(theirs["sizes"][:-1].astype(np.int64) * 2)])
        np.testing.assert_array_equal(theirs["pointers"], expected_ptr)
        assert theirs["bin_bytes"] == int(theirs["sizes"].sum()) * 2
        for i in range(n):
            np.testing.assert_array_equal(theirs["seqs"][i], ours[i])
            assert ours[i][-1] == EOD_ID


def test_every_document_round_trips_in_its_split(built, tok_dir, docs):
    out, manifest = built
    tok = load_tokenizer(tok_dir)
    run = [d for d in docs if d["text"]]
    u = unit_hash([d["id"] for d in run], 0)
    expected = {"valid": [d["text"] for d, x in zip(run, u) if x < 0.05],
                "test": [d["text"] for d, x in zip(run, u) if 0.05 <= x < 0.08],
                "train": [d["text"] for d, x in zip(run, u) if x >= 0.08]}
    for split in ("train", "valid", "test"):
        got = _decoded(tok, ShardSet(out, split))
        assert got == expected[split], split  # same documents, same (input) order, exact text
        assert manifest["counts"][split]["documents"] == len(expected[split])
    assert sum(len(v) for v in expected.values()) == len(run)


def test_literal_control_tokens_are_text_and_pii_tokens_single(built, tok_dir):
    out, _ = built
    tok = load_tokenizer(tok_dir)
    seqs = [s for split in ("train", "valid", "test") for s in ShardSet(out, split)]
    literal = [s for s in seqs if "리터럴" in tok.decode(s.tolist())]
    assert len(literal) == 1
    assert int((literal[0] == EOD_ID).sum()) == 1 and PAD_ID not in literal[0]  # only the final EOD
    pii = [s for s in seqs if "주민번호" in tok.decode(s.tolist())][0].tolist()
    for t in ("<|rrn|>", "<|tell|>", "<|acc|>", "<|email|>"):
        assert pii.count(TOKEN_IDS[t]) == 1


def test_manifest_records_what_the_launcher_needs(built, tok_dir, run_dir):
    out, m = built
    assert m["kind"] == "shards" and m["complete"] and m["eod_id"] == EOD_ID == 0 and m["pad_id"] == 1
    assert m["dtype"] == "uint16" and m["dtype_code"] == 8
    assert m["tokenizer"]["sha256"] == hashlib.sha256((tok_dir / "tokenizer.json").read_bytes()).hexdigest()
    assert m["tokenizer"]["special_tokens"] == TOKEN_IDS
    run_manifest = json.loads((run_dir / "manifest.json").read_text())
    assert m["input"]["recipe_hash"] == run_manifest["recipe"]["hash"] and m["input"]["kind"] == "run"
    for split, c in m["counts"].items():
        files = m["files"][split]
        assert sum(f["tokens"] for f in files) == c["tokens"] == sum(s["tokens"] for s in c["by_source"].values())
        assert sum(f["documents"] for f in files) == c["documents"]
        for f in files:
            assert f["bin_sha256"] == hashlib.sha256((out / (f["prefix"] + ".bin")).read_bytes()).hexdigest()
    assert m["input_counts"]["empty_skipped"] == 0  # the run's empty_text step dropped "   "
    assert set(m["counts"]["train"]["by_source"]) == {"news", "reviews", "tricky"}
    assert not (out / "_work").exists()
    jsonschema = pytest.importorskip("jsonschema")
    from curate.resources import resource_dir

    schema = json.loads((resource_dir("schemas") / "shards_manifest.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(m, schema)


def test_rerun_and_workers_give_byte_identical_files(built, run_dir, tok_dir, tmp_path):
    out, _ = built
    again = build_shards(run_dir, tok_dir, tmp_path / "w2", valid_fraction=0.05, test_fraction=0.03, workers=2,
                         task_mb=0.02, progress=False)
    assert again["timings"]["tasks"] > 2
    assert _files(out) == _files(tmp_path / "w2")


def test_encode_chunking_does_not_change_the_output(built, run_dir, tok_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(build_mod, "ENCODE_BYTES", 3000)  # many encode calls per batch, one for long documents
    build_shards(run_dir, tok_dir, tmp_path / "chunked", valid_fraction=0.05, test_fraction=0.03, progress=False)
    assert _files(built[0]) == _files(tmp_path / "chunked")


def test_split_depends_only_on_the_document(run_dir, tok_dir, built, tmp_path):
    """Another mix leaves every document in its split (the split hashes only the id)."""
    out, _ = built
    other = build_shards(run_dir, tok_dir, tmp_path / "mixed", mix="news=3,reviews=0.25", valid_fraction=0.05,
                         test_fraction=0.03, progress=False)
    tok = load_tokenizer(tok_dir)
    for split in ("valid", "test"):  # valid/test ignore the weights (> 0): the same documents
        assert _decoded(tok, ShardSet(tmp_path / "mixed", split)) == _decoded(tok, ShardSet(out, split))
    train = set(_decoded(tok, ShardSet(out, "train")))
    assert set(_decoded(tok, ShardSet(tmp_path / "mixed", "train"))) <= train
    assert other["counts"]["valid"] == built[1]["counts"]["valid"]


def test_mixing_weights_give_the_asked_token_proportions(run_dir, tok_dir, built, tmp_path):
    base = built[1]["counts"]["train"]["by_source"]
    m = build_shards(run_dir, tok_dir, tmp_path / "mix", mix={"news": 2, "reviews": 0.5, "tricky": 0},
                     valid_fraction=0.05, test_fraction=0.03, progress=False)
    got = m["counts"]["train"]["by_source"]
    # integer weights are exact: every news document twice
    assert got["news"]["tokens"] == 2 * base["news"]["tokens"]
    assert got["news"]["documents"] == 2 * base["news"]["documents"]
    assert got["news"]["unique_documents"] == base["news"]["unique_documents"]
    # fractional weights select documents by hash: within 10% of the asked share (4,000 reviews)
    assert got["reviews"]["tokens"] == pytest.approx(0.5 * base["reviews"]["tokens"], rel=0.10)
    assert "tricky" not in got and "tricky" not in m["counts"]["valid"]["by_source"]
    # the resulting shares follow from the weights
    want = 2 * base["news"]["tokens"] / (2 * base["news"]["tokens"] + 0.5 * base["reviews"]["tokens"])
    assert got["news"]["token_share"] == pytest.approx(want, abs=0.02)
    # 1.5 = every document once plus a hash-chosen half again; copies go after all first copies
    m = build_shards(run_dir, tok_dir, tmp_path / "mix15", mix="*=1.5", valid_fraction=0.05, test_fraction=0.03,
                     progress=False)
    for src, c in m["counts"]["train"]["by_source"].items():
        if base[src]["documents"] > 100:
            assert c["tokens"] == pytest.approx(1.5 * base[src]["tokens"], rel=0.10)
    tok = load_tokenizer(tok_dir)
    first = _decoded(tok, ShardSet(out_dir := tmp_path / "mix15", "train"))[:base["news"]["documents"]]
    assert first == _decoded(tok, ShardSet(built[0], "train"))[:base["news"]["documents"]]
    assert m["mix"]["default_weight"] == 1.5 and "floor(w)" in m["mix"]["rule"] and out_dir.exists()


def test_files_are_bounded_and_cut_at_document_boundaries(run_dir, tok_dir, built, tmp_path):
    m = build_shards(run_dir, tok_dir, tmp_path / "small", valid_fraction=0.05, test_fraction=0.03,
                     max_shard_mb=0.02, progress=False)
    files = m["files"]["train"]
    assert len(files) > 3
    limit = int(0.02 * (1 << 20))
    for f in files:
        ds = IndexedDataset(tmp_path / "small" / f["prefix"])
        assert f["bin_bytes"] <= limit or len(ds) == 1
        assert ds[len(ds) - 1][-1] == EOD_ID
    small, whole = ShardSet(tmp_path / "small", "train"), ShardSet(built[0], "train")
    assert len(small) == len(whole) and small.num_tokens == whole.num_tokens
    np.testing.assert_array_equal(small.sizes, whole.sizes)
    for i in (0, 1, len(whole) // 2, len(whole) - 1, -1):
        np.testing.assert_array_equal(small[i], whole[i])


def test_dtype_follows_vocabulary_size(tmp_path):
    assert best_dtype(30003) == np.uint16 and best_dtype(65499) == np.uint16
    assert best_dtype(65500) == np.int32 and best_dtype(250_000) == np.int32
    with IndexedDatasetWriter(tmp_path / "big", vocab_size=70_000) as w:
        w.add_document(np.array([1, 65_535, 65_536, 69_999, 0]))
        w.add_document(np.array([7, 0]))
    theirs = read_mmidx(tmp_path / "big")
    assert theirs["code"] == 4 and theirs["dtype"] == np.int32
    assert theirs["seqs"][0].tolist() == [1, 65_535, 65_536, 69_999, 0] and theirs["seqs"][1].tolist() == [7, 0]
    np.testing.assert_array_equal(theirs["pointers"], [0, 20])
    assert IndexedDataset(tmp_path / "big")[0].tolist() == [1, 65_535, 65_536, 69_999, 0]
    w = IndexedDatasetWriter(tmp_path / "small", vocab_size=30_003)
    with pytest.raises(ValueError, match="does not fit"):
        w.add_document(np.array([70_000], dtype=np.int64))
    w.abort()
    assert not list(tmp_path.glob("small*")) and not list(tmp_path.glob(".tmp-*"))
    with IndexedDatasetWriter(tmp_path / "empty", vocab_size=10) as w:
        pass
    assert len(IndexedDataset(tmp_path / "empty")) == 0


def test_resume_after_a_crash_gives_the_same_files(run_dir, tok_dir, built, tmp_path, monkeypatch):
    calls = []

    def boom(*args, **kwargs):
        calls.append(1)
        raise KeyboardInterrupt

    monkeypatch.setattr(build_mod, "_merge_split", boom)
    with pytest.raises(KeyboardInterrupt):
        build_shards(run_dir, tok_dir, tmp_path / "r", valid_fraction=0.05, test_fraction=0.03, progress=False)
    monkeypatch.undo()
    assert calls and (tmp_path / "r" / "_work" / "state").is_dir()
    m = build_shards(run_dir, tok_dir, tmp_path / "r", valid_fraction=0.05, test_fraction=0.03, progress=False)
    assert m["timings"]["tasks_resumed"] == m["timings"]["tasks"] > 0
    assert _files(tmp_path / "r") == _files(built[0])
    # the same build again is a no-op; other options need --overwrite
    assert build_shards(run_dir, tok_dir, tmp_path / "r", valid_fraction=0.05, test_fraction=0.03,
                        progress=False)["fingerprint"] == m["fingerprint"]
    with pytest.raises(CurateError, match="overwrite"):
        build_shards(run_dir, tok_dir, tmp_path / "r", valid_fraction=0.1, progress=False)
    m2 = build_shards(run_dir, tok_dir, tmp_path / "r", valid_fraction=0.1, overwrite=True, progress=False)
    assert m2["split"]["valid_fraction"] == 0.1 and not (tmp_path / "r" / "test").exists()


def test_bad_options_are_user_errors(run_dir, tok_dir, tmp_path):
    for mix in ("news", "news=-1", "news=x", "=2"):
        with pytest.raises(CurateError, match="--mix"):
            build_shards(run_dir, tok_dir, tmp_path / "x", mix=mix, progress=False)
    with pytest.raises(CurateError, match="fraction"):
        build_shards(run_dir, tok_dir, tmp_path / "x", valid_fraction=0.6, test_fraction=0.5, progress=False)
    with pytest.raises(CurateError, match="no tokenizer.json"):
        build_shards(run_dir, tmp_path, tmp_path / "x", progress=False)
    with pytest.raises(CurateError, match="differ"):
        build_shards(run_dir, tok_dir, run_dir, progress=False)


def test_cli_shards(run_dir, tok_dir, tmp_path):
    res = CliRunner().invoke(app, ["shards", str(run_dir), "--tokenizer", str(tok_dir), "--out", str(tmp_path / "s"),
                                   "--mix", "news=2,reviews=0.5", "--valid-fraction", "0.05", "--workers", "1",
                                   "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "eod id 0" in res.output and "news" in res.output
    m = json.loads((tmp_path / "s" / "manifest.json").read_text())
    assert m["mix"]["weights"] == {"news": 2.0, "reviews": 0.5}
    train = ShardSet(tmp_path / "s", "train")
    assert len(train) == m["counts"]["train"]["documents"] and train.eod_id == 0
