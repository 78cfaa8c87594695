#!/usr/bin/env python
"""Benchmark POST /pose/hybrid: frames of a clip posted in order, as the Node backend does.

    python scripts/benchmark_service.py [--video clip.mp4] [--frames 100] [--size 640x480] [--url URL | --spawn]

Prints median and p90 of the service's ``processing_time_ms`` and of the client's round trip (request sent to
response parsed; base64 encoding of the frames happens before timing). Without --video the clip is the astronaut
photo panning across a 640x480 canvas. --spawn starts a gunicorn server on a free port for the run.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def load_frames(video: Path | None, count: int, size: tuple[int, int]) -> list[np.ndarray]:
    """BGR frames resized to ``size`` (w, h)."""
    if video is None:
        person = cv2.imread(str(ROOT / "assets" / "astronaut.jpg"))
        w, h = size
        person = cv2.resize(person, (h * 3 // 4, h * 3 // 4))
        frames = []
        for i in range(count):
            canvas = np.full((h, w, 3), 90, np.uint8)
            x = int((w - person.shape[1]) * (0.5 + 0.5 * np.sin(i / 15)))
            canvas[h - person.shape[0] :, x : x + person.shape[1]] = person
            frames.append(canvas)
        return frames
    capture = cv2.VideoCapture(str(video))
    frames = []
    while len(frames) < count:
        ok, frame = capture.read()
        if not ok:
            if not frames:
                raise SystemExit(f"cannot read frames from {video}")
            capture.set(cv2.CAP_PROP_POS_FRAMES, 0)  # loop short clips
            continue
        frames.append(cv2.resize(frame, size))
    return frames


def spawn_server(env: dict[str, str] | None = None) -> tuple[str, subprocess.Popen]:
    """gunicorn on a free loopback port, with ``env`` on top of this process's environment."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = os.environ | {"POSE_HOST": "127.0.0.1", "POSE_PORT": str(port)} | (env or {})
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    return f"http://127.0.0.1:{port}", process


@contextmanager
def service(url: str, spawn: bool, ready_timeout: float = 600, env: dict[str, str] | None = None,
            workers: int = 1) -> Iterator[str]:
    """A ready service's URL for the block: ``url``, or a gunicorn server on a free loopback port (``env`` added
    to its environment), stopped after; ready once ``workers`` different workers have said so."""
    process = None
    if spawn:
        url, process = spawn_server(env)
    try:
        wait_ready(url, ready_timeout, workers)
        yield url
    finally:
        if process is not None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)


def wait_ready(url: str, timeout: float = 600, workers: int = 1) -> None:
    ready: set[str] = set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/health", timeout=5) as response:
                if json.loads(response.read())["ready"]:
                    ready.add(response.headers.get("X-Pose-Worker", ""))
                    if len(ready) >= workers:
                        return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not become ready in {timeout:.0f} s")


def post(url: str, body: bytes) -> dict:
    request = urllib.request.Request(url + "/pose/hybrid", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


def percentiles(values: list[float]) -> str:
    return f"median {np.median(values):7.1f} ms   p90 {np.percentile(values, 90):7.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--size", default="640x480")
    parser.add_argument("--url", default="http://127.0.0.1:5000")
    parser.add_argument("--spawn", action="store_true", help="start a gunicorn server for the run")
    parser.add_argument("--video-id", default="benchmark")
    parser.add_argument("--extra", default="{}", help="JSON object merged into every request (e.g. options)")
    args = parser.parse_args()

    size = tuple(int(v) for v in args.size.split("x"))
    frames = load_frames(args.video, args.frames, size)
    extra = json.loads(args.extra)
    bodies = [
        json.dumps(
            {"image_base64": base64.b64encode(cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, 90])[1]).decode(),
             "frame_number": i, "video_id": args.video_id} | extra
        ).encode()
        for i, f in enumerate(frames)
    ]
    with service(args.url, args.spawn) as url:
        post(url, bodies[0])  # warm-up request, not counted
        processing, round_trip, detected = [], [], 0
        for body in bodies:
            started = time.perf_counter()
            result = post(url, body)
            round_trip.append((time.perf_counter() - started) * 1000)
            processing.append(result["processing_time_ms"])
            detected += bool(result["people"])
        print(f"{len(bodies)} frames {size[0]}x{size[1]} ({args.video or 'built-in panning clip'}), {detected} with a person")
        print(f"processing_time_ms: {percentiles(processing)}")
        print(f"round trip:         {percentiles(round_trip)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
