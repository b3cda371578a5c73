"""Training configs: TOML files with a ``[model]`` and a ``[train]`` table, checked before anything starts.

    name = "tiny"
    description = "..."
    [model]          # ModelConfig (curate/train/model.py): the architecture
    n_layer = 2
    [train]          # TrainConfig (below): batch, schedule, parallelism, logging, checkpoints
    lr = 3e-3

Shipped configs live in ``curate/train/configs/`` (so the wheel carries them) and are found by name
(``curate train polyglot-ko-1.3b``); anything else is a path. ``--set train.lr=1e-4`` overrides one
value (the value is read as TOML, so ``--set train.compile=true`` is a boolean). Unknown keys, wrong
types and impossible combinations are errors that name the file, the key and what would be valid.
"""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from curate.errors import CurateError
from curate.train.model import ModelConfig

CONFIG_DIR = Path(__file__).resolve().parent / "configs"

PARALLEL = ("ddp", "fsdp")
PRECISION = ("auto", "bf16", "fp32")
DEVICES = ("auto", "cuda", "cpu")


class ConfigError(CurateError):
    """A training config that cannot work; the message says which key and why."""


@dataclass
class TrainConfig:
    # batch: every optimizer step sees micro_batch_size * grad_accum * world_size sequences of seq_len tokens
    seq_len: int = 2048
    micro_batch_size: int = 4        # sequences per device per forward/backward
    grad_accum: int = 1              # micro-batches per optimizer step (per device)
    # schedule: linear warmup to lr, cosine decay to min_lr at decay_steps, then min_lr
    max_steps: int = 1000            # optimizer steps to train (the --max-steps option overrides it)
    decay_steps: int = 0             # 0 = max_steps; set it to keep the schedule when stopping early
    warmup_steps: int = 100          # cut to the schedule's length when longer (short smoke runs)
    lr: float = 3e-4
    min_lr: float = 3e-5
    # AdamW (decoupled weight decay on matrices and embeddings only, not on biases and LayerNorm)
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-8
    grad_clip: float = 1.0           # max global gradient norm; 0 = no clipping
    seed: int = 1234                 # weights init and data order
    # hardware
    device: str = "auto"             # auto (CUDA when present), cuda, cpu
    precision: str = "auto"          # auto = bf16 on CUDA, fp32 on CPU
    parallel: str = "ddp"            # ddp: full replica per device; fsdp: parameters, grads, optimizer sharded
    compile: bool = False            # torch.compile the model (GPU: faster; CPU: needs a C++ compiler)
    activation_checkpointing: bool = False   # recompute layer activations in backward: less memory, ~33% more compute
    fsdp_reshard_after_forward: bool = True  # fsdp: free gathered parameters after forward (ZeRO-3) or keep (ZeRO-2)
    cpu_threads: int = 0             # CPU runs: torch threads per process; 0 = PyTorch's default
    peak_flops: float = 0.0          # per device, for MFU; 0 = by device name (H100/H200 bf16 dense: 989e12)
    # logging, evaluation, checkpoints
    log_interval: int = 10           # steps between log lines (log.jsonl and console)
    eval_interval: int = 100         # steps between valid-split evaluations; 0 = only at the end
    eval_batches: int = 10           # micro-batches per device per evaluation; 0 = no evaluation
    checkpoint_interval: int = 500   # steps between checkpoints; 0 = only at the end
    keep_checkpoints: int = 2        # most recent checkpoints kept on disk

    @property
    def schedule_steps(self) -> int:
        return self.decay_steps or self.max_steps


@dataclass
class Config:
    name: str
    model: ModelConfig
    train: TrainConfig
    description: str = ""
    path: str | None = None
    overrides: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"name": self.name, "description": self.description, "path": self.path, "overrides": list(self.overrides),
                "model": asdict(self.model), "train": asdict(self.train)}

    @classmethod
    def from_dict(cls, data: dict, where: str = "config") -> "Config":
        cfg = cls(name=data.get("name", "config"), description=data.get("description", ""), path=data.get("path"),
                  overrides=list(data.get("overrides", [])), model=_build(ModelConfig, data.get("model", {}), where, "model"),
                  train=_build(TrainConfig, data.get("train", {}), where, "train"))
        validate(cfg, where)
        return cfg


def list_configs() -> list[Path]:
    return sorted(CONFIG_DIR.glob("*.toml"))


def config_path(name_or_path: str | Path) -> Path:
    """A shipped config by name (``tiny``, ``polyglot-ko-1.3b``) or a TOML file path."""
    p = Path(name_or_path)
    if p.is_file():
        return p
    shipped = CONFIG_DIR / f"{p.name}.toml" if p.suffix != ".toml" else CONFIG_DIR / p.name
    if shipped.is_file() and len(p.parts) == 1:
        return shipped
    names = [c.stem for c in list_configs()]
    hint = difflib.get_close_matches(p.stem, names, n=1)
    raise ConfigError(f"training config {str(name_or_path)!r} not found: not a file, and not a shipped config "
                      f"({', '.join(names)})" + (f"; did you mean {hint[0]!r}?" if hint else ""))


def _parse_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text   # a bare word: a string


def apply_overrides(data: dict, overrides: Sequence[str], where: str) -> None:
    for item in overrides:
        key, sep, value = item.partition("=")
        parts = key.strip().split(".")
        if not sep or len(parts) != 2 or parts[0] not in ("model", "train"):
            raise ConfigError(f"--set {item!r}: expected model.KEY=VALUE or train.KEY=VALUE (e.g. train.lr=1e-4)")
        data.setdefault(parts[0], {})[parts[1]] = _parse_value(value.strip())


