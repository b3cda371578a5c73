"""The training launcher: a GPT-NeoX model (Polyglot-Ko's architecture) trained on curate's shards.

    curate train polyglot-ko-1.3b --data shards/ --out runs/1.3b     # torchrun, one process per GPU
    curate export runs/1.3b --to hf --out hf/1.3b                     # transformers GPTNeoXForCausalLM

Python::

    from curate.train import load_config, train, export_hf
    cfg = load_config("tiny", ["train.max_steps=30"])
    train(cfg, "shards/", "runs/tiny")           # one process (or one of torchrun's)
    export_hf("runs/tiny", "hf/tiny")

Modules: ``model`` (the network, FLOPs, MFU), ``config`` (TOML configs; shipped ones in
``configs/``), ``data`` (deterministic, resumable batches from the shards), ``loop`` (DDP/FSDP2,
bf16, checkpoints, logs), ``launch`` (the torchrun command), ``export`` (Hugging Face format).
docs/training.md has the details. Needs the ``train`` extra (PyTorch).
"""

from __future__ import annotations

__all__ = ["Config", "ConfigError", "GPTNeoX", "ModelConfig", "TrainConfig", "export_hf", "list_configs",
           "load_config", "train"]

_WHERE = {"Config": "config", "ConfigError": "config", "TrainConfig": "config", "list_configs": "config",
          "load_config": "config", "GPTNeoX": "model", "ModelConfig": "model", "train": "loop", "export_hf": "export"}


def __getattr__(name: str):
    # lazy: `curate --help` and the launcher's argument checks should not pay for importing torch
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f"curate.train.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'curate.train' has no attribute {name!r}")
