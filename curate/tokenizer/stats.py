"""Compare tokenizers on a corpus: fertility and characters per token, per source and language.

    from curate.tokenizer import tokenizer_stats
    tables = tokenizer_stats("runs/ko/clean", ["tok/", "tok-mecab/"])

The measures are the ones tokenizer papers report when they adapt a model to a language (e.g.
Fietje, Vanroy 2024; the Russian LEP study of Tikhomirov & Chernyshev 2023):

* **fertility** = tokens per word (a word = a maximal run of non-whitespace characters, Unicode
  whitespace as Python's ``str.split``; so an eojeol in Korean). Lower is better: more text fits in the context, training and inference cost less.
* **chars/token** = Unicode characters per token (higher is better), and **bytes/token** (UTF-8).

Tokens are counted without the end-of-document token. Documents stream in Arrow batches and every
tokenizer sees the same (optionally sampled) documents.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curate.errors import CurateError
from curate.progress import Progress
from curate.stats.summary import Table
from curate.tokenizer.corpus import iter_batches, open_corpus
from curate.tokenizer.train import file_sha256, load_tokenizer, tokenizer_file

GROUP_BY = ("source", "lang")
# a maximal run of characters that Python's str.isspace() rejects (RE2's \s alone is ASCII-only)
WORD = r"[^\s\pZ\x{0b}\x{1c}-\x{1f}\x{85}]+"


def _names(paths: Sequence[str | Path]) -> list[str]:
    """Short unique labels: the directory (or file) name, the full path where names clash."""
    files = [tokenizer_file(p) for p in paths]
    short = [(f.parent.name if f.name == "tokenizer.json" else f.stem) or str(f) for f in files]
    return [s if short.count(s) == 1 else str(p) for s, p in zip(short, paths)]


def tokenizer_stats(run_dir: str | Path, tokenizers: Sequence[str | Path], by: Sequence[str] = GROUP_BY,
                    max_docs: int | None = None, sample_fraction: float = 1.0, seed: int = 0,
                    batch_size: int = 1000, progress: bool | None = None) -> list[Table]:
    """Fertility, chars/token and bytes/token of each tokenizer per group of documents.

    Args:
        run_dir: a ``curate run`` (or ingest) output directory.
        tokenizers: tokenizer directories or tokenizer.json files, compared side by side.
        by: document columns to group by (default source and language; ``()`` for one total row).
        max_docs, sample_fraction, seed: deterministic sampling as in ``curate tokenizer train``.

    Returns two tables: the measures per group (one row per group plus a TOTAL row, columns per
    tokenizer) and the tokenizers compared (vocabulary, sha256).
    """
    if not tokenizers:
        raise CurateError("give at least one --tokenizer")
    corpus = open_corpus(run_dir)
    names = _names(tokenizers)
    toks = [load_tokenizer(p) for p in tokenizers]
    for t in toks:
        t.encode_special_tokens = True  # a literal "<|endoftext|>" in text is text
    by = list(by)
    present = pq.ParquetFile(corpus.files[0]).schema_arrow.names
    unknown = [c for c in by if c not in present or c == "text"]
    if unknown:
        raise CurateError(f"--by {','.join(unknown)}: not a document column "
                          f"(have: {', '.join(n for n in present if n != 'text')})")
    acc: dict[tuple, list[int]] = {}  # group -> [documents, words, chars, bytes, tokens per tokenizer...]
    bar = Progress("tokenizer stats", corpus.text_bytes() if sample_fraction == 1.0 and max_docs is None else None,
                   progress)
    for batch in iter_batches(corpus.files, ["text", *by], batch_size, sample_fraction, max_docs, seed,
                              report=bar.update):
        text = batch.column("text")
        texts = [t or "" for t in text.to_pylist()]
        cols = {
            "documents": pa.array([1] * batch.num_rows, pa.int64()),
            "words": pc.fill_null(pc.count_substring_regex(text, WORD), 0).cast(pa.int64()),
            "chars": pc.fill_null(pc.utf8_length(text), 0).cast(pa.int64()),
            "bytes": pc.fill_null(pc.binary_length(text), 0).cast(pa.int64()),
        }
        for i, tok in enumerate(toks):
            cols[f"t{i}"] = pa.array([len(e) for e in tok.encode_batch_fast(texts, add_special_tokens=False)],
                                     pa.int64())
        table = pa.table({**{k: batch.column(k) for k in by}, **cols})
        sums = table.group_by(by).aggregate([(c, "sum") for c in cols]) if by else \
            pa.table({f"{c}_sum": [pc.sum(v).as_py() or 0] for c, v in cols.items()})
        keys = [sums.column(k).to_pylist() for k in by]
        vals = [sums.column(f"{c}_sum").to_pylist() for c in cols]
        for r in range(sums.num_rows):
            key = tuple(k[r] for k in keys)
            row = acc.setdefault(key, [0] * len(cols))
            for j, v in enumerate(vals):
                row[j] += v[r] or 0
    bar.close()
    if not acc:
        raise CurateError(f"{run_dir}: no documents to measure (check --sample-fraction / --max-docs)")
    columns = [*by, "documents", "words", "chars"]
    for n in names:
        columns += [f"{n} tokens", f"{n} fertility", f"{n} chars/token", f"{n} bytes/token"]

    def row(key: tuple, v: list[int]) -> tuple:
        docs, words, chars, nbytes = v[:4]
        cells: list = [*key, docs, words, chars]
        for tokens in v[4:]:
            cells += [tokens, _ratio(tokens, words), _ratio(chars, tokens), _ratio(nbytes, tokens)]
        return tuple(cells)

    rows = [row(k, acc[k]) for k in sorted(acc, key=lambda k: tuple("" if x is None else str(x) for x in k))]
    if by:
        total = [sum(v[j] for v in acc.values()) for j in range(4 + len(toks))]
        rows.append(row(("TOTAL",) + (None,) * (len(by) - 1), total))
    measures = Table("tokenizer fertility (tokens/word) and characters per token", columns, rows)
    info = Table("tokenizers", ["name", "path", "model", "vocab_size", "sha256"],
                 [(n, str(tokenizer_file(p)), _model_type(t), t.get_vocab_size(with_added_tokens=True),
                   file_sha256(tokenizer_file(p))[:16]) for n, p, t in zip(names, tokenizers, toks)])
    return [measures, info]


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def _model_type(tok) -> str:
    return type(tok.model).__name__
