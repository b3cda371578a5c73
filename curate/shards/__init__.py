"""Training shards: Megatron/GPT-NeoX indexed datasets (``.bin`` + ``.idx``, MMIDIDX v1).

    from curate.shards import build_shards, ShardSet
    build_shards("runs/ko/clean", "tok/", "shards/", mix="news=2,blog=0.5")
    train = ShardSet("shards/", "train")      # every file of the split, memory-mapped
    train[0]                                   # np.ndarray of token ids, ending with train.eod_id

Layout of a shards directory (docs/shards.md)::

    shards/manifest.json                 counts, tokenizer hash and ids, mix, dtype, files
    shards/train/train-00000.{bin,idx}   ... at most --max-shard-mb each
    shards/valid/valid-00000.{bin,idx}
    shards/test/test-00000.{bin,idx}     (when --test-fraction > 0)

Readers: GPT-NeoX (``train_data_paths`` = the train prefixes), Megatron-LM (``--data-path``) and
:class:`ShardSet` / :class:`IndexedDataset` here. Documents are stored in input order; samplers
shuffle (Megatron's and GPT-NeoX's dataset index builders do).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from curate.errors import CurateError
from curate.manifest import read_json
from curate.shards.indexed import (DTYPE_CODES, MAGIC, IndexedDataset, IndexedDatasetWriter, best_dtype,
                                   prefix_paths, write_index)

__all__ = ["DTYPE_CODES", "MAGIC", "IndexedDataset", "IndexedDatasetWriter", "ShardSet", "best_dtype",
           "build_shards", "parse_mix", "prefix_paths", "write_index"]


def __getattr__(name: str):
    # build_shards pulls in pyarrow/tokenizers machinery; the reader side stays light for launchers.
    if name in ("build_shards", "parse_mix"):
        from curate.shards import build

        return getattr(build, name)
    raise AttributeError(f"module 'curate.shards' has no attribute {name!r}")


class ShardSet:
    """All files of one split of a shards directory, read as one sequence of documents.

    ``len(s)`` documents; ``s[i]`` the tokens of document ``i`` (a read-only memory-mapped
    ``np.ndarray``, ``<|endoftext|>`` last); ``s.sizes`` the length of every document;
    ``s.num_tokens``; ``s.eod_id``, ``s.pad_id`` and ``s.manifest`` from ``manifest.json``.
    """

    def __init__(self, directory: str | Path, split: str = "train") -> None:
        self.directory = Path(directory)
        self.split = split
        self.manifest = read_json(self.directory / "manifest.json") or {}
        if self.manifest:
            if self.manifest.get("kind") != "shards":
                raise CurateError(f"{self.directory}: manifest.json is not a shards manifest")
            files = self.manifest.get("files", {})
            if split not in files:
                raise CurateError(f"{self.directory}: no split {split!r} (have: {', '.join(files)})")
            prefixes = [self.directory / f["prefix"] for f in files[split]]
        else:  # a folder of .idx files without a manifest (e.g. written by another tool)
            prefixes = [p.with_suffix("") for p in sorted((self.directory / split).glob("*.idx"))]
            if not prefixes:
                raise CurateError(f"{self.directory}: no manifest.json and no {split}/*.idx")
        self.datasets = [IndexedDataset(p) for p in prefixes]
        self.prefixes = [d.prefix for d in self.datasets]
        counts = np.array([len(d) for d in self.datasets], dtype=np.int64)
        self._starts = np.concatenate([[0], np.cumsum(counts)])
        dtypes = {d.dtype for d in self.datasets}
        if len(dtypes) > 1:
            raise CurateError(f"{self.directory}/{split}: files of different dtypes {sorted(map(str, dtypes))}")
        self.dtype = dtypes.pop() if dtypes else np.dtype(self.manifest.get("dtype", "uint16"))
        self.eod_id: int | None = self.manifest.get("eod_id")
        self.pad_id: int | None = self.manifest.get("pad_id")

    def __len__(self) -> int:
        return int(self._starts[-1])

    @property
    def sizes(self) -> np.ndarray:
        """Tokens per document, over all files (int32; concatenated on each call)."""
        return np.concatenate([d.sizes for d in self.datasets]) if self.datasets else np.zeros(0, np.int32)

    @property
    def num_tokens(self) -> int:
        return sum(d.num_tokens for d in self.datasets)

    def locate(self, idx: int) -> tuple[int, int]:
        """(file number, sequence within that file) of document ``idx``."""
        if idx < 0:
            idx += len(self)
        if not 0 <= idx < len(self):
            raise IndexError(f"document {idx} out of range for {len(self)} documents")
        f = int(np.searchsorted(self._starts, idx, side="right")) - 1
        return f, idx - int(self._starts[f])

    def __getitem__(self, idx: int) -> np.ndarray:
        f, i = self.locate(int(idx))
        return self.datasets[f][i]

    def __iter__(self) -> Iterator[np.ndarray]:
        for d in self.datasets:
            yield from d

    def __repr__(self) -> str:
        return f"ShardSet({str(self.directory)!r}, {self.split!r}, {len(self)} documents, {len(self.datasets)} files)"
