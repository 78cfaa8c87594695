"""Evaluation metrics: PCK (eval_keypoints.py) and the body-versus-detector 3D comparison (eval_synthetic.py)."""

import numpy as np

from synthetic_people import STANDING, arms_up
from synthetic_people import person as posed

from pose_service.conventions import BODY25_INDEX, COCO17_NAMES
from pose_service.evaluation.clip import DetectorComparison
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


def test_detector_comparison_pairs_each_reported_body_with_its_own_detection():
    near, far = np.array([-0.6, 0.1, 3.0]), np.array([0.8, 0.1, 4.0])
    truth = {}
    for identity, (pose, translation) in enumerate([(STANDING, near), (arms_up(), far)], start=1):
        body = posed(pose, translation)
        truth[identity] = {"in_view": True, "visible": np.ones(25, bool), "keypoints_2d": body.keypoints_2d[:, :2],
                           "joints_rel": body.keypoints_3d, "bbox": list(body.bbox)}
    reported = [posed(STANDING, near), posed(arms_up(), far)]  # exact bodies, reported in truth's order
    for p in reported:
        p.source = "detected"
    # The detector's 3D: the far person's arms down (wrong), listed first, so pairing must go by position.
    detections = [posed(STANDING, far), posed(STANDING, near)]
    comparison = DetectorComparison()
    comparison.add(reported, truth, detections)
    summary = comparison.summary()
    assert summary["people"] == 2 and summary["body_pa_mpjpe_mm"] < 1e-6
    assert comparison.detector_pa_mm[0] < 1e-6 < 50 < comparison.detector_pa_mm[1]
    assert summary["pa_ratio"] < 1e-6
    # No fit confidence on these people (no fitter ran): neither down-weighted nor rejected.
    assert summary["down_weighted_share"] == summary["rejected_share"] == 0.0


def test_detector_comparison_counts_down_weighted_and_rejected_fits():
    translation = np.array([0.0, 0.1, 3.0])
    body = posed(STANDING, translation)
    truth = {1: {"in_view": True, "visible": np.ones(25, bool), "keypoints_2d": body.keypoints_2d[:, :2],
                 "joints_rel": body.keypoints_3d, "bbox": list(body.bbox)}}
    comparison = DetectorComparison()
    for confidence, served in ((0.9, True), (0.3, True), (0.05, False), (0.8, True)):
        person = posed(STANDING, translation)
        person.source, person.fit_confidence = "detected", confidence
        person.vertices = np.zeros((10, 3)) if served else None
        comparison.add([person], truth, [posed(STANDING, translation)])
    summary = comparison.summary()
    assert summary["people"] == 4
    assert summary["down_weighted_share"] == 0.25 and summary["rejected_share"] == 0.25
    assert summary["body_pa_mpjpe_mm_confident"] < 1e-6 and summary["body_pa_mpjpe_mm_down_weighted"] < 1e-6
