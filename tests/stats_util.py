"""Runs for the stats and report tests: a real sample run (with planted PII) and synthetic runs with
every kind of metric column. Built once per test session by the fixtures in conftest.py."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import curate.steps  # noqa: F401  (registers the built-in steps)
from curate.ingest import ReaderOptions, ingest
from curate.pipeline import Pipeline, parse_recipe
from curate.pipeline.step import STEPS

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
sys.path.insert(0, str(ROOT / "bench"))
from bench_stats import make_run  # noqa: E402
from ingest_util import ingest_sample_reviews  # noqa: E402

#: personal data planted in documents that html_residue drops: must never reach a report
PLANTED = ["010-2345-6789", "chulsoo.kim@example.org", "850505-1234567", "415-555-0199"]
_WRAP = '<div class="contact-box-wrapper-outer"><span class="label-text-inner-value">{}</span></div>'
PLANTED_TEXTS = [_WRAP.format(t) for t in (
    "연락처 010-2345-6789", "메일 chulsoo.kim@example.org", "주민번호 850505-1234567", "Call +1 415-555-0199")]

RECIPE = """
name = "stats-test"
description = "built-in cleanup steps and exact dedup"
[[steps]]
name = "empty_text"
[[steps]]
name = "normalize"
[[steps]]
name = "whitespace"
[[steps]]
name = "html_residue"
[[steps]]
name = "broken_code"
{extra}[[steps]]
name = "short_text"
[[steps]]
name = "exact_dedup"
"""


def recipe_text(min_words: int = 5) -> str:
    extra = "".join(f'[[steps]]\nname = "{s}"\n' for s in ("repeated_chars", "gopher_repetition") if s in STEPS)
    return RECIPE.replace('name = "short_text"\n', f'name = "short_text"\nmin_words = {min_words}\n').format(extra=extra)


def build_runs(base: Path) -> dict[str, Path]:
    """raw (ingest of news, reviews, HTML pages and planted PII), run, and run-strict (min_words 20).
    Built once per session under ``base`` (test_report.py uses the same ones)."""
    paths = {"raw": base / "raw", "run": base / "run", "strict": base / "run-strict"}
    if (paths["strict"] / "manifest.json").exists():
        return paths
    src = base / "src"
    (src / "news").mkdir(parents=True, exist_ok=True)
    lines = (SAMPLE / "news" / "korean-english-park.dev.ko.txt").read_text(encoding="utf-8").splitlines()
    (src / "news" / "news.txt").write_text("\n".join(lines[:300] + lines[:10]) + "\n", encoding="utf-8")
    (src / "forum").mkdir(exist_ok=True)
    (src / "forum" / "posts.jsonl").write_text(
        "".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in PLANTED_TEXTS), encoding="utf-8")
    raw = paths["raw"]
    ingest([str(src / "news")], source="news", out=raw, options=ReaderOptions(lang="ko"), progress=False)
    ingest_sample_reviews(raw)
    ingest([str(SAMPLE / "web" / "html")], source="webpage", out=raw, progress=False)
    ingest([str(src / "forum")], source="forum", out=raw, progress=False)
    Pipeline(parse_recipe(recipe_text(5)), progress=False).run(raw, paths["run"])
    Pipeline(parse_recipe(recipe_text(20)), progress=False).run(raw, paths["strict"])
    return paths


def build_synthetic(base: Path) -> dict[str, Path]:
    """Synthetic runs (bench/bench_stats.py) with lid, hate, PII, dedup columns, clusters, input and shards."""
    paths = {"run": base / "syn" / "run", "b": base / "syn" / "run-b", "raw": base / "syn" / "raw"}
    if not (paths["b"] / "manifest.json").exists():
        make_run(paths["run"], 6000, files=3, input_dir=paths["raw"], shards=True)
        make_run(paths["b"], 6000, variant="b", files=3)
    return paths
