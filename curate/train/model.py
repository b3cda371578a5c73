"""GPT-NeoX, the architecture Polyglot-Ko was trained with, in one readable file (nanoGPT style).

    x = embed_in(tokens)
    for each layer:  x = x + attention(input_layernorm(x)) + mlp(post_attention_layernorm(x))
    logits = embed_out(final_layer_norm(x))

* **Parallel residual** (GPT-J / GPT-NeoX): attention and MLP read the same input and their outputs
  are added together, so the two can run side by side.
* **Rotary embeddings** on the first ``rotary_dim`` dimensions of each head only (GPT-NeoX's
  ``rotary_pct``; Polyglot-Ko: 64 of 128), in GPT-NeoX's "rotate half" form, base 10,000.
* LayerNorm (with bias), exact GELU, biases on every linear layer but the output one, untied input
  and output embeddings, no dropout.
* The vocabulary is padded to a multiple of ``pad_vocab_to`` (128) as GPT-NeoX does: Polyglot-Ko's
  tokenizer has 30,003 tokens and its published checkpoints 30,080 embedding rows. The extra rows
  are never a target; they only make the output matmul a tensor-core friendly shape.

Parameter names and layouts are Hugging Face's ``GPTNeoXForCausalLM``'s (``gpt_neox.`` prefix aside),
including the fused ``query_key_value`` weight whose rows are laid out *per head* as
``[q_h0, k_h0, v_h0, q_h1, k_h1, v_h1, ...]``; so exporting (curate/train/export.py) is a rename.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint


@dataclass
class ModelConfig:
    n_layer: int = 2
    d_model: int = 64
    n_head: int = 4
    vocab_size: int = 0               # tokenizer vocabulary; 0 = take it from the shards' manifest
    pad_vocab_to: int = 128           # embedding rows rounded up to a multiple of this (GPT-NeoX: 128)
    rotary_dim: int = 0               # rotated dimensions per head; 0 = a quarter of the head (GPT-NeoX default)
    rotary_base: float = 10000.0
    max_seq_len: int = 2048           # rotary table length; HF's max_position_embeddings
    d_ff: int = 0                     # MLP width; 0 = 4 * d_model
    layer_norm_eps: float = 1e-5

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head

    @property
    def rotary(self) -> int:
        return self.rotary_dim or self.head_dim // 4

    @property
    def ffn(self) -> int:
        return self.d_ff or 4 * self.d_model

    @property
    def padded_vocab_size(self) -> int:
        m = max(self.pad_vocab_to, 1)
        return (self.vocab_size + m - 1) // m * m

    def to_dict(self) -> dict:
        return asdict(self)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate the first ``cos.shape[-1]`` dims of each head by position; leave the rest as they are."""
    r = cos.shape[-1]
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)   # under bf16 autocast q and k are bf16; keep them so
    x_rot, x_pass = x[..., :r], x[..., r:]
    x_rot = x_rot * cos + rotate_half(x_rot) * sin
    return torch.cat((x_rot, x_pass), dim=-1)


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.n_head, self.head_dim = cfg.n_head, cfg.head_dim
        self.query_key_value = nn.Linear(cfg.d_model, 3 * cfg.d_model)   # one matmul for q, k and v
        self.dense = nn.Linear(cfg.d_model, cfg.d_model)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        # GPT-NeoX layout: the fused output is [head][q|k|v][head_dim], not [q|k|v][head][head_dim]
        qkv = self.query_key_value(x).view(B, T, self.n_head, 3 * self.head_dim).transpose(1, 2)
        q, k, v = qkv.split(self.head_dim, dim=-1)                       # each (B, n_head, T, head_dim)
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        # flash attention on GPUs (bf16/fp16), memory-efficient or math kernels elsewhere; never builds a T x T mask
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.dense(y.transpose(1, 2).reshape(B, T, C))


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.dense_h_to_4h = nn.Linear(cfg.d_model, cfg.ffn)
        self.dense_4h_to_h = nn.Linear(cfg.ffn, cfg.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense_4h_to_h(F.gelu(self.dense_h_to_4h(x)))       # exact (erf) GELU: HF's "gelu"


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.input_layernorm = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps)
        self.post_attention_layernorm = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps)
        self.attention = Attention(cfg)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        # parallel residual: both branches read x (not x + attention), so they are independent
        return x + self.attention(self.input_layernorm(x), cos, sin) + self.mlp(self.post_attention_layernorm(x))


