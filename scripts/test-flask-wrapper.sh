#!/usr/bin/env bash
# Smoke test of a running service: checks /health, then posts one real frame and prints the result.
#   bash scripts/test-flask-wrapper.sh [image.jpg] [http://localhost:5000]
# Exits non-zero when the service is not ready or the frame does not come back with a person.
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE=${1:-assets/astronaut.jpg}
URL=${2:-${POSE_URL:-http://localhost:${POSE_PORT:-5000}}}
PY=$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )

echo "== GET $URL/health"
curl -sS --fail-with-body "$URL/health"; echo

echo "== POST $URL/pose/hybrid ($IMAGE)"
body=$(mktemp)
trap 'rm -f "$body"' EXIT
"$PY" -c 'import base64, json, sys; print(json.dumps({"image_base64": base64.b64encode(open(sys.argv[1], "rb").read()).decode(), "frame_number": 0, "video_id": "wrapper-smoke-test"}))' "$IMAGE" > "$body"
curl -sS --fail-with-body -H "Content-Type: application/json" --data-binary "@$body" "$URL/pose/hybrid" | "$PY" -c '
import json, sys
r = json.load(sys.stdin)
print("frame {}: {} person(s), backend {}, has_3d {}, {} keypoints, {:.1f} ms, error {}".format(
    r["frame_number"], len(r["people"]), r["backend"], r["has_3d"], r["keypoint_count"], r["processing_time_ms"], r["error"]))
for k in r["keypoints"][:8]:
    print("  {:>15}: ({:7.1f}, {:7.1f}) conf {:.2f}".format(k["name"], k["x"], k["y"], k["confidence"]))
sys.exit(0 if r["people"] else 1)
'
