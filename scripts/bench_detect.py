"""Per-frame detector latency on a 640x480 frame: legacy MediaPipe vs BlazePose on LiteRT.

    python scripts/bench_detect.py [--repeats 30] [--threads 2]

The frame is skimage's astronaut twice side by side, scaled to 640x480 (two people).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
from skimage import data

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pose_service.detect.blazepose import BlazePoseDetector  # noqa: E402
from pose_service.detect.mediapipe_pose import MediaPipePoseDetector  # noqa: E402


def median_ms(function: Callable[[], object], repeats: int) -> float:
    function()  # warm
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    astronaut = data.astronaut()
    frame = cv2.resize(np.concatenate([astronaut, astronaut[:, ::-1]], axis=1), (640, 480))
    legacy = MediaPipePoseDetector()
    blazepose = BlazePoseDetector(num_threads=args.threads)
    estimates = blazepose.detect(frame, tiles=True)
    rois = [e.next_roi for e in estimates]

    rows = [
        ("legacy MediaPipe (1 person max)", len(legacy(frame)), median_ms(lambda: legacy(frame), args.repeats)),
        ("BlazePose detect, whole frame", len(blazepose.detect(frame, tiles=False)),
         median_ms(lambda: blazepose.detect(frame, tiles=False), args.repeats)),
        (f"BlazePose detect + {len(blazepose.tile_regions(640, 480))} tiles", len(estimates),
         median_ms(lambda: blazepose.detect(frame, tiles=True), args.repeats)),
        ("BlazePose track (landmarks only)", len(rois), median_ms(lambda: blazepose.track(frame, rois), args.repeats)),
    ]
    print(f"640x480, {args.threads} LiteRT threads, median of {args.repeats}")
    for name, people, ms in rows:
        print(f"{name:36s} people={people}  {ms:7.1f} ms/frame  ({ms / max(people, 1):.1f} ms/person)")


if __name__ == "__main__":
    main()
