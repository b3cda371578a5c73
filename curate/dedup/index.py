"""A persisted MinHash index: the signatures and LSH band keys of a corpus's kept documents, as a
Parquet folder, so that a new corpus can be deduplicated against it without reprocessing the old one.

Layout (``minhash_dedup`` writes it with ``index_out = "PATH"`` and reads it with ``against = ["PATH"]``)::

    PATH/index.json                          format, version, the signature parameters, size, docs
    PATH/sigs/<part>.parquet                 pos int64, id string, sig fixed_size_binary(4 * num_perm),
                                             sketch binary (bottom-k sketch, when the step verifies with one)
    PATH/bands/band=<k>/<part>.parquet       key int64, pos int64     (one folder per band)

``pos`` is a document's position in the indexed run (unique, ``0 <= pos < size``; positions of dropped
documents are simply absent). ``sig`` holds the little-endian uint32 hash values, ``sketch`` the
ascending little-endian uint32 values of the bottom-k sketch. DuckDB reads it in
place: ``SELECT count(*) FROM 'PATH/sigs/*.parquet'``.

An index can only be compared with signatures made with the same parameters (:func:`signature_params`:
permutations, shingling, normalization, bands and rows, and the Unicode version of the fold table);
:meth:`MinHashIndex.check_compatible` says which differ.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curate.dedup.minhash import MinHasher
from curate.errors import CurateError

INDEX_FORMAT = "curate-minhash-index"
INDEX_VERSION = 1
SHINGLE_HASH = "curate-poly64-fmix-v1"  # char_shingle_hash32 / word_shingle_hash32


def signature_params(hasher: MinHasher, bands: int, rows: int) -> dict[str, Any]:
    """Everything that must match for two signatures (or band keys) to be comparable."""
    return {"num_perm": hasher.num_perm, "seed": hasher.seed, "scheme": hasher.scheme, "bands": bands, "rows": rows,
            "shingle": hasher.shingle, "char_ngram": hasher.char_ngram, "word_ngram": hasher.word_ngram,
            "char_langs": sorted(hasher.char_langs), "script_fraction": hasher.script_fraction,
            "normalize": hasher.normalize, "unicode": unicodedata.unidata_version, "shingle_hash": SHINGLE_HASH,
            "sketch_k": hasher.sketch_k}


@dataclass
class MinHashIndex:
    path: Path
    size: int
    docs: int
    params: dict[str, Any]
    info: dict[str, Any]

    @classmethod
    def open(cls, path: str | Path) -> "MinHashIndex":
        path = Path(path)
        meta = path / "index.json"
        if not meta.is_file():
            raise CurateError(f"{path} is not a MinHash index (no index.json); write one with "
                              "minhash_dedup's index_out = \"...\"")
        try:
            info = json.loads(meta.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CurateError(f"{meta}: unreadable ({exc})") from exc
        if info.get("format") != INDEX_FORMAT or info.get("version") != INDEX_VERSION:
            raise CurateError(f"{meta}: not a {INDEX_FORMAT} version {INDEX_VERSION} "
                              f"(format {info.get('format')!r} version {info.get('version')!r})")
        return cls(path, int(info["size"]), int(info["docs"]), dict(info["params"]), info)

    def check_compatible(self, params: dict[str, Any]) -> None:
        diffs = [f"{k}: index {self.params.get(k)!r}, this step {v!r}" for k, v in params.items()
                 if self.params.get(k) != v]
        if diffs:
            raise CurateError(f"MinHash index {self.path} was built with other parameters, so its signatures "
                              f"do not compare with this step's: {'; '.join(diffs)}")

    def sig_glob(self) -> str:
        return str(self.path / "sigs" / "*.parquet")

    def band_dir(self, band: int) -> Path:
        return self.path / "bands" / f"band={band:03d}"

    def band_files(self, band: int) -> list[str]:
        return sorted(str(p) for p in self.band_dir(band).glob("*.parquet"))

    def sig_files(self) -> list[str]:
        return sorted(str(p) for p in (self.path / "sigs").glob("*.parquet"))


class IndexWriter:
    """Writes an index into ``PATH.partial`` and moves it to ``PATH`` on :meth:`commit`, so a crash
    never leaves a half-written index under the final name."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.exists() and not (self.path / "index.json").is_file() and any(self.path.iterdir()):
            raise CurateError(f"index_out {self.path} exists and is not a MinHash index; choose another path")
        self.staging = self.path.with_name(self.path.name + ".partial")
        if self.staging.exists():
            shutil.rmtree(self.staging)
        (self.staging / "sigs").mkdir(parents=True)

    def sig_path(self, part: str) -> Path:
        return self.staging / "sigs" / f"{part}.parquet"

    def band_path(self, band: int, part: str) -> Path:
        return self.staging / "bands" / f"band={band:03d}" / f"{part}.parquet"

    def commit(self, size: int, docs: int, params: dict[str, Any], extra: dict[str, Any] | None = None) -> Path:
        info = {"format": INDEX_FORMAT, "version": INDEX_VERSION, "size": size, "docs": docs, "params": params,
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **(extra or {})}
        (self.staging / "index.json").write_text(json.dumps(info, indent=2, ensure_ascii=False), encoding="utf-8")
        if self.path.exists():
            shutil.rmtree(self.path)
        os.replace(self.staging, self.path)
        return self.path
