"""Plain data that flows between the stages (detect -> fit -> track -> respond).

Units and axes follow :mod:`pose_service.conventions`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Optional

import numpy as np

if TYPE_CHECKING:  # the tracking layer uses these types, not the other way round
    from .tracking.appearance import Appearance


Box = tuple[float, float, float, float]
"""x, y (top-left corner), width, height in image pixels."""

Region = tuple[float, float, float, float]
"""A rotated square in image pixels: centre x, centre y, side, rotation (radians; the crop is rotated by this so
that the body stands upright in it)."""


@dataclass(frozen=True)
class Hint:
    """Where a detector should look for a person it is asked to keep following (a session's track)."""

    box: Box
    """The person's last box: searched in a crop around it."""
    region: Optional[Region] = None
    """The detector's own region for this person, from the previous frame (:attr:`Person.next_region`): a
    detector that tracks (BlazePose's landmark model) looks there directly, without its person detector."""
    lost: bool = False
    """The person was missed in the previous frame: search around them even where the whole frame shows
    somebody else (they may be stepping out from behind that person)."""


@dataclass
class Person:
    """One person in one frame."""

    keypoints_2d: np.ndarray
    """(25, 3) float: x, y in image pixels and confidence in [0, 1], BODY_25 order."""
    bbox: tuple[float, float, float, float]
    """x, y, width, height in image pixels."""
    score: float
    """Detection confidence in [0, 1]."""
    keypoints_3d: Optional[np.ndarray] = None
    """(25, 3) float, metres, camera axes, root-relative; None when the backend gives no 3D."""
    camera_translation: Optional[np.ndarray] = None
    """(3,) root position in the camera frame, metres."""
    vertices: Optional[np.ndarray] = None
    """(V, 3) mesh vertices, metres, camera axes, root-relative."""
    body_model: Optional[str] = None
    """Name of the body model behind ``vertices`` ("smpl", "anny")."""
    body_params: Optional[dict[str, np.ndarray]] = None
    """That model's parameters: ``global_orient`` (3,) and ``body_pose`` (J, 3) axis-angle (camera axes / the
    model's local axes, see :mod:`pose_service.body.base`) and ``shape`` (S,)."""
    track_id: Optional[int] = None
    source: Literal["detected", "predicted", "interpolated"] = "detected"
    """``interpolated`` only from offline batch post-processing (:mod:`pose_service.batch.offline`)."""
    tracking_confidence: Optional[float] = None
    fit_confidence: Optional[float] = None
    """How well the fitted body explains the detected 2D keypoints, in [0, 1] (0.5 at the fitter's
    ``poor_fit_error``); None without a fit (a regressed body, or no body). A predicted person carries it with the
    body of its last detection."""
    next_region: Optional[Region] = None
    """Where the detector would look for this person in the next frame (BlazePose: the ROI its auxiliary landmarks
    give), if it tracks. Not part of the HTTP response."""
    appearance: Optional[Appearance] = None
    """The tracker's appearance descriptor of this detection (:func:`pose_service.tracking.appearance.describe`),
    when it was made before association (a batch makes it on its lookahead thread); the tracker makes it
    otherwise. Not part of the HTTP response."""


@dataclass
class FrameResult:
    frame_number: int
    video_id: Optional[str]
    image_size: tuple[int, int]
    """(width, height) in pixels."""
    focal_length_px: float
    """The focal length the 3D outputs assume (the request's, or the backend's default)."""
    people: list[Person]
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds this frame spent in each stage that ran (``detect``, ``body``, ``track``), for ``/metrics``."""
