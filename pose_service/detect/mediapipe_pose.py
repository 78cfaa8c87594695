"""The embedded default detector: MediaPipe 0.10.21's legacy ``mp.solutions.pose`` with the full landmark model.

Its BlazePose detector and full landmark model ship inside the wheel, so nothing is downloaded at run time
(``model_complexity`` 0 and 2 would download their models: only 1 is allowed here). The solution finds at most one
person per image.

MediaPipe gives 33 landmarks; they are mapped to BODY_25 by name (``BODY25_FROM_MEDIAPIPE``). Neck and mid-hip are
the midpoints of the shoulder and hip pairs; big toes are MediaPipe's foot-index points; MediaPipe has no small toes,
so those keep confidence 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

import numpy as np

from ..conventions import BODY25_INDEX, BODY25_NAMES, NUM_KEYPOINTS, ROOT_NAME
from ..timing import TimedLock
from ..types import Hint, Person

BODY25_FROM_MEDIAPIPE: dict[str, tuple[str, ...]] = {
    "nose": ("NOSE",),
    "neck": ("LEFT_SHOULDER", "RIGHT_SHOULDER"),
    "right_shoulder": ("RIGHT_SHOULDER",),
    "right_elbow": ("RIGHT_ELBOW",),
    "right_wrist": ("RIGHT_WRIST",),
    "left_shoulder": ("LEFT_SHOULDER",),
    "left_elbow": ("LEFT_ELBOW",),
    "left_wrist": ("LEFT_WRIST",),
    "mid_hip": ("LEFT_HIP", "RIGHT_HIP"),
    "right_hip": ("RIGHT_HIP",),
    "right_knee": ("RIGHT_KNEE",),
    "right_ankle": ("RIGHT_ANKLE",),
    "left_hip": ("LEFT_HIP",),
    "left_knee": ("LEFT_KNEE",),
    "left_ankle": ("LEFT_ANKLE",),
    "right_eye": ("RIGHT_EYE",),
    "left_eye": ("LEFT_EYE",),
    "right_ear": ("RIGHT_EAR",),
    "left_ear": ("LEFT_EAR",),
    "left_big_toe": ("LEFT_FOOT_INDEX",),
    "left_small_toe": (),
    "left_heel": ("LEFT_HEEL",),
    "right_big_toe": ("RIGHT_FOOT_INDEX",),
    "right_small_toe": (),
    "right_heel": ("RIGHT_HEEL",),
}
assert tuple(BODY25_FROM_MEDIAPIPE) == BODY25_NAMES


def _mapping_matrix(landmark_names: list[str]) -> np.ndarray:
    """(25, 33) averaging matrix from MediaPipe landmarks to BODY_25 keypoints (rows of zeros: unavailable)."""
    index = {name: i for i, name in enumerate(landmark_names)}
    matrix = np.zeros((NUM_KEYPOINTS, len(landmark_names)), np.float64)
    for row, sources in enumerate(BODY25_FROM_MEDIAPIPE.values()):
        for source in sources:
            matrix[row, index[source]] = 1.0 / len(sources)
    return matrix


def mediapipe_to_body25() -> np.ndarray:
    """(25, 33) mapping matrix for MediaPipe's pose landmarks (imports mediapipe: a start-up cost of ~1.5 s)."""
    import mediapipe as mp

    return _mapping_matrix([landmark.name for landmark in mp.solutions.pose.PoseLandmark])


def landmarks_to_person(
    to_body25: np.ndarray, image: np.ndarray, world: np.ndarray, score: float | None = None
) -> Person:
    """(33, 3) pixel landmarks with visibility and (33, 3) world landmarks (metres) -> a BODY_25 person.

    ``score`` defaults to the mean visibility of the available keypoints.
    """
    available = to_body25.any(axis=1)
    keypoints_2d = np.zeros((NUM_KEYPOINTS, 3))
    keypoints_2d[:, :2] = to_body25 @ image[:, :2]
    # A midpoint is only as visible as the less visible of its two sources.
    visibility = np.where(to_body25 > 0, image[:, 2][None, :], np.inf).min(axis=1)
    keypoints_2d[:, 2] = np.where(available, np.clip(visibility, 0.0, 1.0), 0.0)
    keypoints_2d[~available, :2] = 0.0

    # MediaPipe's world frame already has camera-aligned axes (x right, y down, z away); re-centre on our root.
    keypoints_3d = to_body25 @ world
    keypoints_3d -= keypoints_3d[BODY25_INDEX[ROOT_NAME]]
    keypoints_3d[~available] = 0.0

    visible = keypoints_2d[:, 2] > 0.5
    points = keypoints_2d[visible if visible.any() else available, :2]
    x0, y0 = points.min(axis=0)
    x1, y1 = points.max(axis=0)
    if score is None:
        score = float(keypoints_2d[available, 2].mean())
    return Person(
        keypoints_2d=keypoints_2d,
        bbox=(float(x0), float(y0), float(x1 - x0), float(y1 - y0)),
        score=score,
        keypoints_3d=keypoints_3d,
    )


class MediaPipePoseDetector:
    """One person per image: 2D keypoints in pixels and 3D keypoints (metres, root-relative) from MediaPipe."""

    name = "mediapipe_pose"

    def __init__(self, min_detection_confidence: float = 0.5) -> None:
        import mediapipe as mp  # imported here: loading the package costs ~1.5 s and belongs to start-up

        self._to_body25 = mediapipe_to_body25()
        # Static mode: every frame is independent, so one detector can serve interleaved videos.
        self._pose = mp.solutions.pose.Pose(
            static_image_mode=True,
            model_complexity=1,
            enable_segmentation=False,
            min_detection_confidence=min_detection_confidence,
        )
        self._lock = TimedLock("detector")  # a MediaPipe graph takes one image at a time

    def warm_up(self) -> None:
        """Run one blank frame: MediaPipe's first call pays ~0.3 s of graph initialisation."""
        self(np.zeros((256, 256, 3), np.uint8))

    def close(self) -> None:
        self._pose.close()

    def __call__(self, rgb: np.ndarray, hints: Sequence[Hint] = (), wide: Optional[bool] = None) -> list[Person]:
        """Detect in an (H, W, 3) RGB uint8 image. The graph searches the whole image for one person, so the
        search ``hints`` and ``wide`` of the detector protocol do not apply."""
        height, width = rgb.shape[:2]
        with self._lock:
            result = self._pose.process(np.ascontiguousarray(rgb))
        if result.pose_landmarks is None:
            return []
        image = np.array([(p.x * width, p.y * height, p.visibility) for p in result.pose_landmarks.landmark])
        world = np.array([(p.x, p.y, p.z) for p in result.pose_world_landmarks.landmark])
        return [landmarks_to_person(self._to_body25, image, world)]
