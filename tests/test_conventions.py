"""The one pinhole projection: numpy and torch give the same pixels; the service camera and the renderer's agree."""

from __future__ import annotations

import numpy as np
import torch

from pose_service.conventions import project, project_points
from pose_service.fitting.losses import project as project_torch
from pose_service.render.camera import PinholeCamera


def test_one_projection_for_numpy_torch_and_the_renderer():
    points = np.random.default_rng(0).uniform([-1, -1, 2], [1, 1, 6], size=(4, 25, 3))
    expected = 600.0 * points[..., :2] / points[..., 2:] + [320.0, 240.0]
    np.testing.assert_allclose(project(points, 600.0, (640, 480)), expected, rtol=1e-12)
    np.testing.assert_allclose(PinholeCamera.for_image(640, 480, 600.0).project(points), expected, rtol=1e-12)
    fitted = project_torch(torch.tensor(points), 600.0, torch.tensor([320.0, 240.0], dtype=torch.float64))
    np.testing.assert_allclose(fitted.numpy(), expected, rtol=1e-12)
    # A point behind the camera is clamped to min_depth, not flipped or sent to infinity.
    behind = project_points(np.array([0.1, 0.0, -1.0]), 100.0, np.zeros(2), min_depth=0.01)
    np.testing.assert_allclose(behind, [1000.0, 0.0])
