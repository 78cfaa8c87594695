#!/usr/bin/env python
"""Resident memory of the session store: 1,000 video sessions created, then expired.

    python scripts/bench_session_memory.py [--sessions 1000] [--frames 3]

One real frame (the astronaut photo) goes through the embedded pipeline once, so every session holds what a real
one does: a track with its fitted Anny mesh, keypoints, filters and appearance. Then ``--sessions`` sessions each
track that person for ``--frames`` frames (tracker only, no model calls), all expire, and the process's resident
set size (RSS, /proc/self/statm) is printed before, at the peak, and after expiry.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from dataclasses import replace
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pose_service.backends import build_pipeline  # noqa: E402
from pose_service.config import ServiceConfig  # noqa: E402
from pose_service.pipeline import FrameRequest  # noqa: E402
from pose_service.sessions import InMemorySessionStore  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--frames", type=int, default=3)
    args = parser.parse_args()

    pipeline = build_pipeline(ServiceConfig(), lambda name, state: None)
    image = cv2.cvtColor(cv2.imread(str(ROOT / "assets" / "astronaut.jpg")), cv2.COLOR_BGR2RGB)
    person = pipeline.process(FrameRequest(image=image, frame_number=0, video_id="template")).people[0]
    detection = replace(person, track_id=None, source="detected", tracking_confidence=None)
    size = (image.shape[1], image.shape[0])

    clock = Clock()
    store = InMemorySessionStore(ttl_s=60, max_sessions=args.sessions + 10, clock=clock)

    def fill(prefix: str, count: int) -> None:
        for i in range(count):
            video_id = f"{prefix}{i}"
            with store.session(video_id, lambda: pipeline.new_session(video_id)) as session:
                for frame in range(args.frames):
                    # Copies: real sessions hold their own arrays, not views of one shared mesh.
                    own = replace(detection, vertices=detection.vertices.copy(), keypoints_3d=detection.keypoints_3d.copy())
                    session.track(frame, [own], image, pipeline.default_focal(*size), size)

    fill("warm-up-", 20)  # allocator pools and first-use caches are not the store's
    clock.now += 120
    store.expire()
    gc.collect()
    before = rss_mb()
    fill("video-", args.sessions)
    peak = rss_mb()
    clock.now += 120
    expired = store.expire()
    gc.collect()
    after = rss_mb()
    print(f"{args.sessions} sessions x {args.frames} frames, each with a {len(detection.vertices)}-vertex mesh")
    print(f"RSS before {before:.1f} MB, with the sessions {peak:.1f} MB, after expiring {expired}: {after:.1f} MB "
          f"({100 * (after - before) / before:+.1f} %)")
    return 0 if abs(after - before) <= 0.10 * before else 1


if __name__ == "__main__":
    sys.exit(main())
