#!/usr/bin/env bash
# The demo on a fresh clone, with nothing but Python 3.11+: create the virtual environment and install the
# pinned requirements if needed (the same .venv and marker as the Makefile), then run demo/run.py.
#
#   demo/bootstrap.sh                 # the local AWS
#   demo/bootstrap.sh --cloud gcp     # any demo/run.py option: --cloud aws|gcp|azure, --workdir, --state-out
#
# PYTHON picks the interpreter (default python3), VENV the environment (default .venv).
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv}"
STAMP="$VENV/.installed"

if ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "demo: $PYTHON not found; install Python 3.11 or newer, or set PYTHON=/path/to/python3" >&2
  exit 1
fi
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "demo: $("$PYTHON" --version 2>&1) is too old; Python 3.11 or newer is needed (set PYTHON=...)" >&2
  exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
  echo "demo: creating the virtual environment $VENV (once)"
  if ! "$PYTHON" -m venv "$VENV"; then
    rm -rf "$VENV"
    echo "demo: '$PYTHON -m venv' failed; on Debian or Ubuntu install python3-venv first" >&2
    exit 1
  fi
fi
if [ ! -e "$STAMP" ] || [ requirements.txt -nt "$STAMP" ] || [ requirements-test.txt -nt "$STAMP" ]; then
  echo "demo: installing the pinned requirements into $VENV (once; a few minutes)"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-test.txt
  touch "$STAMP"
fi
exec "$VENV/bin/python" demo/run.py "$@"
