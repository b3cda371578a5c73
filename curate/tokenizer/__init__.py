"""Tokenizers for the training side: train (``train_tokenizer``) and compare (``tokenizer_stats``).

The reserved tokens and their fixed ids live in :mod:`curate.tokens`; docs/tokenizer.md explains
the choices (byte-level BPE, MeCab-aware training for Korean, exact round trip).
Needs the ``tokenizer`` extra (Hugging Face ``tokenizers``; python-mecab-ko for ``mecab=True``).
"""

from curate.tokenizer.stats import tokenizer_stats
from curate.tokenizer.train import (DEFAULT_VOCAB_SIZE, MorphemeSplitter, file_sha256, hf_config_files,
                                    load_tokenizer, tokenizer_file, train_tokenizer)

__all__ = ["DEFAULT_VOCAB_SIZE", "MorphemeSplitter", "file_sha256", "hf_config_files", "load_tokenizer",
           "tokenizer_file", "tokenizer_stats", "train_tokenizer"]
