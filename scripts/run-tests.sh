#!/usr/bin/env bash
# Installs the service and its test dependencies into .venv (and, as root, the Debian programs the tests drive),
# then runs the test suite: pytest, then the Node client's tests against a real service.
#   bash scripts/run-tests.sh [pytest args...]   (with arguments: pytest only)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --dev
.venv/bin/python -m pose_service.body.anny_model build-cache  # ~40 s the first time, then cached
status=0
.venv/bin/python -m pytest "$@" || status=$?
if [ $# -eq 0 ]; then
    bash scripts/test-node-client.sh || status=$?
fi
exit $status
