#!/usr/bin/env bash
# Installs the service and its test dependencies into .venv, then runs the test suite.
#   bash scripts/run-tests.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --dev
exec .venv/bin/python -m pytest "$@"
