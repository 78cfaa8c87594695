#!/usr/bin/env python
"""A video id whose simulated misses the service fills completely, for the Node client's coverage test.

    python clients/node/test-support/video_id_with_misses.py --frames 16 --rate 0.2 --min-misses 2 --prefix node

Prints ``{"video_id": "<prefix>-<n>", "missed": [frame numbers]}`` for the first n whose ``simulate_misses`` draws
(pose_service.pipeline.simulated_miss, detection 0: a clip of one person) drop at least ``--min-misses`` frames,
each one the tracker predicts (README, "Tracking"): after the track is confirmed (``TrackerConfig.n_init``
detections), and in a gap no longer than ``predict_per_hit`` frames per detection so far (and ``max_age``).
Frame 0 is never missed: the service drops detections only once the video has a track.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from pose_service.pipeline import simulated_miss  # noqa: E402
from pose_service.tracking.config import TrackerConfig  # noqa: E402


def filled_misses(video_id: str, frames: int, rate: float, tracker: TrackerConfig) -> list[int] | None:
    """The frames missed, or None when one of them would be left empty."""
    missed, hits, gap = [], 1, 0
    for frame in range(1, frames):
        if not simulated_miss(video_id, frame, 0, rate):
            hits, gap = hits + 1, 0
            continue
        gap += 1
        if hits < tracker.n_init or gap > min(tracker.predict_per_hit * hits, tracker.max_age):
            return None
        missed.append(frame)
    return missed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, required=True)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--min-misses", type=int, default=1)
    parser.add_argument("--prefix", default="node-coverage")
    args = parser.parse_args()
    tracker = TrackerConfig()
    for n in range(100_000):
        video_id = f"{args.prefix}-{n}"
        missed = filled_misses(video_id, args.frames, args.rate, tracker)
        if missed is not None and len(missed) >= args.min_misses:
            print(json.dumps({"video_id": video_id, "missed": missed}))
            return 0
    print("no video id gives such misses", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
