"""PHALP-style online multi-person tracker, one per video: associate, update, predict the missed, smooth."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, Optional

import numpy as np

from ..conventions import default_focal_length
from ..types import Person
from .appearance import describe
from .config import TrackerConfig
from .cost import Cues, assign, cost_matrix, detection_cues
from .kalman import LocationFilter
from .track import Track


Refine = Callable[[list[Person], list[Optional[dict[str, Any]]]], list[Person]]
"""refine(detections, fit_states) -> detections: called between association and update with each detection's
matched track's ``fit_state`` (None for a new track), e.g. to fit a body warm-started from that track's last fit.
It returns the detections to absorb, in the same order, each carrying its new ``fit_state``."""


class Tracker:
    """Feed frames in order with :meth:`step`. Track ids start at 1 and are never reused by one tracker."""

    def __init__(self, config: Optional[TrackerConfig] = None) -> None:
        self.config = config or TrackerConfig()
        self.tracks: list[Track] = []
        self.next_id = 1

    def step(
        self,
        frame_index: int,
        detections: list[Person],
        image_rgb: Optional[np.ndarray] = None,
        focal_length_px: Optional[float] = None,
        image_size: Optional[tuple[int, int]] = None,
        refine: Optional[Refine] = None,
    ) -> list[Person]:
        """Track one frame. Returns the detections (same order, with ``track_id``, ``source="detected"`` and
        ``tracking_confidence``, outputs smoothed) followed by predicted people for confirmed tracks unseen here.

        ``image_rgb`` (H, W, 3) uint8 enables the appearance cue; ``image_size`` (width, height) is required
        without it. ``focal_length_px`` defaults to :func:`~pose_service.conventions.default_focal_length`.
        ``refine`` (see :data:`Refine`) sees the association before the tracks absorb the detections.
        """
        if image_size is None:
            if image_rgb is None:
                raise ValueError("give image_size when no image is given")
            image_size = (image_rgb.shape[1], image_rgb.shape[0])
        focal = focal_length_px or default_focal_length(*image_size)
        config = self.config
        cues = [
            detection_cues(d, focal, image_size, None if image_rgb is None else describe(image_rgb, d.keypoints_2d))
            for d in detections
        ]
        predicted = [track.cues(frame_index, config) for track in self.tracks]
        cost = cost_matrix([c for c, _ in predicted], [v for _, v in predicted], cues, config.cost)
        matches, unmatched_tracks, unmatched_detections = assign(cost, config.cost.gate)
        if refine is not None:
            previous: list[Optional[dict[str, Any]]] = [None] * len(detections)
            for t, d in matches:
                previous[d] = self.tracks[t].fit_state
            detections = refine(detections, previous)
            # The detector's 2D root stays the image location (a fit can be off on a hard frame); a refined
            # detection adds the depth it lacked.
            cues = [_with_depth(c, detection_cues(d, focal, image_size, None)) for d, c in zip(detections, cues)]

        outputs: list[Optional[Person]] = [None] * len(detections)
        for t, d in matches:
            outputs[d] = self.tracks[t].update(detections[d], cues[d], frame_index, image_size, config)
        for d in unmatched_detections:
            track = Track(self.next_id, LocationFilter.start(cues[d].location, frame_index, config.kalman), detections[d],
                          confirmed=config.n_init <= 1, appearance=cues[d].appearance)
            self.next_id += 1
            self.tracks.append(track)
            outputs[d] = track.observe(detections[d], frame_index, image_size, config)

        missed = [self.tracks[t] for t in unmatched_tracks]
        self.tracks = [t for t in self.tracks if not t.expired(frame_index, config)]
        predictions = [
            t.predict(frame_index, focal, image_size, config)
            for t in sorted(missed, key=lambda t: t.track_id)
            if t.confirmed and not t.expired(frame_index, config)
        ]
        return [p for p in outputs if p is not None] + predictions

    def to_state(self) -> dict[str, Any]:
        """JSON-safe state; :meth:`from_state` of it continues exactly as this tracker would."""
        return {"config": self.config.to_dict(), "next_id": self.next_id, "tracks": [t.to_dict() for t in self.tracks]}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "Tracker":
        tracker = cls(TrackerConfig.from_dict(state["config"]))
        tracker.next_id = int(state["next_id"])
        tracker.tracks = [Track.from_dict(t) for t in state["tracks"]]
        return tracker


def _with_depth(cues: Cues, refined: Cues) -> Cues:
    """``cues`` with the refined detection's depth where it had none."""
    if np.isfinite(cues.location[2]) or not np.isfinite(refined.location[2]):
        return cues
    return replace(cues, location=np.array([cues.location[0], cues.location[1], refined.location[2]]))
