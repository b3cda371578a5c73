#!/usr/bin/env bash
# Create datatrove's own virtualenv for the side-by-side filter benchmark (bench/bench_filters.py).
#
# datatrove pins trafilatura<1.12 and xxhash<4, which clash with curate's own environment, so it
# lives in /work/main/.bench/datatrove-venv (git-ignored), never in .venv.
#   - GopherQualityFilter / GopherRepetitionFilter / C4QualityFilter split words with datatrove's
#     word tokenizer, which for English uses spaCy's *blank* tokenizer (spacy.blank("en")):
#     no model download is needed, but the spacy package must be installed.
#   - JsonlReader needs orjson (we do not use its readers in the timed region, but install it anyway).
#   - LanguageFilter downloads lid.176.bin at run time: the benchmark does not use it.
# Usage: bash bench/setup_datatrove.sh [VENV_DIR]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${1:-$ROOT/.bench/datatrove-venv}"
PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  mkdir -p "$(dirname "$VENV")"
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet "datatrove[processing]" spacy orjson pyarrow
# Offline smoke test: the three filters construct and run on one English and one Korean document,
# with no network (HF_HUB_OFFLINE just in case something tries).
HF_HUB_OFFLINE=1 "$VENV/bin/python" - <<'PY'
from datatrove.data import Document
from datatrove.pipeline.filters import C4QualityFilter, GopherQualityFilter, GopherRepetitionFilter
import spacy
docs = [Document(text="The quick brown fox jumps over the lazy dog. " * 20, id="en"),
        Document(text="이 영화는 정말 재미있었다. 배우들의 연기가 훌륭했다. " * 20, id="ko")]
for f in (GopherRepetitionFilter(), GopherQualityFilter(), C4QualityFilter(filter_no_terminal_punct=False)):
    print(type(f).__name__, [f.filter(d) for d in docs])
from importlib.metadata import version
print("datatrove", version("datatrove"), "spacy", spacy.__version__, "- offline smoke test passed")
PY
"$VENV/bin/python" -m pip freeze | grep -i -E "^(datatrove|spacy|trafilatura|xxhash|numpy|orjson|pyarrow)==" || true
echo "datatrove venv ready: $VENV"
