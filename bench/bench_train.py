"""Training throughput of the launcher's model: tokens/s and MFU for one device, bf16, torch.compile.

    .venv/bin/python bench/bench_train.py --config neox-125m --steps 50          # H100 / H200
    .venv/bin/python bench/bench_train.py --config polyglot-ko-1.3b --steps 50
    .venv/bin/python bench/bench_train.py --config tiny --device cpu --vocab-size 2000 --steps 30   # sanity

What runs: the model, optimizer, precision and compile settings that ``curate train`` builds
(curate/train/loop.py ``build_model`` / ``build_optimizer``) in one process, fed random token ids
(or ``--data SHARDS`` windows), ``--warmup`` steps untimed (compilation happens there), then
``--steps`` timed optimizer steps of ``micro_batch_size x seq_len`` tokens each (grad_accum 1: gradient
accumulation does not change tokens/s). MFU = model FLOPs per token (6 N + 12 L d T, the model's
own ``flops_per_token``) x tokens/s / the device's dense bf16 peak (H100/H200 SXM: 989 TFLOP/s).
Prints one JSON line per configuration and a markdown table row for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from curate.train.config import load_config  # noqa: E402
from curate.train.loop import build_model, build_optimizer, lr_at, pick_device, resolve_vocab  # noqa: E402
from curate.train.model import device_peak_flops  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="neox-125m", help="shipped config name or TOML path")
    ap.add_argument("--steps", type=int, default=50, help="timed optimizer steps")
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps first (compilation, allocator warm-up)")
    ap.add_argument("--device", default="auto", choices=("auto", "cuda", "cpu"))
    ap.add_argument("--micro-batch-size", type=int, default=None, help="override train.micro_batch_size")
    ap.add_argument("--seq-len", type=int, default=None, help="override train.seq_len")
    ap.add_argument("--vocab-size", type=int, default=None, help="when the config takes it from the shards (default 30003)")
    ap.add_argument("--compile", dest="compile", action="store_true", default=None)
    ap.add_argument("--no-compile", dest="compile", action="store_false")
    ap.add_argument("--activation-checkpointing", dest="ac", action="store_true", default=None)
    ap.add_argument("--no-activation-checkpointing", dest="ac", action="store_false")
    ap.add_argument("--data", default=None, help="read batches from these shards instead of random ids")
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="any config override")
    args = ap.parse_args()

    sets = list(args.overrides) + [f'train.device="{args.device}"', "train.grad_accum=1"]
    if args.micro_batch_size:
        sets.append(f"train.micro_batch_size={args.micro_batch_size}")
    if args.seq_len:
        sets.append(f"train.seq_len={args.seq_len}")
    if args.compile is not None:
        sets.append(f"train.compile={str(args.compile).lower()}")
    if args.ac is not None:
        sets.append(f"train.activation_checkpointing={str(args.ac).lower()}")
    cfg = load_config(args.config, sets)
    if args.data:
        resolve_vocab(cfg, Path(args.data))          # vocab_size 0: the shards' tokenizer's
    if cfg.model.vocab_size == 0:
        cfg.model.vocab_size = args.vocab_size or 30003
    t = cfg.train
    device = pick_device(t.device, 0)
    if device.type == "cpu" and t.cpu_threads:
        torch.set_num_threads(t.cpu_threads)
    bf16 = t.precision == "bf16" or (t.precision == "auto" and device.type == "cuda")
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
    model, raw = build_model(cfg, device, bf16, world=1)
    opt = build_optimizer(raw, t, device)
    B, T = t.micro_batch_size, t.seq_len
    if args.data:
        from curate.train.data import TrainData

        data = TrainData(args.data, T, t.seed)

        def batch():
            x, y = data.next_batch(B)
            return x.to(device, non_blocking=True), y.to(device, non_blocking=True)
    else:
        gen = torch.Generator(device=device).manual_seed(0)

        def batch():
            ids = torch.randint(0, cfg.model.vocab_size, (B, T + 1), device=device, generator=gen)
            return ids[:, :-1], ids[:, 1:]

    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)

    def step(i: int) -> torch.Tensor:
        for g in opt.param_groups:
            g["lr"] = lr_at(i, t)
        x, y = batch()
        with autocast:
            _, loss = model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(raw.parameters(), t.grad_clip or 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    t0 = time.perf_counter()
    for i in range(args.warmup):
        step(i).item()
    sync()
    warm_s = time.perf_counter() - t0
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for i in range(args.warmup, args.warmup + args.steps):
        loss = step(i)
    final = loss.item()
    sync()
    secs = time.perf_counter() - t0
    tps = B * T * args.steps / secs
    peak = t.peak_flops or device_peak_flops(device)
    mfu = raw.estimate_mfu(tps, T, peak)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else (platform.processor() or "cpu")
    result = {
        "config": cfg.name, "device": name, "params": raw.num_params(), "precision": "bf16" if bf16 else "fp32",
        "compile": t.compile, "activation_checkpointing": t.activation_checkpointing, "micro_batch_size": B,
        "seq_len": T, "steps": args.steps, "warmup_s": round(warm_s, 2), "step_s": round(secs / args.steps, 4),
        "tokens_per_s": round(tps, 1), "flops_per_token": raw.flops_per_token(T), "peak_flops": peak,
        "mfu": round(mfu, 4) if mfu is not None else None, "final_loss": round(final, 4),
        "max_memory_gb": round(torch.cuda.max_memory_allocated(device) / 1e9, 2) if device.type == "cuda" else None,
        "threads": torch.get_num_threads() if device.type == "cpu" else None, "torch": torch.__version__,
    }
    print(json.dumps(result))
    mfu_s = f"{mfu:.1%}" if mfu is not None else "n/a"
    print(f"| {cfg.name} | {name} | {result['precision']}{', compile' if t.compile else ''} | {B} x {T} | "
          f"{tps:,.0f} | {mfu_s} | {result['max_memory_gb'] or ''} |")


if __name__ == "__main__":
    main()
