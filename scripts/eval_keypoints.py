#!/usr/bin/env python
"""Score the service's 2D keypoints as PCK@0.5·torso over the 12 body joints (shoulders to ankles).

    python scripts/eval_keypoints.py <images_dir> <gt_coco17.json> [--alpha 0.5] [--backend embedded]

The ground-truth file lists images with per-person COCO-17 keypoints ([x, y, v]) and a ``single_person`` flag.
Each image runs through the backend's pipeline in-process (no HTTP). Every predicted person is matched to the
ground-truth person it scores best against (one to one); unmatched ground truth counts as missed. Prints a line per
image and the totals for single-person images and for all images; exits 1 when single-person PCK is below --min.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pose_service.backends import build_pipeline  # noqa: E402
from pose_service.config import ServiceConfig  # noqa: E402
from pose_service.evaluation.keypoints2d import pck_hits  # noqa: E402
from pose_service.pipeline import FrameRequest  # noqa: E402


def score_image(people_kp: list[np.ndarray], gt_people: list[np.ndarray], alpha: float) -> tuple[int, int]:
    """Greedy one-to-one matching of predictions to ground truth by hits; returns (correct, labelled)."""
    remaining = list(range(len(people_kp)))
    correct = total = 0
    for gt in gt_people:
        best, best_hits = None, 0
        for i in remaining:
            hits, _ = pck_hits(people_kp[i], gt, alpha)
            if best is None or hits > best_hits:
                best, best_hits = i, hits
        hits, labelled = pck_hits(people_kp[best] if best is not None else None, gt, alpha)
        if best is not None:
            remaining.remove(best)
        correct += hits
        total += labelled
    return correct, total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images_dir", type=Path)
    parser.add_argument("gt_json", type=Path)
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--backend", default="embedded")
    parser.add_argument("--min", type=float, default=0.0, help="exit 1 when single-person PCK is below this")
    args = parser.parse_args()

    gt = json.loads(args.gt_json.read_text())
    pipeline = build_pipeline(ServiceConfig(backend=args.backend), lambda name, state: None)
    sums = {"single": [0, 0], "all": [0, 0]}
    for record in gt["images"]:
        if not record.get("has_gt", True) or not record.get("persons"):
            continue
        bgr = cv2.imread(str(args.images_dir / record["file"]))
        if bgr is None:
            print(f"{record['file']}: cannot read, skipped", file=sys.stderr)
            continue
        result = pipeline.process(FrameRequest(image=cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), frame_number=0))
        gt_people = [np.asarray(p["keypoints"], float) for p in record["persons"]]
        correct, total = score_image([p.keypoints_2d for p in result.people], gt_people, args.alpha)
        kind = "single" if record.get("single_person") else "multi"
        print(f"{record['file']:>22}  {kind:6}  people {len(result.people)}/{len(gt_people)}  PCK {correct}/{total}")
        sums["all"][0] += correct
        sums["all"][1] += total
        if kind == "single":
            sums["single"][0] += correct
            sums["single"][1] += total
    for name, (correct, total) in sums.items():
        print(f"PCK@{args.alpha}·torso, {name}-person images: {correct / max(total, 1):.3f} ({correct}/{total} joints)")
    single_correct, single_total = sums["single"]
    return 0 if single_correct / max(single_total, 1) >= args.min else 1


if __name__ == "__main__":
    sys.exit(main())
