"""2D keypoint accuracy: PCK against COCO-style ground truth.

PCK@a·torso: a predicted joint is correct when it lies within ``a`` times the person's torso size of the labelled
position. The torso size is the ground truth's diagonal from the left shoulder to the right hip (the other diagonal
when that one is unlabelled), the usual LSP convention. Only labelled joints (v > 0, occluded ones included) count;
a joint the prediction lacks (confidence 0) or a person not detected at all counts as wrong.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..conventions import BODY12_NAMES, BODY25_INDEX, COCO17_NAMES

_COCO_INDEX = {name: i for i, name in enumerate(COCO17_NAMES)}


def torso_size(gt_coco17: np.ndarray) -> Optional[float]:
    """(17, 3) COCO keypoints [x, y, v] -> torso diagonal in pixels, or None when neither diagonal is labelled."""
    for a, b in (("left_shoulder", "right_hip"), ("right_shoulder", "left_hip")):
        pa, pb = gt_coco17[_COCO_INDEX[a]], gt_coco17[_COCO_INDEX[b]]
        if pa[2] > 0 and pb[2] > 0:
            return float(np.hypot(*(pa[:2] - pb[:2])))
    return None


def pck_hits(
    pred_body25: Optional[np.ndarray], gt_coco17: np.ndarray, alpha: float = 0.5, names: tuple[str, ...] = BODY12_NAMES
) -> tuple[int, int]:
    """(correct, labelled) counts over ``names`` for one person.

    pred_body25: (25, 3) [x, y, confidence] in pixels, or None when the person was not detected.
    gt_coco17: (17, 3) [x, y, v].
    """
    size = torso_size(gt_coco17)
    labelled = [n for n in names if gt_coco17[_COCO_INDEX[n], 2] > 0]
    if size is None or pred_body25 is None:
        return 0, len(labelled) if size is not None else 0
    correct = 0
    for name in labelled:
        pred = pred_body25[BODY25_INDEX[name]]
        gt = gt_coco17[_COCO_INDEX[name]]
        if pred[2] > 0 and np.hypot(*(pred[:2] - gt[:2])) <= alpha * size:
            correct += 1
    return correct, len(labelled)
