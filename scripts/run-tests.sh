#!/usr/bin/env bash
# Installs the service and its test dependencies into .venv, then runs the test suite.
#   bash scripts/run-tests.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --dev
.venv/bin/python -m pose_service.body.anny_model build-cache  # ~40 s the first time, then cached
exec .venv/bin/python -m pytest "$@"
