#!/usr/bin/env bash
# Sets up the HMR 2.0 (4D-Humans) backend on an Ubuntu / WSL2 machine with an NVIDIA GPU:
#   1. .venv with the service's requirements (torch 2.13.0 from PyPI is the CUDA build on Linux);
#   2. upstream's hmr2_data.tar.gz, downloaded with resume, size- and archive-checked, unpacked into the cache;
#   3. the checkpoint converted once to safetensors (fast, pickle-free loading);
#   4. your licensed SMPL neutral model checked and converted (no chumpy).
# Then: POSE_BACKEND=hmr2 bash start-pose-service.sh
#
# Usage: bash setup-4d-humans-wsl.sh [path/to/SMPL_NEUTRAL.pkl | basicModel_neutral_lbs_10_207_0_v1.0.0.pkl]
# Environment: HMR2_CACHE_DIR (default ~/.cache/4DHumans), HMR2_DATA_URL (an archive URL to try first).
# Re-running is safe: finished steps are skipped, an interrupted download resumes.
set -euo pipefail
cd "$(dirname "$0")"

CACHE=${HMR2_CACHE_DIR:-$HOME/.cache/4DHumans}
export HMR2_CACHE_DIR=$CACHE
PY=.venv/bin/python

echo "== 1/4 environment"
if grep -qi microsoft /proc/version 2>/dev/null; then echo "WSL detected"; fi
if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
else
    echo "warning: nvidia-smi not found; on WSL install the NVIDIA Windows driver (it provides CUDA to WSL)."
    echo "         The service will run HMR 2.0 on the CPU (about 0.4-1.7 s per person)."
fi
bash scripts/install.sh
"$PY" -c 'import torch; print(f"torch {torch.__version__}, CUDA available: {torch.cuda.is_available()}")'

echo "== 2/4 HMR 2.0 data ($CACHE)"
urls=()
[ -n "${HMR2_DATA_URL:-}" ] && urls+=(--url "$HMR2_DATA_URL")
if [ -n "${HMR2_DATA_URL:-}" ]; then
    urls+=(--url https://www.cs.utexas.edu/~pavlakos/4dhumans/hmr2_data.tar.gz
           --url https://people.eecs.berkeley.edu/~jathushan/projects/4dhumans/hmr2_data.tar.gz)
fi
"$PY" -m pose_service.models.hmr2 fetch --cache-dir "$CACHE" "${urls[@]}"

echo "== 3/4 safetensors conversion"
ckpt="$CACHE/logs/train/multiruns/hmr2/0/checkpoints/epoch=35-step=1000000.ckpt"
if [ -f "$CACHE/hmr2.safetensors" ]; then
    echo "$CACHE/hmr2.safetensors already present"
else
    "$PY" -m pose_service.models.hmr2 convert "$ckpt" "$CACHE/hmr2.safetensors"
fi

echo "== 4/4 SMPL neutral model (licensed: register at https://smpl.is.tue.mpg.de or https://smplify.is.tue.mpg.de)"
smpl_dir="$CACHE/data/smpl"
source=${1:-}
if [ -z "$source" ]; then
    for candidate in "$smpl_dir/SMPL_NEUTRAL.pkl" data/SMPL_NEUTRAL.pkl data/basicModel_neutral_lbs_10_207_0_v1.0.0.pkl; do
        if [ -f "$candidate" ]; then source=$candidate; break; fi
    done
fi
if [ -f "$smpl_dir/SMPL_NEUTRAL.npz" ] && [ -z "${1:-}" ]; then
    echo "$smpl_dir/SMPL_NEUTRAL.npz already installed"
elif [ -n "$source" ]; then
    "$PY" -m pose_service.body.smpl_model install "$source" "$smpl_dir"
else
    cat <<MSG
SMPL is not included (its licence forbids redistribution). Download the neutral model
(basicModel_neutral_lbs_10_207_0_v1.0.0.pkl, from SMPLify's site, or SMPL_NEUTRAL.pkl) and run:
    bash setup-4d-humans-wsl.sh /path/to/that.pkl
MSG
    exit 1
fi

echo "== done. Serve with: POSE_BACKEND=hmr2 bash start-pose-service.sh"
