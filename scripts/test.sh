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
# The browser test drives the OS's Chromium through Playwright (Playwright's own browser
# download is not reachable); install it once, as root, when it is missing.
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "scripts/test.sh: installing chromium for the browser test" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "scripts/test.sh: no chromium; the browser test will be skipped (apt-get install chromium)" >&2
  fi
fi
medkb models pull
python -m pytest "$@"
