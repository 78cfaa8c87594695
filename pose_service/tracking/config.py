"""Tracker settings: dataclasses with defaults, JSON-safe so that a session's state can carry its own config."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class CostConfig:
    """Weights of PHALP's product cost (its ``EQ_019`` betas) and the gate; see :mod:`pose_service.tracking.cost`."""

    beta_appearance: float = 4.0536
    beta_pose: float = 1.3070
    beta_location: float = 0.3792
    beta_depth: float = 4.1658
    pose_scale_m: float = 0.1
    """Per-joint distance (metres) that counts as one unit of pose distance."""
    pose_clip: float = 1.5
    """Pose distance saturates here, as in PHALP, so that one very different pose cannot dominate the product."""
    gate: float = 100.0
    """Pairs costing more than this are never matched (PHALP's ``hungarian_th``)."""
    reid_max_appearance: float = 0.3
    """Across a shot cut a track is re-identified only by an appearance this close (mean Hellinger distance; the
    same person measures under 0.1, different clothes over 0.6)."""


@dataclass(frozen=True)
class KalmanConfig:
    """Constant-velocity filter on (u, v, log z); u, v = X/Z, Y/Z (image plane at unit focal length).

    Standard deviations: ``*_uv`` in u, v units (about a fraction of the image width when the focal length is
    the image's longer side), ``*_depth`` in log-depth units (0.05 is 5 % of the depth). Time unit: one frame.
    """

    measurement_uv: float = 0.005
    measurement_depth: float = 0.05
    acceleration_uv: float = 0.002
    acceleration_depth: float = 0.01
    initial_velocity_uv: float = 0.02
    initial_velocity_depth: float = 0.05


@dataclass(frozen=True)
class SmoothingConfig:
    """One-Euro filter (Casiez et al. 2012) on the outputs. Signals are in metres (3D, translation) and in image
    fractions (2D pixels divided by the image's longer side), so one ``beta`` suits all of them."""

    enabled: bool = True
    min_cutoff: float = 1.0
    """Hz; lower is smoother when still."""
    beta: float = 20.0
    """Cutoff increase per unit/s of speed; higher lags less when moving. With 1 and 20, a limb moving at 1 m/s is
    filtered at ~21 Hz (no visible lag) and a still one at ~1 Hz: on the synthetic walking clip this costs 1.7 mm
    of PA-MPJPE against no smoothing, where beta 2 cost 10 mm."""
    d_cutoff: float = 1.0
    """Hz, for the speed estimate."""
    fps: float = 30.0
    """Frame rate that turns frame numbers into seconds."""


