#!/usr/bin/env python
"""Frame coverage of a running service: post a video's frames one by one, as the Node backend does.

    python scripts/test_frame_coverage.py clip.mp4 [--url URL | --spawn] [--simulate-misses 0.36]
        [--max-frames N] [--resize WxH] [--video-id ID] [--min-coverage 1.0] [--json out.json]

Each frame goes to ``POST /pose/hybrid`` as JSON ``{image_base64 (JPEG), frame_number, video_id}``. Prints the
coverage (frames with a body / frames), detected and predicted counts, the track ids with their frame counts,
and p50/p90/p99 of the round trip and of ``processing_time_ms``. Exits 1 below ``--min-coverage``, 2 on an HTTP
or connection error. ``--spawn`` starts a gunicorn server on a free port for the run.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

from benchmark_service import service  # noqa: E402
from pose_service.batch.video import read_frames  # noqa: E402


def post_frame(url: str, body: dict, timeout: float = 120) -> dict:
    request = urllib.request.Request(url + "/pose/hybrid", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def jpeg_b64(rgb: np.ndarray) -> str:
    ok, buffer = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise SystemExit("JPEG encoding failed")
    return base64.b64encode(buffer.tobytes()).decode()


def percentiles(values: list[float]) -> str:
    p50, p90, p99 = np.percentile(values, [50, 90, 99])
    return f"p50 {p50:7.1f} ms   p90 {p90:7.1f} ms   p99 {p99:7.1f} ms"


def run(args: argparse.Namespace) -> int:
    size = tuple(int(v) for v in args.resize.split("x")) if args.resize else None
    records = []
    for frame_number, rgb in enumerate(read_frames(args.video, args.max_frames)):
        if size is not None:
            rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        body = {"image_base64": jpeg_b64(rgb), "frame_number": frame_number, "video_id": args.video_id}
        if args.simulate_misses:
            body["simulate_misses"] = args.simulate_misses
        started = time.perf_counter()
        try:
            result = post_frame(args.url, body)
        except urllib.error.HTTPError as error:
            print(f"frame {frame_number}: HTTP {error.code} {error.read()[:500].decode(errors='replace')}")
            return 2
        records.append({
            "frame_number": frame_number,
            "round_trip_ms": (time.perf_counter() - started) * 1000,
            "processing_time_ms": result["processing_time_ms"],
            "people": [{"track_id": p["track_id"], "source": p["source"], "score": p["score"]} for p in result["people"]],
        })
    if not records:
        print(f"no frames could be read from {args.video}")
        return 2

    sources = Counter(p["source"] for r in records for p in r["people"])
    tracks = Counter(p["track_id"] for r in records for p in r["people"])
    coverage = sum(bool(r["people"]) for r in records) / len(records)
    print(f"frames: {len(records)} ({args.video}, video_id={args.video_id}, simulate_misses={args.simulate_misses})")
    print(f"coverage: {coverage:.3f} (min {args.min_coverage})")
    print(f"detected: {sources['detected']}   predicted: {sources['predicted']}")
    print("tracks: " + (", ".join(f"{t}: {n} frames" for t, n in sorted(tracks.items(), key=str)) or "none"))
    print(f"round trip:         {percentiles([r['round_trip_ms'] for r in records])}")
    print(f"processing_time_ms: {percentiles([r['processing_time_ms'] for r in records])}")
    if args.json:
        args.json.write_text(json.dumps(records, indent=1))
    return 0 if coverage >= args.min_coverage else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", type=Path, help="an MP4/QuickTime, Matroska/WebM or AVI file")
    parser.add_argument("--url", default="http://localhost:5000")
    parser.add_argument("--spawn", action="store_true", help="start a gunicorn server on a free port for the run")
    parser.add_argument("--simulate-misses", type=float, default=0.0, help="sent as the request option")
    parser.add_argument("--max-frames", type=int)
    parser.add_argument("--resize", help="WxH, e.g. 640x480")
    parser.add_argument("--video-id", default="coverage")
    parser.add_argument("--min-coverage", type=float, default=1.0)
    parser.add_argument("--json", type=Path, help="write the per-frame records here")
    parser.add_argument("--ready-timeout", type=float, default=600, help="seconds to wait for /health to be ready")
    args = parser.parse_args()

    try:
        with service(args.url, args.spawn, args.ready_timeout) as args.url:
            return run(args)
    except urllib.error.URLError as error:
        print(f"{args.url}: {error.reason}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
