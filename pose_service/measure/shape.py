"""One body shape per person: a robust aggregate of a track's per-frame shapes, an optional known height as a
constraint on it, and the nine measurements with their uncertainty.

Aggregate: the per-dimension weighted median of the shapes of the frames whose fit confidence reaches
``min_fit_confidence`` (weight: that confidence; a regressed body without one weighs 1), so a run of poor fits
or a few wild ones do not move it. Spread: 1.4826 x the weighted median absolute deviation (a standard deviation
for Gaussian noise).

Sex: a body model with a sex dimension in its shape (Anny's ``gender`` phenotype, 0 male to 1 female) has it set
from a given sex before the height is solved, to the middle of that sex's half of the range (0.25 / 0.75, the mean
of Anny's uniform gender prior on that side); the keypoint fits leave it near the average (0.5), which puts chest,
waist and hip halfway between the two templates. Models without one (SMPL's neutral betas) refuse it.

Height: one camera cannot tell a small near person from a large far one, so without a height the size comes from
the body model's prior through the fit ("scale": "estimated"). With one, the shape parameter that sets the
stature (Anny: its ``height`` phenotype; SMPL: the first beta) is solved so that the neutral body has that
height, the others kept as estimated: a constraint on the estimate, not a rescaling of the result (a rescaled body
would keep the proportions of the wrong height). Uncertainty: each measurement's change when each free shape
parameter moves by its spread, combined in quadrature (first order).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Optional

import numpy as np

from ..body.base import BodyModel
from ..sessions.bodies import Bodies, BodyHistory, Histories, TrackBody
from .body import measure_body, neutral_body

_MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class ShapeEstimate:
    """shape (S,) and spread (S,) in the model's shape parameters; frames_used: rows that entered it."""

    shape: np.ndarray
    spread: np.ndarray
    frames_used: int


