"""Fitting configuration: stages of LBFGS, each with its free parameter groups and loss weights (SMPLify style)."""

from __future__ import annotations

from dataclasses import dataclass, field

PARAMETER_GROUPS: tuple[str, ...] = ("global_orient", "body_pose", "shape", "translation")
LOSS_NAMES: tuple[str, ...] = (
    "reprojection", "keypoints_3d", "limb_length", "shape_prior", "pose_prior", "angle_limits", "temporal",
    "translation_prior",
)  # fmt: skip


SOLVERS: tuple[str, ...] = ("lm", "lbfgs")


@dataclass(frozen=True)
class FitStage:
    """One solver run over the parameter groups in ``free`` (the others stay fixed).

    ``weights`` maps loss names (``LOSS_NAMES``) to weights; a missing or zero weight skips the term. ``solver``:
    "lm", Levenberg-Marquardt on the residuals with a forward-difference Jacobian computed as one batch of poses
    (``max_iters`` iterations of one batched evaluation each; ``tolerance``: an accepted step that lowers the cost
    by less than this fraction ends it). The batch shares one shape, so "lm" cannot free "shape". "lbfgs":
    torch's LBFGS with a strong-Wolfe line search (``max_iters`` iterations, each of several evaluations;
    ``tolerance``: its ``tolerance_change`` on the loss and the parameters).
    """

    name: str
    free: tuple[str, ...]
    max_iters: int
    tolerance: float
    weights: dict[str, float]
    solver: str = "lbfgs"

    def __post_init__(self) -> None:
        unknown = set(self.free) - set(PARAMETER_GROUPS)
        unknown |= set(self.weights) - set(LOSS_NAMES)
        if unknown:
            raise ValueError(f"FitStage {self.name!r}: unknown parameter groups or losses {sorted(unknown)}")
        if self.solver not in SOLVERS:
            raise ValueError(f"FitStage {self.name!r}: solver must be one of {SOLVERS}, not {self.solver!r}")
        if self.solver == "lm" and "shape" in self.free:
            raise ValueError(f"FitStage {self.name!r}: the 'lm' solver keeps the shape fixed")


# Weights are for losses on comparable scales: 2D residuals are normalised by the image's longer side and 3D ones are
# metres, so a 1 % image error (6 px at 640) weighs about as much as a 1 cm 3D error with these defaults.
_DATA = {"reprojection": 1.0, "keypoints_3d": 1.0, "limb_length": 0.1}
# The pose prior settles what the keypoints leave open (how a bend splits between the two spine bones, a shrug
# between clavicle and upper arm): a solver that converges follows any slight pull there. At 1e-5, enough for 10
# LBFGS iterations from the rest pose, Levenberg-Marquardt bent those bones so far that a 25-joint skeleton skinned
# the avatar 7 cm off the mesh at the 95th percentile (3 cm before); 1e-4 gives 3 cm and a better PA-MPJPE on
# synthetic motion (17.7 vs 18.3 mm; 20.1 at 1e-3).
_PRIORS = {"shape_prior": 1e-3, "pose_prior": 1e-4, "angle_limits": 1e-2, "translation_prior": 1e-2}

DEFAULT_COLD_STAGES: tuple[FitStage, ...] = (
    # Camera and global rotation first on the initial (rest or 3D-aligned) pose, as SMPLify's camera stage.
    FitStage("camera", ("global_orient", "translation"), 10, 1e-4, {**_DATA, "translation_prior": 1e-2}, "lm"),
    # The pose on the average body, then everything: a step with the shape free costs ~3x one without (the body
    # model rebuilds its rest mesh), and the pose does most of the moving.
    FitStage("pose", ("global_orient", "body_pose", "translation"), 20, 1e-4, {**_DATA, **_PRIORS}, "lm"),
    FitStage("body", PARAMETER_GROUPS, 10, 1e-9, {**_DATA, **_PRIORS}),
)
# Levenberg-Marquardt from a warm start converges in 3-5 iterations; on synthetic motion it reaches the same
# accuracy as 10 LBFGS iterations (PA-MPJPE 18.3 vs 19.3 mm) in a third of the time (scripts/bench_fitting.py).
# It stops once a step gains less than 3 % of the cost: the steps after that moved PA-MPJPE by under 0.1 mm on
# synthetic motion (17.71 mm with 1e-4, 17.66 with 0.03) and cost a fifth of the fit (5 evaluations against 3).
DEFAULT_WARM_STAGES: tuple[FitStage, ...] = (
    FitStage("track", ("global_orient", "body_pose", "translation"), 5, 0.03,
             {**_DATA, **_PRIORS, "temporal": 1e-3}, "lm"),
)
DEFAULT_CATCH_UP_STAGES: tuple[FitStage, ...] = (
    # A warm start that does not explain the frame (fast motion, a gap in the video): more iterations, no pull back.
    FitStage("catch_up", ("global_orient", "body_pose", "translation"), 30, 1e-4, {**_DATA, **_PRIORS}, "lm"),
)


