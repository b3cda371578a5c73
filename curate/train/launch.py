"""``curate train``: check the config and data here, then start the workers with ``torchrun``.

One node::

    curate train polyglot-ko-1.3b --data shards/ --out runs/1.3b       # one process per visible GPU
    curate train tiny --data shards/ --out runs/tiny --max-steps 30      # no GPU: one CPU process

Several nodes (run the same command on every node, changing only ``--node-rank``)::

    curate train polyglot-ko-12.8b --data /shared/shards --out /shared/runs/12.8b \\
        --nnodes 4 --node-rank 0 --rdzv-endpoint node0:29500

becomes ``python -m torch.distributed.run --nproc-per-node 8 --nnodes 4 --node-rank 0
--rdzv-backend c10d --rdzv-endpoint node0:29500 --rdzv-id <out> -m curate.train ...``. Anything
else torchrun understands goes through ``--torchrun-args``. ``--dry-run`` prints the command.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from curate.errors import CurateError


@dataclass
class LaunchOptions:
    config: str
    data: str
    out: str | None = None
    max_steps: int | None = None
    overrides: list[str] = field(default_factory=list)
    compile: bool | None = None
    device: str | None = None
    resume: bool = True
    nproc_per_node: int | None = None      # None: visible GPUs, or 1 without GPUs
    nnodes: int = 1
    node_rank: int | None = None
    rdzv_endpoint: str | None = None
    rdzv_backend: str = "c10d"
    rdzv_id: str | None = None
    master_addr: str | None = None
    master_port: int | None = None
    torchrun_args: str = ""


def visible_gpus() -> int:
    try:
        import torch
    except ImportError as exc:
        raise CurateError("curate train needs PyTorch: pip install 'curate[train]'") from exc
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def worker_args(o: LaunchOptions, out: str) -> list[str]:
    """The ``python -m curate.train`` arguments every worker gets."""
    args = [o.config, "--data", o.data, "--out", out]
    if o.max_steps is not None:
        args += ["--max-steps", str(o.max_steps)]
    for s in o.overrides:
        args += ["--set", s]
    if o.compile is not None:
        args.append("--compile" if o.compile else "--no-compile")
    if o.device:
        args += ["--device", o.device]
    if not o.resume:
        args.append("--no-resume")
    return args


def torchrun_command(o: LaunchOptions, out: str, nproc: int) -> list[str]:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc)]
    if o.nnodes > 1:
        if o.node_rank is None and not o.rdzv_endpoint:
            raise CurateError("--nnodes > 1 needs --rdzv-endpoint HOST:PORT (or --master-addr with --node-rank)")
        cmd += ["--nnodes", str(o.nnodes)]
        if o.rdzv_endpoint:
            # elastic rendezvous: every node contacts HOST:PORT; --rdzv-id names this job
            cmd += ["--rdzv-backend", o.rdzv_backend, "--rdzv-endpoint", o.rdzv_endpoint,
                    "--rdzv-id", o.rdzv_id or Path(out).name]
        if o.node_rank is not None:
            cmd += ["--node-rank", str(o.node_rank)]
        if o.master_addr:
            cmd += ["--master-addr", o.master_addr]
        if o.master_port:
            cmd += ["--master-port", str(o.master_port)]
    elif o.rdzv_endpoint or o.master_addr:
        cmd += ["--nnodes", "1"]
        if o.rdzv_endpoint:
            cmd += ["--rdzv-backend", o.rdzv_backend, "--rdzv-endpoint", o.rdzv_endpoint]
        if o.master_addr:
            cmd += ["--master-addr", o.master_addr]
        if o.master_port:
            cmd += ["--master-port", str(o.master_port)]
    else:
        cmd.append("--standalone")      # one node: a local rendezvous on a free port, runs never collide
    cmd += shlex.split(o.torchrun_args)
    return cmd + ["-m", "curate.train", *worker_args(o, out)]


def prepare(o: LaunchOptions) -> tuple[list[str], dict]:
    """Validate config and data (fast, clear errors before any process starts); return (command, facts)."""
    from curate.train.config import load_config
    from curate.train.loop import resolve_vocab

    sets = list(o.overrides)
    if o.max_steps is not None:
        sets.append(f"train.max_steps={o.max_steps}")
    if o.device:
        sets.append(f'train.device="{o.device}"')
    cfg = load_config(o.config, sets)
    data = Path(o.data)
    resolve_vocab(cfg, data)
    from curate.shards import ShardSet

    ShardSet(data, "train")    # readable, has a train split
    out = o.out or f"runs/{cfg.name}"
    if o.nproc_per_node is not None:
        if o.nproc_per_node < 1:
            raise CurateError("--nproc-per-node must be at least 1")
        nproc = o.nproc_per_node
    else:
        gpus = 0 if cfg.train.device == "cpu" else visible_gpus()
        nproc = gpus or 1
    if cfg.train.device == "cuda" and visible_gpus() == 0:
        raise CurateError("train.device = 'cuda' but no CUDA device is visible")
    return torchrun_command(o, out, nproc), {"config": cfg.name, "out": out, "nproc_per_node": nproc,
                                             "nnodes": o.nnodes, "vocab_size": cfg.model.vocab_size}


def launch(o: LaunchOptions, dry_run: bool = False) -> int:
    """Run torchrun in the foreground; its exit status is returned (Ctrl-C reaches every worker)."""
    cmd, _ = prepare(o)
    print("+ " + shlex.join(cmd), file=sys.stderr)
    if dry_run:
        return 0
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    try:
        return subprocess.call(cmd, env=env)
    except KeyboardInterrupt:
        return 130
