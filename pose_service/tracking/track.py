"""One track: life cycle, location filter, appearance, output smoothing, and predictions while unseen.

Life cycle: ``tentative`` (new) -> ``confirmed`` after ``n_init`` detections of enough mean quality
(:func:`detection_quality`) -> ``lost`` while unseen -> back to ``confirmed`` when re-detected, or deleted after
``max_age`` frames unseen. A lost track is reported as predicted while its support lasts (``predict_per_hit`` frames
per detection), its predicted box is in the image and the video has not cut to another shot. A tentative track is
deleted after more than ``tentative_max_misses`` frames unseen and is never reported as predicted.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal, Optional

import numpy as np

from ..conventions import BODY12_INDICES, BODY25_INDEX, ROOT_NAME
from ..types import Box, Person
from .appearance import Appearance, blend
from .config import TrackerConfig
from .cost import Cues, pose_mask
from .kalman import LocationFilter
from .one_euro import OneEuro
from .serial import decode_array, encode_array

SMOOTHED = ("keypoints_2d", "keypoints_3d", "camera_translation")
_ROOT = BODY25_INDEX[ROOT_NAME]


def detection_quality(person: Person) -> float:
    """How clearly a detection shows a person, in [0, 1]: the detector's score times the mean confidence of the
    better half of the 12 body joints (shoulders to ankles), so that a person seen from the waist up counts, and
    a smudge with one or two confident joints does not."""
    confidences = np.sort(person.keypoints_2d[BODY12_INDICES, 2])[len(BODY12_INDICES) // 2:]
    return float(person.score) * float(np.mean(confidences))


def salience(person: Person, image_size: tuple[int, int]) -> float:
    """A detection's claim to be the video's subject: its quality times the square root of the share of the image its
    box covers (large, close and clearly seen beats small and faint)."""
    width, height = image_size
    area = max(person.bbox[2], 0.0) * max(person.bbox[3], 0.0) / float(width * height)
    return detection_quality(person) * float(np.sqrt(min(area, 1.0)))


def overlap_fraction(box: Box, other: Box) -> float:
    """The share of ``box``'s area that lies inside ``other`` (both x, y, width, height)."""
    x, y, w, h = box
    ox, oy, ow, oh = other
    overlap_w = max(0.0, min(x + w, ox + ow) - max(x, ox))
    overlap_h = max(0.0, min(y + h, oy + oh) - max(y, oy))
    return overlap_w * overlap_h / (w * h) if w > 0 and h > 0 else 0.0


def inside_fraction(box: Box, image_size: tuple[int, int]) -> float:
    """The share of a box's area that lies inside the image (1 for a degenerate box inside it)."""
    x, y, w, h = box
    width, height = image_size
    if w <= 0 or h <= 0:
        return float(0 <= x <= width and 0 <= y <= height)
    return overlap_fraction(box, (0.0, 0.0, float(width), float(height)))


def damped_steps(frames: int, damping: float) -> float:
    """Frames of motion a velocity decaying by ``damping`` per frame covers in ``frames`` frames."""
    if damping >= 1.0:
        return float(frames)
    return damping * (1.0 - damping**frames) / (1.0 - damping)


