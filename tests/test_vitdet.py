"""The optional ViTDet adapter: its box handling, and a clear refusal where detectron2 is not installed."""

import importlib.util

import numpy as np
import pytest

from pose_service.config import ServiceConfig
from pose_service.detect.vitdet import ViTDetDetector, people_from_detections


def test_people_are_class_zero_above_the_threshold_best_first():
    boxes = np.array([[10, 20, 50, 120], [0, 0, 5, 5], [100, 50, 160, 250], [30, 30, 90, 200]], float)
    people = people_from_detections(boxes, np.array([0.7, 0.99, 0.9, 0.3]), np.array([0, 2, 0, 0]), 0.5)
    assert [p.bbox for p in people] == [(100.0, 50.0, 60.0, 200.0), (10.0, 20.0, 40.0, 100.0)]
    assert [p.score for p in people] == [0.9, 0.7]
    assert all(p.keypoints_2d.shape == (25, 3) and not p.keypoints_2d[:, 2].any() for p in people)


@pytest.mark.skipif(importlib.util.find_spec("detectron2") is not None, reason="detectron2 is installed here")
def test_without_detectron2_the_adapter_says_what_is_missing():
    with pytest.raises(RuntimeError, match="needs detectron2"):
        ViTDetDetector()


def test_vitdet_is_for_the_hmr2_backend_only():
    with pytest.raises(ValueError, match="POSE_DETECTOR: vitdet .* POSE_BACKEND=hmr2"):
        ServiceConfig(detector="vitdet")
    assert ServiceConfig(backend="hmr2", detector="vitdet").detector == "vitdet"
