"""The fitter on synthetic people: Anny posed at random (some facing away), projected with noise, fitted back."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from pose_service.body.smpl_model import SMPLModel
from pose_service.conventions import BODY25_INDEX
from pose_service.evaluation.keypoints3d import pa_mpjpe, procrustes_align
from pose_service.evaluation.synthetic import observe, random_subject
from pose_service.fitting import FitConfig, Fitter, FitState
from pose_service.fitting import losses
from pose_service.fitting.init import kabsch, solve_translation

SIZE = (640, 480)
FOCAL = float(max(SIZE))
YAWS = (0.3, 2.9, -2.2, -0.9)  # two of the four mostly turned away from the camera


def _reprojection_px(result, keypoints_2d: np.ndarray) -> float:
    seen = keypoints_2d[:, 2] >= 0.3
    return float(np.median(np.linalg.norm(result.keypoints_2d[seen, :2] - keypoints_2d[seen, :2], axis=1)))


def _facing(global_orient: np.ndarray) -> np.ndarray:
    """The body's forward direction in camera axes (rest pose faces -z)."""
    return Rotation.from_rotvec(global_orient).apply([0.0, 0.0, -1.0])


@pytest.fixture(scope="module")
def fitter() -> Fitter:
    return Fitter()


@pytest.fixture(scope="module")
def subjects(anny_model):
    rng = np.random.default_rng(0)
    return [random_subject(anny_model, rng, yaw) for yaw in YAWS]


# ---------------------------------------------------------------------------------------------- building blocks
def test_solve_translation_is_exact_without_noise():
    rng = np.random.default_rng(0)
    points, t = rng.normal(scale=0.5, size=(10, 3)), np.array([0.2, -0.1, 3.0])
    center = np.array([320.0, 240.0])
    uv = FOCAL * (points + t)[:, :2] / (points + t)[:, 2:] + center
    np.testing.assert_allclose(solve_translation(points, uv, np.ones(10), FOCAL, center), t, atol=1e-9)


def test_kabsch_recovers_rotation():
    rotation = Rotation.from_rotvec([0.2, 2.5, -0.3]).as_matrix()
    points = np.random.default_rng(1).normal(size=(4, 3))
    np.testing.assert_allclose(kabsch(points, points @ rotation.T, np.ones(4)), rotation, atol=1e-9)


def test_keypoints_3d_loss_ignores_prediction_scale():
    target = torch.randn(25, 3, dtype=torch.float64)
    weights = torch.ones(25, dtype=torch.float64)
    for scale in (0.5, 1.0, 2.0):
        residuals = losses.keypoints_3d_residuals(scale * target[None], target, weights)
        assert losses.squared_norm(residuals).item() == pytest.approx(0, abs=1e-12)


def test_reprojection_residuals_saturate():
    """Geman-McClure: a keypoint 1 px off counts its squared distance, one 1,000 px off less than sigma squared."""
    target = torch.zeros(3, 2, dtype=torch.float64)
    offsets = torch.tensor([0.0, 1.0, 1000.0], dtype=torch.float64)
    points = torch.stack([offsets, torch.zeros(3), torch.ones(3)], -1)[None]  # (1, 3, 3), depth 1, focal 1
    rows = losses.reprojection_residuals(points, target, torch.ones(3), 1.0, torch.zeros(2), 1.0, 10.0)
    per_keypoint = 3 * rows.reshape(3, 2).square().sum(-1)  # undo the mean over the 3 keypoints
    assert per_keypoint[0] == 0 and per_keypoint[1] == pytest.approx(1.0, rel=0.02) and per_keypoint[2] < 100.0


def test_angle_limits_penalise_hyperextended_knee(anny_model):
    bone = list(anny_model.pose_joint_names).index("lowerleg01.L")
    for angle, penalised in ((0.8, False), (-0.8, True)):  # Anny: +x rotation of the shin flexes the knee
        global_orient, body_pose, shape = anny_model.zero_params(1)
        body_pose[0, bone, 0] = angle
        keypoints = anny_model(global_orient, body_pose, shape, with_vertices=False).keypoints
        assert (losses.squared_norm(losses.angle_limit_residuals(keypoints)).item() > 0.1) == penalised


# ---------------------------------------------------------------------------------------------- fitting
def test_cold_fit_accuracy_with_3d(anny_model, fitter, subjects):
    rng = np.random.default_rng(1)
    errors = []
    for subject in subjects:
        keypoints_2d, keypoints_3d = observe(subject, SIZE, FOCAL, rng)
        result = fitter.fit(anny_model, keypoints_2d, SIZE, FOCAL, keypoints_3d)
        errors.append(pa_mpjpe(result.keypoints_3d, subject.keypoints) * 1000)
        assert errors[-1] < 60.0
        assert _reprojection_px(result, keypoints_2d) < 10.0
        assert abs(result.camera_translation[2] / subject.translation[2] - 1) < 0.15
        assert not result.warm and result.vertices.shape == (anny_model.num_vertices, 3)
        assert result.keypoints_3d[8] == pytest.approx(np.zeros(3), abs=1e-6)  # root-relative
        assert set(result.losses) >= {"reprojection", "keypoints_3d"}
    assert np.mean(errors) < 45.0


