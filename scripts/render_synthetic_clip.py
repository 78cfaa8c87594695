#!/usr/bin/env python
"""Render a synthetic clip with ground truth: posed Anny bodies, frames as PNGs plus ground_truth.json.

    python scripts/render_synthetic_clip.py single_person_3m out_dir/ [--seed 0] [--frames N] [--video clip.mp4]

Presets: ``PRESETS`` in pose_service/synth/clip.py, which documents the scenes and the ground-truth format.
--video also writes an mp4 that scripts/test_frame_coverage.py and scripts/render_overlay.py can read.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pose_service.body.anny_model import AnnyModel  # noqa: E402
from pose_service.synth.clip import PRESETS, ClipRenderer, preset, save_clip  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("preset", choices=PRESETS)
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--frames", type=int, help="override the preset's frame count")
    parser.add_argument("--video", type=Path)
    args = parser.parse_args()

    spec = preset(args.preset, args.seed)
    if args.frames:
        spec.frames = args.frames
    clip = ClipRenderer(AnnyModel()).render(spec)
    print(f"wrote {save_clip(clip, args.out)} and {len(clip.frames)} frames")
    if args.video:
        writer = cv2.VideoWriter(str(args.video), cv2.VideoWriter_fourcc(*"mp4v"), spec.fps, (spec.width, spec.height))
        for frame in clip.frames:
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        writer.release()
        print(f"wrote {args.video}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
