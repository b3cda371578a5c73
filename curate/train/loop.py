"""The training loop: one function, :func:`train`, run by every process that ``torchrun`` starts.

Per optimizer step: ``grad_accum`` micro-batches forward and backward (gradients synchronized only
on the last), clip the global gradient norm, AdamW step with the scheduled learning rate. Around it:
evaluation on the valid split, logs (RUN/log.jsonl, console, a tqdm bar on rank 0) and checkpoints
that resume exactly.

Layout of a run directory::

    RUN/config.json                      resolved config, data (shards manifest summary), world size
    RUN/log.jsonl                        one JSON object per log / eval / event line
    RUN/checkpoints/step-00000500/       torch.distributed.checkpoint files (model + optimizer) and
                                         trainer.json (step, data position, tokens seen)
    RUN/checkpoints/latest               the name of the newest complete checkpoint

Running the same command again resumes from ``latest``: weights, optimizer moments, step and data
position are restored, and the log is cut back to the checkpoint, so the result equals an
uninterrupted run (bit for bit on CPU in fp32). Checkpoints are written with
``torch.distributed.checkpoint`` by all ranks in parallel, so FSDP never gathers a full model, and a
run can resume on a different number of devices. With several nodes, RUN must be on a shared
file system.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import sys
import time
import warnings
from dataclasses import asdict
from pathlib import Path

import torch
import torch.distributed as dist

from curate.errors import CurateError
from curate.train.config import Config, ConfigError
from curate.train.data import EvalData, TrainData
from curate.train.model import GPTNeoX, device_peak_flops

CHECKPOINTS = "checkpoints"


# ---------------------------------------------------------------------------------------------------
# processes and devices


def dist_env() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; (0, 1, 0) without it."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))


def pick_device(want: str, local_rank: int) -> torch.device:
    if want == "cuda" and not torch.cuda.is_available():
        raise ConfigError("train.device = 'cuda' but no CUDA device is visible")
    if want in ("auto", "cuda") and torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def lr_at(step: int, cfg) -> float:
    """Linear warmup from 0 over ``warmup_steps``, cosine from ``lr`` to ``min_lr`` until the schedule's end."""
    end = cfg.schedule_steps
    warmup = min(cfg.warmup_steps, end)
    if step < warmup:
        return cfg.lr * (step + 1) / warmup
    if step >= end:
        return cfg.min_lr
    progress = (step - warmup) / max(end - warmup, 1)
    return cfg.min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (cfg.lr - cfg.min_lr)


# ---------------------------------------------------------------------------------------------------
# model construction


def build_model(cfg: Config, device: torch.device, bf16: bool, world: int):
    """Create the model on ``device`` (DDP-wrapped or FSDP-sharded when ``world > 1``).

    Returns ``(model, raw)``: ``model`` is what forward is called on, ``raw`` the underlying
    :class:`GPTNeoX` (for state dicts, FLOPs and the optimizer's parameters).
    """
    t = cfg.train
    with torch.device("meta"):            # no memory yet: each part is materialized (and sharded) in turn
        raw = GPTNeoX(cfg.model)
    raw.activation_checkpointing = t.activation_checkpointing
    fsdp = t.parallel == "fsdp" and dist.is_initialized()
    if fsdp:
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

        # bf16 weights for compute and all-gathers, fp32 gradient reduction and fp32 master weights
        mp = (MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32) if bf16
              else MixedPrecisionPolicy())
    for i, (name, part) in enumerate(raw.init_parts()):
        part.to_empty(device=device)
        raw.init_part(i, t.seed)
        if fsdp and name.startswith("layers."):
            if t.compile:   # per layer (one graph reused 24-40 times), FSDP's hooks outside it (as torchtitan)
                part = torch.compile(part)
                raw.layers[int(name.split(".")[1])] = part   # checkpoint keys stay clean: DCP drops "_orig_mod"
            # each layer is one FSDP unit: gathered just before it runs, freed right after
            fully_shard(part, mp_policy=mp, reshard_after_forward=t.fsdp_reshard_after_forward)
    raw.rope_cos = torch.empty_like(raw.rope_cos, device=device)
    raw.rope_sin = torch.empty_like(raw.rope_sin, device=device)
    raw.init_rope()
    if fsdp:
        fully_shard(raw, mp_policy=mp, reshard_after_forward=t.fsdp_reshard_after_forward)   # embeddings, final norm
        return raw, raw
    model = raw
    if t.compile:
        model = torch.compile(raw)            # whole graph: fuses LayerNorm, GELU, rotary and the residual adds
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        # gradients all-reduced in buckets while backward still runs
        model = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)
    return model, raw


