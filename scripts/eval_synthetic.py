#!/usr/bin/env python
"""Run the service's pipeline on a synthetic clip it renders itself, and score it against the ground truth.

    python scripts/eval_synthetic.py single_person_3m [--simulate-misses 0.36] [--save out_dir] [--seed 0]

Presets: single_person_3m, one_person_140_frames, two_people_crossing, leaves_the_frame
(pose_service/synth/clip.py). The frames go through the embedded backend in order, as one video, in-process
(no HTTP). Prints PA-MPJPE / MPJPE (mm) and the median 2D error (px) of detected people, the 3D error of
predicted people for gaps up to 5 frames, coverage per identity, identity switches, and the fit time.
--save writes the frames, the ground truth and an overlay per frame.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pose_service.api.response import frame_response  # noqa: E402
from pose_service.backends import build_pipeline  # noqa: E402
from pose_service.config import ServiceConfig  # noqa: E402
from pose_service.evaluation.clip import ClipScore, score_frame  # noqa: E402
from pose_service.pipeline import FrameRequest  # noqa: E402
from pose_service.render.overlay import draw_response  # noqa: E402
from pose_service.synth.clip import PRESETS, ClipRenderer, preset, save_clip  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("preset", choices=PRESETS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--simulate-misses", type=float, default=0.0)
    parser.add_argument("--save", type=Path, help="folder for frames, ground truth and overlays")
    args = parser.parse_args()

    pipeline = build_pipeline(ServiceConfig(), lambda name, state: None)
    started = time.perf_counter()
    clip = ClipRenderer(pipeline.fitter.model).render(preset(args.preset, args.seed))
    print(f"rendered {len(clip.frames)} frames {clip.spec.width}x{clip.spec.height} in {time.perf_counter() - started:.1f} s")

    score, last_detected, times, results = ClipScore(), {}, [], []
    video_id = f"synthetic-{args.preset}-{args.seed}"
    for index, (frame, truth) in enumerate(zip(clip.frames, clip.ground_truth)):
        started = time.perf_counter()
        result = pipeline.process(FrameRequest(image=frame, frame_number=index, video_id=video_id,
                                               simulate_misses=args.simulate_misses))
        times.append(1000 * (time.perf_counter() - started))
        score_frame(score, result.people, truth, last_detected, index)
        results.append(result)
    summary = score.summary()
    summary["frame_ms_median"] = float(np.median(times[1:]))
    summary["frame_ms_first"] = times[0]
    print(json.dumps(summary, indent=1))
    if args.save:
        save_clip(clip, args.save)
        for index, (frame, result) in enumerate(zip(clip.frames, results)):
            response = frame_response(result, pipeline.backend, 0.0, faces=pipeline.faces)
            overlay = draw_response(frame, response)
            cv2.imwrite(str(args.save / f"overlay_{index:05d}.png"), cv2.cvtColor(overlay, cv2.COLOR_RGB2BGR))
    return 0


if __name__ == "__main__":
    sys.exit(main())
