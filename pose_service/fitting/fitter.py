"""The fitter: staged least squares of a :class:`BodyModel` to one person's 2D (and optionally 3D) keypoints.

Cold fit (no previous state): Kabsch/facing initial rotation, least-squares translation, then ``cold_stages``.
Warm fit (a tracker's previous :class:`FitState`): start from it, re-solve only the translation in closed form,
then ``warm_stages`` with a temporal term, shape frozen except every ``shape_every_n_frames``.

Every loss term is a sum of squared residuals (``losses``). Stages with the shape fixed run Levenberg-Marquardt:
with one shape, the keypoints are a cheap function of the pose (Anny's keypoint rig), so the Jacobian is taken by
forward differences as one batch of nudged poses; a warm frame converges in 3-5 such evaluations where LBFGS took
~40 evaluations with a backward pass each. Stages that fit the shape run LBFGS (a nudged shape needs a rest mesh
of its own).

Thread-safety: a :class:`Fitter` holds only its config, but body models cache their rest mesh between calls
(Anny), so run one fit at a time per model instance (one model per worker thread, or a lock around ``fit``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
import roma
import torch

from pose_service.body.base import BodyModel
from pose_service.conventions import BODY25_INDEX, NUM_KEYPOINTS, ROOT_NAME, TORSO, project
from pose_service.fitting import losses
from pose_service.fitting.config import FitConfig, FitStage
from pose_service.fitting.init import facing_from_2d, kabsch, solve_translation


_ROOT = BODY25_INDEX[ROOT_NAME]
# Keypoints whose root-relative position barely depends on the limbs' pose (torso and head).
_RIGID_MASK = np.isin(
    np.arange(NUM_KEYPOINTS),
    [BODY25_INDEX[n] for n in ("neck", "left_shoulder", "right_shoulder", "mid_hip", "left_hip", "right_hip",
                               "nose", "left_eye", "right_eye", "left_ear", "right_ear")],
).astype(np.float64)  # fmt: skip


@dataclass
class FitState:
    """What a tracker keeps per track between frames: plain numpy data (``to_dict`` gives JSON-able lists).

    global_orient (3,) axis-angle, body_pose (J, 3), shape (S,), translation (3,) metres (root in the camera frame),
    frames_since_shape: warm frames since the shape was last estimated; shape_fixed: the shape is settled (the
    person's aggregate over many frames, see ``pose_service.measure.shape``) and no longer estimated per frame.
    """

    global_orient: np.ndarray
    body_pose: np.ndarray
    shape: np.ndarray
    translation: np.ndarray
    frames_since_shape: int = 0
    shape_fixed: bool = False

    def to_dict(self) -> dict:
        return {
            "global_orient": self.global_orient.tolist(),
            "body_pose": self.body_pose.tolist(),
            "shape": self.shape.tolist(),
            "translation": self.translation.tolist(),
            "frames_since_shape": self.frames_since_shape,
            "shape_fixed": self.shape_fixed,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "FitState":
        arrays = {k: np.asarray(data[k], np.float64) for k in ("global_orient", "body_pose", "shape", "translation")}
        return cls(**arrays, frames_since_shape=int(data["frames_since_shape"]),
                   shape_fixed=bool(data.get("shape_fixed", False)))


@dataclass
class FitResult:
    """One fitted person. Points are in metres, camera axes; see ``pose_service.conventions``.

    keypoints_3d (25, 3) root-relative; keypoints_2d (25, 3) px + confidence: the detector's where it saw the
    keypoint, else the body's projection with half the mean detector confidence times ``confidence`` (the model's
    guess). The fit serves 3D and fills in the rest: its projection of a seen keypoint is no better evidence than the
    detection, and it depends on the warm start (on the parkour clip, two runs of the same frames with different
    gaps agreed on 0.87 of the joints when all were projected, 0.91 when seen ones are the detector's).
    camera_translation (3,);
    vertices (V, 3) root-relative, or None when not asked for; losses: the final unweighted loss terms of the last stage; error: the body's
    mean 2D distance from the confident detected keypoints over the detected body's size (``Fitter._fit_error``);
    confidence: :func:`fit_confidence` of it. It measures only what the image can check: a limb put at the wrong
    depth projects just as well.
    """

    state: FitState
    keypoints_3d: np.ndarray
    keypoints_2d: np.ndarray
    camera_translation: np.ndarray
    vertices: Optional[np.ndarray]
    iterations: int
    evaluations: int
    losses: dict[str, float]
    error: float
    confidence: float
    time_s: float
    warm: bool


@dataclass
class _Targets:
    """The per-frame data the losses compare against, as tensors."""

    keypoints_2d: torch.Tensor  # (25, 2) px
    weights_2d: torch.Tensor  # (25,) confidence, 0 below min_confidence
    keypoints_3d: Optional[torch.Tensor]  # (25, 3) root-relative metres
    weights_3d: torch.Tensor  # (25,)
    limb_lengths: Optional[torch.Tensor]  # (L,) symmetrised target lengths
    limb_weights: torch.Tensor  # (L,)
    focal: float
    center: torch.Tensor  # (2,)
    image_scale: float
    previous: dict[str, torch.Tensor] = field(default_factory=dict)


class Fitter:
    """Fits a body model to keypoints; see the module docstring. Stateless between calls apart from ``config``."""

    def __init__(self, config: FitConfig = FitConfig()) -> None:
        self.config = config
        left = [(BODY25_INDEX[a], BODY25_INDEX[b]) for a, b in config.limb_pairs]
        mirror = {n: "right_" + n[5:] if n.startswith("left_") else n for n in BODY25_INDEX}
        right = [(BODY25_INDEX[mirror[a]], BODY25_INDEX[mirror[b]]) for a, b in config.limb_pairs]
        self._limbs = torch.tensor(left + right)  # (2L, 2): left limbs, then their mirrors

    def fit(
        self,
        model: BodyModel,
        keypoints_2d: np.ndarray,
        image_size: tuple[int, int],
        focal_px: float,
        keypoints_3d: Optional[np.ndarray] = None,
        previous: Optional[FitState] = None,
        with_vertices: bool = True,
    ) -> Optional[FitResult]:
        """Fit ``model`` to one person.

        Args:
            keypoints_2d: (25, 3) x, y px and confidence, BODY_25.
            image_size: (width, height) px; the principal point is the image centre.
            focal_px: focal length in px.
            keypoints_3d: (25, 3) root-relative metres, camera axes (e.g. MediaPipe world landmarks), or None.
            previous: the track's state from the last frame for a warm start, or None for a cold fit.
            with_vertices: False leaves ``FitResult.vertices`` None (the full mesh costs a forward pass of its own).
        Returns:
            The result, or None when fewer than ``config.min_keypoints`` keypoints reach ``config.min_confidence``
            (an ordinary occlusion case for a tracker, not an error). Malformed arrays raise ValueError.
        """
        start = time.perf_counter()
        keypoints_2d = np.asarray(keypoints_2d, np.float64)
        if keypoints_2d.shape != (NUM_KEYPOINTS, 3):
            raise ValueError(f"keypoints_2d must be (25, 3), got {keypoints_2d.shape}")
        if keypoints_3d is not None and np.shape(keypoints_3d) != (NUM_KEYPOINTS, 3):
            raise ValueError(f"keypoints_3d must be (25, 3), got {np.shape(keypoints_3d)}")
        weights = np.where(keypoints_2d[:, 2] >= self.config.min_confidence, keypoints_2d[:, 2], 0.0)
        if np.count_nonzero(weights) < self.config.min_keypoints:
            return None

        targets = self._targets(model, keypoints_2d, weights, image_size, focal_px, keypoints_3d)
        if previous is None:
            params = self._cold_init(model, targets, keypoints_2d, weights, keypoints_3d)
            stages, frames_since_shape, catching_up = self.config.cold_stages, 0, False
        else:
            params, previous_keypoints = self._warm_init(model, targets, previous)
            # The temporal term pulls towards the previous frame's fit (its translation too, not the re-solved one).
            targets.previous = {k: v.clone() for k, v in params.items()}
            targets.previous["translation"] = torch.tensor(previous.translation, dtype=model.dtype,
                                                           device=model.device).reshape(1, 3)
            frames_since_shape = previous.frames_since_shape + 1
            every = self.config.shape_every_n_frames
            estimate_shape = not previous.shape_fixed and 0 < every <= frames_since_shape
            catch_up = _with_shape(self.config.catch_up_stages, estimate_shape, self.config.shape_iters)
            catching_up = self._fit_error(previous_keypoints, params, targets, keypoints_2d, weights) \
                > self.config.catch_up_error
            stages = catch_up if catching_up else _with_shape(self.config.warm_stages, estimate_shape,
                                                                 self.config.shape_iters)
        if any("shape" in s.free for s in stages):
            frames_since_shape = 0

        iterations, evaluations, terms, fitted = self._run_stages(model, params, targets, stages)
        error = self._fit_error(fitted, params, targets, keypoints_2d, weights)
        if previous is not None and (catching_up or error > self.config.poor_fit_error):
            # The previous pose may be a poor start (a new pose after a gap: kneeling to all fours) that the
            # optimiser cannot leave: also fit from a fresh start with the same body and keep what explains the
            # frame better.
            fresh = self._cold_init(model, targets, keypoints_2d, weights, keypoints_3d)
            fresh["shape"] = params["shape"].detach().clone()
            fresh_run = self._run_stages(model, fresh, targets, (self.config.cold_stages[0], *catch_up))
            iterations, evaluations = iterations + fresh_run[0], evaluations + fresh_run[1]
            if _data_loss(fresh_run[2]) < _data_loss(terms):
                params, terms, fitted = fresh, fresh_run[2], fresh_run[3]
                error = self._fit_error(fitted, params, targets, keypoints_2d, weights)
        return self._result(
            model, params, fitted, targets, keypoints_2d, weights, frames_since_shape, iterations, evaluations,
            terms, error, start, previous, with_vertices,
        )  # fmt: skip

    def _run_stages(self, model, params, targets, stages) -> tuple[int, int, dict[str, torch.Tensor], np.ndarray]:
        """Run ``stages`` (at least one) in order on ``params`` (in place); (iterations, evaluations, the last stage's
        terms, the body's keypoints at the end: (25, 3) root-relative)."""
        iterations = evaluations = 0
        for stage in stages:
            stage_iterations, stage_evaluations, terms, keypoints = self._run_stage(model, params, targets, stage)
            iterations += stage_iterations
            evaluations += stage_evaluations
        return iterations, evaluations, terms, keypoints

    # ------------------------------------------------------------------------------------------------ set-up
    def _targets(self, model, keypoints_2d, weights, image_size, focal_px, keypoints_3d) -> _Targets:
        tensor = dict(dtype=model.dtype, device=model.device)
        limbs_weights = torch.zeros(len(self._limbs), **tensor)
        limb_lengths = None
        if keypoints_3d is not None:
            target_3d = torch.as_tensor(keypoints_3d, **tensor)
            lengths = losses.limb_lengths(target_3d, self._limbs)
            w = torch.as_tensor(weights, **tensor)
            limbs_weights = torch.minimum(w[self._limbs[:, 0]], w[self._limbs[:, 1]])
            # Symmetrise: each limb's target is the confidence-weighted mean of it and its mirror.
            half = len(self._limbs) // 2
            pair_w = limbs_weights.view(2, half)
            mean = (lengths.view(2, half) * pair_w).sum(0) / pair_w.sum(0).clamp_min(1e-9)
            limb_lengths = mean.repeat(2)
            limbs_weights = pair_w.max(0).values.repeat(2)
        width, height = image_size
        return _Targets(
            keypoints_2d=torch.as_tensor(keypoints_2d[:, :2], **tensor),
            weights_2d=torch.as_tensor(weights, **tensor),
            keypoints_3d=None if keypoints_3d is None else torch.as_tensor(keypoints_3d, **tensor),
            weights_3d=torch.as_tensor(self._weights_3d(weights, keypoints_3d), **tensor),
            limb_lengths=limb_lengths,
            limb_weights=limbs_weights,
            focal=float(focal_px),
            center=torch.tensor([width / 2.0, height / 2.0], **tensor),
            image_scale=float(max(width, height)),
        )

    def _weights_3d(self, weights: np.ndarray, keypoints_3d: Optional[np.ndarray]) -> np.ndarray:
        """(25,) weights of the detector's 3D keypoints: their 2D confidence, but at least ``unseen_3d_weight``
        wherever the detector gives a 3D point: a limb it cannot see (the far arm in a side view) still has a
        plausible 3D guess, while without one the fit leaves that limb in the rest pose (an arm held out)."""
        if keypoints_3d is None:
            return np.zeros_like(weights)
        given = np.any(keypoints_3d != 0.0, axis=1)
        given[_ROOT] = True
        return np.where(given, np.maximum(weights, self.config.unseen_3d_weight), 0.0)

    def _keypoints(self, model: BodyModel, params: dict[str, torch.Tensor]) -> np.ndarray:
        """(25, 3) root-relative model keypoints of ``params`` (reduced path, no grad), float64 numpy."""
        with torch.no_grad():
            out = model(params["global_orient"], params["body_pose"], params["shape"], with_vertices=False)
        return out.keypoints[0].double().cpu().numpy()

    def _cold_init(self, model, targets, keypoints_2d, weights, keypoints_3d) -> dict[str, torch.Tensor]:
        global_orient, body_pose, shape = model.zero_params(1)
        params = {"global_orient": global_orient, "body_pose": body_pose, "shape": shape}
        rest = self._keypoints(model, params)
        torso = np.array(TORSO)
        if keypoints_3d is not None and np.count_nonzero(weights[torso]) >= 3:
            rotation = kabsch(rest[torso], keypoints_3d[torso], weights[torso])
            params["global_orient"] = roma.rotmat_to_rotvec(torch.as_tensor(rotation, dtype=model.dtype))[None]
            # The detector's 3D keypoints carry their own scale: bring them to the model's torso size, then use all of
            # them (their pose, unlike the rest pose, matches the image) for the translation.
            w = weights[torso]  # root-relative norms: the size ratio needs no rotation
            rest_size = (w * np.linalg.norm(rest[torso], axis=1)).sum()
            scale = rest_size / (w * np.linalg.norm(keypoints_3d[torso], axis=1)).sum()
            points, point_weights = scale * np.asarray(keypoints_3d, np.float64), weights
        else:
            params["global_orient"] = torch.as_tensor(facing_from_2d(keypoints_2d, weights), dtype=model.dtype)[None]
            # Without 3D only the rest pose is known: use the torso and head, which depend least on the pose.
            points = self._keypoints(model, params)
            point_weights = weights * _RIGID_MASK
            if np.count_nonzero(point_weights) < 3:
                point_weights = weights
        params["translation"] = self._translation(model, targets, points, keypoints_2d, point_weights)
        return params

    def _warm_init(self, model, targets, previous: FitState) -> tuple[dict[str, torch.Tensor], np.ndarray]:
        """The previous fit's parameters, its translation re-solved for this frame; and its keypoints (25, 3),
        root-relative."""
        tensor = dict(dtype=model.dtype, device=model.device)
        params = {
            "global_orient": torch.tensor(previous.global_orient, **tensor).reshape(1, 3),
            "body_pose": torch.tensor(previous.body_pose, **tensor).reshape(1, -1, 3),
            "shape": torch.tensor(previous.shape, **tensor).reshape(1, -1),
        }
        # The person moved since the last frame: re-solve the translation for the previous pose (one cheap forward).
        keypoints_2d = targets.keypoints_2d.double().cpu().numpy()
        weights = targets.weights_2d.double().cpu().numpy()
        keypoints = self._keypoints(model, params)
        translation = self._translation(model, targets, keypoints, keypoints_2d, weights)
        # A body does not change depth by a third between frames: such a solve comes from odd keypoints (a pose
        # the previous frame's body cannot explain), so start from where the body was instead.
        previous_depth = float(previous.translation[2])
        if abs(np.log(max(float(translation[0, 2]), 1e-6) / previous_depth)) > np.log(self.config.max_depth_ratio):
            translation = torch.tensor(previous.translation, dtype=model.dtype, device=model.device).reshape(1, 3)
        params["translation"] = translation
        return params, keypoints

    def _fit_error(self, keypoints, params, targets, keypoints_2d, weights) -> float:
        """Mean 2D distance of the body's keypoints (25, 3), root-relative, at ``params``' translation from the
        confident detected ones, in units of the detected body's size (the diagonal of their extent)."""
        points = keypoints + params["translation"][0].double().cpu().numpy()
        width, height = 2.0 * targets.center.double().cpu().numpy()  # the principal point is the image centre
        pixels = project(points, targets.focal, (width, height))
        used = weights > 0
        size = float(np.linalg.norm(np.ptp(keypoints_2d[used, :2], axis=0)))
        return float(np.linalg.norm(pixels[used] - keypoints_2d[used, :2], axis=1).mean()) / max(size, 1.0)

    def _translation(self, model, targets, points, keypoints_2d, weights) -> torch.Tensor:
        center = targets.center.double().cpu().numpy()
        t = solve_translation(points, keypoints_2d[:, :2], weights, targets.focal, center)
        t[2] = max(t[2], self.config.min_depth - points[:, 2].min())  # degenerate input: keep the body in front
        return torch.as_tensor(t, dtype=model.dtype, device=model.device)[None]

    # ------------------------------------------------------------------------------------------------ optimisation
    def _residuals(self, model, params, targets, weights: dict[str, float]
                   ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The body's keypoints (B, 25, 3), root-relative, and the stage's non-zero-weighted loss terms as unweighted
        residuals, each (B, R) (``losses``). ``params`` may hold a batch of B poses (global_orient, body_pose,
        translation) sharing one shape (1, S)."""
        keypoints = model(params["global_orient"], params["body_pose"], params["shape"], with_vertices=False).keypoints
        points = keypoints + params["translation"][:, None]
        cfg, terms = self.config, {}

        def on(name: str) -> bool:
            return weights.get(name, 0.0) > 0

        if on("reprojection"):
            terms["reprojection"] = losses.reprojection_residuals(
                points, targets.keypoints_2d, targets.weights_2d, targets.focal, targets.center,
                targets.image_scale, cfg.robust_sigma_px,
            )  # fmt: skip
        if on("keypoints_3d") and targets.keypoints_3d is not None:
            terms["keypoints_3d"] = losses.keypoints_3d_residuals(keypoints, targets.keypoints_3d, targets.weights_3d)
        if on("limb_length") and targets.limb_lengths is not None:
            terms["limb_length"] = losses.limb_length_residuals(
                keypoints, self._limbs, targets.limb_lengths, targets.limb_weights
            )
        if on("shape_prior"):
            terms["shape_prior"] = losses.shape_prior_residuals(params["shape"])
        if on("pose_prior"):
            terms["pose_prior"] = losses.pose_prior_residuals(params["body_pose"])
        if on("angle_limits"):
            terms["angle_limits"] = losses.angle_limit_residuals(keypoints)
        if on("temporal") and targets.previous:
            terms["temporal"] = losses.temporal_residuals(
                params, targets.previous, ("global_orient", "body_pose", "translation")
            )
        if on("translation_prior"):
            terms["translation_prior"] = losses.translation_prior_residuals(points, cfg.min_depth, cfg.max_depth)
        return keypoints, terms

    def _loss_terms(self, model, params, targets, weights: dict[str, float]
                    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The body's keypoints (B, 25, 3), root-relative, and the stage's non-zero-weighted loss terms, unweighted,
        each a scalar (summed over the batch)."""
        keypoints, residuals = self._residuals(model, params, targets, weights)
        return keypoints, {k: losses.squared_norm(r).sum() for k, r in residuals.items()}

    def _run_stage(self, model, params, targets, stage: FitStage
                   ) -> tuple[int, int, dict[str, torch.Tensor], np.ndarray]:
        """The stage's solver over its free groups, in place on ``params``. Returns (iterations, evaluations, the
        final terms, the final keypoints (25, 3), root-relative)."""
        if stage.solver == "lm":
            return self._levenberg_marquardt(model, params, targets, stage)
        iterations, evaluations = self._lbfgs(model, params, targets, stage)
        with torch.no_grad():
            keypoints, terms = self._loss_terms(model, params, targets, stage.weights)
        return iterations, evaluations, terms, keypoints[0].double().cpu().numpy()

    def _lbfgs(self, model, params, targets, stage: FitStage) -> tuple[int, int]:
        free = [params[name].requires_grad_() for name in stage.free]
        optimizer = torch.optim.LBFGS(
            free, lr=1.0, max_iter=stage.max_iters, tolerance_grad=1e-9, tolerance_change=stage.tolerance,
            history_size=self.config.history_size, line_search_fn="strong_wolfe",
        )  # fmt: skip
        evaluations = 0

        def closure() -> torch.Tensor:
            nonlocal evaluations
            evaluations += 1
            optimizer.zero_grad(set_to_none=True)
            terms = self._loss_terms(model, params, targets, stage.weights)[1]
            loss = sum(stage.weights[k] * v for k, v in terms.items())
            loss.backward()
            return loss

        optimizer.step(closure)
        for name in stage.free:  # frozen again: a fixed shape lets the body model reuse its rest mesh
            params[name] = params[name].detach()
        return optimizer.state[free[0]].get("n_iter", 0), evaluations

    def _levenberg_marquardt(self, model, params, targets, stage: FitStage
                             ) -> tuple[int, int, dict[str, torch.Tensor], np.ndarray]:
        """Levenberg-Marquardt on the stacked weighted residuals, the Jacobian by forward differences evaluated as
        one batch (the parameters and n nudged copies: one forward of the keypoint rig, cheaper than n backward
        passes). Each iteration evaluates the step's point with its nudged copies, so an accepted step has its
        Jacobian already, and the terms and keypoints :meth:`_run_stage` returns. Stops after ``max_iters``
        iterations or when an accepted step lowers the cost by less than ``tolerance`` of it."""
        names = stage.free
        shapes = [params[name].shape[1:] for name in names]
        sizes = [shape.numel() for shape in shapes]
        roots = {k: w**0.5 for k, w in stage.weights.items() if w > 0}
        step = _JACOBIAN_STEP
        count = sum(sizes)
        # (n+1, n) offsets of the batch: x itself, then x + h e_i for each parameter
        nudges = torch.cat([torch.zeros(1, count), step * torch.eye(count)]).to(model.device, model.dtype)

        def evaluate(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, Callable[[], tuple]]:
            """x (n,) -> residuals (R,) at x, the Jacobian (R, n), float64, and (terms, keypoints) at x, on call."""
            batch = x.to(model.dtype) + nudges
            groups = dict(params)
            for name, shape, part in zip(names, shapes, batch.split(sizes, dim=1)):
                groups[name] = part.reshape(-1, *shape)
            keypoints, terms = self._residuals(model, groups, targets, stage.weights)
            # A term of the fixed groups alone (the shape prior) comes once: the same for every row.
            rows = torch.cat([roots[k] * r.expand(len(batch), -1) for k, r in terms.items()], -1).double()

            def at_x() -> tuple[dict[str, torch.Tensor], np.ndarray]:
                return ({k: losses.squared_norm(r[:1]).sum() for k, r in terms.items()},
                        keypoints[0].double().cpu().numpy())

            return rows[0], (rows[1:] - rows[0]).T / step, at_x

        with torch.no_grad():
            x = torch.cat([params[name].reshape(-1) for name in names]).double()
            residuals, jacobian, at_x = evaluate(x)
            cost, damping, evaluations, iterations = float(residuals.square().sum()), 1e-3, 1, 0
            while iterations < stage.max_iters:
                iterations += 1
                normal = jacobian.T @ jacobian
                scale = normal.diagonal().clamp_min(1e-9 * float(normal.diagonal().max()) + 1e-12)
                delta = torch.linalg.solve(normal + damping * torch.diag(scale), -(jacobian.T @ residuals))
                trial_residuals, trial_jacobian, trial_at_x = evaluate(x + delta)
                evaluations += 1
                trial_cost = float(trial_residuals.square().sum())
                if not trial_cost < cost:  # also NaN: keep x, damp harder
                    damping *= 4.0
                    continue
                x, residuals, jacobian, at_x = x + delta, trial_residuals, trial_jacobian, trial_at_x
                damping = max(damping / 3.0, 1e-7)
                converged = cost - trial_cost < stage.tolerance * cost
                cost = trial_cost
                if converged:
                    break
            for name, part in zip(names, x.to(model.dtype).split(sizes)):
                params[name] = part.reshape(1, *params[name].shape[1:])
            return iterations, evaluations, *at_x()

    # ------------------------------------------------------------------------------------------------ output
    def _result(
        self, model, params, keypoints, targets, keypoints_2d, weights, frames_since_shape, iterations, evaluations,
        terms, error, start, previous: Optional[FitState], with_vertices: bool,
    ) -> FitResult:  # fmt: skip
        """The fit of ``params``, whose keypoints (25, 3), root-relative, are ``keypoints``."""
        vertices = None
        if with_vertices:
            with torch.no_grad():
                vertices = model(params["global_orient"], params["body_pose"], params["shape"]).vertices
            vertices = vertices[0].double().cpu().numpy()
        translation = params["translation"][0].double().cpu().numpy()
        points = torch.as_tensor(keypoints + translation, dtype=targets.center.dtype, device=targets.center.device)
        projected = losses.project(points[None], targets.focal, targets.center)[0].double().cpu().numpy()
        observed = weights > 0
        fit = fit_confidence(error, self.config.poor_fit_error)
        # A keypoint the detector did not see is the model's guess: worth less, and less again from a poor fit.
        confidence = np.where(observed, keypoints_2d[:, 2], 0.5 * fit * keypoints_2d[observed, 2].mean())
        state = FitState(
            global_orient=params["global_orient"][0].double().cpu().numpy(),
            body_pose=params["body_pose"][0].double().cpu().numpy(),
            shape=params["shape"][0].double().cpu().numpy(),
            translation=translation,
            frames_since_shape=frames_since_shape,
            shape_fixed=previous is not None and previous.shape_fixed,
        )
        return FitResult(
            state=state,
            keypoints_3d=keypoints,
            keypoints_2d=np.column_stack([np.where(observed[:, None], keypoints_2d[:, :2], projected), confidence]),
            camera_translation=state.translation.copy(),
            vertices=vertices,
            iterations=int(iterations),
            evaluations=evaluations,
            losses={k: float(v) for k, v in terms.items()},
            error=error,
            confidence=fit,
            time_s=time.perf_counter() - start,
            warm=previous is not None,
        )


_JACOBIAN_STEP = 1e-3
"""Forward-difference step (radians, metres): small against a pose change, large against float32 rounding."""


def _with_shape(stages: tuple[FitStage, ...], estimate: bool, iterations: int) -> tuple[FitStage, ...]:
    """``stages``, then, when ``estimate``, ``iterations`` of LBFGS with the shape free too (the pose solver keeps the
    shape fixed) under the last stage's weights."""
    if not estimate:
        return stages
    last = stages[-1]
    return (*stages, FitStage("shape", (*last.free, "shape"), iterations, 1e-9, last.weights, solver="lbfgs"))


def fit_confidence(error: float, poor_fit_error: float) -> float:
    """1 / (1 + (error / poor_fit_error)^2): 1 for a body on its keypoints, 0.5 at the poor-fit threshold, 0.1 at
    three times it."""
    return 1.0 / (1.0 + (error / poor_fit_error) ** 2)


def _data_loss(terms: dict[str, torch.Tensor]) -> float:
    """How well a fit explains its frame: its unweighted reprojection and 3D keypoint terms."""
    return float(sum(terms[name] for name in ("reprojection", "keypoints_3d") if name in terms))
