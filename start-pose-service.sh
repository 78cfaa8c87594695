#!/usr/bin/env bash
# Installs the service into .venv (first run only does real work) and serves it with gunicorn.
#   bash start-pose-service.sh
# Environment: POSE_HOST (0.0.0.0), POSE_PORT (5000), POSE_WORKERS (1), POSE_BACKEND (embedded), and the other
# POSE_* settings in the README. POSE_SKIP_INSTALL=1 skips the pip step.
set -euo pipefail
cd "$(dirname "$0")"

if [ "${POSE_SKIP_INSTALL:-0}" != "1" ]; then
    bash scripts/install.sh
fi
if [ "${POSE_BACKEND:-embedded}" = "embedded" ]; then
    # Anny builds ~790 MB of model data on first use (~40 s); do it here, not inside the first request.
    .venv/bin/python -m pose_service.body.anny_model build-cache
fi
export POSE_HOST=${POSE_HOST:-0.0.0.0} POSE_PORT=${POSE_PORT:-5000} POSE_BACKEND=${POSE_BACKEND:-embedded}
echo "[STARTUP] serving backend=$POSE_BACKEND on http://$POSE_HOST:$POSE_PORT (workers=${POSE_WORKERS:-1})"
exec .venv/bin/gunicorn --config gunicorn.conf.py
