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

echo "== summary"
curate stats "$RAW"