class GPTNeoX(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed_in = nn.Embedding(cfg.padded_vocab_size, cfg.d_model)
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.final_layer_norm = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps)
        self.embed_out = nn.Linear(cfg.d_model, cfg.padded_vocab_size, bias=False)   # untied from embed_in
        # cos/sin tables: buffers (they follow .to(device)) but not saved (recomputed from the config)
        self.register_buffer("rope_cos", torch.empty(cfg.max_seq_len, cfg.rotary), persistent=False)
        self.register_buffer("rope_sin", torch.empty(cfg.max_seq_len, cfg.rotary), persistent=False)
        self.activation_checkpointing = False   # recompute each layer in backward: less memory, ~1/3 more compute
        if self.embed_in.weight.device.type != "meta":
            self.init_weights()

    # -- initialization ---------------------------------------------------------------------------

    def init_rope(self) -> None:
        """Fill the rotary tables, in fp32 (as HF does) whatever the model's dtype."""
        r, dev = self.cfg.rotary, self.rope_cos.device
        inv_freq = 1.0 / (self.cfg.rotary_base ** (torch.arange(0, r, 2, device=dev, dtype=torch.float32) / r))
        freqs = torch.outer(torch.arange(self.cfg.max_seq_len, device=dev, dtype=torch.float32), inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        with torch.no_grad():
            self.rope_cos.copy_(emb.cos())
            self.rope_sin.copy_(emb.sin())

    def init_parts(self) -> list[tuple[str, nn.Module]]:
        """The model in the pieces that are initialized (and, with FSDP, sharded) one at a time."""
        return [("embed_in", self.embed_in), *((f"layers.{i}", b) for i, b in enumerate(self.layers)),
                ("final_layer_norm", self.final_layer_norm), ("embed_out", self.embed_out)]

    def init_part(self, index: int, seed: int = 0) -> None:
        """Initialize part ``index`` of :meth:`init_parts` from its own seeded generator, so the weights
        never depend on how the model is split over devices (single GPU, DDP and FSDP start equal).

        GPT-NeoX's scheme: "small_init" N(0, sqrt(2 / (5 d))) (Nguyen & Salazar 2019) for embeddings and
        input projections; "wang_init" N(0, 2 / (n_layer sqrt(d))) for the two projections back into the
        residual stream (attention.dense, mlp.dense_4h_to_h); biases 0; LayerNorm weight 1.
        """
        name, module = self.init_parts()[index]
        d = self.cfg.d_model
        small, wang = math.sqrt(2 / (5 * d)), 2 / (self.cfg.n_layer * math.sqrt(d))
        gen = torch.Generator(device=next(module.parameters()).device).manual_seed(seed * 100_003 + index)
        with torch.no_grad():
            for sub_name, sub in module.named_modules():
                if isinstance(sub, nn.LayerNorm):
                    sub.weight.fill_(1.0)
                    sub.bias.zero_()
                elif isinstance(sub, (nn.Linear, nn.Embedding)):
                    into_residual = sub_name in ("attention.dense", "mlp.dense_4h_to_h")
                    sub.weight.normal_(0.0, wang if into_residual else small, generator=gen)
                    if getattr(sub, "bias", None) is not None:
                        sub.bias.zero_()

    def init_weights(self, seed: int = 0) -> None:
        for i in range(len(self.init_parts())):
            self.init_part(i, seed)
        self.init_rope()

    # -- forward ----------------------------------------------------------------------------------

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        """Logits (B, T, padded vocab) and, given ``targets``, the mean cross-entropy (fp32)."""
        T = idx.shape[1]
        if T > self.cfg.max_seq_len:
            raise ValueError(f"sequence of {T} tokens is longer than max_seq_len {self.cfg.max_seq_len}")
        x = self.embed_in(idx)
        cos, sin = self.rope_cos[:T], self.rope_sin[:T]
        for block in self.layers:
            if self.activation_checkpointing and self.training:
                x = checkpoint(block, x, cos, sin, use_reentrant=False)
            else:
                x = block(x, cos, sin)
        logits = self.embed_out(self.final_layer_norm(x))
        if targets is None:
            return logits, None
        # the loss in fp32 even under bf16 autocast: log-softmax over 30k classes needs the precision
        loss = F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.reshape(-1))
        return logits, loss

    # -- accounting -------------------------------------------------------------------------------

    def num_params(self, non_embedding: bool = False) -> int:
        """Parameter count; ``non_embedding`` leaves out embed_in (a lookup, no FLOPs) but keeps embed_out."""
        n = sum(p.numel() for p in self.parameters())
        return n - self.embed_in.weight.numel() if non_embedding else n

    def flops_per_token(self, seq_len: int) -> float:
        """Training FLOPs per token (forward + backward), PaLM appendix B as in nanoGPT: 6 N for the
        matmuls with the weights plus 12 L d T for attention scores and values (causal masking not
        credited). Activation recomputation is not counted: MFU measures useful model FLOPs."""
        c = self.cfg
        return 6 * self.num_params(non_embedding=True) + 12 * c.n_layer * c.d_model * seq_len

    def estimate_mfu(self, tokens_per_s_per_device: float, seq_len: int, peak_flops: float | None) -> float | None:
        """Model FLOPs utilization: achieved FLOP/s over the device's peak (None when the peak is unknown)."""
        if not peak_flops:
            return None
        return self.flops_per_token(seq_len) * tokens_per_s_per_device / peak_flops


#: Dense bf16 peak FLOP/s per device (datasheets, without sparsity), matched against the device name.
#: Anything else (other GPUs, CPUs): set ``train.peak_flops`` or MFU is reported as null.
PEAK_FLOPS_BF16 = {
    "H200": 989e12,     # same tensor cores as H100 SXM, more and faster memory
    "H100": 989e12,     # SXM; the PCIe card is 756e12 (set train.peak_flops)
    "GH200": 989e12,
    "A100": 312e12,
}


def device_peak_flops(device: torch.device) -> float | None:
    """The bf16 dense peak of a CUDA device by its name, or None (CPUs, unknown GPUs)."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key in sorted(PEAK_FLOPS_BF16, key=len, reverse=True):
        if key in name:
            return PEAK_FLOPS_BF16[key]
    return None
