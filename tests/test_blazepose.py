"""BlazePose run directly with LiteRT: several people per frame, equivalent to the legacy solution on one."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from pose_service.conventions import BODY25_INDEX, NUM_KEYPOINTS
from pose_service.detect.blazepose import BlazePoseDetector, ssd_anchor_centres
from pose_service.types import Hint

FACE_AND_SHOULDERS = ("nose", "right_eye", "left_eye", "right_shoulder", "left_shoulder")


@pytest.fixture(scope="module")
def detector() -> BlazePoseDetector:
    detector = BlazePoseDetector()
    detector.warm_up()
    return detector


def test_anchors_match_mediapipe_count() -> None:
    anchors = ssd_anchor_centres()
    assert anchors.shape == (2254, 2)
    assert anchors.min() > 0 and anchors.max() < 1


def test_astronaut_matches_legacy_mediapipe(detector: BlazePoseDetector, astronaut: np.ndarray) -> None:
    from pose_service.detect.mediapipe_pose import MediaPipePoseDetector

    (legacy,) = MediaPipePoseDetector()(astronaut)
    people = detector(astronaut)
    assert len(people) == 1
    person = people[0]
    assert person.keypoints_2d.shape == (NUM_KEYPOINTS, 3) and person.keypoints_3d.shape == (NUM_KEYPOINTS, 3)
    rows = [BODY25_INDEX[name] for name in FACE_AND_SHOULDERS]
    error = np.linalg.norm(person.keypoints_2d[rows, :2] - legacy.keypoints_2d[rows, :2], axis=1)
    assert error.max() < 3.0, dict(zip(FACE_AND_SHOULDERS, error.round(2)))
    # Same models and post-processing: visibilities and world landmarks agree as well.
    assert np.abs(person.keypoints_2d[:, 2] - legacy.keypoints_2d[:, 2]).max() < 0.05
    assert np.abs(person.keypoints_3d - legacy.keypoints_3d).max() < 0.02
    assert person.keypoints_3d[BODY25_INDEX["mid_hip"]] == pytest.approx(np.zeros(3))


def test_two_people_side_by_side(detector: BlazePoseDetector, astronaut: np.ndarray) -> None:
    canvas = np.concatenate([astronaut, astronaut[:, ::-1]], axis=1)  # 1024x512: tiled by default
    people = sorted(detector(canvas), key=lambda p: p.bbox[0])
    assert len(people) == 2
    (x0, _, w0, _), (x1, _, _, _) = people[0].bbox, people[1].bbox
    assert x0 + w0 < 512 < x1, [p.bbox for p in people]
    noses = [p.keypoints_2d[BODY25_INDEX["nose"], 0] for p in people]
    assert noses[0] < 512 < noses[1]


def test_small_distant_person_found_with_tiles(detector: BlazePoseDetector, astronaut: np.ndarray) -> None:
    frame = np.full((720, 1280, 3), 120, np.uint8)
    frame[400:480, 900:980] = cv2.resize(astronaut, (80, 80), interpolation=cv2.INTER_AREA)
    people = detector.detect(frame, tiles=True)
    assert len(people) == 1
    x, y, w, h = people[0].person.bbox
    assert 880 < x + w / 2 < 1000 and 390 < y < 480


def test_hint_roi_finds_small_person_without_tiles(detector: BlazePoseDetector, astronaut: np.ndarray) -> None:
    frame = np.full((720, 1280, 3), 120, np.uint8)
    frame[400:480, 900:980] = cv2.resize(astronaut, (80, 80), interpolation=cv2.INTER_AREA)
    people = detector.detect(frame, hints=[Hint((890.0, 390.0, 100.0, 100.0))], tiles=False)
    assert len(people) == 1


def test_no_person_in_coffee(detector: BlazePoseDetector) -> None:
    assert detector(data.coffee()) == []


def test_track_follows_the_person_without_the_detector(detector: BlazePoseDetector, astronaut: np.ndarray) -> None:
    (first,) = detector.detect(astronaut)
    shifted = np.roll(astronaut, 12, axis=1)  # the person moved 12 px to the right
    (tracked,) = detector.track(shifted, [first.next_roi])
    assert tracked is not None
    nose = BODY25_INDEX["nose"]
    moved = tracked.person.keypoints_2d[nose, 0] - first.person.keypoints_2d[nose, 0]
    assert moved == pytest.approx(12, abs=3)
    # An empty frame loses the person instead of inventing one.
    assert detector.track(np.zeros_like(astronaut), [first.next_roi]) == [None]


def test_followed_people_need_no_person_detector(detector: BlazePoseDetector, astronaut: np.ndarray) -> None:
    """MediaPipe's tracking mode: when every hint is followed by the landmark model, the person detector does not
    run, except on a wide search (tiles) or when someone is lost."""
    (first,) = detector.detect(astronaut)
    runs: list[tuple] = []
    original = detector._detect_region
    detector._detect_region = lambda rgb, region: runs.append(region) or original(rgb, region)
    try:
        followed = Hint(first.person.bbox, (first.next_roi.cx, first.next_roi.cy, first.next_roi.size,
                                            first.next_roi.rotation))
        (tracked,) = detector.detect(astronaut, hints=[followed], tiles=False)
        assert runs == [] and tracked.person.score > 0.5
        assert len(detector.detect(astronaut, hints=[followed], tiles=True)) == 1 and len(runs) > 1
        runs.clear()
        lost = Hint((0.0, 0.0, 50.0, 50.0), (25.0, 25.0, 50.0, 0.0))  # nobody there: the detector searches
        assert len(detector.detect(astronaut, hints=[followed, lost], tiles=False)) == 1 and runs
    finally:
        del detector._detect_region
