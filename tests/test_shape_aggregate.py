"""A track's one shape: the robust aggregate of its frames, the small per-track part of the state, and the
per-frame body history the session store keeps beside it."""

from __future__ import annotations

import numpy as np

from pose_service.measure.shape import aggregate_shape, weighted_median
from pose_service.sessions import InMemorySessionStore, SessionState
from pose_service.sessions.bodies import MAX_SAMPLES, Bodies, BodyHistory, BodyRow, Histories
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
    store = InMemorySessionStore()
    state = SessionState.new("v")
    for frame in range(40):
        noisy = truth + rng.normal(scale=0.05, size=6)
        if frame % 10 == 3:
            noisy = truth + 3.0  # a wild fit, confident
        state.bodies.record(frame, [_person(7, noisy, 0.9), _person(8, truth, None, source="predicted")])
        if frame == 5:  # the same frame again (a late copy), now with a poor fit: it replaces the row
            state.bodies.record(frame, [_person(7, truth - 2.0, 0.2)])
        store.put("v", state)  # the store takes each frame's rows
    assert state.bodies.pending == [] and 8 not in state.bodies.tracks  # predicted people carry an earlier body
    history = store.histories("v").tracks[7]
    assert len(history) == 40 and list(history.frames) == list(range(40))  # frame 5 replaced, not added
    estimate = aggregate_shape(history.shape, history.fit_confidence)
    assert estimate.frames_used == 39  # frame 5's poor fit (0.2) does not count
    np.testing.assert_allclose(estimate.shape, truth, atol=0.05)
    assert np.all(estimate.spread < 0.1)
    # The state keeps the first frames' shapes only (41 recorded, the late copy included).
    track = state.bodies.tracks[7]
    assert track.frames == 41 and len(track.sample_shapes) == min(41, MAX_SAMPLES)


def test_history_is_bounded_and_the_state_round_trips():
    history = BodyHistory.empty("anny", 18, 6, max_frames=10)
    for frame in range(25):
        history.add(BodyRow.from_person(frame, _person(1, np.full(6, float(frame)), 0.8)))
    assert list(history.frames) == list(range(15, 25)) and history.shape[-1, 0] == 24.0
    bodies = Bodies(height_cm={1: 172.0}, primary_height_cm=180.0)
    bodies.record(3, [_person(1, np.ones(6), None)])
    restored = Bodies.from_dict(bodies.to_dict())
    assert restored.height_for(1, primary_id=2) == 172.0 and restored.height_for(2, primary_id=2) == 180.0
    assert restored.height_for(3, primary_id=2) is None
    row = restored.pending[0]
    assert (row.track_id, row.frame) == (1, 3) and np.isnan(row.fit_confidence) and row.shape.dtype == np.float32
    assert restored.to_dict() == bodies.to_dict()


def test_a_crowd_of_passers_by_does_not_grow_the_history_without_bound():
    """Beyond ``max_rows`` in all, the tracks seen least recently go whole; the people in view keep theirs."""
    histories = Histories(max_rows=400)
    for frame in range(300):
        passer_by = 100 + frame // 20  # a new person every 20 frames, each seen for 20
        histories.add([BodyRow.from_person(frame, _person(1, np.zeros(6), 0.9)),
                       BodyRow.from_person(frame, _person(passer_by, np.zeros(6), 0.9))])
        assert sum(len(h) for h in histories.tracks.values()) <= 400
    # The one always in view keeps all 300 frames; of the 15 passers-by, the last five fit in the other 100 rows.
    assert len(histories.tracks[1]) == 300 and sorted(histories.tracks) == [1, 110, 111, 112, 113, 114]
