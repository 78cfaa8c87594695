"""Body-model adapters: Anny (shapes, axes, fast path, gradients) and SMPL (equality with smplx, file loading)."""

from __future__ import annotations

import pickle
import sys

import numpy as np
import pytest
import smplx
import torch
from smplx.utils import Struct

from pose_service.body import load_body_model
from pose_service.body.smpl_model import (
    ARRAY_KEYS,
    SMPLModel,
    convert_smpl_pkl,
    load_smpl_arrays,
    SMPL_TO_OPENPOSE,
    read_legacy_pickle,
)
from pose_service.conventions import BODY25_INDEX

NOSE, MID_HIP, NECK = BODY25_INDEX["nose"], BODY25_INDEX["mid_hip"], BODY25_INDEX["neck"]
L_SHOULDER, R_SHOULDER = BODY25_INDEX["left_shoulder"], BODY25_INDEX["right_shoulder"]


def _random_params(model, batch: int, seed: int = 0, scale: float = 0.3):
    generator = torch.Generator().manual_seed(seed)
    global_orient, body_pose, shape = model.zero_params(batch)

    def rand(like: torch.Tensor) -> torch.Tensor:
        return scale * torch.randn(like.shape, generator=generator, dtype=like.dtype)

    return rand(global_orient), rand(body_pose), rand(shape) / scale


# ------------------------------------------------------------------------------------------------------------ Anny
def test_anny_shapes_and_faces(anny_model):
    assert anny_model.num_vertices == 13718
    assert anny_model.faces.shape == (27420, 3) and anny_model.faces.dtype == np.int64
    assert anny_model.shape_dim == 6 and anny_model.num_pose_joints == 18
    output = anny_model(*_random_params(anny_model, batch=2))
    assert output.vertices.shape == (2, 13718, 3) and output.keypoints.shape == (2, 25, 3)
    assert anny_model(*_random_params(anny_model, batch=2), with_vertices=False).vertices is None


def test_anny_root_relative(anny_model):
    output = anny_model(*_random_params(anny_model, batch=3))
    assert output.keypoints[:, MID_HIP].abs().max() < 1e-6


def test_anny_axes_upright_facing_camera(anny_model):
    keypoints = anny_model(*anny_model.zero_params(1)).keypoints[0]
    assert keypoints[NOSE, 1] < keypoints[NECK, 1] < keypoints[MID_HIP, 1]  # y down: head on top
    assert keypoints[NOSE, 2] < keypoints[MID_HIP, 2] - 0.05  # the face is nearer the camera (smaller z)
    assert keypoints[L_SHOULDER, 0] > 0 > keypoints[R_SHOULDER, 0]  # facing the camera: subject's left at +x
    for side in ("left", "right"):  # toes forward (toward the camera), heels back
        assert keypoints[BODY25_INDEX[f"{side}_big_toe"], 2] < keypoints[BODY25_INDEX[f"{side}_heel"], 2]


def test_anny_global_orient_rotates_about_root(anny_model):
    global_orient, body_pose, shape = _random_params(anny_model, batch=1)
    upright = anny_model(torch.zeros_like(global_orient), body_pose, shape).keypoints
    turned = anny_model(torch.tensor([[0.0, np.pi, 0.0]]), body_pose, shape).keypoints  # half turn about y
    torch.testing.assert_close(turned, upright * torch.tensor([-1.0, 1.0, -1.0]), atol=1e-5, rtol=0)


def test_anny_reduced_keypoints_close_to_full(anny_model):
    params = _random_params(anny_model, batch=4)
    full = anny_model(*params).keypoints
    fast = anny_model(*params, with_vertices=False).keypoints
    error = (full - fast).norm(dim=-1)
    assert error.mean() < 3e-3 and error.max() < 1e-2


def test_anny_frozen_shape_cache_follows_shape_values(anny_model):
    global_orient, body_pose, shape = _random_params(anny_model, batch=1)
    first = anny_model(global_orient, body_pose, shape, with_vertices=False).keypoints
    other = anny_model(global_orient, body_pose, shape + 1.0, with_vertices=False).keypoints
    again = anny_model(global_orient, body_pose, shape, with_vertices=False).keypoints
    assert not torch.allclose(first, other)
    torch.testing.assert_close(first, again)


