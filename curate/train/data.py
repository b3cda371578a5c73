"""Training batches from curate's shards (Megatron/GPT-NeoX indexed datasets), deterministic and resumable.

The train split is one token stream: every file's documents back to back, each ending in
``<|endoftext|>`` (the files are read through :class:`curate.shards.ShardSet`). It is cut into
``n = (tokens - 1) // seq_len`` fixed windows of ``seq_len + 1`` tokens (input and shifted target;
neighbours share one token), as Megatron and GPT-NeoX do. Documents are not masked from each other:
the end-of-document token is the separator the model learns.

**Order.** Epoch ``e`` visits the windows in a pseudo-random permutation of ``range(n)`` keyed by
``(seed, e)``. The permutation is computed on demand (a 4-round Feistel network with cycle walking),
so it costs no memory and no start-up time whatever the corpus size.

**Ranks.** All ranks walk one global sequence of samples; position ``p`` goes to rank ``p % world``.
The whole state is one number, ``consumed`` (global samples handed out), saved in every checkpoint:
epoch = consumed // n, index = consumed % n. Resuming continues exactly where the run stopped.

**Valid split.** Its windows in order (no shuffling), the same ones at every evaluation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from curate.errors import CurateError
from curate.shards import ShardSet

_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _mix64(x: np.ndarray, key: np.uint64) -> np.ndarray:
    """splitmix64's finalizer of ``x ^ key``: a fast, well-mixed 64-bit hash (uint64 arithmetic wraps)."""
    z = (x ^ key) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


