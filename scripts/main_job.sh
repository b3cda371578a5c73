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

echo "== statistics (DuckDB over the decision log)"
curate stats "$OUT/clean"
curate stats "$OUT/clean" --sql "select source, dropped_by, count(*) as documents from decisions where not kept group by all order by source, documents desc"
