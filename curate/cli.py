"""The ``curate`` command line: a thin Typer layer over the Python API (one function per command)."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, List, Optional

import typer

from curate.errors import CurateError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Build LLM pretraining corpora: ingest -> filter -> dedup -> stats -> shards -> train.")


def _fail(exc: Exception) -> None:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


EXECUTOR_HELP = "Where tasks run: 'local' (a process pool on this machine) or 'ray' (a Ray cluster; docs/ray.md)."
RAY_ADDRESS_HELP = ("With --executor ray: 'auto' (the cluster this machine joined with `ray start`), HOST:PORT of "
                    "its head, or ray://HOST:10001; default: $RAY_ADDRESS, else a Ray instance on this machine "
                    "with --workers CPUs (all cores when --workers is 1).")


@contextmanager
def _executor(name: str, workers: int, address: Optional[str]) -> Iterator[Any]:
    """The executor of ``--executor NAME`` for the ``with`` block: ``None`` for local (each stage starts
    its own process pool of ``--workers``), a :class:`curate.ray_executor.RayExecutor` for ray, closed
    when the block ends. A CurateError in the block becomes the CLI's error message and exit code 2."""
    ex = None
    try:
        ex = _make_executor(name, workers, address)  # Ray starts on first use, after validation
        yield ex
    except CurateError as exc:
        _fail(exc)
    finally:
        if ex is not None:
            ex.close()


def _make_executor(name: str, workers: int, address: Optional[str]) -> Any:
    if name == "local":
        if address:
            raise CurateError("--ray-address needs --executor ray")
        return None
    if name == "ray":
        from curate.ray_executor import RayExecutor

        return RayExecutor(address=address, num_cpus=workers if workers > 1 else None)
    raise CurateError(f"--executor {name!r}: expected 'local' or 'ray'")


@app.command()
def ingest(
    paths: List[str] = typer.Argument(..., help="Files, directories (read recursively) or globs."),
    source: str = typer.Option(..., "--source", "-s", help="Source name for these documents (web, news, blog, patents, qa...)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output directory (several sources may share one)."),
    fmt: str = typer.Option("auto", "--format", "-f", help="auto (content sniffing), warc, html, jsonl, json, csv, tsv, text, parquet, uspto, stackexchange, squad."),
    workers: int = typer.Option(1, "--workers", "-w", min=1, help="Processes reading input files in parallel."),
    executor: str = typer.Option("local", "--executor", help=EXECUTOR_HELP),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help=RAY_ADDRESS_HELP),
    text_field: Optional[str] = typer.Option(None, help="Record field holding the text (default: text, content, body, ...)."),
    id_field: Optional[str] = typer.Option(None, help="Field with the source's own id (kept in meta.source_id)."),
    url_field: Optional[str] = typer.Option(None, help="Field holding the URL (default: url, link)."),
    title_field: Optional[str] = typer.Option(None, help="Field holding the title (default: title, headline)."),
    date_field: Optional[str] = typer.Option(None, help="Field holding the creation date (default: created, date, ...)."),
    lang_field: Optional[str] = typer.Option(None, help="Field holding the language code."),
    meta_field: List[str] = typer.Option([], "--meta-field", help="Keep only these fields in meta (repeatable; default: all others)."),
    lang: Optional[str] = typer.Option(None, help="Language of every document when the dump is known to be one language (e.g. ko)."),
    encoding: Optional[str] = typer.Option(None, help="Encoding of JSONL/JSON/CSV/TSV/text dumps when not UTF-8 (e.g. cp949, euc-kr)."),
    text_unit: str = typer.Option("line", help="Plain text: 'line' (one document per line) or 'file' (one per file)."),
    max_record_mb: float = typer.Option(32.0, help="Records larger than this are quarantined, never parsed."),
    task_mb: float = typer.Option(64.0, help="Small input files are grouped into tasks of about this size."),
    max_file_mb: float = typer.Option(256.0, help="Roll output Parquet files at about this much data."),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", help="Show a progress bar (default: on unless CURATE_PROGRESS=0)."),
) -> None:
    """Read raw dumps into DIR/documents/*.parquet, with quarantine and a manifest (resumable)."""
    from curate.ingest import ReaderOptions
    from curate.ingest import ingest as run_ingest

    options = ReaderOptions(text_field=text_field, id_field=id_field, url_field=url_field, title_field=title_field,
                            date_field=date_field, lang_field=lang_field, meta_fields=tuple(meta_field), lang=lang, encoding=encoding,
                            text_unit=text_unit, max_record_bytes=int(max_record_mb * (1 << 20)))
    with _executor(executor, workers, ray_address) as ex:
        job = run_ingest(paths, source, out, fmt=fmt, options=options, workers=workers,
                         task_bytes=int(task_mb * (1 << 20)), max_file_bytes=int(max_file_mb * (1 << 20)),
                         executor=ex, progress=progress)
    c, t = job["counts"], job["timings"]
    typer.echo(f"{source}: read {c['read']:,}  written {c['written']:,}  quarantined {c['quarantined']:,}  "
               f"skipped {sum(job['skipped'].values()):,}  ({t['docs_per_s']:,.0f} docs/s, {t['mb_per_s']:.2f} MB/s, "
               f"{t['tasks_resumed']} tasks resumed) -> {out}")
    for kind, n in job["quarantine_by_type"].items():
        typer.echo(f"  quarantined {n:,} x {kind} (see {out}/quarantine/)")


