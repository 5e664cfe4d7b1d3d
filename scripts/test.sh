#!/usr/bin/env bash
# Set up MedKB on a fresh machine and run the whole test suite, the real default models included.
#   bash scripts/test.sh            # everything (slow tests use the real models: ~10 min on 2 cores)
#   bash scripts/test.sh -m 'not slow'   # the fast tests only
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
pip install -q --upgrade pip >/dev/null
pip install -q -e '.[dev]'
medkb models pull
python -m pytest "$@"
