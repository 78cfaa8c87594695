#!/usr/bin/env python
"""Run the service's pipeline on synthetic clips it renders itself, and score it against the ground truth.

    python scripts/eval_synthetic.py <preset>... | all [--modes warm,cold] [--simulate-misses 0.36] [--save dir]
        [--seed 0] [--json out.json]

Presets: see ``PRESETS`` in pose_service/synth/clip.py. The frames go through the embedded backend in-process (no
HTTP). ``warm``: the clip as one video, in order (tracking, warm-started fits); it prints PA-MPJPE / MPJPE (mm) and
the median 2D error (px) of detected people, the 3D error of predicted people for gaps up to 5 frames, coverage
per identity, identity switches and the frame time. ``cold``: every frame as a video of its own (a cold fit, no
tracking), as single photos are served. In both modes, the same detected people are scored twice on the 12 body
joints: the reported body and the detector's own 3D keypoints (MediaPipe's world landmarks), PA-MPJPE and
N-MPJPE (scale-aligned), side by side with their ratio, and the share of fits down-weighted (confidence < 0.5)
or rejected. --simulate-misses applies to warm runs; --save writes the
frames, the ground truth and an overlay per frame of the warm run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Optional

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pose_service.respond import frame_response  # noqa: E402
from pose_service.backends import build_pipeline  # noqa: E402
from pose_service.config import ServiceConfig  # noqa: E402
from pose_service.evaluation.clip import ClipScore, DetectorComparison, score_frame  # noqa: E402
from pose_service.pipeline import FramePipeline, FrameRequest  # noqa: E402
from pose_service.render.overlay import draw_response  # noqa: E402
from pose_service.synth.clip import PRESETS, Clip, ClipRenderer, preset, save_clip  # noqa: E402
from pose_service.types import FrameResult, Person  # noqa: E402

MODES = ("warm", "cold")


class DetectionRecorder:
    """Stands in for the pipeline's body stage and keeps what the detector handed it (the detector's own 3D
    keypoints) for the frame being processed."""

    def __init__(self, fitter: Any) -> None:
        self.fitter = fitter
        self.detections: list[Person] = []

    def __call__(self, image: np.ndarray, people: list[Person], previous: list, focal_length_px: float,
                 deadline: Optional[float] = None, with_mesh: bool = True) -> list[Person]:
        self.detections = list(people)
        return self.fitter(image, people, previous, focal_length_px, deadline, with_mesh)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.fitter, name)


def run(pipeline: FramePipeline, recorder: DetectionRecorder, clip: Clip, mode: str, label: str,
        simulate_misses: float) -> tuple[dict[str, Any], list[FrameResult]]:
    score, comparison, last_detected, times, results = ClipScore(), DetectorComparison(), {}, [], []
    for index, (frame, truth) in enumerate(zip(clip.frames, clip.ground_truth)):
        recorder.detections = []
        video_id = f"{label}-{index}" if mode == "cold" else label
        started = time.perf_counter()
        result = pipeline.process(FrameRequest(image=frame, frame_number=0 if mode == "cold" else index,
                                               video_id=video_id,
                                               simulate_misses=simulate_misses if mode == "warm" else 0.0))
        times.append(1000 * (time.perf_counter() - started))
        score_frame(score, result.people, truth, last_detected, index)
        comparison.add(result.people, truth, recorder.detections)
        results.append(result)
    summary = score.summary() | {"versus_detector": comparison.summary()}
    summary["frame_ms_median"] = float(np.median(times[1:])) if len(times) > 1 else times[0]
    summary["frame_ms_first"] = times[0]
    return summary, results


def ratio_text(value: Optional[float]) -> str:
    return "  -  " if value is None else f"{value:.2f}"


def mm_text(value: Optional[float]) -> str:
    return "   -" if value is None else f"{value:4.0f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("presets", nargs="+", choices=(*PRESETS, "all"))
    parser.add_argument("--modes", default="warm,cold", help=f"comma-separated, of {','.join(MODES)}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--simulate-misses", type=float, default=0.0)
    parser.add_argument("--save", type=Path, help="folder for frames, ground truth and overlays (one preset)")
    parser.add_argument("--json", type=Path, help="write the summaries here")
    args = parser.parse_args()
    presets = list(PRESETS) if "all" in args.presets else args.presets
    modes = [m for m in args.modes.split(",") if m]
    if unknown := set(modes) - set(MODES):
        parser.error(f"unknown modes: {', '.join(sorted(unknown))}")
    if args.save and len(presets) != 1:
        parser.error("--save takes one preset")

    pipeline = build_pipeline(ServiceConfig(), lambda name, state: None)
    recorder = DetectionRecorder(pipeline.fitter)
    pipeline.fitter = recorder
    renderer = ClipRenderer(recorder.model)
    summaries: dict[str, dict[str, Any]] = {}
    for name in presets:
        started = time.perf_counter()
        clip = renderer.render(preset(name, args.seed))
        print(f"{name}: rendered {len(clip.frames)} frames {clip.spec.width}x{clip.spec.height} "
              f"in {time.perf_counter() - started:.1f} s", flush=True)
        for mode in modes:
            summary, results = run(pipeline, recorder, clip, mode, f"synthetic-{name}-{args.seed}-{mode}",
                                   args.simulate_misses)
            summaries[f"{name}/{mode}"] = summary
            print(json.dumps({f"{name}/{mode}": summary}, indent=1), flush=True)
            if args.save and mode == "warm":
                save_clip(clip, args.save)
                for index, (frame, result) in enumerate(zip(clip.frames, results)):
                    response = frame_response(result, pipeline.backend, 0.0)
                    overlay = draw_response(frame, response, faces=pipeline.faces)
                    cv2.imwrite(str(args.save / f"overlay_{index:05d}.png"), cv2.cvtColor(overlay, cv2.COLOR_RGB2BGR))

    print(f"\n{'preset/mode':<34} {'people':>6} {'PA body':>7} {'PA MP':>6} {'ratio':>5} {'N body':>6} {'N MP':>5} "
          f"{'low':>5} {'rej':>5}")
    for key, summary in summaries.items():
        versus = summary["versus_detector"]
        print(f"{key:<34} {versus['people']:>6} {mm_text(versus['body_pa_mpjpe_mm']):>7} "
              f"{mm_text(versus['detector_pa_mpjpe_mm']):>6} {ratio_text(versus['pa_ratio']):>5} "
              f"{mm_text(versus['body_n_mpjpe_mm']):>6} {mm_text(versus['detector_n_mpjpe_mm']):>5} "
              f"{ratio_text(versus['down_weighted_share']):>5} {ratio_text(versus['rejected_share']):>5}")
    print("(mm over the 12 body joints; MP: the detector's own 3D keypoints for the same people; ratio: body / MP; "
          "low / rej: share of fits served with confidence < 0.5 / not served)")
    if args.json:
        args.json.write_text(json.dumps({"seed": args.seed, "summaries": summaries}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
