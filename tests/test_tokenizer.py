"""Tokenizer training and stats: fixed reserved ids, exact round trip, MeCab-aware training,
transformers compatibility, deterministic sampling, fertility tables."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

pytest.importorskip("tokenizers")

from curate.cli import app  # noqa: E402
from curate.errors import CurateError  # noqa: E402
from curate.shards.build import shard_encoder  # noqa: E402
from curate.stats.summary import render  # noqa: E402
from curate.tokenizer import load_tokenizer, tokenizer_stats, train_tokenizer  # noqa: E402
from curate.tokenizer.corpus import iter_batches, open_corpus  # noqa: E402
from curate.tokens import EOD_ID, EOD_TOKEN, PAD_ID, PII_TOKENS, SPECIAL_TOKENS, TOKEN_IDS  # noqa: E402
from ingest_util import ingest_sample_news_and_reviews  # noqa: E402


TRICKY = [
    "아버지가방에들어가신다. 한국어 형태소 분석은 어렵다!",
    "The quick brown fox — jumps over the lazy dog's back, doesn't it?",
    "이모지 😀👍🏽 가족 👨‍👩‍👧‍👦 국기 🇰🇷 끝",
    "줄바꿈\n\n두 줄\r\n탭\t이중  공백   세 칸 \u3000전각공백\u00a0nbsp",
    "  앞뒤 공백  ",
    "\n",
    "NFD 한글: \u1112\u1161\u11ab\u1100\u1173\u11af + 결합 문자 e\u0301",
    "제어문자 \x00 \x07 \ufeff BOM, 사용자 영역 \ue000, 반쪽 아님 \U0010fffd",
    "주민번호 <|rrn|>, 전화<|tell|> 계좌: <|acc|>입니다. 메일 <|email|><|card|>",
    "글자 그대로의 <|endoftext|> 와 <|padding|> 도 본문이다",
    "中文和日本語のテキスト, русский текст, العربية, हिन्दी",
    "코드: def f(x):\n    return x**2  # 주석",
]


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    """Korean + English news (one document per line) and Korean reviews."""
    out = tmp_path_factory.mktemp("raw")
    ingest_sample_news_and_reviews(out)
    return out


@pytest.fixture(scope="module")
def bpe(raw, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tok") / "bpe"
    train_tokenizer(raw, out, vocab_size=3000, progress=False)
    return out


@pytest.fixture(scope="module")
def bpe_mecab(raw, tmp_path_factory) -> Path:
    pytest.importorskip("mecab")
    out = tmp_path_factory.mktemp("tok") / "bpe-mecab"
    train_tokenizer(raw, out, vocab_size=3000, mecab=True, progress=False)
    return out


@pytest.fixture(scope="module")
def unigram(raw, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tok") / "unigram"
    train_tokenizer(raw, out, vocab_size=800, model="unigram", max_docs=800, progress=False)
    return out


def _corpus_texts(raw: Path) -> list[str]:
    return [t for b in iter_batches(open_corpus(raw).files, ["text"]) for t in b.column("text").to_pylist()]


def test_reserved_tokens_are_defined_once_with_fixed_ids():
    assert SPECIAL_TOKENS[:2] == (EOD_TOKEN, "<|padding|>")
    assert EOD_ID == 0 and PAD_ID == 1
    # Polyglot-Ko's three PII tokens come first, then the rest, each exactly once
    assert list(PII_TOKENS)[:3] == ["acc", "rrn", "tell"]
    for entity in ("email", "card", "ip", "iban", "ssn", "passport", "driver_license", "frn", "brn"):
        assert PII_TOKENS[entity] == f"<|{entity}|>"
    assert len(set(SPECIAL_TOKENS)) == len(SPECIAL_TOKENS)
    assert TOKEN_IDS["<|acc|>"] == 2 and TOKEN_IDS["<|rrn|>"] == 3 and TOKEN_IDS["<|tell|>"] == 4


@pytest.mark.parametrize("which", ["bpe", "unigram"])
def test_trained_tokenizers_have_the_fixed_ids(which, request):
    tok_dir = request.getfixturevalue(which)
    tok = load_tokenizer(tok_dir)
    for token, i in TOKEN_IDS.items():
        assert tok.token_to_id(token) == i, token
    manifest = json.loads((tok_dir / "manifest.json").read_text())
    assert manifest["kind"] == "tokenizer" and manifest["eod_id"] == 0 and manifest["pad_id"] == 1
    assert manifest["special_tokens"] == TOKEN_IDS
    assert manifest["vocab_size"] == tok.get_vocab_size()
    data = json.loads((tok_dir / "tokenizer.json").read_text())
    assert data["normalizer"] is None and data["pre_tokenizer"]["type"] == "ByteLevel"
    special = {t["content"]: t["special"] for t in data["added_tokens"]}
    assert special[EOD_TOKEN] and special["<|padding|>"]
    assert not any(special[t] for t in PII_TOKENS.values())  # content, not control


@pytest.mark.parametrize("which", ["bpe", "bpe_mecab", "unigram"])
def test_round_trip_is_exact(which, request, raw):
    tok = load_tokenizer(request.getfixturevalue(which))
    texts = TRICKY + _corpus_texts(raw)
    encs = tok.encode_batch(texts, add_special_tokens=False)
    bad = [t for t, e in zip(texts, encs) if tok.decode(e.ids, skip_special_tokens=False) != t]
    assert not bad, bad[:3]
    # the shard encoder too (literal control tokens are text there)
    enc = shard_encoder(request.getfixturevalue(which) / "tokenizer.json")
    for t in TRICKY:
        assert enc.decode(enc.encode(t, add_special_tokens=False).ids, skip_special_tokens=False) == t


def test_pii_tokens_are_single_tokens_and_literal_control_tokens_are_text(bpe):
    enc = shard_encoder(bpe / "tokenizer.json")
    for entity, token in PII_TOKENS.items():
        ids = enc.encode(f"번호는{token}입니다", add_special_tokens=False).ids
        assert ids.count(TOKEN_IDS[token]) == 1, entity
        assert enc.decode(ids, skip_special_tokens=True) == f"번호는{token}입니다"  # content survives
    ids = enc.encode("문서 안의 <|endoftext|> 와 <|padding|>", add_special_tokens=False).ids
    assert EOD_ID not in ids and PAD_ID not in ids


def test_transformers_fast_tokenizer_loads_the_directory(bpe):
    transformers = pytest.importorskip("transformers")
    tok = transformers.PreTrainedTokenizerFast.from_pretrained(str(bpe))
    assert tok.eos_token_id == EOD_ID and tok.pad_token_id == PAD_ID and tok.bos_token == EOD_TOKEN
    raw = load_tokenizer(bpe)
    for text in TRICKY:
        ids = tok(text, add_special_tokens=True)["input_ids"]
        assert ids == raw.encode(text, add_special_tokens=False).ids
        assert tok.decode(ids) == text
    ids = tok("주민번호 <|rrn|> 입니다")["input_ids"]
    assert TOKEN_IDS["<|rrn|>"] in ids
    assert tok.decode(ids, skip_special_tokens=True) == "주민번호 <|rrn|> 입니다"


def test_mecab_splitter_cuts_inside_eojeol_only():
    pytest.importorskip("mecab")
    from curate.tokenizer import MorphemeSplitter

    sp = MorphemeSplitter()
    for text in TRICKY:
        assert "".join(sp.split(text)) == text
    # cuts at morpheme starts inside an eojeol; spaces are left to the byte-level regex
    assert sp.split("아버지가방에 들어가신다") == ["아버지", "가", "방", "에 들어가", "신다"]
    assert sp.split("plain English text, no Hangul") == ["plain English text, no Hangul"]


def test_mecab_shapes_merges_but_the_saved_tokenizer_needs_no_mecab(bpe, bpe_mecab):
    mecab = pytest.importorskip("mecab")
    data = json.loads((bpe_mecab / "tokenizer.json").read_text())
    assert data["pre_tokenizer"] == json.loads((bpe / "tokenizer.json").read_text())["pre_tokenizer"]
    assert json.loads((bpe_mecab / "manifest.json").read_text())["mecab"] is True
    m = mecab.MeCab()
    hangul = re.compile(r"^[\uac00-\ud7a3]{2,}$")

    def multi_morpheme_share(tok_dir: Path) -> float:
        tok = load_tokenizer(tok_dir)
        words = [w for w in (tok.decode([i]).strip() for i in range(tok.get_vocab_size())) if hangul.match(w)]
        return sum(len(m.morphs(w)) > 1 for w in words) / len(words)

    # vocabulary entries that span several morphemes: plain BPE learns many, MeCab-aware few
    plain, aware = multi_morpheme_share(bpe), multi_morpheme_share(bpe_mecab)
    assert aware < plain / 2, (plain, aware)


def test_sampling_is_deterministic_and_bounded(raw, tmp_path):
    a = train_tokenizer(raw, tmp_path / "a", vocab_size=600, sample_fraction=0.5, progress=False)
    b = train_tokenizer(raw, tmp_path / "b", vocab_size=600, sample_fraction=0.5, progress=False)
    n = a["trained_on"]["documents"]
    assert n == b["trained_on"]["documents"] and 2400 < n < 3600  # 6,000 documents in all
    assert a["tokenizer_sha256"] == b["tokenizer_sha256"]  # BPE training is deterministic
    c = train_tokenizer(raw, tmp_path / "c", vocab_size=600, max_docs=100, progress=False)
    assert c["trained_on"]["documents"] == 100
    assert c["input"]["files"] and c["sampling"]["max_docs"] == 100


def test_bad_arguments_are_user_errors(raw, tmp_path):
    with pytest.raises(CurateError, match="no documents"):
        train_tokenizer(tmp_path / "nothing", tmp_path / "t")
    with pytest.raises(CurateError, match="too small"):
        train_tokenizer(raw, tmp_path / "t", vocab_size=100)
    with pytest.raises(CurateError, match="--model"):
        train_tokenizer(raw, tmp_path / "t", model="wordpiece")
    with pytest.raises(CurateError, match="no tokenizer.json"):
        tokenizer_stats(raw, [tmp_path / "missing"])


def test_stats_rejects_unknown_group_columns(raw, bpe):
    with pytest.raises(CurateError, match="not a document column"):
        tokenizer_stats(raw, [bpe], by=["source", "nope"], progress=False)
    measures, _ = tokenizer_stats(raw, [bpe], by=[], max_docs=10, progress=False)
    assert measures.columns[0] == "documents" and measures.rows[0][0] == 10


def test_stats_fertility_and_chars_per_token(raw, bpe, unigram):
    measures, info = tokenizer_stats(raw, [bpe, unigram], progress=False)
    rows = measures.as_dicts()
    assert [r["source"] for r in rows] == ["news", "reviews", "TOTAL"]
    reviews = rows[1]
    assert reviews["lang"] == "ko" and reviews["documents"] == 4000
    # recompute the reviews row independently
    tok = load_tokenizer(bpe)
    texts = [t for b in iter_batches(open_corpus(raw).files, ["text", "source"])
             for t, s in zip(b.column("text").to_pylist(), b.column("source").to_pylist()) if s == "reviews"]
    words = sum(len(t.split()) for t in texts)
    tokens = sum(len(e.ids) for e in tok.encode_batch(texts, add_special_tokens=False))
    assert reviews["words"] == words and reviews["bpe tokens"] == tokens
    assert reviews["bpe fertility"] == pytest.approx(tokens / words, abs=1e-4)
    assert reviews["bpe chars/token"] == pytest.approx(sum(map(len, texts)) / tokens, abs=1e-4)
    assert {"unigram fertility", "unigram chars/token", "unigram bytes/token"} <= set(measures.columns)
    total = rows[-1]
    assert total["documents"] == 6000 and total["bpe tokens"] == rows[0]["bpe tokens"] + tokens
    assert [r["name"] for r in info.as_dicts()] == ["bpe", "unigram"]
    for fmt in ("table", "csv", "json"):
        assert "fertility" in render([measures, info], fmt)


def test_cli_train_and_stats(raw, bpe, tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["tokenizer", "train", str(raw), "--out", str(tmp_path / "tok"), "--vocab-size", "500",
                              "--max-docs", "300", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "tok" / "tokenizer.json").exists() and "vocab 500" in res.output
    res = runner.invoke(app, ["tokenizer", "stats", str(raw), "-t", str(bpe), "-t", str(tmp_path / "tok"),
                              "--format", "json", "--by", "source", "--no-progress"])
    assert res.exit_code == 0, res.output
    table = json.loads(res.output)["tokenizer fertility (tokens/word) and characters per token"]
    assert table[0]["source"] == "news" and table[0]["tok fertility"] > table[0]["bpe fertility"]
    res = runner.invoke(app, ["tokenizer", "train", str(tmp_path / "none"), "--out", str(tmp_path / "x")])
    assert res.exit_code == 2 and "no documents" in res.output