def test_fit_confidence_separates_explained_from_inconsistent_keypoints(anny_model, fitter, subjects):
    """Keypoints a body can take (the subject's own, observed) give a confident fit; the same keypoints in a random
    order (no body can take them) give one the stage rejects, and its model-filled keypoints lose confidence."""
    rng = np.random.default_rng(5)
    for subject in subjects:
        keypoints_2d, keypoints_3d = observe(subject, SIZE, FOCAL, rng)
        good = fitter.fit(anny_model, keypoints_2d, SIZE, FOCAL, keypoints_3d)
        scrambled = keypoints_2d.copy()
        scrambled[:, :2] = keypoints_2d[rng.permutation(len(keypoints_2d)), :2]
        bad = fitter.fit(anny_model, scrambled, SIZE, FOCAL, keypoints_3d)
        assert good.error < fitter.config.poor_fit_error and good.confidence > 0.5
        assert bad.error > fitter.config.reject_fit_error and bad.confidence < 0.1
        unseen = keypoints_2d[:, 2] < fitter.config.min_confidence
        assert np.all(bad.keypoints_2d[unseen, 2] < good.keypoints_2d[unseen, 2])


def test_cold_fit_from_2d_only_finds_facing_direction(anny_model, fitter, subjects):
    rng = np.random.default_rng(2)
    for subject in subjects:
        keypoints_2d, _ = observe(subject, SIZE, FOCAL, rng)
        result = fitter.fit(anny_model, keypoints_2d, SIZE, FOCAL)
        assert _reprojection_px(result, keypoints_2d) < 10.0
        assert abs(result.camera_translation[2] / subject.translation[2] - 1) < 0.15
        # Front/back flip check: the fitted body faces the same way as the truth (within 60 degrees).
        assert _facing(result.state.global_orient) @ _facing(subject.global_orient) > 0.5


def test_warm_start_converges_in_fewer_evaluations(anny_model, fitter, subjects):
    rng = np.random.default_rng(3)
    subject = subjects[0]
    cold = fitter.fit(anny_model, *_args(observe(subject, SIZE, FOCAL, rng)))
    moved = random_subject(anny_model, np.random.default_rng(4), YAWS[0])  # same frame, slightly moved:
    moved.body_pose = subject.body_pose + 0.03
    moved.shape, moved.global_orient = subject.shape, subject.global_orient + [0.0, 0.05, 0.0]
    moved.translation = subject.translation + [0.03, 0.0, 0.05]
    moved.keypoints = anny_model(
        *(torch.tensor(a, dtype=torch.float32)[None] for a in (moved.global_orient, moved.body_pose, moved.shape))
    ).keypoints[0].detach().double().numpy()
    keypoints_2d, keypoints_3d = observe(moved, SIZE, FOCAL, rng)
    warm = fitter.fit(anny_model, keypoints_2d, SIZE, FOCAL, keypoints_3d, previous=cold.state)
    assert warm.warm and warm.evaluations < cold.evaluations
    assert pa_mpjpe(warm.keypoints_3d, moved.keypoints) * 1000 < 60.0
    assert _reprojection_px(warm, keypoints_2d) < 10.0
    assert warm.state.frames_since_shape == 1
    np.testing.assert_array_equal(warm.state.shape, cold.state.shape)  # frozen off-schedule
    # Without the mesh (a request with include_mesh: false) the same fit, and no full forward pass for vertices.
    bare = fitter.fit(anny_model, keypoints_2d, SIZE, FOCAL, keypoints_3d, previous=cold.state, with_vertices=False)
    assert bare.vertices is None and warm.vertices.shape == (anny_model.num_vertices, 3)
    np.testing.assert_allclose(bare.keypoints_3d, warm.keypoints_3d, atol=2e-5)  # float32 sums in another order


def test_shape_re_estimated_on_schedule(anny_model, subjects):
    fitter = Fitter(FitConfig(shape_every_n_frames=2))
    rng = np.random.default_rng(5)
    observation = _args(observe(subjects[1], SIZE, FOCAL, rng))
    state = fitter.fit(anny_model, *observation).state
    counts, shapes = [], [state.shape]
    for _ in range(2):
        state = fitter.fit(anny_model, *observation, previous=state).state
        counts.append(state.frames_since_shape)
        shapes.append(state.shape)
    assert counts == [1, 0]
    np.testing.assert_array_equal(shapes[1], shapes[0])
    assert not np.array_equal(shapes[2], shapes[1])


