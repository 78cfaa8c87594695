#!/usr/bin/env python
"""Soak: many frames over several concurrent videos with idle slow clients attached, on loopback.

    python scripts/soak.py [--videos 4] [--frames 2500] [--slow-clients 2] [--workers 1] [--video clip.mp4]
                           [--env POSE_BODY_MODEL=none ...]

Starts a gunicorn server on a free loopback port (never another host), then at once:
- ``--videos`` client threads, each posting ``--frames`` frames of a clip in order (each after the previous answer,
  as the Node backend does), each video restarting its frame numbers every clip length;
- ``--slow-clients`` connections that send a request head one byte every few seconds and never finish it;
- a ``/health`` probe every second, and the workers' RSS sampled every 5 seconds.
Prints errors (must be 0), round-trip p50/p90/p99, the slowest /health answer, RSS over time and its growth after
warm-up (the first 10 % of the frames), and the ``/pose/hybrid`` request count ``/metrics`` reports beside the
number of frames sent (they must be equal).
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import cv2
import numpy as np

from benchmark_service import load_frames, spawn_server, wait_ready


def rss_mb(root_pid: int) -> float:
    """Resident memory of a process and its children (the gunicorn arbiter and its workers), in MB."""
    pids, total = [root_pid], 0.0
    while pids:
        pid = pids.pop()
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            total += int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024.0
            for task in Path(f"/proc/{pid}/task").iterdir():
                pids += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, AttributeError):
            continue
    return total


class Soak:
    def __init__(self, url: str, frames: list[bytes], per_video: int) -> None:
        self.url, self.frames, self.per_video = url, frames, per_video
        self.errors: list[str] = []
        self.round_trips: list[float] = []
        self.health_ms: list[float] = []
        self.sent = 0
        self.lock = threading.Lock()
        self.done = threading.Event()

    def post_video(self, video: int) -> None:
        for number in range(self.per_video):
            body = json.dumps({"image_base64": self.frames[number % len(self.frames)], "frame_number": number,
                               "video_id": f"soak-{video}"}).encode()
            request = urllib.request.Request(self.url + "/pose/hybrid", data=body,
                                             headers={"Content-Type": "application/json"})
            started = time.perf_counter()
            try:
                with urllib.request.urlopen(request, timeout=120) as response:
                    answer = json.loads(response.read())
                    if answer.get("frame_number") != number:
                        raise ValueError(f"answered frame {answer.get('frame_number')}")
            except (OSError, ValueError) as exc:
                with self.lock:
                    self.errors.append(f"video {video} frame {number}: {exc}")
            finally:
                with self.lock:
                    self.sent += 1
                    self.round_trips.append((time.perf_counter() - started) * 1000.0)

    def slow_client(self) -> None:
        """A request head sent one byte every 3 s, never finished; reconnects when the server hangs up."""
        head = b"POST /pose/hybrid HTTP/1.1\r\nHost: soak\r\nContent-Type: application/json\r\nX-Slow: " + b"x" * 10000
        while not self.done.is_set():
            try:
                address = urllib.parse.urlsplit(self.url)
                with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
                    for byte in head:
                        if self.done.wait(3.0):
                            return
                        sock.sendall(bytes([byte]))
            except OSError:
                self.done.wait(1.0)

    def probe_health(self) -> None:
        while not self.done.wait(1.0):
            started = time.perf_counter()
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=30) as response:
                    response.read()
            except OSError as exc:
                with self.lock:
                    self.errors.append(f"/health: {exc}")
            self.health_ms.append((time.perf_counter() - started) * 1000.0)


def scraped_requests(url: str, route: str) -> float:
    with urllib.request.urlopen(url + "/metrics", timeout=30) as response:
        text = response.read().decode()
    pattern = re.compile(r'^pose_requests_total\{([^}]*)\} ([0-9.e+]+)$', re.M)
    return sum(float(value) for labels, value in pattern.findall(text)
               if f'route="{route}"' in labels and 'method="POST"' in labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--frames", type=int, default=2500, help="frames per video")
    parser.add_argument("--slow-clients", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--video", type=Path, help="a clip to loop (default: the built-in panning clip)")
    parser.add_argument("--size", default="640x480")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the server (repeatable)")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    frames = [base64.b64encode(cv2.imencode(".jpg", f)[1].tobytes()).decode()
              for f in load_frames(args.video, 120, size)]
    env = dict(item.split("=", 1) for item in args.env) | {"POSE_WORKERS": str(args.workers)}
    url, process = spawn_server(env)
    try:
        wait_ready(url, workers=args.workers)
        soak = Soak(url, frames, args.frames)
        threads = [threading.Thread(target=soak.post_video, args=(v,)) for v in range(args.videos)]
        helpers = [threading.Thread(target=soak.slow_client, daemon=True) for _ in range(args.slow_clients)]
        helpers.append(threading.Thread(target=soak.probe_health, daemon=True))
        for thread in helpers + threads:
            thread.start()
        total = args.videos * args.frames
        samples: list[tuple[int, float]] = []
        started = time.perf_counter()
        while any(t.is_alive() for t in threads):
            samples.append((soak.sent, rss_mb(process.pid)))
            print(f"  {time.perf_counter() - started:6.0f} s  {soak.sent:6d}/{total} frames  RSS {samples[-1][1]:7.0f} MB"
                  f"  errors {len(soak.errors)}", flush=True)
            time.sleep(5.0)
        elapsed = time.perf_counter() - started
        samples.append((soak.sent, rss_mb(process.pid)))
        soak.done.set()
        scraped = scraped_requests(url, "/pose/hybrid")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)

    rt = np.array(soak.round_trips)
    warm = [rss for sent, rss in samples if sent >= total * 0.1]
    print(f"\n{soak.sent} frames over {args.videos} videos in {elapsed:.0f} s ({soak.sent / elapsed:.1f} frames/s), "
          f"{args.slow_clients} slow clients attached, {args.workers} worker(s)")
    print(f"errors: {len(soak.errors)}" + "".join(f"\n  {e}" for e in soak.errors[:20]))
    print(f"round trip: p50 {np.percentile(rt, 50):.0f} ms  p90 {np.percentile(rt, 90):.0f} ms  "
          f"p99 {np.percentile(rt, 99):.0f} ms  max {rt.max():.0f} ms")
    print(f"/health: {len(soak.health_ms)} probes, slowest {max(soak.health_ms, default=0):.0f} ms")
    print("RSS (MB) by frames sent: " + ", ".join(f"{sent}: {rss:.0f}" for sent, rss in samples[:: max(1, len(samples) // 12)]))
    if warm:
        print(f"RSS growth after warm-up: {warm[-1] - warm[0]:+.0f} MB ({warm[0]:.0f} -> {warm[-1]:.0f} MB)")
    print(f"/metrics pose_requests_total{{route=/pose/hybrid, POST}}: {scraped:.0f}; frames sent: {soak.sent}"
          f" ({'equal' if scraped == soak.sent else 'DIFFERENT'})")
    sys.exit(0 if not soak.errors and scraped == soak.sent else 1)


if __name__ == "__main__":
    main()