@dataclass(frozen=True)
class FitConfig:
    """How :class:`pose_service.fitting.Fitter` fits.

    cold_stages / warm_stages: run in order on a first frame / a frame with a previous state.
    catch_up_stages, catch_up_error: a frame with a previous state whose warm start (previous pose, re-solved
        translation) misses the 2D keypoints by more than ``catch_up_error`` of the body's 2D size (mean over the
        confident keypoints) runs these instead of ``warm_stages``: ten iterations anchored to the previous pose lag
        behind a fast mover, more so after a gap (on a real parkour clip the fitted hips trailed the detector's by
        up to a torso length after two missed frames).
    poor_fit_error: a fit whose body ends further than this from the detected keypoints (same unit as
        ``catch_up_error``) reports a confidence below 0.5; a warm one is also fitted afresh (as a catch-up) and the
        better kept. Fits on rendered clips end at 0.01-0.03; warm fits stuck in the previous pose after a sudden
        change reach 0.1.
    reject_fit_error: a body further than this (confidence below 0.1) is not served: the person keeps the
        detector's keypoints and no mesh, and the track keeps its last fit state.
    shape_every_n_frames: warm frames keep the shape fixed (the body model then reuses its rest mesh), except every
        n-th frame since the last shape estimate, when "shape" joins the warm stages' free groups; 0 never re-estimates.
        Often enough to give a track's shape aggregate several samples before it settles (``FitState.shape_fixed``,
        after ``VideoOptions.settle_shape_frames``); never once settled.
    shape_iters: such a frame's LBFGS iterations with the shape free, after its pose stages.
    min_confidence: 2D keypoints below it are ignored.
    unseen_3d_weight: the least weight of a detector's 3D keypoint (its 2D confidence otherwise), so that limbs the
        detector guesses but does not see still follow its 3D guess.
    min_keypoints: fewer usable 2D keypoints than this and ``fit`` returns None.
    robust_sigma_px: Geman-McClure (GMoF) scale of the reprojection loss in pixels: residuals well beyond it count
        about the same, so a few wrong detections do not drag the body.
    min_depth / max_depth: metres in front of the camera that every keypoint must keep / the body must not pass
        (translation prior).
    max_depth_ratio: a warm frame's closed-form translation that changes the depth by more than this factor is
        not trusted as the starting point (the previous translation is used).
    history_size: LBFGS memory.
    """

    cold_stages: tuple[FitStage, ...] = DEFAULT_COLD_STAGES
    warm_stages: tuple[FitStage, ...] = DEFAULT_WARM_STAGES
    catch_up_stages: tuple[FitStage, ...] = DEFAULT_CATCH_UP_STAGES
    catch_up_error: float = 0.1
    poor_fit_error: float = 0.05
    reject_fit_error: float = 0.15
    shape_every_n_frames: int = 5
    shape_iters: int = 5
    min_confidence: float = 0.3
    unseen_3d_weight: float = 0.3
    min_keypoints: int = 6
    robust_sigma_px: float = 50.0
    min_depth: float = 0.3
    max_depth: float = 50.0
    max_depth_ratio: float = 1.3
    history_size: int = 20
    limb_pairs: tuple[tuple[str, str], ...] = field(
        default=(
            ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"), ("left_hip", "left_knee"),
            ("left_knee", "left_ankle"), ("left_shoulder", "left_hip"), ("left_hip", "mid_hip"),
            ("left_shoulder", "neck"), ("left_ankle", "left_heel"),
        )  # fmt: skip
    )
    """Left-side limbs (start, end); the right-side mirror of each is derived."""
