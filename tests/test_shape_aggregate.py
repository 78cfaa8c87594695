"""A track's one shape: the robust aggregate of its frames and the per-frame body history behind it."""

from __future__ import annotations

import numpy as np

from pose_service.measure.shape import aggregate_shape, weighted_median
from pose_service.sessions.bodies import Bodies, BodyHistory
from pose_service.types import Person


def _person(track_id: int, shape: np.ndarray, confidence, source: str = "detected") -> Person:
    return Person(np.zeros((25, 3)), (0.0, 0.0, 1.0, 1.0), 0.9, camera_translation=np.array([0.0, 0.0, 3.0]),
                  body_model="anny", track_id=track_id, source=source, fit_confidence=confidence,
                  body_params={"global_orient": np.zeros(3), "body_pose": np.zeros((18, 3)), "shape": shape})


def test_weighted_median_per_column():
    values = np.array([[1.0, 10.0], [2.0, 30.0], [3.0, 20.0], [100.0, -5.0]])
    np.testing.assert_array_equal(weighted_median(values, np.ones(4)), [2.0, 10.0])
    np.testing.assert_array_equal(weighted_median(values, np.array([1.0, 1.0, 1.0, 10.0])), [100.0, -5.0])


def test_aggregate_ignores_wild_and_poor_fits():
    rng = np.random.default_rng(0)
    truth = np.array([0.5, -0.2, 0.1, 0.8, -1.0, 0.0])
    bodies = Bodies()
    for frame in range(40):
        noisy = truth + rng.normal(scale=0.05, size=6)
        if frame % 10 == 3:
            noisy = truth + 3.0  # a wild fit, confident
        bodies.record(frame, [_person(7, noisy, 0.9), _person(8, truth, None, source="predicted")])
        if frame == 5:  # the same frame again (a late copy), now with a poor fit: it replaces the row
            bodies.record(frame, [_person(7, truth - 2.0, 0.2)])
    history = bodies.tracks[7]
    assert 8 not in bodies.tracks  # predicted people carry an earlier body: not recorded
    assert len(history) == 40 and list(history.frames) == list(range(40))  # frame 5 replaced, not added
    estimate = aggregate_shape(history)
    assert estimate.frames_used == 39  # frame 5's poor fit (0.2) does not count
    np.testing.assert_allclose(estimate.shape, truth, atol=0.05)
    assert np.all(estimate.spread < 0.1)


def test_history_round_trips_and_is_bounded():
    history = BodyHistory.empty("anny", 18, 6, max_frames=10)
    for frame in range(25):
        history.add(frame, _person(1, np.full(6, float(frame)), 0.8))
    assert list(history.frames) == list(range(15, 25)) and history.shape[-1, 0] == 24.0
    again = BodyHistory.from_dict(history.to_dict())
    for name in ("frames", "global_orient", "body_pose", "shape", "translation", "fit_confidence"):
        np.testing.assert_array_equal(getattr(again, name), getattr(history, name))
    bodies = Bodies({1: history}, {1: 172.0}, 180.0)
    restored = Bodies.from_dict(bodies.to_dict())
    assert restored.height_for(1, primary_id=2) == 172.0 and restored.height_for(2, primary_id=2) == 180.0
    assert restored.height_for(3, primary_id=2) is None


def test_a_crowd_of_passers_by_does_not_grow_the_session_without_bound():
    """Beyond ``max_rows`` in all, the tracks seen least recently go whole; the people in view keep theirs."""
    bodies = Bodies(max_rows=400)
    for frame in range(300):
        passer_by = 100 + frame // 20  # a new person every 20 frames, each seen for 20
        bodies.record(frame, [_person(1, np.zeros(6), 0.9), _person(passer_by, np.zeros(6), 0.9)])
        assert sum(len(h) for h in bodies.tracks.values()) <= 400
    # The one always in view keeps all 300 frames; of the 15 passers-by, the last five fit in the other 100 rows.
    assert len(bodies.tracks[1]) == 300 and sorted(bodies.tracks) == [1, 110, 111, 112, 113, 114]
    assert Bodies.from_dict(bodies.to_dict()).max_rows == 400
