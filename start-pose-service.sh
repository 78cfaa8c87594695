#!/usr/bin/env bash
# Installs the service into .venv (first run only does real work) and serves it with gunicorn.
#   bash start-pose-service.sh
# Environment: POSE_HOST (0.0.0.0), POSE_PORT (5000), POSE_WORKERS (1), POSE_BACKEND (embedded), POSE_RQ_WORKERS (0:
# batch-job workers started beside the API, with POSE_REDIS_URL), and the other POSE_* settings in the README.
# POSE_SKIP_INSTALL=1 skips the pip step.
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
if [ "${POSE_RQ_WORKERS:-0}" -gt 0 ]; then
    # Batch-job workers beside the API (they need POSE_REDIS_URL); all of them stop when any one stops.
    [ -n "${POSE_REDIS_URL:-}" ] || { echo "POSE_RQ_WORKERS needs POSE_REDIS_URL" >&2; exit 2; }
    trap 'trap - EXIT INT TERM; kill 0' EXIT INT TERM
    for _ in $(seq "$POSE_RQ_WORKERS"); do
        .venv/bin/python -m pose_service.batch.queue &
    done
    .venv/bin/gunicorn --config gunicorn.conf.py &
    wait -n
    exit $?
fi
exec .venv/bin/gunicorn --config gunicorn.conf.py
