# Sourced by main_job.sh and test.sh: create .venv (once) and install curate with the given extras.
# Usage: . scripts/setup_env.sh "all,test"
set -euo pipefail
PY="${PYTHON:-python3}"
if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
  echo "error: curate needs Python >= 3.11 (found $("$PY" --version 2>&1)); set PYTHON=python3.11" >&2
  exit 1
fi
VENV="${CURATE_VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -e ".[${1:-all}]"
export PATH="$PWD/$VENV/bin:$PATH"
