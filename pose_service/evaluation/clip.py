"""Scoring the service on a synthetic clip with ground truth (:mod:`pose_service.synth`).

Per frame, the reported people are matched one to one (Hungarian, scipy) to the ground-truth people in view by the
mean 2D distance over the ground truth's visible keypoints; a pair farther apart than ``match_fraction`` of the
person's box height is no match. Then, over the clip:

* detected people: MPJPE, N-MPJPE (scale-aligned) and PA-MPJPE (Procrustes-aligned) of the root-relative 3D
  keypoints (mm, all 25 BODY_25 joints), the median 2D keypoint error over visible keypoints (px), and whether a
  mesh came with them;
* predicted people: the same 3D errors, listed with the gap length (frames since the track's last detection);
* coverage per identity: frames in view with a matched person / frames in view;
* identity switches: times an identity's matched track id changes.

:class:`DetectorComparison` pairs, for the same detected people, the 3D error of the reported body with that of the
detector's own 3D keypoints (MediaPipe's world landmarks on the embedded backend), over the 12 body joints: the fit
must improve on its input to be worth its cost. It also counts the fits served with a confidence below 0.5
(down-weighted) and those not served (rejected), and the body's error on confident and down-weighted fits apart.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..conventions import BODY12_INDICES
from ..types import Person
from .keypoints3d import mpjpe, n_mpjpe, pa_mpjpe


@dataclass
class ClipScore:
    pa_mpjpe_mm: list[float] = field(default_factory=list)
    n_mpjpe_mm: list[float] = field(default_factory=list)
    mpjpe_mm: list[float] = field(default_factory=list)
    error_2d_px: list[float] = field(default_factory=list)
    detected_without_mesh: int = 0
    predicted: list[tuple[int, float, float, float]] = field(default_factory=list)
    """(gap length in frames, MPJPE, N-MPJPE, PA-MPJPE in mm) per predicted person."""
    in_view: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    covered: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    track_ids: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    """identity -> matched track id per covered frame, in order."""

    @property
    def identity_switches(self) -> int:
        return sum(int(np.count_nonzero(np.diff(ids))) for ids in self.track_ids.values())

    def summary(self, max_gap: int = 5) -> dict[str, Any]:
        short = [p for p in self.predicted if p[0] <= max_gap]
        return {
            "detected": len(self.pa_mpjpe_mm),
            "pa_mpjpe_mm": float(np.mean(self.pa_mpjpe_mm)) if self.pa_mpjpe_mm else None,
            "n_mpjpe_mm": float(np.mean(self.n_mpjpe_mm)) if self.n_mpjpe_mm else None,
            "mpjpe_mm": float(np.mean(self.mpjpe_mm)) if self.mpjpe_mm else None,
            "median_2d_px": float(np.median(self.error_2d_px)) if self.error_2d_px else None,
            "detected_without_mesh": self.detected_without_mesh,
            "predicted": len(self.predicted),
            f"predicted_mpjpe_mm_gaps_le_{max_gap}": float(np.mean([p[1] for p in short])) if short else None,
            f"predicted_n_mpjpe_mm_gaps_le_{max_gap}": float(np.mean([p[2] for p in short])) if short else None,
            f"predicted_pa_mpjpe_mm_gaps_le_{max_gap}": float(np.mean([p[3] for p in short])) if short else None,
            "coverage": {i: self.covered[i] / n for i, n in self.in_view.items()},
            "identity_switches": self.identity_switches,
            "track_ids": {i: sorted(set(ids)) for i, ids in self.track_ids.items()},
        }


def match(people: list[Person], truth: dict[int, dict[str, Any]], match_fraction: float = 0.5) -> dict[int, int]:
    """identity -> index into ``people`` for the ground-truth people in view."""
    identities = [i for i, t in truth.items() if t["in_view"] and t["visible"].any()]
    if not identities or not people:
        return {}
    cost = np.full((len(identities), len(people)), np.inf)
    for r, identity in enumerate(identities):
        gt = truth[identity]
        for c, person in enumerate(people):
            cost[r, c] = np.linalg.norm(person.keypoints_2d[gt["visible"], :2] - gt["keypoints_2d"][gt["visible"]], axis=1).mean()
    rows, cols = linear_sum_assignment(np.where(np.isfinite(cost), cost, 1e9))
    return {
        identities[r]: int(c)
        for r, c in zip(rows, cols)
        if cost[r, c] <= match_fraction * truth[identities[r]]["bbox"][3]
    }


def score_frame(score: ClipScore, people: list[Person], truth: dict[int, dict[str, Any]],
                last_detected: dict[int, int], frame: int) -> None:
    """Add one frame's people to ``score``; ``last_detected`` (track id -> frame) is updated in place."""
    for person in people:
        if person.source == "detected" and person.track_id is not None:
            last_detected[person.track_id] = frame
    matches = match(people, truth)
    for identity, t in truth.items():
        if t["in_view"] and t["visible"].any():
            score.in_view[identity] += 1
    for identity, index in matches.items():
        person, gt = people[index], truth[identity]
        score.covered[identity] += 1
        if person.track_id is not None:
            score.track_ids[identity].append(person.track_id)
        if person.keypoints_3d is None:
            continue
        errors = tuple(1000 * f(person.keypoints_3d, gt["joints_rel"]) for f in (mpjpe, n_mpjpe, pa_mpjpe))
        if person.source == "detected":
            score.mpjpe_mm.append(errors[0])
            score.n_mpjpe_mm.append(errors[1])
            score.pa_mpjpe_mm.append(errors[2])
            visible = gt["visible"]
            score.error_2d_px.extend(np.linalg.norm(person.keypoints_2d[visible, :2] - gt["keypoints_2d"][visible], axis=1))
            score.detected_without_mesh += person.vertices is None
        else:
            gap = frame - last_detected.get(person.track_id, frame)
            score.predicted.append((gap, *errors))



