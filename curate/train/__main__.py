"""Worker entry point: what every process started by ``torchrun`` runs.

    torchrun --nproc-per-node 8 -m curate.train polyglot-ko-1.3b --data shards/ --out runs/1.3b
    python -m curate.train tiny --data shards/ --out runs/tiny --max-steps 30      # one process

``curate train`` (curate/train/launch.py) builds such a torchrun command for you.
"""

from __future__ import annotations

import argparse
import sys

from curate.errors import CurateError


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m curate.train", description="Train a GPT-NeoX model on curate shards.")
    p.add_argument("config", help="a shipped config name (tiny, neox-125m, polyglot-ko-1.3b, ...) or a TOML path")
    p.add_argument("--data", required=True, help="shards directory (curate shards)")
    p.add_argument("--out", default=None, help="run directory (default: runs/<config name>)")
    p.add_argument("--max-steps", type=int, default=None, help="override train.max_steps")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a config value, e.g. --set train.lr=1e-4 (repeatable)")
    p.add_argument("--compile", dest="compile", action="store_true", default=None, help="torch.compile the model")
    p.add_argument("--no-compile", dest="compile", action="store_false")
    p.add_argument("--no-resume", dest="resume", action="store_false", help="start over even if OUT has a checkpoint")
    p.add_argument("--device", choices=("auto", "cuda", "cpu"), default=None, help="override train.device")
    return p


def overrides_from(args: argparse.Namespace) -> list[str]:
    sets = list(args.overrides)
    if args.max_steps is not None:
        sets.append(f"train.max_steps={args.max_steps}")
    if args.compile is not None:
        sets.append(f"train.compile={'true' if args.compile else 'false'}")
    if args.device is not None:
        sets.append(f'train.device="{args.device}"')
    return sets


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from curate.train.config import load_config
    from curate.train.loop import train

    try:
        cfg = load_config(args.config, overrides_from(args))
        train(cfg, args.data, args.out or f"runs/{cfg.name}", resume=args.resume)
    except CurateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
