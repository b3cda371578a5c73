"""The ``curate`` command line: a thin Typer layer over the Python API (one function per command)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from curate.errors import CurateError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Build LLM pretraining corpora: ingest -> filter -> dedup -> stats -> shards -> train.")


def _fail(exc: Exception) -> None:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


@app.command()
def ingest(
    paths: List[str] = typer.Argument(..., help="Files, directories (read recursively) or globs."),
    source: str = typer.Option(..., "--source", "-s", help="Source name for these documents (web, news, blog, patents, qa...)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output directory (several sources may share one)."),
    fmt: str = typer.Option("auto", "--format", "-f", help="auto (content sniffing), warc, html, jsonl, json, csv, tsv, text, parquet, uspto, stackexchange, squad."),
    workers: int = typer.Option(1, "--workers", "-w", min=1, help="Processes reading input files in parallel."),
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
    try:
        job = run_ingest(paths, source, out, fmt=fmt, options=options, workers=workers,
                         task_bytes=int(task_mb * (1 << 20)), max_file_bytes=int(max_file_mb * (1 << 20)),
                         progress=progress)
    except CurateError as exc:
        _fail(exc)
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
    batch_size: int = typer.Option(2048, help="Documents per Arrow record batch."),
    overwrite: bool = typer.Option(False, help="Replace an existing run of another recipe or input in --out."),
    source: List[str] = typer.Option([], "--source", "-s", help="Only documents of this source (repeatable; default: all)."),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """Run a recipe's steps over documents: kept documents, a decision per document, a manifest."""
    from curate.pipeline import Pipeline

    try:
        pipeline = Pipeline.from_recipe(recipe, workers=workers, batch_size=batch_size, progress=progress)
        manifest = pipeline.run(inp, out, overwrite=overwrite, sources=source)
    except CurateError as exc:
        _fail(exc)
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
    max_shard_mb: float = typer.Option(1024.0, help="Upper bound on each .bin file."),
    seed: int = typer.Option(0, help="Seed of the split and mix hashes."),
    overwrite: bool = typer.Option(False, help="Replace shards built from other input, tokenizer or options."),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """Tokenize kept documents into Megatron/GPT-NeoX indexed datasets (.bin + .idx) per split."""
    from curate.shards import build_shards

    try:
        m = build_shards(directory, tokenizer, out, mix=mix, valid_fraction=valid_fraction,
                         test_fraction=test_fraction, workers=workers, max_shard_mb=max_shard_mb, seed=seed,
                         overwrite=overwrite, progress=progress)
    except CurateError as exc:
        _fail(exc)
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
def formats() -> None:
    """List the input formats ``curate ingest`` reads."""
    from curate.ingest.formats import FORMATS

    for f in FORMATS.values():
        typer.echo(f"{f.name:14s} {f.description}")


@app.command()
def stats(
    directory: Path = typer.Argument(..., help="An ingest or run output directory."),
    sql: Optional[str] = typer.Option(None, "--sql", help="Run this query; views: documents, decisions, quarantine, manifest."),
    fmt: str = typer.Option("table", "--format", help="table, csv or json."),
) -> None:
    """Summaries computed by DuckDB over the Parquet in place (or your own --sql)."""
    from curate.stats import connect, summarize
    from curate.stats.summary import query, render

    if fmt not in ("table", "csv", "json"):
        _fail(CurateError(f"--format {fmt!r}: expected table, csv or json"))
    try:
        if sql:
            con = connect(directory)
            try:
                tables = [query(con, "query", sql)]
            except Exception as exc:  # duckdb.Error subclasses: bad SQL is the user's to fix
                raise CurateError(f"query failed: {exc}") from exc
        else:
            tables = summarize(directory)
    except CurateError as exc:
        _fail(exc)
    typer.echo(render(tables, fmt))


def main() -> None:
    try:
        app()
    except CurateError as exc:  # commands raise these for bad input; no traceback for the user
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
