#!/usr/bin/env bash
# README's main job: set up the environment and run the whole pipeline that exists on sample_data/.
# Every stage is a real `curate` command, as a user would type it (docs/ explains each).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup_env.sh "all"
OUT="${1:-runs/sample}"
RAW="$OUT/raw"
W="${CURATE_WORKERS:-2}"

echo "== ingest: web (WARC/ARC/WET, HTML pages), news, reviews, Q&A, patents -> $RAW"
curate ingest sample_data/web/warc   --source web     --out "$RAW" --workers "$W"
curate ingest sample_data/web/html   --source webpage --out "$RAW" --workers "$W"
curate ingest sample_data/news/korean-english-park.dev.ko.txt --source news --lang ko --out "$RAW"
curate ingest sample_data/news/korean-english-park.dev.en.txt --source news-en --lang en --out "$RAW"
curate ingest sample_data/reviews    --source reviews --lang ko --text-field review --id-field review_id --out "$RAW"
curate ingest sample_data/qa/coffee.stackexchange.com --source qa --out "$RAW"
curate ingest sample_data/qa/squad   --source qa-ko   --lang ko --out "$RAW"
curate ingest sample_data/patents    --source patents --lang en --out "$RAW" --workers "$W"

echo "== ingest summary"
curate stats "$RAW"

echo "== filter + dedup: Polyglot-Ko's cleaning recipe over every source -> $OUT/clean"
curate run polyglot-ko --in "$RAW" --out "$OUT/clean" --workers "$W" --overwrite

echo "== filter + dedup: the web recipe (C4 + Gopher rules) over the web sources -> $OUT/web"
curate run web --in "$RAW" --out "$OUT/web" --source web --source webpage --workers "$W" --overwrite

echo "== statistics (DuckDB over the decision log; also: duckdb $OUT/clean/curate.duckdb)"
curate stats "$OUT/clean"
curate stats "$OUT/clean" --sql "select source, dropped_by, count(*) as documents from decisions where not kept group by all order by source, documents desc"

echo "== tokenizer: byte-level BPE with Polyglot-Ko's special and PII tokens, trained on the kept documents"
curate tokenizer train "$OUT/clean" --vocab-size "${CURATE_VOCAB:-8000}" --out "$OUT/tokenizer"
curate tokenizer stats "$OUT/clean" --tokenizer "$OUT/tokenizer"

echo "== shards: Megatron/GPT-NeoX indexed datasets, news up-sampled x2, reviews halved"
curate shards "$OUT/clean" --tokenizer "$OUT/tokenizer" --out "$OUT/shards" --mix news=2,reviews=0.5 \
  --valid-fraction 0.05 --workers "$W" --overwrite

echo "== training: a tiny GPT-NeoX model on the shards (CPU), then export for transformers"
curate train tiny --data "$OUT/shards" --out "$OUT/train" --max-steps "${CURATE_TRAIN_STEPS:-40}"
curate export "$OUT/train" --to hf --out "$OUT/hf"

echo "== report: $OUT/report.html (self-contained; open it in a browser)"
curate report "$OUT/clean" -o "$OUT/report.html" --shards "$OUT/shards"
