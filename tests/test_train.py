"""The training launcher on CPU: loss falls, DDP and FSDP2 under torchrun (gloo), exact resume,
activation checkpointing, export parity with transformers' GPTNeoXForCausalLM, config errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("tokenizers")

from typer.testing import CliRunner  # noqa: E402

from curate.cli import app  # noqa: E402
from curate.errors import CurateError  # noqa: E402
from curate.ingest import ingest  # noqa: E402
from curate.shards import build_shards  # noqa: E402
from curate.tokenizer import train_tokenizer  # noqa: E402
from curate.train.config import ConfigError, list_configs, load_config  # noqa: E402
from curate.train.data import EvalData, Permutation, TrainData  # noqa: E402
from curate.train.export import export_hf, load_run  # noqa: E402
from curate.train.launch import LaunchOptions, prepare  # noqa: E402
from curate.train.loop import latest_checkpoint, lr_at, train  # noqa: E402
from curate.train.model import GPTNeoX, ModelConfig  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
VOCAB = 2000


@pytest.fixture(scope="module", autouse=True)
def _restore_threads():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    """Korean news sample -> 2,000-token BPE -> shards (train ~38k tokens, valid ~4k)."""
    base = tmp_path_factory.mktemp("train-data")
    ingest([str(REPO / "sample_data" / "news" / "korean-english-park.dev.ko.txt")], source="news", out=base / "raw",
           progress=False)
    train_tokenizer(base / "raw", base / "tok", vocab_size=VOCAB, progress=False)
    build_shards(base / "raw", base / "tok", base / "shards", valid_fraction=0.1, progress=False)
    return base / "shards"


def tiny(*sets: str):
    return load_config("tiny", ["train.log_interval=1", *sets])


def read_log(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if line.strip()]


def losses(run: Path) -> dict[int, float]:
    return {r["step"]: r["loss"] for r in read_log(run) if "loss" in r and "event" not in r}


def torchrun_env() -> dict:
    env = dict(os.environ, CURATE_PROGRESS="0", OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    return env


# -- model and config ------------------------------------------------------------------------------


def test_shipped_configs_have_polyglot_ko_shapes():
    names = {p.stem for p in list_configs()}
    assert {"tiny", "neox-125m", "polyglot-ko-1.3b", "polyglot-ko-3.8b", "polyglot-ko-5.8b",
            "polyglot-ko-12.8b"} <= names
    shapes = {"1.3b": (24, 2048, 16), "3.8b": (32, 3072, 24), "5.8b": (28, 4096, 32), "12.8b": (40, 5120, 40)}
    for size, (layers, d, heads) in shapes.items():
        m = load_config(f"polyglot-ko-{size}").model
        assert (m.n_layer, m.d_model, m.n_head, m.rotary, m.max_seq_len) == (layers, d, heads, 64, 2048)
        assert (m.vocab_size, m.padded_vocab_size) == (30003, 30080)
    with torch.device("meta"):
        model = GPTNeoX(load_config("polyglot-ko-1.3b").model)
    assert model.num_params() == 1_331_810_304          # EleutherAI/polyglot-ko-1.3b's parameter count
    big = load_config("polyglot-ko-12.8b").train
    assert big.parallel == "fsdp" and big.activation_checkpointing
    c = load_config("neox-125m").model
    assert (c.n_layer, c.d_model, c.n_head) == (12, 768, 12)


@pytest.mark.parametrize("sets, message", [
    (["train.lrr=1"], "did you mean train.lr"),
    (["train.lr=\"fast\""], "train.lr = 'fast': expected float"),
    (["train.lr=-1"], "train.lr = -1.0: must be > 0"),
    (["model.n_head=5"], "model.d_model = 64 is not divisible by model.n_head = 5"),
    (["model.rotary_dim=32"], "model.rotary_dim = 32: must be even"),
    (["train.seq_len=128"], "train.seq_len = 128 is longer than model.max_seq_len = 64"),
    (["train.parallel=zero3"], "train.parallel = 'zero3': expected one of ddp, fsdp"),
    (["train.min_lr=1"], "train.min_lr = 1.0: must be between 0 and train.lr"),
    (["train.compile=1"], "train.compile = 1: expected bool"),
    (["lr=1"], "expected model.KEY=VALUE or train.KEY=VALUE"),
])
def test_config_errors_are_clear(sets, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        load_config("tiny", sets)


def test_config_lookup_and_rotary_pct(tmp_path):
    with pytest.raises(ConfigError, match="did you mean 'polyglot-ko-1.3b'"):
        load_config("polyglot-ko-1.3")
    p = tmp_path / "mine.toml"
    p.write_text('[model]\nn_layer = 1\nd_model = 64\nn_head = 2\nrotary_pct = 0.25\nmax_seq_len = 32\n'
                 '[train]\nseq_len = 32\nmax_steps = 5\nwarmup_steps = 1\n')
    cfg = load_config(p)
    assert cfg.name == "mine" and cfg.model.rotary == 8
    p.write_text("[modle]\n")
    with pytest.raises(ConfigError, match="unknown top-level key"):
        load_config(p)


def test_lr_schedule_warmup_cosine_floor():
    t = tiny("train.max_steps=100", "train.warmup_steps=10", "train.lr=1.0", "train.min_lr=0.1").train
    assert lr_at(0, t) == pytest.approx(0.1) and lr_at(9, t) == pytest.approx(1.0)
    assert lr_at(55, t) == pytest.approx(0.55)          # half way down the cosine: (lr + min_lr) / 2
    assert lr_at(100, t) == lr_at(1000, t) == pytest.approx(0.1)
    assert all(lr_at(i, t) >= lr_at(i + 1, t) for i in range(10, 120))
    short = tiny("train.max_steps=4", "train.warmup_steps=10", "train.lr=1.0").train   # warmup cut to the run
    assert [lr_at(i, short) for i in range(2)] == [0.25, 0.5]


def test_flops_and_mfu():
    m = GPTNeoX(ModelConfig(n_layer=2, d_model=64, n_head=4, vocab_size=VOCAB, rotary_dim=8, max_seq_len=64))
    n = m.num_params(non_embedding=True)
    assert n == m.num_params() - 2048 * 64            # embed_in is a lookup; embed_out a matmul (counted)
    assert m.flops_per_token(64) == 6 * n + 12 * 2 * 64 * 64
    assert m.estimate_mfu(1000.0, 64, None) is None
    assert m.estimate_mfu(1000.0, 64, 1e12) == pytest.approx(m.flops_per_token(64) * 1000 / 1e12)


# -- data --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 7, 64, 1000, 4097])
def test_permutation_is_a_bijection(n):
    p = Permutation(n, (5, 0))
    out = p(np.arange(n))
    assert sorted(out.tolist()) == list(range(n))
    if n > 64:
        assert not np.array_equal(out, np.arange(n))
        assert not np.array_equal(out, Permutation(n, (5, 1))(np.arange(n)))   # another epoch, another order


def test_ranks_split_one_global_order_and_resume(shards):
    one = TrainData(shards, 64, seed=3)
    r0, r1 = TrainData(shards, 64, seed=3, rank=0, world=2), TrainData(shards, 64, seed=3, rank=1, world=2)
    n = one.samples_per_epoch
    assert n == (json.loads((shards / "manifest.json").read_text())["counts"]["train"]["tokens"] - 1) // 64
    x1, _ = one.next_batch(8)
    a, _ = r0.next_batch(4)
    b, _ = r1.next_batch(4)
    assert torch.equal(torch.stack([a, b], 1).reshape(8, 64), x1)   # rank r takes global positions r, r+2, ...
    # the stream wraps into the next epoch with a different order; a restored state continues identically
    for _ in range(n // 8 + 3):
        one.next_batch(8)
    state = one.state_dict()
    assert state["epoch"] >= 1
    again = TrainData(shards, 64, seed=3)
    again.load_state_dict(state)
    assert torch.equal(again.next_batch(8)[0], one.next_batch(8)[0])
    with pytest.raises(CurateError, match="cannot resume"):
        TrainData(shards, 32, seed=3).load_state_dict(state)
    # windows are the token stream: targets are inputs shifted by one, every token < vocab
    x, y = TrainData(shards, 64, seed=0).next_batch(4)
    assert torch.equal(x[:, 1:], y[:, :-1]) and int(x.max()) < VOCAB
    ev = EvalData(shards, "valid", 64, 8, 2, rank=0, world=2)
    assert len(ev) == 2 and all(xb.shape == (8, 64) for xb, _ in ev)


# -- training ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(shards, tmp_path_factory) -> Path:
    """60 steps of the tiny model in this process (also the run the export test reads)."""
    run = tmp_path_factory.mktemp("runs") / "tiny"
    train(tiny("train.max_steps=60", "train.eval_interval=30"), shards, run)
    return run


def test_loss_falls_and_logs_what_it_should(trained):
    log = read_log(trained)
    steps = [r for r in log if "loss" in r and "event" not in r]
    assert [r["step"] for r in steps] == list(range(1, 61))
    first, last = np.mean([r["loss"] for r in steps[:5]]), np.mean([r["loss"] for r in steps[-5:]])
    assert first > 7.0 and last < first - 0.6, (first, last)   # ln(2000) = 7.6: from uniform towards unigram and beyond
    evals = [r for r in log if "eval_loss" in r]
    assert [r["step"] for r in evals] == [30, 60] and evals[1]["eval_loss"] < evals[0]["eval_loss"]
    r = steps[-1]
    assert r["tokens"] == 60 * 8 * 64 and r["tokens_per_s"] > 0 and r["mfu"] is None and r["lr"] > 0
    assert log[0]["event"] == "start" and log[-1]["event"] == "end"
    info = json.loads((trained / "config.json").read_text())
    assert info["config"]["model"]["vocab_size"] == VOCAB and info["data"]["tokenizer"]["vocab_size"] == VOCAB
    assert latest_checkpoint(trained).name == "step-00000060"


def test_resume_gives_the_same_losses_as_an_uninterrupted_run(shards, tmp_path):
    sets = ["train.max_steps=12", "train.decay_steps=12", "train.warmup_steps=3", "train.grad_accum=2",
            "train.checkpoint_interval=3", "train.eval_interval=6"]
    train(tiny(*sets), shards, tmp_path / "straight")
    train(tiny(*sets, "train.max_steps=7"), shards, tmp_path / "resumed")     # stops at 7; checkpoint at 6
    assert latest_checkpoint(tmp_path / "resumed").name == "step-00000007"
    # as if killed after step 7 before its checkpoint: step 6 is the latest complete one
    import shutil

    shutil.rmtree(tmp_path / "resumed" / "checkpoints" / "step-00000007")
    (tmp_path / "resumed" / "checkpoints" / "latest").write_text("step-00000006\n")
    train(tiny(*sets), shards, tmp_path / "resumed")
    a, b = losses(tmp_path / "straight"), losses(tmp_path / "resumed")
    assert list(b) == list(range(1, 13))       # the log was cut back to step 6, steps 7-12 written once
    assert max(abs(a[s] - b[s]) for s in a) <= 1e-6, (a, b)
    ea = [r["eval_loss"] for r in read_log(tmp_path / "straight") if "eval_loss" in r]
    eb = [r["eval_loss"] for r in read_log(tmp_path / "resumed") if "eval_loss" in r]
    assert ea == pytest.approx(eb, abs=1e-6)
    ma, mb = load_run(tmp_path / "straight")[0], load_run(tmp_path / "resumed")[0]
    for (k, v), w in zip(ma.state_dict().items(), mb.state_dict().values()):
        assert torch.allclose(v, w, atol=1e-6, rtol=0), k
    with pytest.raises(ConfigError, match="another model"):
        train(tiny(*sets, "model.n_layer=3"), shards, tmp_path / "resumed")


def test_activation_checkpointing_gives_the_same_loss(shards, tmp_path):
    sets = ["train.max_steps=4", "train.eval_batches=0"]
    train(tiny(*sets), shards, tmp_path / "plain")
    train(tiny(*sets, "train.activation_checkpointing=true"), shards, tmp_path / "ckpt")
    a, b = losses(tmp_path / "plain"), losses(tmp_path / "ckpt")
    assert max(abs(a[s] - b[s]) for s in a) <= 1e-6


def test_bf16_autocast_path_runs_on_cpu(shards, tmp_path):
    """The GPU's precision path (bf16 autocast: bf16 q/k/v into SDPA, fp32 loss) exercised on the CPU."""
    sets = ["train.max_steps=3", "train.eval_batches=1"]
    train(tiny(*sets, "train.precision=bf16"), shards, tmp_path / "bf16")
    train(tiny(*sets), shards, tmp_path / "fp32")
    log = read_log(tmp_path / "bf16")
    assert log[0]["precision"] == "bf16"
    a, b = losses(tmp_path / "bf16"), losses(tmp_path / "fp32")
    assert all(np.isfinite(v) for v in a.values()) and max(abs(a[s] - b[s]) for s in a) < 0.05


