#!/usr/bin/env bash
# README's test command: set up the environment and run the whole test suite.
# pytest exits 5 when no test ran; that is a failure here, said out loud.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup_env.sh "all,test"
set +e
python -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "FAILED: pytest collected no tests (exit 5); the suite must run tests" >&2
  exit 1
fi
exit "$rc"
