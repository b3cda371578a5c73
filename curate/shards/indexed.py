"""Megatron / GPT-NeoX memory-mapped indexed datasets (``.bin`` + ``.idx``, ``MMIDIDX`` version 1).

The format that Megatron-LM (``megatron/core/datasets/indexed_dataset.py``) and GPT-NeoX
(``megatron/data/indexed_dataset.py``, ``MMapIndexedDataset``) read, so shards written here train
there unchanged. A dataset is two files sharing a path prefix:

``PREFIX.bin``: the token ids of every sequence, back to back, in the index's dtype (little-endian).

``PREFIX.idx``, all integers little-endian::

    offset  size      field
    0       9         magic b"MMIDIDX\\x00\\x00"
    9       8  <Q     version = 1
    17      1  <B     dtype code: 1 uint8, 2 int8, 3 int16, 4 int32, 5 int64, 6 float64,
                      7 float32, 8 uint16 (Megatron's DType enum; older GPT-NeoX swaps 6/7,
                      which never matters for token ids: curate writes 8 or 4)
    18      8  <Q     S = number of sequences
    26      8  <Q     D = number of entries in the document index (documents + 1)
    34      4*S       int32  sequence lengths, in tokens
    ..      8*S       int64  sequence pointers: byte offset of each sequence in .bin
    ..      8*D       int64  document index: sequence index where each document starts, then S

curate writes one sequence per document (the document's tokens followed by ``<|endoftext|>``), so
the document index is ``0, 1, ..., S``. Token dtype: ``uint16`` when the vocabulary has fewer than
65,500 entries, else ``int32`` (Megatron's ``DType.optimal_dtype`` rule).
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import BinaryIO, Iterator, Sequence

import numpy as np

MAGIC = b"MMIDIDX\x00\x00"
VERSION = 1
HEADER_BYTES = 34

#: Megatron-LM's DType enum codes.
DTYPE_CODES: dict[str, int] = {"uint8": 1, "int8": 2, "int16": 3, "int32": 4, "int64": 5, "float64": 6,
                               "float32": 7, "uint16": 8}
CODE_DTYPES: dict[int, np.dtype] = {code: np.dtype(name) for name, code in DTYPE_CODES.items()}


def best_dtype(vocab_size: int | None) -> np.dtype:
    """``uint16`` for vocabularies under 65,500 tokens, else ``int32`` (as Megatron and GPT-NeoX)."""
    return np.dtype(np.uint16) if vocab_size is not None and vocab_size < 65500 else np.dtype(np.int32)


def prefix_paths(prefix: str | Path) -> tuple[Path, Path]:
    """(``PREFIX.bin``, ``PREFIX.idx``); a prefix given with either suffix is accepted."""
    p = str(prefix)
    if p.endswith((".bin", ".idx")):
        p = p[:-4]
    return Path(p + ".bin"), Path(p + ".idx")


def write_index(path: str | Path, dtype: np.dtype, sizes: np.ndarray, doc_idx: np.ndarray | None = None) -> None:
    """Write an ``.idx`` file for sequences of ``sizes`` tokens (one document per sequence unless
    ``doc_idx`` is given)."""
    dtype = np.dtype(dtype)
    sizes = np.ascontiguousarray(sizes, dtype=np.int32)
    if doc_idx is None:
        doc_idx = np.arange(len(sizes) + 1, dtype=np.int64)
    pointers = np.zeros(len(sizes), dtype=np.int64)
    if len(sizes) > 1:
        np.cumsum(sizes[:-1].astype(np.int64) * dtype.itemsize, out=pointers[1:])
    with open(path, "wb") as fh:
        fh.write(MAGIC)
        fh.write(struct.pack("<Q", VERSION))
        fh.write(struct.pack("<B", DTYPE_CODES[dtype.name]))
        fh.write(struct.pack("<Q", len(sizes)))
        fh.write(struct.pack("<Q", len(doc_idx)))
        fh.write(sizes.astype("<i4", copy=False).tobytes())
        fh.write(pointers.astype("<i8", copy=False).tobytes())
        fh.write(np.asarray(doc_idx, dtype="<i8").tobytes())


class IndexedDatasetWriter:
    """Append documents (arrays of token ids) to ``PREFIX.bin`` / ``PREFIX.idx``.

    Both files are written under temporary names and renamed by :meth:`finalize`, so a reader never
    sees a half-written dataset. ``dtype`` defaults to :func:`best_dtype` of ``vocab_size``::

        with IndexedDatasetWriter("shards/train-00000", vocab_size=30003) as w:
            w.add_document(np.array([5, 6, 0]))
    """

    def __init__(self, prefix: str | Path, dtype: np.dtype | str | None = None, vocab_size: int | None = None) -> None:
        self.bin_path, self.idx_path = prefix_paths(prefix)
        self.prefix = Path(str(self.bin_path)[:-4])
        self.dtype = np.dtype(dtype) if dtype is not None else best_dtype(vocab_size)
        if self.dtype.name not in DTYPE_CODES:
            raise ValueError(f"dtype {self.dtype} is not an MMIDIDX dtype")
        self._limit = np.iinfo(self.dtype).max if self.dtype.kind in "iu" else None
        self.bin_path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp_bin = self.bin_path.with_name(".tmp-" + self.bin_path.name)
        self._tmp_idx = self.idx_path.with_name(".tmp-" + self.idx_path.name)
        self._fh = open(self._tmp_bin, "wb")
        self._sizes: list[np.ndarray] = []
        self.num_documents = 0
        self.num_tokens = 0

    @property
    def nbytes(self) -> int:
        """Bytes written to ``.bin`` so far."""
        return self.num_tokens * self.dtype.itemsize

    def add_document(self, tokens: Sequence[int] | np.ndarray) -> None:
        arr = np.asarray(tokens)
        self.add_documents(arr, np.array([len(arr)], dtype=np.int32))

    def add_documents(self, tokens: np.ndarray, sizes: np.ndarray) -> None:
        """Append several documents at once: ``tokens`` is their concatenation, ``sizes`` their lengths."""
        sizes = np.asarray(sizes, dtype=np.int32)
        if int(sizes.sum()) != len(tokens):
            raise ValueError(f"sizes sum to {int(sizes.sum())} for {len(tokens)} tokens")
        if len(tokens) and self._limit is not None and tokens.dtype != self.dtype:
            lo, hi = int(tokens.min()), int(tokens.max())
            if lo < 0 or hi > self._limit:
                raise ValueError(f"token id {hi if hi > self._limit else lo} does not fit {self.dtype}")
        self._fh.write(np.ascontiguousarray(tokens, dtype=self.dtype.newbyteorder("<")).tobytes())
        self._sizes.append(sizes)
        self.num_documents += len(sizes)
        self.num_tokens += len(tokens)

    def add_from_file(self, src: BinaryIO, nbytes: int, sizes: np.ndarray, chunk: int = 16 << 20) -> None:
        """Append ``nbytes`` of already-encoded tokens read from ``src`` (at its current position),
        holding documents of ``sizes`` tokens: how datasets are concatenated without decoding."""
        sizes = np.array(sizes, dtype=np.int32)
        if nbytes != int(sizes.sum(dtype=np.int64)) * self.dtype.itemsize:
            raise ValueError(f"{nbytes} bytes do not hold documents of {int(sizes.sum())} tokens")
        left = nbytes
        while left > 0:
            data = src.read(min(chunk, left))
            if not data:
                raise ValueError("source ended early")
            self._fh.write(data)
            left -= len(data)
        self._sizes.append(sizes)
        self.num_documents += len(sizes)
        self.num_tokens += int(sizes.sum(dtype=np.int64))

    def finalize(self) -> Path:
        """Write the index, rename both files into place; return the prefix."""
        self._fh.close()
        sizes = np.concatenate(self._sizes) if self._sizes else np.zeros(0, dtype=np.int32)
        write_index(self._tmp_idx, self.dtype, sizes)
        os.replace(self._tmp_bin, self.bin_path)
        os.replace(self._tmp_idx, self.idx_path)
        return self.prefix

    def abort(self) -> None:
        self._fh.close()
        for p in (self._tmp_bin, self._tmp_idx):
            p.unlink(missing_ok=True)

    def __enter__(self) -> "IndexedDatasetWriter":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is None:
            self.finalize()
        else:
            self.abort()


class IndexedDataset:
    """Read an MMIDIDX dataset through memory maps (nothing is loaded up front).

    ``ds[i]`` is sequence ``i`` as a read-only ``np.ndarray`` view of the ``.bin`` map;
    ``ds.sizes`` (int32), ``ds.pointers`` (int64 byte offsets) and ``ds.doc_idx`` (int64) are views
    of the ``.idx`` map. Works for any file written by Megatron-LM, GPT-NeoX or curate.
    """

    def __init__(self, prefix: str | Path) -> None:
        self.bin_path, self.idx_path = prefix_paths(prefix)
        self.prefix = Path(str(self.bin_path)[:-4])
        with open(self.idx_path, "rb") as fh:
            head = fh.read(HEADER_BYTES)
        if len(head) < HEADER_BYTES or head[:9] != MAGIC:
            raise ValueError(f"{self.idx_path}: not an MMIDIDX index (bad magic)")
        (version,) = struct.unpack("<Q", head[9:17])
        if version != VERSION:
            raise ValueError(f"{self.idx_path}: MMIDIDX version {version}, expected {VERSION}")
        (code,) = struct.unpack("<B", head[17:18])
        if code not in CODE_DTYPES:
            raise ValueError(f"{self.idx_path}: unknown dtype code {code}")
        self.dtype = CODE_DTYPES[code]
        self._seq_count, self._doc_count = struct.unpack("<QQ", head[18:34])
        expected = HEADER_BYTES + self._seq_count * 12 + self._doc_count * 8
        idx_size = os.path.getsize(self.idx_path)
        if idx_size < expected:
            raise ValueError(f"{self.idx_path}: truncated ({idx_size} bytes, expected {expected})")
        self._idx = np.memmap(self.idx_path, mode="r", dtype=np.uint8)
        off = HEADER_BYTES
        self.sizes = np.frombuffer(self._idx, dtype="<i4", count=self._seq_count, offset=off)
        off += self.sizes.nbytes
        self.pointers = np.frombuffer(self._idx, dtype="<i8", count=self._seq_count, offset=off)
        off += self.pointers.nbytes
        self.doc_idx = np.frombuffer(self._idx, dtype="<i8", count=self._doc_count, offset=off)
        bin_size = os.path.getsize(self.bin_path)
        need = int(self.pointers[-1]) + int(self.sizes[-1]) * self.dtype.itemsize if self._seq_count else 0
        if bin_size < need:
            raise ValueError(f"{self.bin_path}: truncated ({bin_size} bytes, index needs {need})")
        self._bin = (np.memmap(self.bin_path, mode="r", dtype=self.dtype.newbyteorder("<")) if bin_size
                     else np.zeros(0, dtype=self.dtype))

    def __len__(self) -> int:
        return self._seq_count

    @property
    def num_documents(self) -> int:
        return max(self._doc_count - 1, 0)

    @property
    def num_tokens(self) -> int:
        return int(self.sizes.sum(dtype=np.int64))

    def __getitem__(self, idx: int | slice) -> np.ndarray | list[np.ndarray]:
        if isinstance(idx, slice):
            return [self[i] for i in range(*idx.indices(len(self)))]
        i = int(idx)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"sequence {idx} out of range for {len(self)} sequences")
        start = int(self.pointers[i]) // self.dtype.itemsize
        return self._bin[start:start + int(self.sizes[i])]

    def get(self, idx: int, offset: int = 0, length: int | None = None) -> np.ndarray:
        """Tokens ``offset:offset+length`` of sequence ``idx`` (Megatron's ``get``)."""
        seq = self[idx]
        return seq[offset:] if length is None else seq[offset:offset + length]

    def byte_range(self, start: int, stop: int) -> tuple[int, int]:
        """(first byte, end byte) in ``.bin`` of sequences ``start:stop``."""
        if start >= stop:
            return 0, 0
        a = int(self.pointers[start])
        b = int(self.pointers[stop - 1]) + int(self.sizes[stop - 1]) * self.dtype.itemsize
        return a, b

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(len(self)):
            yield self[i]

    def __repr__(self) -> str:
        return f"IndexedDataset({str(self.prefix)!r}, {len(self)} sequences, {self.dtype})"
