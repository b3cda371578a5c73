"""Train a byte-level BPE (or Unigram) tokenizer on a finished run, optionally morpheme-aware for Korean.

    from curate.tokenizer import train_tokenizer
    train_tokenizer("runs/ko/clean", "tok/", vocab_size=30003, mecab=True)

What is trained (docs/tokenizer.md has the reasoning):

* Hugging Face ``tokenizers``: ``ByteLevel`` pre-tokenizer (GPT-2's regex, no prefix space), a
  ``BPE`` (default; Polyglot-Ko, GPT-NeoX) or ``Unigram`` model over the 256 byte symbols, a
  ``ByteLevel`` decoder, no normalizer. Every byte sequence is encodable and
  ``decode(encode(text)) == text`` exactly (normalization is the pipeline's job, not the tokenizer's).
* The reserved tokens of :mod:`curate.tokens` come first, with fixed ids (``<|endoftext|>`` = 0,
  ``<|padding|>`` = 1, the PII placeholders from 2).
* ``mecab=True`` (Korean): before counting, every Korean eojeol is cut at MeCab's morpheme boundaries
  (python-mecab-ko), so merges never join a stem and its ending, as in Polyglot-Ko. MeCab shapes
  the vocabulary only: the saved ``tokenizer.json`` is plain byte-level BPE and encodes without
  MeCab (a custom pre-tokenizer cannot be serialized, and a model must not depend on MeCab at
  inference). Encoding plain text may then still merge across a morpheme boundary where the same
  bytes form a morpheme elsewhere; the trade-off is measured with ``curate tokenizer stats``.

The corpus streams: Parquet batches feed ``train_from_iterator`` through a generator, so memory is
the trainer's word counts, not the corpus.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from pathlib import Path
from typing import Iterator, Sequence

from curate.errors import CurateError
from curate.manifest import versions, write_json_atomic
from curate.progress import Progress
from curate.tokenizer.corpus import iter_batches, open_corpus
from curate.tokens import CONTROL_TOKENS, EOD_TOKEN, PAD_TOKEN, PII_TOKENS, SPECIAL_TOKENS, TOKEN_IDS

DEFAULT_VOCAB_SIZE = 30003  # Polyglot-Ko's
MODELS = ("bpe", "unigram")
_HANGUL = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")


def _require_tokenizers():
    try:
        import tokenizers
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise CurateError("the tokenizer stages need Hugging Face tokenizers: pip install 'curate[tokenizer]'") from exc
    return tokenizers


class MorphemeSplitter:
    """Cut text at MeCab morpheme boundaries *inside* eojeol (never dropping or adding a character).

    ``split(text)`` returns pieces whose concatenation is ``text``. A cut goes before a morpheme
    that follows a non-space character when either side of the cut is Hangul; spaces stay attached
    to the following piece as byte-level BPE expects. Texts without Hangul are returned whole.
    """

    def __init__(self) -> None:
        try:
            import mecab
        except ImportError as exc:
            raise CurateError("--mecab needs python-mecab-ko and python-mecab-ko-dic: "
                              "pip install 'curate[tokenizer]'") from exc
        self._mecab = mecab.MeCab()

    def split(self, text: str) -> list[str]:
        if not _HANGUL.search(text):
            return [text]
        cuts = []
        for m in self._mecab.parse(text):
            s = m.span.start
            if 0 < s < len(text) and not text[s - 1].isspace() and (
                    _HANGUL.match(text[s - 1]) or _HANGUL.match(text[s])):
                cuts.append(s)
        if not cuts:
            return [text]
        pieces, prev = [], 0
        for c in cuts:
            if c > prev:
                pieces.append(text[prev:c])
                prev = c
        pieces.append(text[prev:])
        return pieces


def tokenizer_file(path: str | Path) -> Path:
    """``path`` itself if it is a file, else ``path/tokenizer.json``."""
    path = Path(path)
    f = path / "tokenizer.json" if path.is_dir() else path
    if not f.is_file():
        raise CurateError(f"{path}: no tokenizer.json (train one with `curate tokenizer train`)")
    return f


def load_tokenizer(path: str | Path):
    """Load a ``tokenizers.Tokenizer`` from a tokenizer directory or a tokenizer.json file."""
    _require_tokenizers()
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(tokenizer_file(path)))


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _build(model: str, vocab_size: int, min_frequency: int, show_progress: bool):
    _require_tokenizers()
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    special = [AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS]
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    if model == "bpe":
        tok = Tokenizer(models.BPE())
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=special,
                                      initial_alphabet=alphabet, show_progress=show_progress)
    elif model == "unigram":
        tok = Tokenizer(models.Unigram())
        trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=special, initial_alphabet=alphabet,
                                          show_progress=show_progress, max_piece_length=16)
    else:
        raise CurateError(f"--model {model!r}: expected one of {', '.join(MODELS)}")
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return tok, trainer


def _finalize_json(raw: str) -> str:
    """Mark the PII placeholders as ordinary (non-special) added tokens and check the fixed ids."""
    data = json.loads(raw)
    pii = set(PII_TOKENS.values())
    seen = {}
    for t in data["added_tokens"]:
        seen[t["content"]] = t["id"]
        if t["content"] in pii:
            t["special"] = False
    for tok, want in TOKEN_IDS.items():
        if seen.get(tok) != want:
            raise RuntimeError(f"reserved token {tok} got id {seen.get(tok)}, expected {want}")
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


def hf_config_files(model_max_length: int = 2048) -> dict[str, dict]:
    """``tokenizer_config.json`` and ``special_tokens_map.json`` for ``transformers``' fast tokenizer.

    GPT-NeoX's convention: ``<|endoftext|>`` is BOS, EOS and UNK; ``<|padding|>`` pads. Space
    clean-up is off so that ``decode`` returns the original text exactly.
    """
    tokens = {"bos_token": EOD_TOKEN, "eos_token": EOD_TOKEN, "unk_token": EOD_TOKEN, "pad_token": PAD_TOKEN}
    config = {"tokenizer_class": "PreTrainedTokenizerFast", **tokens, "add_prefix_space": False,
              "clean_up_tokenization_spaces": False, "model_max_length": model_max_length,
              "model_input_names": ["input_ids", "attention_mask"]}
    return {"tokenizer_config.json": config, "special_tokens_map.json": tokens}


def train_tokenizer(run_dir: str | Path, out: str | Path, vocab_size: int = DEFAULT_VOCAB_SIZE, model: str = "bpe",
                    mecab: bool = False, min_frequency: int = 2, max_docs: int | None = None,
                    sample_fraction: float = 1.0, seed: int = 0, batch_size: int = 1000,
                    model_max_length: int = 2048, progress: bool | None = None) -> dict:
    """Train a tokenizer on the kept documents of ``run_dir`` and write it to ``out``.

    Writes ``out/tokenizer.json`` (loads with ``tokenizers.Tokenizer.from_file`` and
    ``transformers.PreTrainedTokenizerFast``), ``tokenizer_config.json``,
    ``special_tokens_map.json`` and ``manifest.json`` (what it was trained on, how, its sha256).

    Args:
        run_dir: a ``curate run`` (or ``curate ingest``) output directory.
        out: output directory (created).
        vocab_size: total vocabulary including the reserved tokens (Polyglot-Ko: 30,003).
        model: ``"bpe"`` (byte-level BPE) or ``"unigram"`` (Unigram over byte-level symbols).
        mecab: cut Korean eojeol at MeCab morpheme boundaries while counting (training only).
        min_frequency: BPE only: pairs seen fewer times are never merged.
        max_docs: stop after this many (sampled) documents, in file order.
        sample_fraction: keep a deterministic fraction of documents (hash of id with ``seed``).
        batch_size: documents per Arrow batch handed to the trainer.
        model_max_length: written to tokenizer_config.json for transformers.
        progress: show progress bars (default: unless ``CURATE_PROGRESS=0``).

    Returns the manifest (also written to ``out/manifest.json``).
    """
    if model not in MODELS:
        raise CurateError(f"--model {model!r}: expected one of {', '.join(MODELS)}")
    if vocab_size < len(SPECIAL_TOKENS) + 256 + 1:
        raise CurateError(f"--vocab-size {vocab_size} is too small: the 256 byte symbols and "
                          f"{len(SPECIAL_TOKENS)} reserved tokens need {len(SPECIAL_TOKENS) + 257} at least")
    if max_docs is not None and max_docs < 1:
        raise CurateError("--max-docs must be at least 1")
    corpus = open_corpus(run_dir)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise CurateError(f"--out {out} exists and is not a directory")
    splitter = MorphemeSplitter() if mecab else None
    show = progress if progress is not None else os.environ.get("CURATE_PROGRESS", "1") != "0"
    tok, trainer = _build(model, vocab_size, min_frequency, show)
    total = corpus.text_bytes() if sample_fraction == 1.0 and max_docs is None else None
    bar = Progress(f"tokenizer train ({model}{', mecab' if mecab else ''})", total, progress)
    seen = {"documents": 0, "bytes": 0, "pieces": 0, "by_source": {}}

    def texts() -> Iterator[list[str]]:
        for batch in iter_batches(corpus.files, ["text", "source"], batch_size, sample_fraction, max_docs, seed,
                                  report=bar.update):
            docs = [t for t in batch.column("text").to_pylist() if t]
            for src in batch.column("source").to_pylist():
                seen["by_source"][src] = seen["by_source"].get(src, 0) + 1
            seen["documents"] += batch.num_rows
            seen["bytes"] += sum(len(t.encode("utf-8")) for t in docs)
            if splitter is not None:
                docs = [p for t in docs for p in splitter.split(t)]
            seen["pieces"] += len(docs)
            yield docs

    started = time.perf_counter()
    tok.train_from_iterator(texts(), trainer)
    timing = bar.close()
    if seen["documents"] == 0:
        raise CurateError(f"{run_dir}: no documents to train on (check --sample-fraction / --max-docs)")
    out.mkdir(parents=True, exist_ok=True)
    text = _finalize_json(tok.to_str())
    tmp = out / ".tmp-tokenizer.json"
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, out / "tokenizer.json")
    for name, data in hf_config_files(model_max_length).items():
        write_json_atomic(out / name, data)
    sha = file_sha256(out / "tokenizer.json")
    mecab_versions = versions("python-mecab-ko", "python-mecab-ko-dic") if mecab else {}
    manifest = {
        "kind": "tokenizer", "schema_version": 1,
        "model": model, "vocab_size": tok.get_vocab_size(with_added_tokens=True), "requested_vocab_size": vocab_size,
        "pre_tokenizer": "ByteLevel (GPT-2 regex, no prefix space)", "normalizer": None,
        "mecab": mecab, "min_frequency": min_frequency if model == "bpe" else None,
        "special_tokens": {t: TOKEN_IDS[t] for t in SPECIAL_TOKENS},
        "control_tokens": list(CONTROL_TOKENS), "pii_tokens": dict(PII_TOKENS),
        "eod_token": EOD_TOKEN, "eod_id": TOKEN_IDS[EOD_TOKEN], "pad_token": PAD_TOKEN, "pad_id": TOKEN_IDS[PAD_TOKEN],
        "tokenizer_sha256": sha,
        "input": corpus.describe(),
        "sampling": {"sample_fraction": sample_fraction, "max_docs": max_docs, "seed": seed,
                     "rule": "document kept when xxh64(id, seed) / 2**64 < sample_fraction; then the first "
                             "max_docs in file order"},
        "trained_on": {"documents": seen["documents"], "text_bytes": seen["bytes"],
                       "pretokenized_pieces": seen["pieces"] if mecab else None,
                       "documents_by_source": dict(sorted(seen["by_source"].items()))},
        "versions": {**versions("tokenizers", "xxhash"), **mecab_versions},
        "timings": {**timing, "seconds": round(time.perf_counter() - started, 3)},
        "complete": True,
    }
    write_json_atomic(out / "manifest.json", manifest)
    return manifest


def encode_check(tokenizer, texts: Sequence[str]) -> list[int]:
    """Indices of ``texts`` that do not survive ``decode(encode(text))`` (for tests and --check)."""
    encs = tokenizer.encode_batch(list(texts), add_special_tokens=False)
    return [i for i, (t, e) in enumerate(zip(texts, encs))
            if tokenizer.decode(e.ids, skip_special_tokens=False) != t]