class Permutation:
    """A seeded pseudo-random permutation of ``range(n)``, evaluated for any index array in O(1) memory.

    A balanced Feistel network over ``2 * half`` bits is a bijection of ``[0, 4**half)``; applying it
    again until the value falls below ``n`` ("cycle walking", Black & Rogaway 2002) restricts it to a
    bijection of ``[0, n)``. ``4**half < 4 n``, so fewer than four rounds of walking on average.
    """

    ROUNDS = 4

    def __init__(self, n: int, seed: int | tuple[int, ...]) -> None:
        if n < 1:
            raise ValueError("a permutation needs n >= 1")
        self.n = int(n)
        self.half = max(1, ((self.n - 1).bit_length() + 1) // 2)
        self.mask = np.uint64((1 << self.half) - 1)
        self.keys = np.random.default_rng(seed).integers(0, 2**63, size=self.ROUNDS, dtype=np.uint64)

    def _feistel(self, x: np.ndarray) -> np.ndarray:
        h = np.uint64(self.half)
        left, right = x >> h, x & self.mask
        for k in self.keys:
            left, right = right, left ^ (_mix64(right, k) & self.mask)
        return (left << h) | right

    def __call__(self, idx: np.ndarray | int) -> np.ndarray:
        x = np.atleast_1d(np.asarray(idx, dtype=np.int64))
        if x.size and (x.min() < 0 or x.max() >= self.n):
            raise IndexError(f"permutation index out of range for n = {self.n}")
        y = self._feistel(x.astype(np.uint64))
        out = y >= self.n
        while out.any():
            y[out] = self._feistel(y[out])
            out = y >= self.n
        return y.astype(np.int64)


class TokenStream:
    """All tokens of one split, back to back, read through memory maps of the ``.bin`` files."""

    def __init__(self, directory: str | Path, split: str) -> None:
        self.shards = ShardSet(directory, split)
        self.arrays: list[np.ndarray] = []
        for ds in self.shards.datasets:
            n = ds.num_tokens
            if n == 0:
                continue
            # curate, Megatron and GPT-NeoX write sequences back to back: the .bin file *is* the stream
            if int(ds.pointers[0]) != 0 or int(ds.pointers[-1]) // ds.dtype.itemsize + int(ds.sizes[-1]) != n:
                raise CurateError(f"{ds.prefix}: sequences are not stored back to back in {ds.bin_path.name}")
            self.arrays.append(np.memmap(ds.bin_path, dtype=ds.dtype.newbyteorder("<"), mode="r", shape=(n,)))
        self.starts = np.concatenate([[0], np.cumsum([len(a) for a in self.arrays], dtype=np.int64)])

    def __len__(self) -> int:
        return int(self.starts[-1])

    def read(self, start: int, length: int) -> np.ndarray:
        """Tokens ``start : start + length`` of the stream (they may span files), as int64."""
        out = np.empty(length, dtype=np.int64)
        pos, filled = start, 0
        f = int(np.searchsorted(self.starts, start, side="right")) - 1
        while filled < length:
            a = self.arrays[f]
            off = pos - int(self.starts[f])
            take = min(length - filled, len(a) - off)
            out[filled:filled + take] = a[off:off + take]
            filled += take
            pos += take
            f += 1
        return out


class Windows:
    """Fixed windows of ``seq_len + 1`` tokens over a :class:`TokenStream`."""

    def __init__(self, stream: TokenStream, seq_len: int) -> None:
        self.stream, self.seq_len = stream, seq_len
        self.n = max((len(stream) - 1) // seq_len, 0)

    def batch(self, ids: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        rows = np.stack([self.stream.read(int(i) * self.seq_len, self.seq_len + 1) for i in ids])
        t = torch.from_numpy(rows)
        return t[:, :-1], t[:, 1:]


class TrainData:
    """This rank's share of the shuffled train windows; ``state_dict`` / ``load_state_dict`` for resuming."""

    def __init__(self, directory: str | Path, seq_len: int, seed: int, rank: int = 0, world: int = 1) -> None:
        self.windows = Windows(TokenStream(directory, "train"), seq_len)
        if self.windows.n < 1:
            raise CurateError(f"{directory}: the train split has {len(self.windows.stream):,} tokens, fewer than one "
                              f"sample of seq_len + 1 = {seq_len + 1}")
        self.seq_len, self.seed, self.rank, self.world = seq_len, seed, rank, world
        self.consumed = 0
        self._perm: tuple[int, Permutation] | None = None

    @property
    def samples_per_epoch(self) -> int:
        return self.windows.n

    def _perm_for(self, epoch: int) -> Permutation:
        if self._perm is None or self._perm[0] != epoch:
            self._perm = (epoch, Permutation(self.windows.n, (self.seed, epoch)))
        return self._perm[1]

    def sample_ids(self, positions: np.ndarray) -> np.ndarray:
        """Window ids at global positions ``positions`` (any epochs)."""
        epochs, index = np.divmod(positions, self.windows.n)
        out = np.empty_like(positions)
        for e in np.unique(epochs):
            m = epochs == e
            out[m] = self._perm_for(int(e))(index[m])
        return out

    def next_batch(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs, targets), each ``(batch_size, seq_len)`` int64; advances every rank's position."""
        positions = self.consumed + np.arange(batch_size, dtype=np.int64) * self.world + self.rank
        self.consumed += batch_size * self.world
        return self.windows.batch(self.sample_ids(positions))

    def state_dict(self) -> dict:
        epoch, index = divmod(self.consumed, self.windows.n)
        return {"consumed": self.consumed, "epoch": epoch, "index": index, "samples_per_epoch": self.windows.n,
                "seq_len": self.seq_len, "seed": self.seed, "tokens": len(self.windows.stream)}

    def load_state_dict(self, state: dict) -> None:
        for key in ("samples_per_epoch", "seq_len", "seed"):
            if state.get(key) != self.state_dict()[key]:
                raise CurateError(f"cannot resume: the checkpoint's data has {key} = {state.get(key)}, the current "
                                  f"data {self.state_dict()[key]} (other shards or config?); start a new --out")
        self.consumed = int(state["consumed"])


class EvalData:
    """The first windows of a split, in order, divided over ranks: every rank gets the same number of
    batches (collectives in FSDP need all ranks to run the same forwards)."""

    def __init__(self, directory: str | Path, split: str, seq_len: int, batch_size: int, max_batches: int,
                 rank: int = 0, world: int = 1) -> None:
        try:
            self.windows = Windows(TokenStream(directory, split), seq_len)
        except CurateError:
            self.windows = None
        self.batches: list[np.ndarray] = []
        n = self.windows.n if self.windows else 0
        per_rank = min(max_batches * batch_size, n // world)
        ids = np.arange(per_rank * world, dtype=np.int64)[rank::world]
        self.batches = [ids[i:i + batch_size] for i in range(0, len(ids), batch_size)]
        self.tokens_per_rank = len(ids) * seq_len

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        for ids in self.batches:
            yield self.windows.batch(ids)