@app.command()
def run(
    recipe: str = typer.Argument(..., help="A recipe file, or the name of a shipped one (see `curate recipes list`)."),
    inp: Path = typer.Option(..., "--in", "-i", help="Input: an ingest output (or an earlier run) directory."),
    out: Path = typer.Option(..., "--out", "-o", help="Output directory for documents, decisions, quarantine, manifest."),
    workers: int = typer.Option(1, "--workers", "-w", min=1, help="Processes working on input shards in parallel."),
    executor: str = typer.Option("local", "--executor", help=EXECUTOR_HELP),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help=RAY_ADDRESS_HELP),
    batch_size: int = typer.Option(2048, help="Documents per Arrow record batch."),
    overwrite: bool = typer.Option(False, help="Replace an existing run of another recipe or input in --out."),
    source: List[str] = typer.Option([], "--source", "-s", help="Only documents of this source (repeatable; default: all)."),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """Run a recipe's steps over documents: kept documents, a decision per document, a manifest."""
    from curate.pipeline import Pipeline

    with _executor(executor, workers, ray_address) as ex:
        pipeline = Pipeline.from_recipe(recipe, workers=workers, executor=ex, batch_size=batch_size,
                                        progress=progress)
        manifest = pipeline.run(inp, out, overwrite=overwrite, sources=source)
    c, t = manifest["counts"], manifest["timings"]
    typer.echo(f"{manifest['recipe']['name']}: read {c['read']:,}  kept {c['kept']:,}  dropped {c['dropped']:,}  "
               f"quarantined {c['quarantined']:,}  ({t['docs_per_s']:,.0f} docs/s, {t['mb_per_s']:.2f} MB/s) -> {out}")
    for row in manifest["funnel"]:
        typer.echo(f"  {row['step']:<22s} -{row['removed']:>9,}  -> {row['remaining']:>10,}")


recipes_app = typer.Typer(help="Shipped recipes (filters/*.toml).", no_args_is_help=True)
app.add_typer(recipes_app, name="recipes")


@recipes_app.command("list")
def recipes_list() -> None:
    """List the shipped recipes."""
    from curate.pipeline.recipe import list_recipes, load_recipe

    for path in list_recipes():
        recipe = load_recipe(path)
        typer.echo(f"{path.stem:16s} {len(recipe.steps):2d} steps  {recipe.description}")


@recipes_app.command("show")
def recipes_show(name: str = typer.Argument(..., help="Recipe name or path.")) -> None:
    """Show a recipe's steps with every parameter (defaults filled in) and the metric columns they write."""
    from curate.pipeline.recipe import load_recipe

    try:
        recipe = load_recipe(name)
    except CurateError as exc:
        _fail(exc)
    typer.echo(f"# {recipe.name}: {recipe.description}\n# file: {recipe.path}\n# hash: {recipe.hash[:16]}")
    for i, step in enumerate(recipe.describe(), 1):
        typer.echo(f"{i:2d}. {step['id']} ({step['name']}, {step['kind']})")
        for key, value in step["params"].items():
            typer.echo(f"      {key} = {value!r}")
        if step["metrics"]:
            typer.echo(f"      metrics: {', '.join(f'{k}:{v}' for k, v in step['metrics'].items())}")


