"""MPJPE and PA-MPJPE (pose_service.evaluation.keypoints3d)."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from pose_service.evaluation.keypoints3d import mpjpe, pa_mpjpe, procrustes_align

GT = np.random.default_rng(0).normal(size=(25, 3))


def test_mpjpe_is_mean_distance():
    assert mpjpe(GT + [0.0, 0.0, 0.1], GT) == pytest.approx(0.1)
    mask = np.zeros(25, bool)
    mask[:3] = True
    shifted = GT.copy()
    shifted[3:] += 5.0  # outside the mask: ignored
    assert mpjpe(shifted, GT, mask) == pytest.approx(0.0)


def test_pa_mpjpe_ignores_similarity_transforms():
    rotation = Rotation.from_rotvec([0.3, -1.2, 2.0]).as_matrix()
    moved = 1.7 * GT @ rotation.T + [1.0, -2.0, 3.0]
    assert pa_mpjpe(moved, GT) == pytest.approx(0.0, abs=1e-9)
    assert mpjpe(moved, GT) > 1.0
    np.testing.assert_allclose(procrustes_align(moved, GT), GT, atol=1e-9)


def test_pa_mpjpe_keeps_reflections_as_errors():
    mirrored = GT * [-1.0, 1.0, 1.0]
    assert pa_mpjpe(mirrored, GT) > 0.1


def test_pa_mpjpe_no_larger_than_mpjpe():
    noisy = GT + np.random.default_rng(1).normal(scale=0.05, size=GT.shape)
    assert 0 < pa_mpjpe(noisy, GT) <= mpjpe(noisy, GT)


def test_shape_errors():
    with pytest.raises(ValueError):
        mpjpe(GT, GT[:10])
    with pytest.raises(ValueError):
        mpjpe(GT, GT, np.zeros(25, bool))
