"""Deduplication building blocks usable without the pipeline (the steps live in curate/steps).

* :mod:`curate.dedup.minhash`: batch MinHash signatures (datasketch-compatible permutations), shingling,
  LSH band/row choice and band keys;
* :mod:`curate.dedup.components`: connected components over streamed edges (bounded memory);
* :mod:`curate.dedup.index`: the persisted MinHash index (Parquet folder) for cross-corpus dedup.
"""

from curate.dedup.components import connected_components
from curate.dedup.index import MinHashIndex
from curate.dedup.minhash import MinHasher, Signatures, band_keys, jaccard_estimate, optimal_param, shingles

__all__ = ["MinHashIndex", "MinHasher", "Signatures", "band_keys", "connected_components", "jaccard_estimate",
           "optimal_param", "shingles"]