tokenizer_app = typer.Typer(help="Train and compare tokenizers (docs/tokenizer.md).", no_args_is_help=True)
app.add_typer(tokenizer_app, name="tokenizer")


@tokenizer_app.command("train")
def tokenizer_train(
    directory: Path = typer.Argument(..., help="A `curate run` (or ingest) output directory."),
    out: Path = typer.Option(..., "--out", "-o", help="Output directory for tokenizer.json and its configs."),
    vocab_size: int = typer.Option(30003, help="Vocabulary size including the reserved tokens (Polyglot-Ko: 30,003)."),
    model: str = typer.Option("bpe", help="bpe (byte-level BPE) or unigram."),
    mecab: bool = typer.Option(False, "--mecab/--no-mecab", help="Korean: count at MeCab morpheme boundaries (training only)."),
    min_frequency: int = typer.Option(2, help="BPE: never merge pairs seen fewer times."),
    max_docs: Optional[int] = typer.Option(None, help="Train on at most this many (sampled) documents."),
    sample_fraction: float = typer.Option(1.0, help="Deterministic share of documents to train on (hash of id)."),
    seed: int = typer.Option(0, help="Seed of the sampling hash."),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """Train a byte-level BPE/Unigram tokenizer with curate's reserved tokens (fixed ids)."""
    from curate.tokenizer import train_tokenizer

    try:
        m = train_tokenizer(directory, out, vocab_size=vocab_size, model=model, mecab=mecab,
                            min_frequency=min_frequency, max_docs=max_docs, sample_fraction=sample_fraction,
                            seed=seed, progress=progress)
    except CurateError as exc:
        _fail(exc)
    typer.echo(f"{m['model']}{' + mecab' if m['mecab'] else ''}: vocab {m['vocab_size']:,} trained on "
               f"{m['trained_on']['documents']:,} documents ({m['trained_on']['text_bytes'] / 1e6:,.1f} MB) in "
               f"{m['timings']['seconds']:,.1f} s -> {out}/tokenizer.json (sha256 {m['tokenizer_sha256'][:12]})")


@tokenizer_app.command("stats")
def tokenizer_stats_cmd(
    directory: Path = typer.Argument(..., help="A `curate run` (or ingest) output directory."),
    tokenizer: List[Path] = typer.Option(..., "--tokenizer", "-t", help="Tokenizer directory or tokenizer.json (repeatable)."),
    max_docs: Optional[int] = typer.Option(None, help="Measure at most this many (sampled) documents."),
    sample_fraction: float = typer.Option(1.0, help="Deterministic share of documents to measure."),
    by: str = typer.Option("source,lang", help="Document columns to group by (comma-separated; '' for totals)."),
    fmt: str = typer.Option("table", "--format", help="table, csv or json."),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """Fertility (tokens/word) and characters per token per source and language, tokenizers side by side."""
    from curate.stats.summary import render
    from curate.tokenizer import tokenizer_stats

    if fmt not in ("table", "csv", "json"):
        _fail(CurateError(f"--format {fmt!r}: expected table, csv or json"))
    try:
        tables = tokenizer_stats(directory, tokenizer, by=[c for c in by.split(",") if c.strip()],
                                 max_docs=max_docs, sample_fraction=sample_fraction, progress=progress)
    except CurateError as exc:
        _fail(exc)
    typer.echo(render(tables, fmt))


@app.command()
def shards(
    directory: Path = typer.Argument(..., help="A `curate run` (or ingest) output directory."),
    tokenizer: Path = typer.Option(..., "--tokenizer", "-t", help="Tokenizer directory or tokenizer.json."),
    out: Path = typer.Option(..., "--out", "-o", help="Output directory for the shards and manifest.json."),
    mix: Optional[str] = typer.Option(None, help="Per-source weights in epochs, e.g. news=2,blog=0.5 ('*=W' sets the default, else 1)."),
    valid_fraction: float = typer.Option(0.005, help="Share of documents (by id hash) in the valid split."),
    test_fraction: float = typer.Option(0.0, help="Share of documents (by id hash) in the test split."),
    workers: int = typer.Option(1, "--workers", "-w", min=1, help="Processes encoding in parallel (each also uses Rust threads)."),
    executor: str = typer.Option("local", "--executor", help=EXECUTOR_HELP),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help=RAY_ADDRESS_HELP),
    max_shard_mb: float = typer.Option(1024.0, help="Upper bound on each .bin file."),
    seed: int = typer.Option(0, help="Seed of the split and mix hashes."),
    overwrite: bool = typer.Option(False, help="Replace shards built from other input, tokenizer or options."),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """Tokenize kept documents into Megatron/GPT-NeoX indexed datasets (.bin + .idx) per split."""
    from curate.shards import build_shards

    with _executor(executor, workers, ray_address) as ex:
        m = build_shards(directory, tokenizer, out, mix=mix, valid_fraction=valid_fraction,
                         test_fraction=test_fraction, workers=workers, max_shard_mb=max_shard_mb, seed=seed,
                         overwrite=overwrite, executor=ex, progress=progress)
    t = m["timings"]
    typer.echo(f"shards ({m['dtype']}, eod id {m['eod_id']}) in {t['seconds']:,.1f} s "
               f"({t['tokens_per_s']:,.0f} tokens/s) -> {out}")
    for split, c in m["counts"].items():
        if c["documents"]:
            typer.echo(f"  {split:<6s} {c['documents']:>12,} documents {c['tokens']:>15,} tokens in "
                       f"{len(m['files'][split])} file(s)")
            for source, s in c["by_source"].items():
                typer.echo(f"    {source:<18s} {s['documents']:>12,} {s['tokens']:>15,}  ({s['token_share']:.1%})")


@app.command()
def train(
    config: str = typer.Argument(..., help="Training config: a shipped name (tiny, neox-125m, polyglot-ko-1.3b, -3.8b, -5.8b, -12.8b) or a TOML path."),
    data: Path = typer.Option(..., "--data", "-d", help="Shards directory (`curate shards` output)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run directory (default: runs/<config name>). Rerunning resumes from its latest checkpoint."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Override train.max_steps."),
    overrides: List[str] = typer.Option([], "--set", help="Override a config value: train.lr=1e-4, model.n_layer=4 (repeatable)."),
    compile: Optional[bool] = typer.Option(None, "--compile/--no-compile", help="torch.compile the model (default: the config's train.compile)."),
    device: Optional[str] = typer.Option(None, "--device", help="auto, cuda or cpu (default: the config's train.device)."),
    resume: bool = typer.Option(True, "--resume/--no-resume", help="Resume from OUT's latest checkpoint (--no-resume starts over)."),
    nproc_per_node: Optional[int] = typer.Option(None, "--nproc-per-node", help="Processes on this node (default: visible GPUs, or 1 without GPUs)."),
    nnodes: int = typer.Option(1, "--nnodes", min=1, help="Nodes in the job (same command on each, with its --node-rank)."),
    node_rank: Optional[int] = typer.Option(None, "--node-rank", help="This node's rank (static rendezvous with --master-addr)."),
    rdzv_endpoint: Optional[str] = typer.Option(None, "--rdzv-endpoint", help="HOST:PORT of the c10d rendezvous (multi-node)."),
    rdzv_backend: str = typer.Option("c10d", "--rdzv-backend", help="torchrun rendezvous backend."),
    rdzv_id: Optional[str] = typer.Option(None, "--rdzv-id", help="Job id for the rendezvous (default: the run's name)."),
    master_addr: Optional[str] = typer.Option(None, "--master-addr", help="Static rendezvous: address of node 0."),
    master_port: Optional[int] = typer.Option(None, "--master-port", help="Static rendezvous: port on node 0."),
    torchrun_args: str = typer.Option("", "--torchrun-args", help="More torchrun arguments, as one quoted string."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check config and data, print the torchrun command, do not run it."),
) -> None:
    """Train a GPT-NeoX model on shards: starts `torchrun -m curate.train` (docs/training.md)."""
    from curate.train.launch import LaunchOptions, launch

    options = LaunchOptions(config=config, data=str(data), out=str(out) if out else None, max_steps=max_steps,
                            overrides=list(overrides), compile=compile, device=device, resume=resume,
                            nproc_per_node=nproc_per_node, nnodes=nnodes, node_rank=node_rank,
                            rdzv_endpoint=rdzv_endpoint, rdzv_backend=rdzv_backend, rdzv_id=rdzv_id,
                            master_addr=master_addr, master_port=master_port, torchrun_args=torchrun_args)
    try:
        code = launch(options, dry_run=dry_run)
    except CurateError as exc:
        _fail(exc)
    if code:
        raise typer.Exit(code)


@app.command()
def export(
    run_dir: Path = typer.Argument(..., help="A `curate train` run directory."),
    to: str = typer.Option("hf", "--to", help="Target format: hf (transformers GPTNeoXForCausalLM)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output directory (config.json, model.safetensors, tokenizer)."),
    checkpoint: Optional[str] = typer.Option(None, "--checkpoint", help="Checkpoint name or path (default: the latest)."),
    dtype: str = typer.Option("auto", "--dtype", help="auto (bfloat16 if trained in bf16, else float32), float32, bfloat16, float16."),
) -> None:
    """Export a training run's checkpoint for Hugging Face transformers (GPTNeoXForCausalLM)."""
    if to != "hf":
        _fail(CurateError(f"--to {to!r}: the only export format is 'hf'"))
    from curate.train.export import export_hf

    try:
        w = export_hf(run_dir, out, checkpoint=checkpoint, dtype=dtype)
    except CurateError as exc:
        _fail(exc)
    typer.echo(f"exported step {w['step']} ({w['params'] / 1e6:,.1f}M parameters, {w['dtype']}) -> {out}: "
               + ", ".join(w["files"]) + ("" if w["tokenizer"] else "  (tokenizer not found: copy it yourself)"))


classifier_app = typer.Typer(help="Train and evaluate fastText classifiers (docs/steps/hate.md).", no_args_is_help=True)
app.add_typer(classifier_app, name="classifier")


def _kv(items: List[str], what: str) -> dict:
    import json as _json

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            _fail(CurateError(f"{what} {item!r}: expected key=value"))
        try:
            out[key.strip()] = _json.loads(value)
        except ValueError:
            out[key.strip()] = value
    return out


@classifier_app.command("train")
def classifier_train(
    data: Path = typer.Argument(..., help="Labeled data: fastText lines (__label__x text), .tsv, .csv or .jsonl."),
    out: Path = typer.Option(..., "--out", "-o", help="Model file (.ftz quantized, or .bin); a sidecar .json is written beside it."),
    task: str = typer.Option("generic", "--task", help="Task preset: hate, quality or generic (preprocessing and training defaults)."),
    fmt: str = typer.Option("auto", "--format", "-f", help="auto (by extension), fasttext, tsv, csv or jsonl."),
    text_field: str = typer.Option("text", help="Text column/field of TSV/CSV/JSONL data."),
    label_field: str = typer.Option("label", help="Label column/field of TSV/CSV/JSONL data."),
    valid_fraction: float = typer.Option(0.0, min=0.0, max=0.9, help="Hold out this share (by text hash) and report metrics on it."),
    split_seed: int = typer.Option(0, help="Seed of the hold-out hash."),
    negative: Optional[str] = typer.Option(None, help="The clean label for binary metrics (hate preset: none)."),
    param: List[str] = typer.Option([], "--param", help="fastText setting, e.g. epoch=25, lr=0.1, minn=1, maxn=4, seed=1, quantize=false (repeatable)."),
    pre: List[str] = typer.Option([], "--pre", help="Preprocessing, e.g. jamo=true, squeeze=2, spacing=both (repeatable)."),
    extra: List[Path] = typer.Option([], "--extra", help="More labeled data for training only, never held out (repeatable)."),
) -> None:
    """Train a fastText classifier deterministically (one thread, fixed seed)."""
    from curate.classify.train import train as train_classifier

    try:
        side = train_classifier(data, out, task=task, fmt=fmt, text_field=text_field, label_field=label_field,
                                valid_fraction=valid_fraction, split_seed=split_seed, negative=negative,
                                preprocess=_kv(pre, "--pre"), params=_kv(param, "--param"), extra=extra)
    except (CurateError, TypeError, ValueError) as exc:
        _fail(exc if isinstance(exc, CurateError) else CurateError(str(exc)))
    d = side["data"]
    more = sum(e["records"] for e in d.get("extra", []))
    typer.echo(f"{task}: trained on {d['trained_on']:,} of {d['records']:,} records"
               f"{f' + {more:,} extra' if more else ''}, labels "
               f"{', '.join(f'{k} {v:,}' for k, v in d['label_counts'].items())} -> {out} "
               f"({out.stat().st_size / 1e6:.2f} MB)")
    if side["metrics"].get("valid_records"):
        typer.echo("held out: " + "  ".join(f"{k} {v}" for k, v in side["metrics"].items()))


@classifier_app.command("eval")
def classifier_eval(
    model: Path = typer.Argument(..., help="A fastText model (its sidecar .json, if any, sets the preprocessing)."),
    data: Path = typer.Argument(..., help="Labeled data, as for `classifier train`."),
    fmt: str = typer.Option("auto", "--format", "-f", help="auto, fasttext, tsv, csv or jsonl."),
    text_field: str = typer.Option("text", help="Text column/field of TSV/CSV/JSONL data."),
    label_field: str = typer.Option("label", help="Label column/field of TSV/CSV/JSONL data."),
    negative: Optional[str] = typer.Option(None, help="The clean label for binary metrics (default: the model's)."),
    threshold: float = typer.Option(0.5, help="Binary decision threshold on 1 - P(negative)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the metrics as JSON."),
) -> None:
    """Precision, recall, F1 per label, macro-F1, confusion matrix (and binary ROC-AUC / macro-F1)."""
    import json as _json

    from curate.classify.train import evaluate_model

    try:
        res = evaluate_model(model, data, negative=negative, threshold=threshold, fmt=fmt, text_field=text_field,
                             label_field=label_field)
    except CurateError as exc:
        _fail(exc)
    typer.echo(res.render())
    if json_out:
        json_out.write_text(_json.dumps(res.to_dict(), indent=2) + "\n", encoding="utf-8")


@app.command()
def formats() -> None:
    """List the input formats ``curate ingest`` reads."""
    from curate.ingest.formats import FORMATS

    for f in FORMATS.values():
        typer.echo(f"{f.name:14s} {f.description}")


@app.command()
def stats(
    directory: Path = typer.Argument(..., help="An ingest or run output directory."),
    by: Optional[str] = typer.Option(None, "--by", help="Break the summary down by source, step or lang."),
    diff: Optional[Path] = typer.Option(None, "--diff", help="Compare with another run (before): recipe change, per-step and per-source deltas, documents that changed fate."),
    sql: Optional[str] = typer.Option(None, "--sql", help="Run this query; views: documents, decisions, quarantine, clusters, manifest, funnel, input_documents (docs/stats.md)."),
    fmt: str = typer.Option("table", "--format", help="table, csv or json."),
) -> None:
    """Summaries computed by DuckDB over the Parquet in place; (re)writes DIR/curate.duckdb for the DuckDB shell."""
    from curate.stats import stats_tables
    from curate.stats.summary import render

    if fmt not in ("table", "csv", "json"):
        _fail(CurateError(f"--format {fmt!r}: expected table, csv or json"))
    try:
        tables, db = stats_tables(directory, by=by, diff=diff, sql=sql)
    except CurateError as exc:
        _fail(exc)
    typer.echo(render(tables, fmt))
    if db is not None and fmt == "table":
        typer.echo(f"\nviews for the DuckDB shell: duckdb {db}")


@app.command()
def report(
    directory: Path = typer.Argument(..., help="A `curate run` output directory."),
    out: Path = typer.Option(Path("report.html"), "--out", "-o", help="HTML file to write (one self-contained file)."),
    shards: Optional[Path] = typer.Option(None, "--shards", help="A `curate shards` output built from this run (default: looked for next to DIR)."),
    examples: int = typer.Option(3, "--examples", min=0, help="Dropped documents shown per reason (excerpts, anonymized)."),
) -> None:
    """One HTML file with charts: funnel, removal per source, metric histograms, languages, duplicates, PII, tokens, dropped examples."""
    from curate.stats.report import write_report

    try:
        info = write_report(directory, out, shards=shards, examples=examples)
    except CurateError as exc:
        _fail(exc)
    typer.echo(f"report: {info['charts']} charts, {info['sections']} sections, {info['examples']} excerpts "
               f"({info['anonymizer']}) -> {out}")


def main() -> None:
    try:
        app()
    except CurateError as exc:  # commands raise these for bad input; no traceback for the user
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
