"""``curate export RUN --to hf --out DIR``: a checkpoint as a Hugging Face ``GPTNeoXForCausalLM``.

Writes ``config.json`` and ``model.safetensors`` (plus the shards' tokenizer: ``tokenizer.json``,
``tokenizer_config.json``, ``special_tokens_map.json``), loadable offline with::

    from transformers import AutoModelForCausalLM, AutoTokenizer
    model = AutoModelForCausalLM.from_pretrained(DIR)
    tok = AutoTokenizer.from_pretrained(DIR)

The model's parameter names and layouts are already GPT-NeoX's (curate/train/model.py), so the
weights are copied unchanged: ``X`` becomes ``gpt_neox.X`` and ``embed_out.weight`` stays
``embed_out.weight`` (the name Polyglot-Ko's and Pythia's checkpoints use; transformers 5 renames it
to ``lm_head`` on load). ``vocab_size`` in config.json is the padded embedding size (Polyglot-Ko
publishes 30,080 rows for its 30,003-token tokenizer), and ``rotary_pct`` = rotary_dim / head size.
No ``transformers`` import is needed to export; only ``safetensors``.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import torch

from curate.errors import CurateError
from curate.train.config import Config
from curate.train.loop import latest_checkpoint
from curate.train.model import GPTNeoX, ModelConfig

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def load_run(run: str | Path, checkpoint: str | Path | None = None) -> tuple[GPTNeoX, dict, Path]:
    """The model of a run's checkpoint (latest by default), in fp32 on the CPU; its config.json; the path."""
    import torch.distributed.checkpoint as dcp

    run = Path(run)
    if not (run / "config.json").is_file():
        raise CurateError(f"{run}: not a training run (no config.json; train one with `curate train`)")
    info = json.loads((run / "config.json").read_text())
    path = Path(checkpoint) if checkpoint else latest_checkpoint(run)
    if path is not None and not path.is_absolute() and not path.exists():
        path = run / "checkpoints" / str(checkpoint)
    if path is None or not (path / "trainer.json").is_file():
        raise CurateError(f"{run}: no complete checkpoint" + (f" {checkpoint}" if checkpoint else "")
                          + " (checkpoints are written every train.checkpoint_interval steps and at the end)")
    cfg = Config.from_dict(info["config"], where=str(run / "config.json"))
    model = GPTNeoX(cfg.model)
    state = {"model": model.state_dict()}
    with warnings.catch_warnings():   # "torch.distributed is ... uninitialized, assuming a single process": yes
        warnings.filterwarnings("ignore", message="torch.distributed is disabled")
        dcp.load(state, checkpoint_id=str(path))
    model.load_state_dict(state["model"])
    return model.eval(), info, path


def hf_config(m: ModelConfig, dtype: str, eod_id: int | None, pad_id: int | None) -> dict:
    pct = m.rotary / m.head_dim
    if int(m.head_dim * pct) != m.rotary:    # HF computes int(head_size * rotary_pct): guard float rounding
        pct = (m.rotary + 0.5) / m.head_dim
    cfg = {
        "architectures": ["GPTNeoXForCausalLM"],
        "model_type": "gpt_neox",
        "vocab_size": m.padded_vocab_size,
        "hidden_size": m.d_model,
        "num_hidden_layers": m.n_layer,
        "num_attention_heads": m.n_head,
        "intermediate_size": m.ffn,
        "hidden_act": "gelu",
        "rotary_pct": pct,
        "rotary_emb_base": m.rotary_base,
        "max_position_embeddings": m.max_seq_len,
        "layer_norm_eps": m.layer_norm_eps,
        "use_parallel_residual": True,
        "tie_word_embeddings": False,
        "attention_bias": True,
        "attention_dropout": 0.0,
        "hidden_dropout": 0.0,
        "initializer_range": 0.02,
        "use_cache": True,
        "torch_dtype": dtype,
    }
    if eod_id is not None:
        cfg["bos_token_id"] = cfg["eos_token_id"] = eod_id
    if pad_id is not None:
        cfg["pad_token_id"] = pad_id
    return cfg


def export_hf(run: str | Path, out: str | Path, checkpoint: str | Path | None = None, dtype: str = "auto",
              tokenizer: bool = True) -> dict:
    """Export a run's checkpoint to ``out`` as a transformers GPTNeoXForCausalLM (see the module docstring).

    ``dtype``: ``auto`` (bfloat16 when the run trained in bf16, else float32), float32, bfloat16,
    float16. Returns what was written.
    """
    try:
        from safetensors.torch import save_file
    except ImportError as exc:
        raise CurateError("curate export needs safetensors: pip install 'curate[train]'") from exc
    model, info, path = load_run(run, checkpoint)
    if dtype == "auto":
        dtype = "bfloat16" if info.get("precision") == "bf16" else "float32"
    if dtype not in DTYPES:
        raise CurateError(f"--dtype {dtype!r}: expected auto, {', '.join(DTYPES)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tensors = {}
    for name, t in model.state_dict().items():
        key = name if name == "embed_out.weight" else f"gpt_neox.{name}"
        tensors[key] = t.detach().to(DTYPES[dtype]).contiguous()
    data = info.get("data") or {}
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})
    (out / "config.json").write_text(json.dumps(hf_config(model.cfg, dtype, data.get("eod_id"), data.get("pad_id")),
                                                indent=2) + "\n")
    trainer = json.loads((path / "trainer.json").read_text())
    written = {"out": str(out), "checkpoint": str(path), "step": trainer.get("step"), "dtype": dtype,
               "params": model.num_params(), "files": ["config.json", "model.safetensors"], "tokenizer": None}
    if tokenizer:
        written["tokenizer"] = _copy_tokenizer((data.get("tokenizer") or {}), out, model.cfg.max_seq_len, written)
    return written


def _copy_tokenizer(tok: dict, out: Path, max_len: int, written: dict) -> str | None:
    """Copy the shards' tokenizer (as recorded in their manifest) beside the weights, if it is still there."""
    src = Path(tok["path"]) if tok.get("path") else None
    if src is None or not src.is_file():
        return None
    from curate.tokenizer.train import file_sha256, hf_config_files

    if tok.get("sha256") and file_sha256(src) != tok["sha256"]:
        raise CurateError(f"{src} changed since the shards were built (sha256 differs); not copying it. "
                          "Copy the right tokenizer.json to the export folder yourself.")
    shutil.copyfile(src, out / "tokenizer.json")
    written["files"].append("tokenizer.json")
    for name, data in hf_config_files(model_max_length=max_len).items():
        beside = src.parent / name
        if beside.is_file():
            data = json.loads(beside.read_text(encoding="utf-8"))
        if "model_max_length" in data:
            data["model_max_length"] = max_len      # the model's context, not the tokenizer trainer's default
        (out / name).write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written["files"].append(name)
    return str(src)