def test_anny_keypoint_rig_equals_the_full_mesh_keypoints(anny_model):
    """A frozen shape's keypoints without vertices come from the rig of its posable bones (anny_keypoints): the
    same keypoints and gradients as Anny's 104-bone chain, skinning and regression of the full mesh."""
    for seed in range(3):
        global_orient, body_pose, shape = _random_params(anny_model, batch=1, seed=seed, scale=0.6)
        pose_a, pose_b = body_pose.clone().requires_grad_(), body_pose.clone().requires_grad_()
        skinned = anny_model(global_orient, pose_a, shape, with_vertices=True).keypoints
        rigged = anny_model(global_orient, pose_b, shape, with_vertices=False).keypoints
        torch.testing.assert_close(rigged, skinned, atol=2e-5, rtol=0)  # 20 µm: float32 sums
        weights = torch.randn(skinned.shape, generator=torch.Generator().manual_seed(seed))
        (skinned * weights).sum().backward()
        (rigged * weights).sum().backward()
        torch.testing.assert_close(pose_b.grad, pose_a.grad, atol=1e-5, rtol=1e-4)
    # A batch of poses on one shape, as the measurements re-pose a track.
    global_orient, body_pose, shape = _random_params(anny_model, batch=3, seed=5, scale=0.6)
    shape = shape[:1]
    torch.testing.assert_close(anny_model(global_orient, body_pose, shape, with_vertices=False).keypoints,
                               anny_model(global_orient, body_pose, shape.expand(3, -1)).keypoints, atol=2e-5, rtol=0)


@pytest.mark.parametrize("with_vertices", [True, False])
def test_anny_gradients_reach_all_parameters(anny_model, with_vertices):
    params = [p.requires_grad_() for p in _random_params(anny_model, batch=2)]
    output = anny_model(*params, with_vertices=with_vertices)
    (output.keypoints.square().sum() + (0 if output.vertices is None else output.vertices.square().mean())).backward()
    for p in params:
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0


def test_anny_average_body_height(anny_model):
    rest = anny_model.rest_vertices(torch.zeros(1, anny_model.shape_dim))
    height = rest[0, :, 1].max() - rest[0, :, 1].min()
    assert 1.5 < height < 1.9
    assert rest[0, :, 1].argmin() != rest[0, :, 1].argmax()


def test_anny_build_cache_cli(anny_model, capsys):
    from pose_service.body.anny_model import cache_dir, main

    main(["build-cache"])  # the session fixture built the cache: this only loads it
    assert str(cache_dir()) in capsys.readouterr().out


# ------------------------------------------------------------------------------------------------------------ SMPL
@pytest.fixture(scope="module")
def j19() -> np.ndarray:
    rng = np.random.default_rng(1)
    regressor = np.where(rng.random((19, 6890)) < 0.005, rng.random((19, 6890)), 0.0)
    return regressor / regressor.sum(1, keepdims=True)


def test_legacy_pickle_reads_without_chumpy(smpl_pkl, smpl_arrays):
    assert "chumpy" not in sys.modules
    data = read_legacy_pickle(smpl_pkl)
    for key in ARRAY_KEYS:
        assert isinstance(data[key], np.ndarray)
        np.testing.assert_array_equal(data[key], smpl_arrays[key])


def test_smpl_npz_round_trip(smpl_pkl, smpl_arrays, tmp_path):
    npz = convert_smpl_pkl(smpl_pkl, tmp_path / "smpl.npz")
    loaded = load_smpl_arrays(npz)
    for key in ARRAY_KEYS:
        np.testing.assert_array_equal(loaded[key], smpl_arrays[key])
        assert loaded[key].dtype == smpl_arrays[key].dtype
    # A pkl is converted once, next to the file given as npz_path, and the conversion is reused afterwards.
    cached = tmp_path / "cached.npz"
    load_smpl_arrays(smpl_pkl, npz_path=cached)
    stamp = cached.stat().st_mtime_ns
    load_smpl_arrays(smpl_pkl, npz_path=cached)
    assert cached.stat().st_mtime_ns == stamp


