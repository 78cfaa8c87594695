"""One track: life cycle, location filter, appearance, output smoothing, and predictions while unseen.

Life cycle: ``tentative`` (new; reported from its first frame) -> ``confirmed`` after ``n_init`` detections ->
``lost`` while unseen (reported as predicted) -> back to ``confirmed`` when re-detected, or deleted after
``max_age`` frames unseen. A tentative track is deleted after more than ``tentative_max_misses`` frames unseen
and is never reported as predicted.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal, Optional

import numpy as np

from ..conventions import project
from ..types import Person
from .appearance import Appearance, blend
from .config import TrackerConfig
from .cost import Cues, pose_mask
from .kalman import LocationFilter
from .one_euro import OneEuro
from .serial import decode_array, encode_array

SMOOTHED = ("keypoints_2d", "keypoints_3d", "camera_translation")


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
    fit_state: Optional[dict[str, Any]] = None

    def state(self, frame: int) -> Literal["tentative", "confirmed", "lost"]:
        if not self.confirmed:
            return "tentative"
        return "confirmed" if self.frames_unseen(frame) == 0 else "lost"

    def frames_unseen(self, frame: int) -> int:
        return frame - self.location.frame

    def expired(self, frame: int, config: TrackerConfig) -> bool:
        limit = config.max_age if self.confirmed else config.tentative_max_misses
        return self.frames_unseen(frame) > limit

    def cues(self, frame: int, config: TrackerConfig) -> tuple[Cues, np.ndarray]:
        """The track as association sees it at ``frame`` and its innovation variance."""
        mean, variance = self.location.innovation(frame, config.kalman)
        if not self.location.has_depth:
            mean[2] = np.nan
        return Cues(mean, self.last.keypoints_3d, pose_mask(self.last.keypoints_2d), self.appearance), variance

    def update(
        self, detection: Person, cues: Cues, frame: int, image_size: tuple[int, int], config: TrackerConfig
    ) -> Person:
        """Absorb a matched detection; returns the person to report."""
        self.location.update(cues.location, frame, config.kalman)
        self.hits += 1
        self.confirmed = self.confirmed or self.hits >= config.n_init
        if cues.appearance is not None:
            weight = config.appearance_alpha * detection.score**2
            self.appearance = cues.appearance if self.appearance is None else blend(self.appearance, cues.appearance, weight)
        return self.observe(detection, frame, image_size, config)

    def observe(self, detection: Person, frame: int, image_size: tuple[int, int], config: TrackerConfig) -> Person:
        """Smooth a detection of this track (the first one too), remember it and return the person to report."""
        if detection.fit_state is not None:
            self.fit_state = detection.fit_state
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
        self.last = replace(
            detection,
            keypoints_2d=keypoints_2d,
            bbox=tuple(float(v) for v in detection.bbox),
            score=float(detection.score),
            keypoints_3d=keypoints_3d,
            camera_translation=translation,
            track_id=self.track_id,
            source="detected",
            tracking_confidence=1.0 if self.confirmed else self.hits / config.n_init,
            fit_state=self.fit_state,
        )
        return self.last

    def predict(self, frame: int, focal_length_px: float, image_size: tuple[int, int], config: TrackerConfig) -> Person:
        """The person where the filter expects it at ``frame``: pose and mesh carried, 2D from the new location."""
        confidence = float(np.exp(-self.frames_unseen(frame) / config.confidence_tau))
        (u, v, n), (u0, v0, n0) = self.location.predict(frame, config.kalman)[0][:, 0], self.location.mean[:, 0]
        depth_ratio = float(np.exp(n0 - n)) if self.location.has_depth else 1.0
        width, height = image_size
        centre = np.array([width / 2, height / 2])
        root_before = centre + focal_length_px * np.array([u0, v0])
        root_now = centre + focal_length_px * np.array([u, v])
        translation = np.array([u, v, 1.0]) * np.exp(n) if self.location.has_depth else None

        keypoints_3d = self._extrapolated_pose(frame, config)
        keypoints_2d = self.last.keypoints_2d.copy()
        if translation is not None and keypoints_3d is not None:
            points = keypoints_3d + translation
            keypoints_2d[:, :2] = project(points, focal_length_px, image_size)
        else:
            keypoints_2d[:, :2] = root_now + (keypoints_2d[:, :2] - root_before) * depth_ratio
        keypoints_2d[:, 2] *= confidence
        x, y, w, h = self.last.bbox
        corner = root_now + (np.array([x, y]) - root_before) * depth_ratio
        return replace(
            self.last,
            keypoints_2d=keypoints_2d,
            bbox=(float(corner[0]), float(corner[1]), w * depth_ratio, h * depth_ratio),
            score=self.last.score * confidence,
            keypoints_3d=keypoints_3d,
            camera_translation=translation,
            track_id=self.track_id,
            source="predicted",
            tracking_confidence=confidence,
            fit_state=self.fit_state,
        )

    def _extrapolated_pose(self, frame: int, config: TrackerConfig) -> Optional[np.ndarray]:
        """The last root-relative 3D keypoints moved on at the One-Euro filter's velocity estimate for up to
        ``pose_extrapolation_s`` (a limb mid-swing keeps swinging for a few frames); the last pose without one."""
        pose, speed = self.last.keypoints_3d, self.smoothers["keypoints_3d"].speed
        if pose is None or speed is None or speed.shape != pose.shape:
            return pose
        horizon = min(self.frames_unseen(frame) / config.smoothing.fps, config.pose_extrapolation_s)
        return pose + speed * horizon

    def to_dict(self) -> dict[str, Any]:
        return {
            "track_id": self.track_id,
            "location": self.location.to_dict(),
            "last": _person_to_dict(self.last),
            "hits": self.hits,
            "confirmed": self.confirmed,
            "appearance": None if self.appearance is None else self.appearance.to_dict(),
            "smoothers": {name: s.to_dict() for name, s in self.smoothers.items()},
            "fit_state": self.fit_state,
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
            fit_state=data["fit_state"],
        )


def _person_to_dict(person: Person) -> dict[str, Any]:
    return {
        "keypoints_2d": encode_array(person.keypoints_2d),
        "bbox": list(person.bbox),
        "score": person.score,
        "keypoints_3d": encode_array(person.keypoints_3d),
        "camera_translation": encode_array(person.camera_translation),
        "vertices": encode_array(person.vertices),
        "body_model": person.body_model,
        "body_params": None if person.body_params is None else {k: encode_array(v) for k, v in person.body_params.items()},
        "tracking_confidence": person.tracking_confidence,
    }


def _person_from_dict(data: dict[str, Any]) -> Person:
    return Person(
        keypoints_2d=decode_array(data["keypoints_2d"]),
        bbox=tuple(data["bbox"]),
        score=data["score"],
        keypoints_3d=decode_array(data["keypoints_3d"]),
        camera_translation=decode_array(data["camera_translation"]),
        vertices=decode_array(data["vertices"]),
        body_model=data["body_model"],
        body_params=None if data["body_params"] is None else {k: decode_array(v) for k, v in data["body_params"].items()},
        tracking_confidence=data["tracking_confidence"],
    )