@dataclass
class DetectorComparison:
    """Per detected person matched to the ground truth: PA-MPJPE and N-MPJPE (mm, root-relative, the 12 body
    joints) of the reported body and of the detector's 3D keypoints for the same person in the same frame."""

    body_pa_mm: list[float] = field(default_factory=list)
    detector_pa_mm: list[float] = field(default_factory=list)
    body_n_mm: list[float] = field(default_factory=list)
    detector_n_mm: list[float] = field(default_factory=list)
    fit_confidence: list[float] = field(default_factory=list)
    """Per person (as above): the body's fit confidence, nan where none was fitted."""
    rejected: list[bool] = field(default_factory=list)
    """Per person: a fit was made and not served (no mesh; the detector's 3D stands in)."""

    def add(self, people: list[Person], truth: dict[int, dict[str, Any]], detections: list[Person]) -> None:
        """``detections``: what the detector gave the body stage this frame (with its own ``keypoints_3d``). Each
        reported detected person is paired with the detection nearest to it in 2D (the reported keypoints are the
        detector's where it saw them)."""
        candidates = [d for d in detections if d.keypoints_3d is not None]
        for identity, index in match(people, truth).items():
            person = people[index]
            if person.source != "detected" or person.keypoints_3d is None or not candidates:
                continue
            detection = min(candidates, key=lambda d: float(np.linalg.norm(
                d.keypoints_2d[BODY12_INDICES, :2] - person.keypoints_2d[BODY12_INDICES, :2], axis=1).mean()))
            gt = truth[identity]["joints_rel"][BODY12_INDICES]
            body, detector = person.keypoints_3d[BODY12_INDICES], detection.keypoints_3d[BODY12_INDICES]
            self.body_pa_mm.append(1000 * pa_mpjpe(body, gt))
            self.detector_pa_mm.append(1000 * pa_mpjpe(detector, gt))
            self.body_n_mm.append(1000 * n_mpjpe(body, gt))
            self.detector_n_mm.append(1000 * n_mpjpe(detector, gt))
            fitted = person.fit_confidence is not None
            self.fit_confidence.append(person.fit_confidence if fitted else float("nan"))
            self.rejected.append(fitted and person.vertices is None)

    def summary(self) -> dict[str, Any]:
        def mean(values: list[float]) -> Optional[float]:
            return float(np.mean(values)) if values else None

        body_pa, detector_pa = mean(self.body_pa_mm), mean(self.detector_pa_mm)
        confidence, rejected = np.array(self.fit_confidence), np.array(self.rejected, bool)
        low = (confidence < 0.5) & ~rejected  # nan (no fit) compares False
        pa = np.array(self.body_pa_mm)
        return {
            "people": len(self.body_pa_mm),
            "body_pa_mpjpe_mm": body_pa,
            "detector_pa_mpjpe_mm": detector_pa,
            "pa_ratio": body_pa / detector_pa if body_pa is not None and detector_pa else None,
            "body_n_mpjpe_mm": mean(self.body_n_mm),
            "detector_n_mpjpe_mm": mean(self.detector_n_mm),
            "down_weighted_share": float(low.mean()) if len(low) else None,
            "rejected_share": float(rejected.mean()) if len(rejected) else None,
            "body_pa_mpjpe_mm_confident": mean(list(pa[confidence >= 0.5])),
            "body_pa_mpjpe_mm_down_weighted": mean(list(pa[low])),
        }