def weighted_median(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per column of ``values`` (N, D) with ``weights`` (N,) > 0: the smallest value whose cumulative weight
    reaches half the total. -> (D,)"""
    order = np.argsort(values, axis=0)
    cumulative = np.cumsum(weights[order], axis=0)
    columns = np.arange(values.shape[1])
    rows = order[(cumulative >= 0.5 * cumulative[-1]).argmax(axis=0), columns]
    return values[rows, columns]


def aggregate_shape(shapes: np.ndarray, fit_confidence: np.ndarray,
                    min_fit_confidence: float = 0.5) -> Optional[ShapeEstimate]:
    """A track's shape from its frames' ``shapes`` (N, S) and ``fit_confidence`` (N,) (nan: a regressed body, weight
    1), or None when no frame qualifies."""
    confidence = np.where(np.isnan(fit_confidence), 1.0, fit_confidence).astype(np.float64)
    used = confidence >= min_fit_confidence
    if not used.any():
        return None
    shapes, weights = np.asarray(shapes, np.float64)[used], confidence[used]
    median = weighted_median(shapes, weights)
    spread = np.round(_MAD_TO_SIGMA * weighted_median(np.abs(shapes - median), weights), 2)  # cache-friendly
    return ShapeEstimate(median, spread, int(used.sum()))


def neutral_height_cm(model: BodyModel, shape: np.ndarray) -> float:
    """Vertical extent of the neutral body of ``shape``, cm (the measurements' height)."""
    vertices, _ = neutral_body(model, shape)
    return float(100.0 * np.ptp(vertices[:, 1]))


SEXES: tuple[str, ...] = ("female", "male")
_SEX_PHENOTYPE = {"female": 0.75, "male": 0.25}


def sex_index(model: BodyModel) -> Optional[int]:
    """The shape parameter set from a given sex, or None when the model has none."""
    labels = list(getattr(model, "phenotype_labels", []))
    return labels.index("gender") if "gender" in labels else None


def constrain_sex(model: BodyModel, shape: np.ndarray, sex: Optional[str]) -> np.ndarray:
    """``shape`` with its sex parameter set for ``sex`` (see the module docstring); unchanged for None. Raises
    ValueError for a model without one or an unknown sex."""
    shape = np.array(shape, np.float64)
    if sex is None:
        return shape
    index = sex_index(model)
    if index is None or sex not in _SEX_PHENOTYPE:
        raise ValueError(f"sex {sex!r} cannot be applied to the {model.name} body model")
    phenotype = _SEX_PHENOTYPE[sex]
    shape[index] = np.log(phenotype / (1.0 - phenotype))  # Anny's shape is the phenotype's logit
    return shape


def settled_shape(model: BodyModel, track: TrackBody, height_cm: Optional[float],
                  min_fit_confidence: float = 0.5) -> Optional[np.ndarray]:
    """The one shape of a track (S,): the aggregate of its sampled frames, under ``height_cm`` when given."""
    estimate = aggregate_shape(track.sample_shapes, track.sample_confidence, min_fit_confidence)
    if estimate is None:
        return None
    return estimate.shape if height_cm is None else constrain_height(model, estimate.shape, height_cm)


def stature_index(model: BodyModel) -> int:
    """The shape parameter solved for a given height (see the module docstring)."""
    labels = list(getattr(model, "phenotype_labels", []))
    return labels.index("height") if "height" in labels else 0


def constrain_height(model: BodyModel, shape: np.ndarray, height_cm: float, tolerance_cm: float = 0.05,
                     max_steps: int = 12) -> np.ndarray:
    """``shape`` with its stature parameter solved (secant steps, bounded to +-4) so the neutral body is
    ``height_cm`` tall; the other parameters unchanged."""
    index = stature_index(model)
    shape = np.array(shape, np.float64)

    def residual(value: float) -> float:
        trial = shape.copy()
        trial[index] = value
        return neutral_height_cm(model, trial) - height_cm

    x0, x1 = float(shape[index]), float(shape[index]) + 0.5
    f0, f1 = residual(x0), residual(x1)
    for _ in range(max_steps):
        if abs(f1) <= tolerance_cm or f1 == f0:
            break
        x0, x1, f0 = x1, float(np.clip(x1 - f1 * (x1 - x0) / (f1 - f0), -4.0, 4.0)), f1
        f1 = residual(x1)
    shape[index] = x1
    return shape


_CACHE_SIZE = 256


@lru_cache(maxsize=_CACHE_SIZE)
def _measured_rounded(model: BodyModel, shape: tuple[float, ...]) -> dict[str, float]:
    return measure_body(model, np.array(shape))


def _measured(model: BodyModel, shape: np.ndarray) -> dict[str, float]:
    """``measure_body`` (~0.1 s) of ``shape`` rounded to 1e-3: a settled track asks for the same shapes again."""
    return _measured_rounded(model, tuple(np.round(np.asarray(shape, np.float64), 3).tolist()))


def track_measurements(model: BodyModel, history: BodyHistory, height_cm: Optional[float],
                       min_fit_confidence: float = 0.5, sex: Optional[str] = None,
                       track: Optional[TrackBody] = None) -> Optional[dict[str, Any]]:
    """The ``GET /sessions/<video_id>/measurements`` entry of one track (without its ``track_id``), with the shape
    it measured; None when the track has no qualifying frame. ``sex``: see :func:`constrain_sex`; ``track``: the
    track's state, whose settled shape (what its meshes are served with) is measured when it applies."""
    estimate = aggregate_shape(history.shape, history.fit_confidence, min_fit_confidence)
    if estimate is None:
        return None
    settled = track is not None and track.settled_shape is not None and track.settled_height_cm == height_cm
    if sex is None and settled:
        shape = track.settled_shape.astype(np.float64)
    else:
        shape = constrain_sex(model, estimate.shape, sex)
        shape = shape if height_cm is None else constrain_height(model, shape, height_cm)
    values = _measured(model, shape)
    fixed = {stature_index(model)} if height_cm is not None else set()
    fixed |= {sex_index(model)} if sex is not None else set()
    free = [i for i in range(len(shape)) if i not in fixed]
    variance = {name: 0.0 for name in values}
    for i in free:
        if estimate.spread[i] <= 0:
            continue
        moved = shape.copy()
        moved[i] += estimate.spread[i]
        for name, value in _measured(model, moved).items():
            variance[name] += (value - values[name]) ** 2
    if height_cm is not None:
        variance["height"] = 0.0  # solved to the given value
    return {
        "frames_used": estimate.frames_used,
        "scale": "estimated" if height_cm is None else "given",
        "height_cm_given": height_cm,
        "body_model": history.body_model,
        "measurements_cm": {name: round(float(v), 1) for name, v in values.items()},
        "uncertainty_cm": {name: round(float(np.sqrt(v)), 1) for name, v in variance.items()},
        "shape": shape,
    }


def video_measurements(model: BodyModel, bodies: Bodies, histories: Histories,
                       primary_id: Optional[int]) -> list[dict[str, Any]]:
    """Every track's entry of ``GET /sessions/<video_id>/measurements`` (tracks without a qualifying frame, or
    whose history is gone, left out), in track order."""
    tracks = []
    for track_id in sorted(set(bodies.tracks) & set(histories.tracks)):
        entry = track_measurements(model, histories.tracks[track_id], bodies.height_for(track_id, primary_id),
                                   track=bodies.tracks[track_id])
        if entry is not None:
            entry.pop("shape")
            tracks.append({"track_id": track_id, **entry})
    return tracks
