"""The avatar flow: one to a few photos of one person (front, side, back) -> one body shape and its measurements.

Each photo is fitted on its own (a cold fit in a throw-away session: photos are not a video, no motion links
them); the main person of each gives one shape sample, and the samples are aggregated and measured as a track's
frames are (:mod:`pose_service.measure.shape`).
"""

from __future__ import annotations

import uuid
from typing import Any, Optional

import numpy as np

from ..pipeline import FramePipeline, FrameRequest
from ..sessions.bodies import BodyHistory, BodyRow


class PhotoMeasurementError(ValueError):
    """No usable person in the photos; ``code``: ``no_person`` or ``poor_fit``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def measure_photos(pipeline: FramePipeline, images: list[np.ndarray], height_cm: Optional[float],
                   sex: Optional[str] = None) -> dict[str, Any]:
    """``images``: RGB uint8 photos; ``sex``: "female", "male" or None (see ``measure.shape.constrain_sex``).
    Returns the measurement entry (as a track's in ``GET /sessions/<video_id>/measurements``) with ``sex_given``,
    ``photos``, ``photos_used``, ``shape`` (S,) and ``vertices`` (V, 3), the neutral-pose body. Raises
    :class:`PhotoMeasurementError`, or ValueError for a sex the body model cannot take (after fitting: check first)."""
    from ..measure.body import neutral_body  # torch: only with a body model
    from ..measure.shape import track_measurements

    history = None
    for index, image in enumerate(images):
        video_id = f"photo-{uuid.uuid4().hex}"
        try:
            result = pipeline.process(FrameRequest(image=image, frame_number=0, video_id=video_id, include_mesh=False))
        finally:
            pipeline.sessions.delete(video_id)
        person = next((p for p in result.people if p.source == "detected" and p.body_params is not None), None)
        if person is None:
            continue
        row = BodyRow.from_person(index, person)
        if history is None:
            history = BodyHistory.for_row(row)
        history.add(row)
    if history is None:
        raise PhotoMeasurementError("no_person", "no person with a body was found in the photos")
    with pipeline.body_lock:
        entry = track_measurements(pipeline.body, history, height_cm, sex=sex)
        if entry is None:
            raise PhotoMeasurementError("poor_fit", "no photo gave a fit good enough to measure (fit_confidence < 0.5)")
        vertices, _ = neutral_body(pipeline.body, entry["shape"])
    return {**entry, "sex_given": sex, "photos": len(images), "photos_used": entry["frames_used"], "vertices": vertices}
