#!/usr/bin/env bash
# Set up MedKB on a fresh machine and run the main job on the shipped corpus:
# provision the offline models, build the KB, ask a question, show the answer and its audit.
#   bash scripts/demo.sh                # default subset (see corpora/README.md), ~5 min on 2 cores
#   MEDKB_FULL=1 bash scripts/demo.sh   # all 16,407 MedQuAD records too
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
pip install -q --upgrade pip >/dev/null
pip install -q -e '.[dev]'
KB=${MEDKB_HOME:-medkb-data}
QUESTION=${QUESTION:-"What is the first-line treatment for mild asthma?"}
medkb models pull
sources=(corpora/)
[ "${MEDKB_FULL:-0}" = 1 ] && sources+=(corpora/full/)
medkb build "${sources[@]}" --kb "$KB"
medkb info --kb "$KB"
echo
medkb ask "$QUESTION" --kb "$KB" --policy strict
echo
medkb audit latest --kb "$KB"