def test_vocab_from_shards_must_fit(shards, tmp_path):
    with pytest.raises(ConfigError, match="smaller than the shards' tokenizer"):
        train(tiny("model.vocab_size=1000"), shards, tmp_path / "x")
    with pytest.raises(CurateError, match="not a directory"):
        train(tiny(), tmp_path / "nope", tmp_path / "x")


def test_ddp_two_processes_under_torchrun(shards, tmp_path):
    """torchrun, 2 CPU processes (gloo); the same global batch order as one process, so the same run."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "curate.train",
           "tiny", "--data", str(shards), "--out", str(tmp_path / "ddp"), "--max-steps", "6",
           "--set", "train.micro_batch_size=4", "--set", "train.log_interval=1", "--set", "train.eval_interval=3"]
    proc = subprocess.run(cmd, env=torchrun_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = read_log(tmp_path / "ddp")
    assert log[0]["world_size"] == 2 and log[0]["parallel"] == "ddp" and log[0]["tokens_per_step"] == 2 * 4 * 64
    # one process with micro-batch 8 sees exactly the samples the two ranks of 4 see together
    train(tiny("train.max_steps=6", "train.eval_interval=3"), shards, tmp_path / "single")
    a, b = losses(tmp_path / "ddp"), losses(tmp_path / "single")
    assert max(abs(a[s] - b[s]) for s in a) < 1e-4, (a, b)
    assert latest_checkpoint(tmp_path / "ddp").name == "step-00000006"


def test_fsdp2_two_processes_via_curate_train(shards, tmp_path):
    """`curate train` -> torchrun -> FSDP2 (fully_shard) over 2 CPU processes with gloo; then resume it."""
    args = ["train", "tiny", "--data", str(shards), "--out", str(tmp_path / "fsdp"), "--nproc-per-node", "2",
            "--set", "train.parallel=fsdp", "--set", "train.micro_batch_size=4", "--set", "train.log_interval=1",
            "--set", "train.eval_batches=0", "--set", "train.decay_steps=6"]
    cmd = [sys.executable, "-c", "from curate.cli import main; main()"]
    proc = subprocess.run(cmd + args + ["--max-steps", "3"], env=torchrun_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "torch.distributed.run --nproc-per-node 2 --standalone -m curate.train tiny" in proc.stderr
    proc = subprocess.run(cmd + args + ["--max-steps", "6"], env=torchrun_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = read_log(tmp_path / "fsdp")
    assert log[0]["parallel"] == "fsdp" and any(r.get("event") == "resume" and r["step"] == 3 for r in log)
    # same init (per-layer seeds) and the same samples as DDP or one process: the same losses
    train(tiny("train.max_steps=6", "train.decay_steps=6", "train.eval_batches=0"), shards, tmp_path / "single")
    a, b = losses(tmp_path / "fsdp"), losses(tmp_path / "single")
    assert list(a) == list(range(1, 7)) and max(abs(a[s] - b[s]) for s in a) < 1e-4, (a, b)
    # an FSDP checkpoint exports like any other
    model = load_run(tmp_path / "fsdp")[0]
    assert model.num_params() == load_run(tmp_path / "single")[0].num_params()


# -- launcher and export -----------------------------------------------------------------------------


def test_launcher_builds_torchrun_commands(shards):
    cmd, facts = prepare(LaunchOptions("tiny", str(shards), out="runs/x", max_steps=30, device="cpu"))
    assert cmd[1:6] == ["-m", "torch.distributed.run", "--nproc-per-node", "1", "--standalone"]
    assert cmd[6:] == ["-m", "curate.train", "tiny", "--data", str(shards), "--out", "runs/x", "--max-steps", "30",
                       "--device", "cpu"]
    assert facts["nproc_per_node"] == 1 and facts["vocab_size"] == VOCAB
    cmd, _ = prepare(LaunchOptions("tiny", str(shards), out="runs/x", nproc_per_node=8, nnodes=4, node_rank=2,
                                   rdzv_endpoint="node0:29500", overrides=["train.lr=1e-2"], compile=True))
    s = " ".join(cmd)
    assert "--nproc-per-node 8 --nnodes 4 --rdzv-backend c10d --rdzv-endpoint node0:29500 --rdzv-id x --node-rank 2" in s
    assert "--standalone" not in s and s.endswith("--set train.lr=1e-2 --compile")
    with pytest.raises(CurateError, match="--rdzv-endpoint"):
        prepare(LaunchOptions("tiny", str(shards), nnodes=2))
    result = CliRunner().invoke(app, ["train", "tiny", "--data", str(shards), "--dry-run", "--set", "train.lr=-1"])
    assert result.exit_code == 2 and "train.lr = -1.0: must be > 0" in result.output


def test_export_matches_transformers_gpt_neox(trained, tmp_path):
    transformers = pytest.importorskip("transformers")
    out = tmp_path / "hf"
    result = CliRunner().invoke(app, ["export", str(trained), "--to", "hf", "--out", str(out)])
    assert result.exit_code == 0, result.output
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["model_type"] == "gpt_neox" and cfg["vocab_size"] == 2048 and cfg["rotary_pct"] == 0.5
    assert cfg["use_parallel_residual"] and not cfg["tie_word_embeddings"] and cfg["hidden_act"] == "gelu"
    hf = transformers.GPTNeoXForCausalLM.from_pretrained(out, torch_dtype=torch.float32).eval()
    ours = load_run(trained)[0]
    tok = transformers.AutoTokenizer.from_pretrained(out)
    ids = tok("서울 시내버스 요금이 다음 달부터 오른다.")["input_ids"]
    x = torch.cat([torch.tensor([ids]), torch.randint(0, VOCAB, (1, 64 - len(ids)), generator=torch.Generator().manual_seed(0))], 1)
    x = torch.cat([x, torch.randint(0, VOCAB, (1, 64), generator=torch.Generator().manual_seed(1))])
    with torch.no_grad():
        diff = (ours(x)[0] - hf(x).logits).abs().max().item()
    assert diff < 1e-4, diff
    assert tok.decode(ids) == "서울 시내버스 요금이 다음 달부터 오른다."
    with pytest.raises(CurateError, match="no config.json"):
        export_hf(tmp_path, tmp_path / "x")