def test_smpl_matches_smplx(smpl_pkl, smpl_arrays, j19, tmp_path):
    dtype = torch.float64
    j19_path = tmp_path / "SMPL_to_J19.pkl"  # HMR 2.0 ships a pickled (19, 6890) array
    j19_path.write_bytes(pickle.dumps(j19, protocol=2))
    model = load_body_model("smpl", model_path=smpl_pkl, npz_path=tmp_path / "m.npz", j19_path=j19_path, dtype=dtype)
    reference = smplx.SMPL(model_path="", data_struct=Struct(**smpl_arrays), dtype=dtype)
    global_orient, body_pose, shape = _random_params(model, batch=3)

    ours = model.forward_joints(global_orient, body_pose, shape)
    flip = torch.tensor([1.0, -1.0, -1.0], dtype=dtype)  # SMPL (y up, facing +z) -> camera (y down, facing -z)
    # The same rotation in SMPL's frame is diag(1,-1,-1) R diag(1,-1,-1), whose rotation vector is flip * r.
    out = reference(betas=shape, body_pose=body_pose.flatten(1), global_orient=global_orient * flip)
    root = out.joints[:, :1]
    joints45 = out.joints
    body25 = joints45[:, list(SMPL_TO_OPENPOSE)]
    joints44 = torch.cat([body25, torch.as_tensor(j19, dtype=dtype) @ out.vertices], 1)

    def expected(points: torch.Tensor) -> torch.Tensor:
        return (points - root) * flip

    torch.testing.assert_close(ours.vertices, expected(out.vertices), atol=1e-6, rtol=0)
    torch.testing.assert_close(ours.joints, expected(joints45[:, :24]), atol=1e-6, rtol=0)
    torch.testing.assert_close(ours.joints44, expected(joints44), atol=1e-6, rtol=0)
    torch.testing.assert_close(ours.keypoints, expected(body25), atol=1e-6, rtol=0)
    forward = model(global_orient, body_pose, shape)
    torch.testing.assert_close(forward.keypoints, ours.keypoints, atol=1e-12, rtol=0)
    torch.testing.assert_close(forward.vertices, ours.vertices, atol=1e-12, rtol=0)
    # The keypoint-only path (11 vertices + 24 joint points) gives the same keypoints.
    fast = model(global_orient, body_pose, shape, with_vertices=False)
    assert fast.vertices is None
    torch.testing.assert_close(fast.keypoints, ours.keypoints, atol=1e-6, rtol=0)


def test_smpl_interface_and_gradients(smpl_pkl, tmp_path):
    model = SMPLModel.from_file(smpl_pkl, npz_path=tmp_path / "m.npz")
    assert model.num_vertices == 6890 and model.faces.shape == (13776, 3) and model.faces.dtype == np.int64
    assert model.shape_dim == 10 and model.num_pose_joints == 23
    assert model.forward_joints(*model.zero_params(1)).joints44 is None
    rest = model.rest_vertices(torch.zeros(2, 10))
    assert rest.shape == (2, 6890, 3)
    for with_vertices in (True, False):
        params = [p.requires_grad_() for p in _random_params(model, batch=2)]
        model(*params, with_vertices=with_vertices).keypoints.square().sum().backward()
        for p in params:
            assert p.grad is not None and p.grad.abs().sum() > 0


def test_unknown_body_model():
    with pytest.raises(ValueError, match="Unknown body model"):
        load_body_model("mano")


def test_install_smpl_checks_and_converts(smpl_pkl, tmp_path):
    from pose_service.body.smpl_model import main

    assert main(["install", str(smpl_pkl), str(tmp_path / "smpl")]) == 0
    assert set(np.load(tmp_path / "smpl" / "SMPL_NEUTRAL.npz").files) == set(ARRAY_KEYS)
    not_smpl = tmp_path / "not_smpl.npz"
    np.savez(not_smpl, **{k: np.zeros((2, 3)) for k in ARRAY_KEYS})
    assert main(["install", str(not_smpl), str(tmp_path / "other")]) == 1
    assert not (tmp_path / "other" / "SMPL_NEUTRAL.npz").exists()