@dataclass
class Track:
    track_id: int
    location: LocationFilter
    last: Person
    """The latest output for a detection of this track (smoothed), the template for predictions."""
    hits: int = 1
    confirmed: bool = False
    appearance: Optional[Appearance] = None
    smoothers: dict[str, OneEuro] = field(default_factory=lambda: {name: OneEuro() for name in SMOOTHED})
    velocity_2d: Optional[np.ndarray] = None
    """(25, 2) pixels per frame: the change of the 2D keypoints between the last two reported detections, divided
    by the frames between them; a keypoint not confidently seen in both moves with the root."""
    last_frame: Optional[int] = None
    """The frame of ``last``."""
    fit_state: Optional[dict[str, Any]] = None
    quality: float = 0.0
    """Sum of its detections' :func:`detection_quality`."""
    support: float = 0.0
    """Sum of its detections' :func:`salience`: how much of the video this track has been the obvious person."""
    shot: int = 0
    """The shot (see :mod:`.scene`) in which it was last detected."""
    shown: bool = True
    """Whether its detections are reported. A new track found while the video already has a confirmed one is held
    back until it is confirmed itself, unless its first detection is of high quality: a one-frame false positive
    never reaches the client."""

    def state(self, frame: int) -> Literal["tentative", "confirmed", "lost"]:
        if not self.confirmed:
            return "tentative"
        return "confirmed" if self.frames_unseen(frame) == 0 else "lost"

    def frames_unseen(self, frame: int) -> int:
        return frame - self.location.frame

    def expired(self, frame: int, config: TrackerConfig) -> bool:
        limit = config.max_age if self.confirmed else config.tentative_max_misses
        return self.frames_unseen(frame) > limit

    def cues(self, frame: int, config: TrackerConfig, shot: int) -> tuple[Cues, np.ndarray]:
        """The track as association sees it at ``frame`` of shot ``shot``, and its innovation variance."""
        mean, variance = self.location.innovation(frame, config.kalman)
        if not self.location.has_depth:
            mean[2] = np.nan
        cues = Cues(mean, self.last.keypoints_3d, pose_mask(self.last.keypoints_2d), self.appearance, shot == self.shot)
        return cues, variance

    def predicted_frames(self, config: TrackerConfig) -> int:
        """How many frames after its last detection this track may be reported as predicted."""
        if not self.confirmed:
            return 0
        return min(config.max_age, int(config.predict_per_hit * self.hits))

    def evidence(self, config: TrackerConfig) -> float:
        """How far a tentative track is towards confirmation, in [0, 1): hits and mean quality against the
        thresholds, whichever lags."""
        return min(self.hits / config.n_init, self.quality / self.hits / config.min_quality)

    def absorb_evidence(self, detection: Person, image_size: tuple[int, int], config: TrackerConfig) -> None:
        """Count a detection towards confirmation and support (the first one too)."""
        self.quality += detection_quality(detection)
        self.support += salience(detection, image_size)
        self.confirmed = self.confirmed or (self.hits >= config.n_init and self.quality >= config.min_quality * self.hits)

    def update(
        self, detection: Person, cues: Cues, frame: int, image_size: tuple[int, int], config: TrackerConfig, shot: int,
        fit_state: Optional[dict[str, Any]] = None,
    ) -> Person:
        """Absorb a matched detection (and its body's new fit state, if fitted); returns the person to report. A
        track re-found in a later shot restarts its location filter and smoothing there: nothing of its motion
        carries across a cut."""
        if shot != self.shot:
            self.location = LocationFilter.start(cues.location, frame, config.kalman)
            self.smoothers = {name: OneEuro() for name in SMOOTHED}
            self.velocity_2d, self.last_frame = None, None
            self.shot = shot
        else:
            self.location.update(cues.location, frame, config.kalman)
        self.hits += 1
        self.absorb_evidence(detection, image_size, config)
        if cues.appearance is not None:
            weight = config.appearance_alpha * detection.score**2
            self.appearance = cues.appearance if self.appearance is None else blend(self.appearance, cues.appearance, weight)
        return self.observe(detection, frame, image_size, config, fit_state)

    def observe(self, detection: Person, frame: int, image_size: tuple[int, int], config: TrackerConfig,
                fit_state: Optional[dict[str, Any]] = None) -> Person:
        """Smooth a detection of this track (the first one too), remember it (and its body's new fit state, if
        fitted: a detection without a fit keeps the last one) and return the person to report."""
        if fit_state is not None:
            self.fit_state = fit_state
        keypoints_2d = np.array(detection.keypoints_2d, float)
        keypoints_3d = None if detection.keypoints_3d is None else np.array(detection.keypoints_3d, float)
        translation = None if detection.camera_translation is None else np.array(detection.camera_translation, float)
        if config.smoothing.enabled:
            time = frame / config.smoothing.fps
            scale = float(max(image_size))  # pixels -> image fractions, comparable to metres for beta
            keypoints_2d[:, :2] = self.smoothers["keypoints_2d"](keypoints_2d[:, :2] / scale, time, config.smoothing) * scale
            if keypoints_3d is not None:
                keypoints_3d = self.smoothers["keypoints_3d"](keypoints_3d, time, config.smoothing)
            if translation is not None:
                translation = self.smoothers["camera_translation"](translation, time, config.smoothing)
        if self.last_frame is not None and frame > self.last_frame:
            span = frame - self.last_frame
            velocity = (keypoints_2d[:, :2] - self.last.keypoints_2d[:, :2]) / span
            # Only what was seen twice moves on its own: a keypoint guessed behind an occluder (or another person)
            # jumps, and continuing that jump carries the limb onto someone else. It moves with the root.
            unseen = (keypoints_2d[:, 2] < config.motion_min_confidence) | (
                self.last.keypoints_2d[:, 2] < config.motion_min_confidence)
            velocity[unseen] = velocity[_ROOT]
            self.velocity_2d = velocity
        self.last_frame = frame
        self.last = replace(
            detection,
            keypoints_2d=keypoints_2d,
            bbox=tuple(float(v) for v in detection.bbox),
            score=float(detection.score),
            keypoints_3d=keypoints_3d,
            camera_translation=translation,
            track_id=self.track_id,
            source="detected",
            tracking_confidence=1.0 if self.confirmed else self.evidence(config),
        )
        return self.last

    def image_motion(self, frame: int, config: TrackerConfig) -> np.ndarray:
        """(25, 2) pixels each keypoint is expected to have moved in the image since the last detection.

        The velocity between the last two detections is split into the root's (the body and the camera) and the
        articulation (each keypoint's less the root's), damped per frame by ``velocity_damping`` and
        ``pose_velocity_damping``: a limb mid-swing keeps swinging for a frame or two, then swings back, and a long
        gap ends near where the person was last seen rather than drifting off. The location filter's velocity,
        which averages many frames, lagged behind the real clips' pans and runners (predicted-frame PCK 0.60
        against 0.64 with the last two detections' on the parkour clip)."""
        if self.velocity_2d is None or self.last_frame is None:
            return np.zeros((len(self.last.keypoints_2d), 2))
        velocity = self.velocity_2d
        unseen = frame - self.last_frame
        root = velocity[_ROOT]
        return (root * damped_steps(unseen, config.velocity_damping)
                + (velocity - root) * damped_steps(unseen, config.pose_velocity_damping))

    def image_shift(self, frame: int, config: TrackerConfig) -> np.ndarray:
        """(2,) pixels the body (its root) is expected to have moved in the image since its last detection."""
        return self.image_motion(frame, config)[_ROOT]

    def predict(self, frame: int, focal_length_px: float, image_size: tuple[int, int], config: TrackerConfig) -> Person:
        """The person continued from its last output at ``frame``, in the image first (a camera pan moves everyone):
        each keypoint moves by :meth:`image_motion`. The translation follows the 2D root across the image and the
        location filter in depth; the 3D pose and mesh are carried: extrapolated, the fitted 3D keypoints'
        frame-to-frame noise tripled the predicted PA-MPJPE on the rendered crossing clip."""
        unseen = self.frames_unseen(frame)
        confidence = float(np.exp(-unseen / config.confidence_tau))
        steps = damped_steps(unseen, config.velocity_damping)
        last = self.last
        keypoints_2d = last.keypoints_2d.copy()
        keypoints_2d[:, :2] += self.image_motion(frame, config)
        keypoints_2d[:, 2] *= confidence
        root_before = last.keypoints_2d[_ROOT, :2]
        root_now = keypoints_2d[_ROOT, :2]
        translation, scale = None, 1.0
        if last.camera_translation is not None:
            # Across the image as the 2D root moves (so that the 3D projects where the 2D is); in depth at the location
            # filter's rate, which averages the noisy monocular depth over many frames.
            x, y, z = last.camera_translation
            log_depth_rate = self.location.mean[2, 1] if self.location.has_depth else 0.0
            depth = z * float(np.exp(log_depth_rate * steps))
            u, v = np.array([x / z, y / z]) + (root_now - root_before) / focal_length_px
            translation = np.array([u * depth, v * depth, depth])
            scale = float(z / depth)  # image sizes go as 1 / depth
        x, y, w, h = last.bbox
        corner = root_now + (np.array([x, y]) - root_before) * scale
        return replace(
            last,
            keypoints_2d=keypoints_2d,
            bbox=(float(corner[0]), float(corner[1]), w * scale, h * scale),
            score=last.score * confidence,
            keypoints_3d=last.keypoints_3d,
            camera_translation=translation,
            track_id=self.track_id,
            source="predicted",
            tracking_confidence=confidence,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "track_id": self.track_id,
            "location": self.location.to_dict(),
            "last": _person_to_dict(self.last),
            "hits": self.hits,
            "confirmed": self.confirmed,
            "appearance": None if self.appearance is None else self.appearance.to_dict(),
            "smoothers": {name: s.to_dict() for name, s in self.smoothers.items()},
            "velocity_2d": encode_array(self.velocity_2d),
            "last_frame": self.last_frame,
            "fit_state": self.fit_state,
            "quality": self.quality,
            "support": self.support,
            "shot": self.shot,
            "shown": self.shown,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Track":
        return cls(
            track_id=int(data["track_id"]),
            location=LocationFilter.from_dict(data["location"]),
            last=_person_from_dict(data["last"]),
            hits=int(data["hits"]),
            confirmed=bool(data["confirmed"]),
            appearance=None if data["appearance"] is None else Appearance.from_dict(data["appearance"]),
            smoothers={name: OneEuro.from_dict(s) for name, s in data["smoothers"].items()},
            velocity_2d=decode_array(data["velocity_2d"]),
            last_frame=data["last_frame"],
            fit_state=data["fit_state"],
            quality=float(data["quality"]),
            support=float(data["support"]),
            shot=int(data["shot"]),
            shown=bool(data["shown"]),
        )


def _person_to_dict(person: Person) -> dict[str, Any]:
    """Everything but the mesh (~430 kB of an Anny person's ~450): it is re-posed from ``body_params`` when needed
    (``FramePipeline``), so a state that leaves the process stays small."""
    return {
        "keypoints_2d": encode_array(person.keypoints_2d),
        "bbox": list(person.bbox),
        "score": person.score,
        "keypoints_3d": encode_array(person.keypoints_3d),
        "camera_translation": encode_array(person.camera_translation),
        "body_model": person.body_model,
        "body_params": None if person.body_params is None else {k: encode_array(v) for k, v in person.body_params.items()},
        "tracking_confidence": person.tracking_confidence,
        "fit_confidence": person.fit_confidence,
        "next_region": None if person.next_region is None else [float(v) for v in person.next_region],
    }


def _person_from_dict(data: dict[str, Any]) -> Person:
    return Person(
        keypoints_2d=decode_array(data["keypoints_2d"]),
        bbox=tuple(data["bbox"]),
        score=data["score"],
        keypoints_3d=decode_array(data["keypoints_3d"]),
        camera_translation=decode_array(data["camera_translation"]),
        body_model=data["body_model"],
        body_params=None if data["body_params"] is None else {k: decode_array(v) for k, v in data["body_params"].items()},
        tracking_confidence=data["tracking_confidence"],
        fit_confidence=data["fit_confidence"],
        next_region=None if data["next_region"] is None else tuple(data["next_region"]),
    )