def test_state_is_json_serialisable(anny_model, fitter, subjects):
    state = fitter.fit(anny_model, *_args(observe(subjects[2], SIZE, FOCAL, np.random.default_rng(6)))).state
    restored = FitState.from_dict(json.loads(json.dumps(state.to_dict())))
    for name in ("global_orient", "body_pose", "shape", "translation"):
        np.testing.assert_array_equal(getattr(restored, name), getattr(state, name))
    assert restored.frames_since_shape == state.frames_since_shape


def test_bad_input(anny_model, fitter, subjects):
    keypoints_2d, _ = observe(subjects[0], SIZE, FOCAL, np.random.default_rng(7))
    keypoints_2d[:, 2] = 0.0
    assert fitter.fit(anny_model, keypoints_2d, SIZE, FOCAL) is None  # nothing seen: no fit, no exception
    with pytest.raises(ValueError, match="keypoints_2d"):
        fitter.fit(anny_model, keypoints_2d[:, :2], SIZE, FOCAL)


def test_fits_smpl_adapter(smpl_arrays, fitter):
    model = SMPLModel(smpl_arrays)  # random geometry: checks the interface path, not anatomy
    rng = np.random.default_rng(8)
    subject = random_subject(model, rng, yaw=0.4, pose_scale=0.1, limit_hinges=False)
    subject.translation[2] = 1.0  # the synthetic body is small: bring it closer
    keypoints_2d, _ = observe(subject, SIZE, FOCAL, rng, noise_px=1.0, dropped=0)
    result = fitter.fit(model, keypoints_2d, SIZE, FOCAL)
    assert result.vertices.shape == (model.num_vertices, 3) and result.state.body_pose.shape == (23, 3)
    assert _reprojection_px(result, keypoints_2d) < 10.0


def _args(observation: tuple[np.ndarray, np.ndarray]) -> tuple:
    """fit()'s positional arguments after the model for an observation with 3D."""
    keypoints_2d, keypoints_3d = observation
    return keypoints_2d, SIZE, FOCAL, keypoints_3d


def test_a_limb_the_detector_guesses_but_does_not_see_follows_its_3d_guess(anny_model, fitter, subjects):
    """The far arm of a side view: 2D confidence below the threshold, but a 3D guess. The fit follows the guess
    instead of leaving the arm in the rest pose (which is what ignoring it does)."""
    rng = np.random.default_rng(2)
    hidden = [BODY25_INDEX[name] for name in ("left_elbow", "left_wrist")]
    ignoring = Fitter(FitConfig(unseen_3d_weight=0.0))
    errors = {"followed": [], "ignored": []}
    for subject in subjects:
        keypoints_2d, keypoints_3d = observe(subject, SIZE, FOCAL, rng)
        keypoints_2d[hidden, 2] = 0.1
        for name, fit in (("followed", fitter), ("ignored", ignoring)):
            result = fit.fit(anny_model, keypoints_2d, SIZE, FOCAL, keypoints_3d)
            aligned = procrustes_align(result.keypoints_3d, subject.keypoints)
            errors[name].append(1000 * np.linalg.norm(aligned[hidden] - subject.keypoints[hidden], axis=1).mean())
    print({name: np.round(values).tolist() for name, values in errors.items()})
    assert np.mean(errors["followed"]) < 0.6 * np.mean(errors["ignored"])
    assert np.mean(errors["followed"]) < 80.0


def test_warm_fit_from_a_different_pose_recovers_by_a_fresh_start(anny_model, fitter, subjects):
    """After a gap the person may be in another pose and facing another way: the warm start (the previous pose)
    does not explain the frame, and the fit must end as well as a cold fit would, not in the previous pose's basin."""
    rng = np.random.default_rng(5)
    previous = fitter.fit(anny_model, *_args(observe(subjects[0], SIZE, FOCAL, rng))).state
    errors = {"cold": [], "warm": []}
    for seed, yaw in ((6, np.pi - 0.3), (7, -np.pi / 2)):
        turned = random_subject(anny_model, np.random.default_rng(seed), yaw, pose_scale=0.5)
        observed = observe(turned, SIZE, FOCAL, rng)
        for name, state in (("cold", None), ("warm", previous)):
            result = fitter.fit(anny_model, *_args(observed), previous=state)
            errors[name].append(1000 * pa_mpjpe(result.keypoints_3d, turned.keypoints))
    print({name: np.round(values).tolist() for name, values in errors.items()})
    assert max(w - c for w, c in zip(errors["warm"], errors["cold"])) < 6.0  # 12 mm when stuck in the old pose


