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
    """Detections a track needs to become confirmed (PHALP: 5). New tracks are reported from their first frame
    anyway; confirmation decides whether misses are filled with predictions."""
    tentative_max_misses: int = 2
    """Consecutive misses a tentative track survives (PHALP: 0, which kills a real person on one missed frame; with
    a third of the detections missed, 1 still lost new people before their third detection)."""
    max_age: int = 30
    """Frames a confirmed track is predicted (and can be re-associated) after its last detection."""
    confidence_tau: float = 10.0
    """Frames: a predicted person's ``tracking_confidence`` is ``exp(-frames_since_detection / tau)``."""
    pose_extrapolation_s: float = 0.1
    """A predicted person's 3D keypoints continue at their smoothed velocity for at most this many seconds from the
    last detection (then hold); 0 carries the last pose unchanged."""
    appearance_alpha: float = 0.1
    """A track's appearance is an EMA of its detections' with weight ``alpha * score**2`` (PHALP)."""
    cost: CostConfig = field(default_factory=CostConfig)
    kalman: KalmanConfig = field(default_factory=KalmanConfig)
    smoothing: SmoothingConfig = field(default_factory=SmoothingConfig)

    def __post_init__(self) -> None:
        if self.n_init < 1 or self.max_age < 0 or self.tentative_max_misses < 0 or self.confidence_tau <= 0 \
                or self.pose_extrapolation_s < 0:
            raise ValueError("n_init >= 1, max_age >= 0, tentative_max_misses >= 0 and confidence_tau > 0 are required")

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