@dataclass(frozen=True)
class TrackerConfig:
    n_init: int = 3
    """Detections a track needs to become confirmed (PHALP: 5), together with ``min_quality``. New tracks are
    reported from their first frame anyway; confirmation decides whether misses are filled with predictions."""
    min_quality: float = 0.5
    """Mean keypoint quality (:func:`pose_service.tracking.track.detection_quality`) a track's detections need for
    it to be confirmed: snow spray, text or a second body solution rarely shows a whole, confident skeleton for
    long, so three hits alone do not make a person."""
    show_quality: float = 0.8
    """A new track is reported from its first frame when the video has no confirmed track in the current shot, or
    when its first detection has at least this :func:`~pose_service.tracking.track.detection_quality` and its box
    at least ``show_min_height`` times the primary person's height; otherwise only once confirmed."""
    show_min_height: float = 0.5
    """See ``show_quality``: on the runner clip, spectators and hurdle parts 0.1-0.3 times the runner's height
    were found on single frames with high scores."""
    duplicate_overlap: float = 0.6
    """A detection no track claims is dropped when at least this fraction of its box lies inside the box of a
    detection a track claimed: a second solution for the same body (on the longboard clip the rider's cut-off
    body gave one whose box lay 70 % inside the rider's). A real person that far behind a tracked one is found
    once they part."""
    predict_per_hit: float = 1.0
    """A lost track is predicted for at most ``predict_per_hit * hits`` frames (and ``max_age``): a track seen
    briefly fades fast, the video's long-seen subject is carried through long gaps."""
    max_outside: float = 0.5
    """A prediction stops once more than this fraction of its box lies outside the image (the person left)."""
    lost_search_frames: int = 6
    """A lost bystander (a lost track other than the primary person) is searched for on each of the first this many
    frames after its last detection, then on every ``lost_search_every``-th frame; it can be found in between by the
    searches other people cause and by the wide search. A failed search costs a landmark call and two detector runs
    (~20 ms on 2 cores), and a bystander who left the frame would cost one on every frame of their ``max_age``. The
    primary person is searched for on every frame, as MediaPipe does."""
    lost_search_every: int = 3
    velocity_damping: float = 0.9
    """Per-frame decay of the velocities predictions continue (see ``Track.predict``): people stop, turn and get
    re-framed by the camera, so a constant velocity held for long drifts away (a ghost leaving the image)."""
    pose_velocity_damping: float = 0.8
    """The same for the articulation in the image (each 2D keypoint's velocity less the root's): a limb
    mid-swing keeps swinging for a frame or two, then swings back."""
    motion_min_confidence: float = 0.5
    """A keypoint's own motion (relative to the root) is continued only where it had at least this confidence in
    the last two detections."""
    primary_switch_ratio: float = 2.0
    """The primary person (the video's main subject) changes only to a track with this many times its support
    (see :attr:`Track.support`): the subject does not flicker with the detector's scores."""
    cut_min_difference: float = 0.12
    """A shot cut (:mod:`.scene`): consecutive informative frames whose thumbnails differ by at least this mean
    absolute difference (0..1) and correlate by at most ``cut_max_correlation``. On the project's real clips
    frames of one shot differ by at most 0.08 (fast follow-cam) and frames of different clips by at least 0.15."""
    cut_max_correlation: float = 0.7
    """Frames of one shot correlate by at least 0.8 on the real clips (a pan or a flash keeps the layout), of
    different clips by at most 0.5."""
    tentative_max_misses: int = 5
    """Consecutive misses a tentative track survives (PHALP: 0, which kills a real person on one missed frame; with
    a third of the detections missed, gaps of up to 5 frames lost new people before their third detection and
    gave them a second id). Tentative tracks are never predicted, so this costs nothing visible."""
    max_age: int = 30
    """Frames a confirmed track is predicted (and can be re-associated) after its last detection."""
    confidence_tau: float = 10.0
    """Frames: a predicted person's ``tracking_confidence`` is ``exp(-frames_since_detection / tau)``."""
    appearance_alpha: float = 0.1
    """A track's appearance is an EMA of its detections' with weight ``alpha * score**2`` (PHALP)."""
    cost: CostConfig = field(default_factory=CostConfig)
    kalman: KalmanConfig = field(default_factory=KalmanConfig)
    smoothing: SmoothingConfig = field(default_factory=SmoothingConfig)

    def __post_init__(self) -> None:
        dampings = (self.velocity_damping, self.pose_velocity_damping)
        if self.n_init < 1 or self.max_age < 0 or self.tentative_max_misses < 0 or self.confidence_tau <= 0 \
                or not all(0 <= d <= 1 for d in dampings) or self.predict_per_hit < 0 or self.primary_switch_ratio < 1 \
                or self.lost_search_frames < 0 or self.lost_search_every < 1:
            raise ValueError("n_init >= 1, max_age >= 0, tentative_max_misses >= 0, confidence_tau > 0, dampings in "
                             "[0, 1], predict_per_hit >= 0, primary_switch_ratio >= 1, lost_search_frames >= 0 and "
                             "lost_search_every >= 1 are required")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrackerConfig":
        return cls(
            **{k: v for k, v in data.items() if k not in ("cost", "kalman", "smoothing")},
            cost=CostConfig(**data["cost"]),
            kalman=KalmanConfig(**data["kalman"]),
            smoothing=SmoothingConfig(**data["smoothing"]),
        )
