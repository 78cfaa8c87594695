#!/usr/bin/env bash
# The Node client's tests (node --test clients/node) against a real service: starts gunicorn with the defaults (Anny
# meshes, one worker, sessions and jobs in its memory) on a free loopback port, runs the tests, stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
port=$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$(mktemp)
env -u POSE_REDIS_URL -u POSE_API_TOKENS POSE_HOST=127.0.0.1 POSE_PORT="$port" POSE_WORKERS=1 \
    .venv/bin/python -m gunicorn --config gunicorn.conf.py >"$log" 2>&1 &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null || true; rm -f "$log"' EXIT
status=0
POSE_URL="http://127.0.0.1:$port" node --test clients/node || status=$?  # the tests wait for /health to be ready
if [ $status -ne 0 ]; then
    echo "[NODE] the service's log:" >&2
    tail -n 50 "$log" >&2
fi
exit $status