def load_config(name_or_path: str | Path, overrides: Sequence[str] = ()) -> Config:
    path = config_path(name_or_path)
    where = path.name
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML: {exc}") from exc
    unknown = set(data) - {"name", "description", "model", "train"}
    if unknown:
        raise ConfigError(f"{where}: unknown top-level key(s) {', '.join(sorted(unknown))} "
                          "(expected name, description, [model], [train])")
    apply_overrides(data, overrides, where)
    data.setdefault("name", path.stem)
    data["path"] = str(path.resolve())
    data["overrides"] = list(overrides)
    return Config.from_dict(data, where)


def _build(cls, table: Any, where: str, section: str):
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: [{section}] must be a table")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values = {}
    for key, value in table.items():
        if key == "rotary_pct" and section == "model":   # GPT-NeoX/HF spelling: a fraction of the head
            continue
        if key not in fields:
            hint = difflib.get_close_matches(key, list(fields), n=1)
            raise ConfigError(f"{where}: unknown key {section}.{key}" + (f" (did you mean {section}.{hint[0]}?)" if hint
                                                                         else f"; known: {', '.join(fields)}"))
        default = fields[key].default
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif isinstance(default, float):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            value = float(value) if ok else value
        else:
            ok = isinstance(value, str)
        if not ok:
            raise ConfigError(f"{where}: {section}.{key} = {value!r}: expected {type(default).__name__}")
        values[key] = value
    obj = cls(**values)
    if section == "model" and "rotary_pct" in table:
        pct = table["rotary_pct"]
        if not isinstance(pct, (int, float)) or isinstance(pct, bool) or not 0 < pct <= 1:
            raise ConfigError(f"{where}: model.rotary_pct = {pct!r}: expected a number in (0, 1]")
        if "rotary_dim" in table:
            raise ConfigError(f"{where}: give model.rotary_dim or model.rotary_pct, not both")
        obj.rotary_dim = round(obj.head_dim * pct)
    return obj


def validate(cfg: Config, where: str = "config") -> None:
    """Raise :class:`ConfigError` for values that cannot work together."""
    m, t = cfg.model, cfg.train
    problems: list[str] = []

    def need(ok: bool, msg: str) -> None:
        if not ok:
            problems.append(msg)

    for key in ("n_layer", "d_model", "n_head", "max_seq_len"):
        need(getattr(m, key) >= 1, f"model.{key} = {getattr(m, key)}: must be at least 1")
    need(m.vocab_size >= 0, f"model.vocab_size = {m.vocab_size}: must be >= 0 (0 = from the shards)")
    need(m.pad_vocab_to >= 1, f"model.pad_vocab_to = {m.pad_vocab_to}: must be at least 1 (1 = no padding)")
    need(m.d_ff >= 0, f"model.d_ff = {m.d_ff}: must be >= 0 (0 = 4 * d_model)")
    need(m.layer_norm_eps > 0, "model.layer_norm_eps must be > 0")
    need(m.rotary_base > 0, "model.rotary_base must be > 0")
    if m.n_head >= 1 and m.d_model >= 1:
        need(m.d_model % m.n_head == 0, f"model.d_model = {m.d_model} is not divisible by model.n_head = {m.n_head}")
        if m.d_model % m.n_head == 0:
            r = m.rotary
            need(r >= 2 and r % 2 == 0 and r <= m.head_dim,
                 f"model.rotary_dim = {r}: must be even, at least 2 and at most the head size {m.head_dim}")
    need(t.seq_len >= 1, f"train.seq_len = {t.seq_len}: must be at least 1")
    need(t.seq_len <= m.max_seq_len, f"train.seq_len = {t.seq_len} is longer than model.max_seq_len = {m.max_seq_len}")
    for key in ("micro_batch_size", "grad_accum", "max_steps", "log_interval"):
        need(getattr(t, key) >= 1, f"train.{key} = {getattr(t, key)}: must be at least 1")
    for key in ("decay_steps", "warmup_steps", "eval_interval", "eval_batches", "checkpoint_interval"):
        need(getattr(t, key) >= 0, f"train.{key} = {getattr(t, key)}: must be >= 0")
    need(t.keep_checkpoints >= 1, f"train.keep_checkpoints = {t.keep_checkpoints}: must be at least 1")
    need(t.lr > 0, f"train.lr = {t.lr}: must be > 0")
    need(0 <= t.min_lr <= t.lr, f"train.min_lr = {t.min_lr}: must be between 0 and train.lr = {t.lr}")
    need(t.weight_decay >= 0, "train.weight_decay must be >= 0")
    need(0 <= t.beta1 < 1 and 0 <= t.beta2 < 1, "train.beta1 and train.beta2 must be in [0, 1)")
    need(t.eps > 0, "train.eps must be > 0")
    need(t.grad_clip >= 0, "train.grad_clip must be >= 0 (0 = no clipping)")
    need(t.cpu_threads >= 0, "train.cpu_threads must be >= 0 (0 = PyTorch's default)")
    need(t.peak_flops >= 0, "train.peak_flops must be >= 0 (0 = by device name)")
    need(t.parallel in PARALLEL, f"train.parallel = {t.parallel!r}: expected one of {', '.join(PARALLEL)}")
    need(t.precision in PRECISION, f"train.precision = {t.precision!r}: expected one of {', '.join(PRECISION)}")
    need(t.device in DEVICES, f"train.device = {t.device!r}: expected one of {', '.join(DEVICES)}")
    if problems:
        raise ConfigError(f"{where}: " + "; ".join(problems))
