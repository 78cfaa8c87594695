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
    # Programs the tests drive: headless Chromium (the viewer), Blender (the exports' import check, with the
    # numpy its glTF importer needs), ffmpeg and Node (the Node client and its coverage script).
    missing=()
    command -v chromium >/dev/null || missing+=(chromium)
    command -v blender >/dev/null || missing+=(blender)
    dpkg -s python3-numpy >/dev/null 2>&1 || missing+=(python3-numpy)
    command -v ffmpeg >/dev/null || missing+=(ffmpeg)
    command -v node >/dev/null || missing+=(nodejs)
    if [ ${#missing[@]} -gt 0 ]; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            echo "[SETUP] apt-get install ${missing[*]}"
            apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
        else
            echo "[SETUP] the tests need these Debian packages, not installed: ${missing[*]} (run as root, or apt-get install them)" >&2
        fi
    fi
fi
# Two cv2 distributions in one folder break each other; fail early rather than at import time.
"$VENV/bin/python" - <<'PY'
from importlib.metadata import distributions
cv2 = sorted({d.metadata["Name"] for d in distributions() if d.metadata["Name"].lower().startswith("opencv")})
if len(cv2) != 1:
    raise SystemExit(f"[SETUP] expected exactly one OpenCV distribution, found {cv2}")
PY
echo "[SETUP] done: $VENV"