def build_optimizer(raw: GPTNeoX, cfg, device: torch.device) -> torch.optim.AdamW:
    decay = [p for p in raw.parameters() if p.ndim >= 2]          # matrices and embeddings
    no_decay = [p for p in raw.parameters() if p.ndim < 2]        # biases and LayerNorm gains
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    # fused: one CUDA kernel for the whole update instead of several per tensor; CPU keeps the foreach path
    extra = {"fused": True} if device.type == "cuda" else {"foreach": True}
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps, **extra)


# ---------------------------------------------------------------------------------------------------
# checkpoints


def latest_checkpoint(run: str | Path) -> Path | None:
    run = Path(run)
    marker = run / CHECKPOINTS / "latest"
    if not marker.is_file():
        return None
    path = run / CHECKPOINTS / marker.read_text().strip()
    return path if (path / "trainer.json").is_file() else None


def save_checkpoint(run: Path, step: int, raw: GPTNeoX, optimizer, trainer_state: dict, rank: int, keep: int) -> Path:
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict

    name = f"step-{step:08d}"
    final, tmp = run / CHECKPOINTS / name, run / CHECKPOINTS / f".tmp-{name}"
    if rank == 0:
        shutil.rmtree(tmp, ignore_errors=True)
    _barrier()
    model_sd, optim_sd = get_state_dict(raw, optimizer)
    with _single_process_ok():
        dcp.save({"model": model_sd, "optimizer": optim_sd}, checkpoint_id=str(tmp))   # every rank writes its shards
    _barrier()
    if rank == 0:
        (tmp / "trainer.json").write_text(json.dumps(trainer_state, indent=1) + "\n")
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        marker = run / CHECKPOINTS / ".tmp-latest"
        marker.write_text(name + "\n")
        os.replace(marker, run / CHECKPOINTS / "latest")
        done = sorted(p for p in (run / CHECKPOINTS).glob("step-*") if (p / "trainer.json").is_file())
        for old in done[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    _barrier()
    return final


def load_checkpoint(path: Path, raw: GPTNeoX, optimizer) -> dict:
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

    model_sd, optim_sd = get_state_dict(raw, optimizer)
    state = {"model": model_sd, "optimizer": optim_sd}
    with _single_process_ok():
        dcp.load(state, checkpoint_id=str(path))
    set_state_dict(raw, optimizer, model_state_dict=state["model"], optim_state_dict=state["optimizer"])
    return json.loads((path / "trainer.json").read_text())


@contextlib.contextmanager
def _single_process_ok():
    """Silence DCP's "torch.distributed is ... uninitialized, assuming a single process" (that is the intent)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="torch.distributed is disabled")
        yield


def _barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


# ---------------------------------------------------------------------------------------------------
# the run


def _shards_summary(data: Path) -> dict:
    manifest = json.loads((data / "manifest.json").read_text()) if (data / "manifest.json").is_file() else {}
    tok = manifest.get("tokenizer") or {}
    return {"path": str(data.resolve()), "dtype": manifest.get("dtype"), "eod_id": manifest.get("eod_id"),
            "pad_id": manifest.get("pad_id"), "counts": {k: {"documents": v.get("documents"), "tokens": v.get("tokens")}
                                                          for k, v in (manifest.get("counts") or {}).items()},
            "tokenizer": {k: tok.get(k) for k in ("path", "sha256", "vocab_size", "model", "eod_id", "pad_id")}
            if tok else None}


def resolve_vocab(cfg: Config, data: Path) -> dict:
    """Fill ``model.vocab_size`` from the shards' tokenizer when the config leaves it 0; check it fits."""
    if not data.is_dir():
        raise CurateError(f"--data {data}: not a directory (build shards with `curate shards`)")
    summary = _shards_summary(data)
    vocab = (summary["tokenizer"] or {}).get("vocab_size")
    if cfg.model.vocab_size == 0:
        if not vocab:
            raise ConfigError(f"model.vocab_size is 0 (from the shards) but {data}/manifest.json records no tokenizer "
                              "vocab_size; set model.vocab_size")
        cfg.model.vocab_size = int(vocab)
    elif vocab and vocab > cfg.model.vocab_size:
        raise ConfigError(f"model.vocab_size = {cfg.model.vocab_size} is smaller than the shards' tokenizer "
                          f"({vocab} tokens); set model.vocab_size = {vocab} or 0 (from the shards)")
    return summary


class Logger:
    """log.jsonl and console lines on rank 0 (through tqdm.write so the bar stays intact)."""

    def __init__(self, path: Path, enabled: bool, bar) -> None:
        self.path, self.enabled, self.bar = path, enabled, bar
        self.fh = open(path, "a", encoding="utf-8") if enabled else None

    def log(self, record: dict, line: str | None = None) -> None:
        if not self.enabled:
            return
        self.fh.write(json.dumps(record) + "\n")
        self.fh.flush()
        if line:
            self.bar.write(line, file=sys.stderr) if self.bar is not None else print(line, file=sys.stderr)

    def close(self) -> None:
        if self.fh:
            self.fh.close()


def _truncate_log(path: Path, step: int) -> None:
    """Drop log lines of steps after ``step`` (they are redone after resuming)."""
    if not path.is_file():
        return
    keep = [line for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and json.loads(line).get("step", 0) <= step]
    path.write_text("".join(line + "\n" for line in keep), encoding="utf-8")


def train(cfg: Config, data: str | Path, out: str | Path, resume: bool = True, progress: bool | None = None) -> dict:
    """Train ``cfg`` on the shards in ``data``, writing ``out`` (see the module docstring).

    Runs as one process or as one of ``torchrun``'s (it reads RANK / WORLD_SIZE / LOCAL_RANK).
    Returns a summary: steps, final train and eval loss, tokens, tokens/s, MFU.
    """
    data, run = Path(data), Path(out)
    rank, world, local_rank = dist_env()
    t = cfg.train
    summary_data = resolve_vocab(cfg, data)
    device = pick_device(t.device, local_rank)
    if device.type == "cpu" and t.cpu_threads:
        torch.set_num_threads(t.cpu_threads)
    started_pg = False
    if "RANK" in os.environ and not dist.is_initialized():
        cuda = device.type == "cuda"
        dist.init_process_group("nccl" if cuda else "gloo", device_id=device if cuda else None)
        started_pg = True
    try:
        return _train(cfg, data, run, rank, world, device, summary_data, resume, progress)
    finally:
        if started_pg:
            dist.destroy_process_group()


def _train(cfg: Config, data: Path, run: Path, rank: int, world: int, device: torch.device, shards: dict,
           resume: bool, progress: bool | None) -> dict:
    t = cfg.train
    master = rank == 0
    bf16 = t.precision == "bf16" or (t.precision == "auto" and device.type == "cuda")
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True   # fp32 matmuls that remain (outside autocast) use TF32
        torch.backends.cudnn.allow_tf32 = True
    # bf16 autocast: matmuls and attention in bf16 on tensor cores; weights, LayerNorm, softmax-loss stay fp32
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

    ckpt = latest_checkpoint(run) if resume else None
    if ckpt is not None:   # every rank checks, so that all stop together
        saved = json.loads((run / "config.json").read_text())["config"]
        if saved["model"] != asdict(cfg.model):
            diff = {k: (v, asdict(cfg.model)[k]) for k, v in saved["model"].items() if asdict(cfg.model).get(k) != v}
            raise ConfigError(f"{run} holds a checkpoint of another model (model.{', model.'.join(diff)} differ: "
                              f"{diff}); use another --out, or --no-resume to start over there")
    if master:
        run.mkdir(parents=True, exist_ok=True)
        if ckpt is None:   # a fresh start (or --no-resume): old checkpoints and log go
            shutil.rmtree(run / CHECKPOINTS, ignore_errors=True)
            (run / "log.jsonl").unlink(missing_ok=True)
        info = {"config": cfg.to_dict(), "data": shards, "world_size": world, "device": str(device),
                "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
                "precision": "bf16" if bf16 else "fp32", "torch": torch.__version__}
        tmp = run / ".tmp-config.json"
        tmp.write_text(json.dumps(info, indent=1) + "\n")
        os.replace(tmp, run / "config.json")
    _barrier()

    train_data = TrainData(data, t.seq_len, t.seed, rank, world)
    eval_data = EvalData(data, "valid", t.seq_len, t.micro_batch_size, t.eval_batches, rank, world)
    model, raw = build_model(cfg, device, bf16, world)
    optimizer = build_optimizer(raw, t, device)
    fsdp = t.parallel == "fsdp" and dist.is_initialized()

    step, tokens_seen = 0, 0
    if ckpt is not None:
        state = load_checkpoint(ckpt, raw, optimizer)
        train_data.load_state_dict(state["data"])
        step, tokens_seen = int(state["step"]), int(state["tokens"])
        if master:
            _truncate_log(run / "log.jsonl", step)

    from tqdm import tqdm

    show = master and (progress if progress is not None else os.environ.get("CURATE_PROGRESS", "1") != "0")
    bar = tqdm(total=t.max_steps, initial=min(step, t.max_steps), desc=f"train {cfg.name}", unit="step",
               disable=not show, dynamic_ncols=True, file=sys.stderr)
    log = Logger(run / "log.jsonl", master, bar if show else None)
    tokens_per_step = t.micro_batch_size * t.seq_len * t.grad_accum * world
    peak = t.peak_flops or device_peak_flops(device)
    n_params = raw.num_params()
    if master:
        log.log({"event": "resume" if ckpt else "start", "step": step, "params": n_params, "world_size": world,
                 "device": str(device), "precision": "bf16" if bf16 else "fp32",
                 "parallel": t.parallel if world > 1 else "single",
                 "tokens_per_step": tokens_per_step, "samples_per_epoch": train_data.samples_per_epoch,
                 "flops_per_token": raw.flops_per_token(t.seq_len), "peak_flops": peak},
                f"{cfg.name}: {n_params / 1e6:,.1f}M parameters, {world} x {device.type} ({'bf16' if bf16 else 'fp32'}"
                f"{', ' + t.parallel if world > 1 else ''}), {tokens_per_step:,} tokens/step, "
                f"{'resuming at step ' + str(step) if ckpt else 'from scratch'} -> {run}")

    def evaluate() -> float | None:
        if len(eval_data) == 0:
            return None
        model.eval()
        total = torch.zeros(2, device=device, dtype=torch.float64)    # (sum of token losses, tokens)
        with torch.no_grad():
            for x, y in eval_data:
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                with autocast:
                    _, loss = model(x, y)
                total[0] += loss.double() * y.numel()
                total[1] += y.numel()
        if dist.is_initialized():
            dist.all_reduce(total)
        model.train()
        return (total[0] / total[1]).item()

    last = {"loss": None, "eval_loss": None, "tokens_per_s": None, "mfu": None}
    model.train()
    t_last, steps_since, tokens_since = time.perf_counter(), 0, 0
    while step < t.max_steps:
        lr = lr_at(step, t)
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss_sum = torch.zeros((), device=device)
        for micro in range(t.grad_accum):
            last_micro = micro == t.grad_accum - 1
            x, y = train_data.next_batch(t.micro_batch_size)
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            # gradients are averaged across ranks only once per step, on the last micro-batch
            if fsdp:
                model.set_requires_gradient_sync(last_micro)
                sync = contextlib.nullcontext()
            else:
                sync = model.no_sync() if world > 1 and not last_micro else contextlib.nullcontext()
            with sync:
                with autocast:
                    _, loss = model(x, y)
                (loss / t.grad_accum).backward()
            loss_sum += loss.detach()
        grad_norm = None
        if t.grad_clip > 0:
            grad_norm = torch.nn.utils.clip_grad_norm_(raw.parameters(), t.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        tokens_seen += tokens_per_step
        steps_since += 1
        tokens_since += tokens_per_step
        bar.update(1)

        if step % t.log_interval == 0 or step == t.max_steps:
            loss_t = loss_sum / t.grad_accum
            if dist.is_initialized():
                dist.all_reduce(loss_t, op=dist.ReduceOp.SUM)
                loss_t /= world
            loss_v = loss_t.item()                  # waits for the device: the timing below is honest
            if grad_norm is not None and hasattr(grad_norm, "full_tensor"):
                grad_norm = grad_norm.full_tensor()
            gn = float(grad_norm) if grad_norm is not None else None
            dt = time.perf_counter() - t_last
            tps = tokens_since / dt
            mfu = raw.estimate_mfu(tps / world, t.seq_len, peak)
            last.update(loss=loss_v, tokens_per_s=tps, mfu=mfu)
            log.log({"step": step, "loss": loss_v, "lr": lr, "grad_norm": gn, "tokens": tokens_seen,
                     "tokens_per_s": round(tps, 1), "mfu": round(mfu, 4) if mfu is not None else None,
                     "step_s": round(dt / steps_since, 4), "time": round(time.time(), 3)},
                    f"step {step:>6d}  loss {loss_v:.4f}  lr {lr:.2e}  grad {gn if gn is not None else float('nan'):.3f}"
                    f"  {tps:,.0f} tok/s" + (f"  mfu {mfu:.1%}" if mfu is not None else ""))
            bar.set_postfix(loss=f"{loss_v:.3f}", tok_s=f"{tps:,.0f}", refresh=False)
            t_last, steps_since, tokens_since = time.perf_counter(), 0, 0

        at_end = step == t.max_steps
        if t.eval_batches and ((t.eval_interval and step % t.eval_interval == 0) or at_end):
            ev = evaluate()
            if ev is not None:
                last["eval_loss"] = ev
                log.log({"step": step, "eval_loss": ev, "eval_ppl": math.exp(min(ev, 50)),
                         "eval_tokens": eval_data.tokens_per_rank * world},
                        f"step {step:>6d}  eval loss {ev:.4f}  ppl {math.exp(min(ev, 50)):,.2f}")
            t_last = time.perf_counter()
        if (t.checkpoint_interval and step % t.checkpoint_interval == 0) or at_end:
            trainer_state = {"step": step, "tokens": tokens_seen, "data": train_data.state_dict()}
            path = save_checkpoint(run, step, raw, optimizer, trainer_state, rank, t.keep_checkpoints)
            log.log({"step": step, "event": "checkpoint", "path": str(path)})
            t_last = time.perf_counter()
    bar.close()
    summary = {"step": step, "loss": last["loss"], "eval_loss": last["eval_loss"], "tokens": tokens_seen,
               "tokens_per_s": last["tokens_per_s"], "mfu": last["mfu"], "params": n_params, "run": str(run),
               "checkpoint": str(latest_checkpoint(run)) if latest_checkpoint(run) else None}
    log.log({"event": "end", "step": step, "summary": summary})
    log.close()
    return summary
