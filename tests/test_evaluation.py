"""The PCK metric used by scripts/eval_keypoints.py."""

import numpy as np

from pose_service.conventions import BODY25_INDEX, COCO17_NAMES
from pose_service.evaluation.keypoints2d import pck_hits, torso_size


def person(points: dict[str, tuple[float, float]]) -> np.ndarray:
    gt = np.zeros((17, 3))
    for name, (x, y) in points.items():
        gt[COCO17_NAMES.index(name)] = (x, y, 2)
    return gt


GT = person({
    "left_shoulder": (130, 100), "right_shoulder": (70, 100), "left_hip": (120, 180), "right_hip": (80, 180),
    "left_elbow": (140, 140), "right_elbow": (60, 140), "left_knee": (120, 240), "right_knee": (80, 240),
})


def prediction_from(gt: np.ndarray, shift: float) -> np.ndarray:
    pred = np.zeros((25, 3))
    for i, name in enumerate(COCO17_NAMES):
        if gt[i, 2] > 0:
            pred[BODY25_INDEX[name]] = (gt[i, 0] + shift, gt[i, 1], 0.9)
    return pred


def test_torso_is_the_left_shoulder_to_right_hip_diagonal():
    assert torso_size(GT) == np.hypot(50, 80)


def test_threshold_is_half_the_torso():
    half_torso = 0.5 * np.hypot(50, 80)
    assert pck_hits(prediction_from(GT, half_torso - 0.1), GT) == (8, 8)
    assert pck_hits(prediction_from(GT, half_torso + 0.1), GT) == (0, 8)


def test_missing_person_and_zero_confidence_count_as_wrong():
    assert pck_hits(None, GT) == (0, 8)
    pred = prediction_from(GT, 0)
    pred[BODY25_INDEX["left_knee"], 2] = 0
    assert pck_hits(pred, GT) == (7, 8)
