#!/usr/bin/env bash
# Creates benches/python/.venv (git-ignored) and installs uvloop into it, for
# bench.py. Needs python3 with the venv module (Debian: apt-get install
# python3-venv) and access to PyPI. Re-running it is harmless.
#
#   benches/python/setup.sh
#   benches/python/.venv/bin/python benches/python/bench.py [--quick] [--json PATH]
#
# PYTHON=python3.12 benches/python/setup.sh picks another interpreter (remove
# .venv first to switch).
set -euo pipefail
cd "$(dirname "$0")"

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
# The version the figures in docs/benchmarks-log.md ("Against Python") were taken with.
.venv/bin/python -m pip install --quiet --disable-pip-version-check 'uvloop==0.23.0'
.venv/bin/python -c 'import sys, uvloop; print(f"Python {sys.version.split()[0]}, uvloop {uvloop.__version__} in benches/python/.venv")'
