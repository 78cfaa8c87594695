"""PHALP-style online multi-person tracker, one per video: associate, update, predict the missed, smooth, and
choose the video's primary person.

A frame is tracked in two calls, so that a body stage can sit between them: :meth:`Tracker.associate` matches the
detections to the tracks and says which will be reported (and each one's previous body-fit state);
:meth:`Tracker.commit` lets the tracks absorb the detections, with the bodies fitted in between if any.
:meth:`Tracker.step` is both at once, without a body stage.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Optional

import numpy as np

from ..conventions import default_focal_length
from ..types import Hint, Person
from .appearance import describe
from .config import TrackerConfig
from .cost import Cues, assign, cost_matrix, detection_cues
from .kalman import LocationFilter
from .scene import is_cut, thumbnail
from .serial import decode_array, encode_array
from .track import Track, detection_quality, inside_fraction, overlap_fraction


FitState = Optional[dict[str, Any]]
"""A body stage's opaque, JSON-safe state of one person, kept by its track for the next frame's warm start."""


@dataclass
class Association:
    """One frame's detections matched to the tracks (:meth:`Tracker.associate`), before the tracks absorb them.
    Valid for one :meth:`Tracker.commit` on the same tracker, with no other change to it in between."""

    frame_index: int
    detections: list[Person]
    cues: list[Cues]
    matches: list[tuple[int, int]]
    """(track index, detection index)."""
    unmatched_tracks: list[int]
    unmatched_detections: list[int]
    """Detections that start new tracks."""
    shown: list[bool]
    """Per detection: whether it is reported (a held-back track's is not, see :attr:`Track.shown`)."""
    previous_fits: list[FitState]
    """Per detection: its matched track's last body-fit state (None for a new track)."""
    focal: float
    image_size: tuple[int, int]

    @property
    def reported(self) -> list[int]:
        """The detections that are reported: those a body stage should fit."""
        return [d for d, shown in enumerate(self.shown) if shown]


class Tracker:
    """Feed frames in order with :meth:`step`. Track ids start at ``first_id`` and are never reused by one tracker.

    Besides the tracks it keeps the video's primary person (``primary_id``: the track with the most support,
    changed only for one with ``primary_switch_ratio`` times more) and the last informative frame's thumbnail,
    to notice shot cuts (:mod:`.scene`).
    """

    def __init__(self, config: Optional[TrackerConfig] = None, first_id: int = 1) -> None:
        self.config = config or TrackerConfig()
        self.tracks: list[Track] = []
        self.next_id = first_id
        self.primary_id: Optional[int] = None
        self.shot = 0
        self.thumbnail: Optional[np.ndarray] = None

    def step(
        self,
        frame_index: int,
        detections: list[Person],
        image_rgb: Optional[np.ndarray] = None,
        focal_length_px: Optional[float] = None,
        image_size: Optional[tuple[int, int]] = None,
    ) -> list[Person]:
        """Track one frame without a body stage: :meth:`associate`, then :meth:`commit`."""
        return self.commit(self.associate(frame_index, detections, image_rgb, focal_length_px, image_size))

    def associate(
        self,
        frame_index: int,
        detections: list[Person],
        image_rgb: Optional[np.ndarray] = None,
        focal_length_px: Optional[float] = None,
        image_size: Optional[tuple[int, int]] = None,
    ) -> Association:
        """Match one frame's detections to the tracks (changes nothing but the shot count on a cut).

        ``image_rgb`` (H, W, 3) uint8 enables the appearance cue (a detection's own ``appearance``, if made
        already, is used) and cut detection; ``image_size`` (width, height) is required without it.
        ``focal_length_px`` defaults to :func:`~pose_service.conventions.default_focal_length`.
        """
        if image_size is None:
            if image_rgb is None:
                raise ValueError("give image_size when no image is given")
            image_size = (image_rgb.shape[1], image_rgb.shape[0])
        focal = focal_length_px or default_focal_length(*image_size)
        config = self.config
        if image_rgb is not None:
            self._notice_cut(image_rgb)
        cues = [
            detection_cues(d, focal, image_size, d.appearance if d.appearance is not None or image_rgb is None
                           else describe(image_rgb, d.keypoints_2d))
            for d in detections
        ]
        predicted = [track.cues(frame_index, config, self.shot) for track in self.tracks]
        cost = cost_matrix([c for c, _ in predicted], [v for _, v in predicted], cues, config.cost)
        matches, unmatched_tracks, unmatched_detections = assign(cost, config.cost.gate)
        # A second solution for a tracked body (the detector's whole-frame and zoomed-in views can disagree on a
        # cut or blurred body) starts no track: born beside the real one, it competes for the person's next
        # detections after a miss and can take them, and with them the person's id.
        tracked_boxes = [detections[d].bbox for _, d in matches]
        unmatched_detections = [
            d for d in unmatched_detections
            if not any(overlap_fraction(detections[d].bbox, box) >= config.duplicate_overlap for box in tracked_boxes)
        ]

        # Who is reported: matched tracks that are shown, and new tracks that qualify to be shown at once.
        owner: list[Optional[Track]] = [None] * len(detections)
        for t, d in matches:
            owner[d] = self.tracks[t]
        new = set(unmatched_detections)
        shown = [owner[d].shown if owner[d] is not None else d in new and self._shown_at_once(detections[d])
                 for d in range(len(detections))]
        previous = [None if track is None else track.fit_state for track in owner]
        return Association(frame_index, list(detections), cues, matches, unmatched_tracks, unmatched_detections,
                           shown, previous, focal, image_size)

    def commit(self, association: Association, fitted: Optional[dict[int, tuple[Person, FitState]]] = None
               ) -> list[Person]:
        """Let the tracks absorb the frame's detections (``fitted``: detection index -> the person with its body
        and its new fit state, for some of :attr:`Association.reported`), predict the missed, choose the primary
        person. Returns the people to report: the primary person first (see :meth:`_ordered`), then the other
        detections (with ``track_id``, ``source="detected"`` and ``tracking_confidence``, outputs smoothed) by
        score, then predicted people for lost confirmed tracks."""
        config, frame_index, image_size = self.config, association.frame_index, association.image_size
        detections, cues = list(association.detections), list(association.cues)
        fit_states: list[FitState] = [None] * len(detections)
        for d, (person, state) in (fitted or {}).items():
            detections[d], fit_states[d] = person, state
            # The detector's 2D root stays the image location (a fit can be off on a hard frame); a fitted
            # detection adds the depth it lacked.
            cues[d] = _with_depth(cues[d], detection_cues(person, association.focal, image_size, None))

        outputs: list[Optional[Person]] = [None] * len(detections)
        for t, d in association.matches:
            track = self.tracks[t]
            person = track.update(detections[d], cues[d], frame_index, image_size, config, self.shot, fit_states[d])
            track.shown = track.shown or track.confirmed
            outputs[d] = person if track.shown else None
        for d in association.unmatched_detections:
            track = Track(self.next_id, LocationFilter.start(cues[d].location, frame_index, config.kalman), detections[d],
                          appearance=cues[d].appearance, shot=self.shot, shown=association.shown[d])
            track.absorb_evidence(detections[d], image_size, config)
            self.next_id += 1
            self.tracks.append(track)
            person = track.observe(detections[d], frame_index, image_size, config, fit_states[d])
            outputs[d] = person if track.shown else None

        missed = [self.tracks[t] for t in association.unmatched_tracks]
        self.tracks = [t for t in self.tracks if not t.expired(frame_index, config)]
        predictions = []
        for track in sorted(missed, key=lambda t: t.track_id):
            if track.shot != self.shot or track.frames_unseen(frame_index) > track.predicted_frames(config):
                continue
            person = track.predict(frame_index, association.focal, image_size, config)
            if inside_fraction(person.bbox, image_size) >= 1.0 - config.max_outside:
                predictions.append(person)
        self._choose_primary()
        return self._ordered([p for p in outputs if p is not None], predictions)

    def hints(self, frame_index: int) -> list[Hint]:
        """Where the detector should look for the tracks in frame ``frame_index``.

        A confirmed track detected in the previous frame hands on the detector's own region (its landmark model
        then follows the person without the person detector, as MediaPipe's tracking does); a new find, shown or
        held back, gets its box but no region, so it must be found again by the detector to count: left to follow
        a one-off false positive, BlazePose's landmark model keeps "seeing" it. A shown track missed since is
        looked for where it is expected (its last box and region moved on as its prediction moves): one missed
        frame must not lose a person whom only the landmark model was still following. A lost bystander is looked
        for less often the longer it stays lost (``TrackerConfig.lost_search_frames``). A track of an earlier shot
        gives no hint: where it was says nothing after a cut (it is found again by appearance, as it is not
        predicted).
        """
        hints, lost = [], []
        for track in self.tracks:
            if track.shot != self.shot:
                continue
            unseen = frame_index - track.location.frame
            if not track.shown:
                if unseen <= 1:  # held back: it must be found again by the detector to earn its place
                    hints.append(Hint(track.last.bbox))
                continue
            if unseen <= 1:
                region = track.last.next_region if track.confirmed else None
                hints.append(Hint(track.last.bbox, region))
            else:
                lost.append(track)
        seen_boxes = [hint.box for hint in hints]
        for track in lost:
            missed = frame_index - track.location.frame - 1
            if track.track_id != self.primary_id and missed > self.config.lost_search_frames \
                    and missed % self.config.lost_search_every:
                continue
            dx, dy = track.image_shift(frame_index, self.config)
            x, y, w, h = track.last.bbox
            box = (x + dx, y + dy, w, h)
            region = track.last.next_region if track.confirmed else None
            # Behind someone seen (their boxes overlap), the landmark model would follow whoever fills the crop.
            if region is not None and not any(overlap_fraction(box, other) > 0.3 for other in seen_boxes):
                region = (region[0] + dx, region[1] + dy, region[2], region[3])
            else:
                region = None
            hints.append(Hint(box, region, lost=True))
        return hints

    def _shown_at_once(self, detection: Person) -> bool:
        """Whether a new track is reported from its first detection: always while the current shot has no
        confirmed track; otherwise only a clear detection (``show_quality``) at least ``show_min_height`` times as
        tall as the primary person: a small, one-off find in the background (a spectator, a shape in a fence)
        waits for confirmation."""
        confirmed = [t for t in self.tracks if t.confirmed and t.shot == self.shot]
        if not confirmed:
            return True
        primary = next((t for t in confirmed if t.track_id == self.primary_id), None)
        tallest = max(t.last.bbox[3] for t in confirmed) if primary is None else primary.last.bbox[3]
        return (detection_quality(detection) >= self.config.show_quality
                and detection.bbox[3] >= self.config.show_min_height * tallest)

    def _notice_cut(self, image_rgb: np.ndarray) -> None:
        """Start a new shot when this frame cuts from the last informative one (flat frames are skipped)."""
        current = thumbnail(image_rgb)
        if current is None:
            return
        if self.thumbnail is not None and is_cut(
            self.thumbnail, current, self.config.cut_min_difference, self.config.cut_max_correlation
        ):
            self.shot += 1
        self.thumbnail = current

    def _choose_primary(self) -> None:
        """The video's main subject: the shown track with the most support, kept until another has
        ``primary_switch_ratio`` times more (or it is gone)."""
        candidates = [t for t in self.tracks if t.shown and t.shot == self.shot] or [t for t in self.tracks if t.shown]
        if not candidates:
            self.primary_id = None
            return
        best = max(candidates, key=lambda t: t.support)
        current = next((t for t in candidates if t.track_id == self.primary_id), None)
        if current is None or best.support > self.config.primary_switch_ratio * current.support:
            self.primary_id = best.track_id

    def _ordered(self, detected: list[Person], predicted: list[Person]) -> list[Person]:
        """People in report order. First the primary person if detected; else, while anyone is detected, the
        detected person whose track has the most support (a prediction never leads while someone is seen); else
        the primary person's prediction, or the best supported prediction. Then detections by score, then
        predictions by confidence."""
        support = {t.track_id: t.support for t in self.tracks}
        detected = sorted(detected, key=lambda p: -p.score)
        predicted = sorted(predicted, key=lambda p: -(p.tracking_confidence or 0.0))
        pool = detected or predicted
        if not pool:
            return []
        lead = next((p for p in pool if p.track_id == self.primary_id), None)
        lead = lead or max(pool, key=lambda p: support.get(p.track_id, 0.0))
        return [lead] + [p for p in detected + predicted if p is not lead]

    def to_state(self) -> dict[str, Any]:
        """JSON-safe state; :meth:`from_state` of it continues exactly as this tracker would."""
        return {
            "config": self.config.to_dict(),
            "next_id": self.next_id,
            "primary_id": self.primary_id,
            "shot": self.shot,
            "thumbnail": encode_array(self.thumbnail),
            "tracks": [t.to_dict() for t in self.tracks],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "Tracker":
        tracker = cls(TrackerConfig.from_dict(state["config"]), int(state["next_id"]))
        tracker.primary_id = state["primary_id"]
        tracker.shot = int(state["shot"])
        tracker.thumbnail = decode_array(state["thumbnail"])
        tracker.tracks = [Track.from_dict(t) for t in state["tracks"]]
        return tracker


def _with_depth(cues: Cues, fitted: Cues) -> Cues:
    """``cues`` with the fitted detection's depth where it had none."""
    if np.isfinite(cues.location[2]) or not np.isfinite(fitted.location[2]):
        return cues
    return replace(cues, location=np.array([cues.location[0], cues.location[1], fitted.location[2]]))
