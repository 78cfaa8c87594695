#!/usr/bin/env bash
# Sets up the HMR 2.0 (4D-Humans) backend on an Ubuntu / WSL2 machine with an NVIDIA GPU:
#   1. the HMR 2.0 weights: upstream's hmr2_data.tar.gz or the checkpoint alone, from a file or an http(s) URL you
#      give, checked against its SHA-256 and installed into the cache folder; with neither given (and none
#      installed) it says what to download and where it goes, and stops (exit status 2) before any download;
#   2. .venv with the service's requirements (torch 2.13.0 from PyPI is the CUDA build on Linux);
#   3. the checkpoint converted once to safetensors (fast, pickle-free loading);
#   4. your licensed SMPL neutral model checked and converted (no chumpy).
# Then: POSE_BACKEND=hmr2 bash start-pose-service.sh
#
# Usage: bash setup-4d-humans-wsl.sh [--archive FILE|URL | --checkpoint FILE|URL] [--sha256 HEX]
#            [--connect-timeout S] [--read-timeout S] [--max-time S] [path/to/SMPL_NEUTRAL.pkl]
# Environment: HMR2_ARCHIVE, HMR2_CHECKPOINT_SOURCE, HMR2_SHA256 (the options' defaults); POSE_HMR2_CACHE_DIR
# (or HMR2_CACHE_DIR; default ~/.cache/4DHumans); PYTHON (the interpreter that runs step 1 and makes .venv).
# Step 1 is pose_service/models/hmr2/fetch.py (python -m pose_service.models.hmr2.fetch --help), which needs
# only the standard library. Re-running is safe: finished steps are skipped, a cut download resumes.
set -euo pipefail

# Paths given relative to where the script was called from, before it moves to the repository.
absolute() { case $1 in http://*|https://*|/*) printf '%s' "$1" ;; *) printf '%s/%s' "$PWD" "$1" ;; esac; }

fetch_args=()
smpl_arg=""
while [ $# -gt 0 ]; do
    case $1 in
        --archive|--checkpoint)
            [ $# -ge 2 ] || { echo "error: $1 needs a file or URL" >&2; exit 2; }
            fetch_args+=("$1" "$(absolute "$2")"); shift 2 ;;
        --sha256|--connect-timeout|--read-timeout|--max-time)
            [ $# -ge 2 ] || { echo "error: $1 needs a value" >&2; exit 2; }
            fetch_args+=("$1" "$2"); shift 2 ;;
        -h|--help) awk 'NR > 1 && !/^#/ {exit} NR > 1 {print substr($0, 3)}' "$0"; exit 0 ;;
        -*) echo "error: unknown option $1 (see --help)" >&2; exit 2 ;;
        *) smpl_arg=$(absolute "$1"); shift ;;
    esac
done
for var in HMR2_ARCHIVE HMR2_CHECKPOINT_SOURCE; do
    if [ -n "${!var:-}" ]; then export "$var=$(absolute "${!var}")"; fi
done
cd "$(dirname "$0")"

BOOT_PY=${PYTHON:-python3}
PY=.venv/bin/python
CACHE=$("$BOOT_PY" -c 'from pose_service.config import ServiceConfig; print(ServiceConfig.from_env().hmr2_files().cache)')

echo "== 1/4 HMR 2.0 weights ($CACHE)"
"$BOOT_PY" -m pose_service.models.hmr2.fetch --cache-dir "$CACHE" ${fetch_args[@]+"${fetch_args[@]}"}

echo "== 2/4 environment"
if grep -qi microsoft /proc/version 2>/dev/null; then echo "WSL detected"; fi
if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
else
    echo "warning: nvidia-smi not found; on WSL install the NVIDIA Windows driver (it provides CUDA to WSL)."
    echo "         The service will run HMR 2.0 on the CPU (about 0.4-1.7 s per person)."
fi
bash scripts/install.sh
"$PY" -c 'import torch; print(f"torch {torch.__version__}, CUDA available: {torch.cuda.is_available()}")'

echo "== 3/4 safetensors conversion"
ckpt="$CACHE/logs/train/multiruns/hmr2/0/checkpoints/epoch=35-step=1000000.ckpt"
if [ -f "$CACHE/hmr2.safetensors" ]; then
    echo "$CACHE/hmr2.safetensors already present"
elif [ -f "$ckpt" ]; then
    "$PY" -m pose_service.models.hmr2 convert "$ckpt" "$CACHE/hmr2.safetensors"
else
    echo "no checkpoint in $CACHE: the service reads POSE_HMR2_CHECKPOINT (${POSE_HMR2_CHECKPOINT:-${HMR2_CHECKPOINT:-}})"
fi

echo "== 4/4 SMPL neutral model (licensed: register at https://smpl.is.tue.mpg.de or https://smplify.is.tue.mpg.de)"
smpl_dir="$CACHE/data/smpl"
source=$smpl_arg
if [ -z "$source" ]; then
    for candidate in "$smpl_dir/SMPL_NEUTRAL.pkl" data/SMPL_NEUTRAL.pkl data/basicModel_neutral_lbs_10_207_0_v1.0.0.pkl; do
        if [ -f "$candidate" ]; then source=$candidate; break; fi
    done
fi
if [ -f "$smpl_dir/SMPL_NEUTRAL.npz" ] && [ -z "$smpl_arg" ]; then
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
