#!/usr/bin/env python
"""Throughput with several videos at once: frames per second for 1, 2 and 4 concurrent videos, served by 1 and 2
gunicorn workers sharing sessions in Redis.

    python scripts/bench_scale_out.py [--redis redis://127.0.0.1:6379/15] [--frames 40] [--workers 1 2]

Each video is a client thread posting its frames in order (the built-in panning clip of benchmark_service.py,
640x480), each frame after the previous one's answer, as the Node backend does. Prints, per setting, the frames
per second of all videos together, the median round trip, and how many frames each worker served.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import threading
import time
import urllib.request
import uuid
from collections import Counter

import cv2
import numpy as np

from benchmark_service import load_frames, service


def post(url: str, body: bytes) -> tuple[float, str]:
    """(round trip in ms, the worker that answered)."""
    request = urllib.request.Request(url + "/pose/hybrid", data=body, headers={"Content-Type": "application/json"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=300) as response:
        response.read()
        return (time.perf_counter() - started) * 1000, response.headers.get("X-Pose-Worker", "")


def run(url: str, frames: list[bytes], videos: int) -> tuple[float, list[float], Counter]:
    times: list[float] = []
    served: Counter = Counter()
    lock = threading.Lock()

    def client(video: int) -> None:
        video_id = f"bench-{uuid.uuid4().hex[:8]}-{video}"
        for index, image in enumerate(frames):
            body = json.dumps({"image_base64": image, "frame_number": index, "video_id": video_id,
                               "include_faces": False}).encode()
            ms, worker = post(url, body)
            with lock:
                times.append(ms)
                served[worker] += 1

    threads = [threading.Thread(target=client, args=(v,)) for v in range(videos)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(times) / (time.perf_counter() - started), times, served


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--videos", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()
    frames = [base64.b64encode(cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, 90])[1]).decode()
              for f in load_frames(None, args.frames, (640, 480))]
    print(f"{'workers':>7} {'videos':>6} {'frames/s':>9} {'round trip median':>18} {'frames per worker':>20}")
    for workers in args.workers:
        env = {"POSE_WORKERS": str(workers), "POSE_REDIS_URL": args.redis,
               "POSE_REDIS_NAMESPACE": f"bench-{uuid.uuid4().hex[:8]}"}
        with service("", spawn=True, env=env, workers=workers) as url:
            run(url, frames[:3], workers)  # warm-up: every worker's first frames
            for videos in args.videos:
                fps, times, served = run(url, frames, videos)
                print(f"{workers:>7} {videos:>6} {fps:>9.1f} {np.median(times):>15.0f} ms "
                      f"{' / '.join(str(n) for n in sorted(served.values(), reverse=True)):>20}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