def test_stage_serves_no_body_for_a_rejected_fit(anny_model, subjects):
    """The pipeline's body stage: a person whose keypoints no body can take keeps the detector's keypoints, gets no
    mesh and no fit state (its track keeps its last one), and reports the low fit confidence; a plausible one gets
    its body."""
    from pose_service.fitting.stage import FitStage
    from pose_service.types import Person

    rng = np.random.default_rng(8)
    keypoints_2d, keypoints_3d = observe(subjects[0], SIZE, FOCAL, rng)
    scrambled = keypoints_2d.copy()
    scrambled[:, :2] = keypoints_2d[rng.permutation(len(keypoints_2d)), :2]
    people = [Person(k, (0.0, 0.0, 10.0, 10.0), 0.9, keypoints_3d=keypoints_3d) for k in (keypoints_2d, scrambled)]
    image = np.zeros((SIZE[1], SIZE[0], 3), np.uint8)
    (plausible, plausible_state), (rejected, rejected_state) = FitStage(anny_model)(image, people, [None, None], FOCAL)
    assert plausible.vertices is not None and plausible_state is not None and plausible.fit_confidence > 0.5
    assert rejected.vertices is None and rejected_state is None and rejected.fit_confidence < 0.1
    np.testing.assert_array_equal(rejected.keypoints_2d, scrambled)
    np.testing.assert_array_equal(rejected.keypoints_3d, keypoints_3d)


def test_stage_stops_fitting_at_the_frames_deadline_but_always_fits_the_first(anny_model, subjects):
    """A crowded frame once held the body model for 45 s: past the deadline, people get their keypoints only."""
    import time

    from pose_service.fitting.stage import FitStage
    from pose_service.types import Person

    rng = np.random.default_rng(9)
    observed = [observe(subject, SIZE, FOCAL, rng) for subject in subjects[:3]]
    people = [Person(k2, (0.0, 0.0, 10.0, 10.0), 0.9, keypoints_3d=k3) for k2, k3 in observed]
    image = np.zeros((SIZE[1], SIZE[0], 3), np.uint8)
    stage = FitStage(anny_model)
    late = stage(image, people, [None] * 3, FOCAL, deadline=time.monotonic() - 1.0)
    assert late[0][0].vertices is not None and late[0][1] is not None  # the primary person still gets a body
    for (person, state), given in zip(late[1:], people[1:]):
        assert person.vertices is None and state is None
        np.testing.assert_array_equal(person.keypoints_2d, given.keypoints_2d)
    in_time = stage(image, people, [None] * 3, FOCAL, deadline=time.monotonic() + 600.0)
    assert all(person.vertices is not None and state is not None for person, state in in_time)


def test_levenberg_marquardt_fits_warm_frames_as_well_as_lbfgs_in_fewer_evaluations(anny_model):
    """The default warm stage (Levenberg-Marquardt) against the same stage solved by 40 LBFGS iterations, on the
    warm frames of the same smooth motion: it ends at no higher a cost (within 5 %) from fewer evaluations."""
    from dataclasses import replace

    from pose_service.evaluation.synthetic import smooth_motion

    config = FitConfig(shape_every_n_frames=0)  # the warm stage alone
    lm = Fitter(config)
    lbfgs = Fitter(replace(config, warm_stages=tuple(replace(s, solver="lbfgs", max_iters=40, tolerance=1e-9)
                                                     for s in config.warm_stages)))
    rng = np.random.default_rng(11)
    frames = [_args(observe(subject, SIZE, FOCAL, rng)) for subject in smooth_motion(anny_model, 8, rng)]
    weights = config.warm_stages[0].weights
    costs, evaluations = {"lm": [], "lbfgs": []}, {"lm": [], "lbfgs": []}
    for name, fitter in (("lm", lm), ("lbfgs", lbfgs)):
        state = fitter.fit(anny_model, *frames[0]).state
        for frame in frames[1:]:
            result = fitter.fit(anny_model, *frame, previous=state)
            state = result.state
            costs[name].append(sum(weights[k] * v for k, v in result.losses.items()))
            evaluations[name].append(result.evaluations)
    print(costs, evaluations)
    assert np.mean(costs["lm"]) <= 1.05 * np.mean(costs["lbfgs"])
    assert np.mean(evaluations["lm"]) < 0.5 * np.mean(evaluations["lbfgs"])


def test_the_lm_solver_cannot_free_the_shape():
    from pose_service.fitting.config import FitStage

    with pytest.raises(ValueError, match="shape"):
        FitStage("all", ("body_pose", "shape"), 5, 1e-4, {"reprojection": 1.0}, "lm")
    with pytest.raises(ValueError, match="solver"):
        FitStage("pose", ("body_pose",), 5, 1e-4, {"reprojection": 1.0}, "adam")
