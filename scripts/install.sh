#!/usr/bin/env bash
# Creates .venv (if missing) and installs the service's dependencies into it.
#   bash scripts/install.sh          runtime only
#   bash scripts/install.sh --dev    runtime + tests/benchmarks
# Re-running is cheap: pip skips what is already satisfied.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${POSE_VENV:-.venv}

if [ ! -x "$VENV/bin/python" ]; then
    echo "[SETUP] creating $VENV with $($PYTHON --version)"
    "$PYTHON" -m venv "$VENV"
fi
pip=("$VENV/bin/python" -m pip install --disable-pip-version-check --quiet)

echo "[SETUP] installing requirements.txt"
"${pip[@]}" -r requirements.txt
echo "[SETUP] installing requirements-nodeps.txt (--no-deps)"
"${pip[@]}" --no-deps -r requirements-nodeps.txt
if [ "${1:-}" = "--dev" ]; then
    echo "[SETUP] installing requirements-dev.txt"
    "${pip[@]}" -r requirements-dev.txt
fi
# Two cv2 distributions in one folder break each other; fail early rather than at import time.
"$VENV/bin/python" - <<'PY'
from importlib.metadata import distributions
cv2 = sorted({d.metadata["Name"] for d in distributions() if d.metadata["Name"].lower().startswith("opencv")})
if len(cv2) != 1:
    raise SystemExit(f"[SETUP] expected exactly one OpenCV distribution, found {cv2}")
PY
echo "[SETUP] done: $VENV"
