"""Tracker behaviour on synthetic detections (skeletons projected with a pinhole, painted images; no models)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from pose_service.tracking import CostConfig, SmoothingConfig, Tracker, TrackerConfig, describe, distance
from pose_service.tracking.track import overlap_fraction
from pose_service.types import Person
from synthetic_people import FOCAL, HEIGHT, STANDING, WIDTH, arms_up, paint, person

SIZE = (WIDTH, HEIGHT)
RED = (np.array([200, 30, 30]), np.array([30, 30, 200]))
GREEN = (np.array([30, 180, 40]), np.array([220, 200, 40]))


def test_appearance_separates_colours_and_matches_itself() -> None:
    a = person(STANDING, np.array([-0.4, 0.1, 4.0]))
    b = person(arms_up(), np.array([0.4, 0.1, 4.5]))
    first = paint([(a, RED), (b, GREEN)], np.random.default_rng(1))
    second = paint([(a, RED), (b, GREEN)], np.random.default_rng(2))
    same = distance(describe(first, a.keypoints_2d), describe(second, a.keypoints_2d))
    other = distance(describe(first, a.keypoints_2d), describe(second, b.keypoints_2d))
    assert same is not None and other is not None
    assert same < 0.1 < 0.6 < other


def test_appearance_marks_parts_without_confident_keypoints_invisible() -> None:
    a = person(STANDING, np.array([0.0, 0.1, 4.0]))
    a.keypoints_2d[7:, 2] = 0.0  # everything after the left wrist: hips and legs unknown -> no torso either
    appearance = describe(paint([(person(STANDING, np.array([0.0, 0.1, 4.0])), RED)]), a.keypoints_2d)
    assert not appearance.visible.any()
    assert distance(appearance, appearance) is None


def _bounce(t: int) -> float:
    """x of a person walking right at 5 cm/frame who turns back at frame 11, just past the other one."""
    return -0.5 + 0.05 * (t if t <= 11 else 22 - t)


@pytest.fixture(scope="module")
def crossing(n: int = 24) -> list[tuple[list[Person], np.ndarray]]:
    """Two people meet and turn back at the same spot: location alone predicts each carries on into the other."""
    frames = []
    rng = np.random.default_rng(3)
    for t in range(n):
        a = person(STANDING, np.array([_bounce(t), 0.1, 4.0]))
        b = person(arms_up(), np.array([-_bounce(t), 0.1, 4.2]))
        frames.append(([a, b], paint([(a, RED), (b, GREEN)], rng)))
    return frames


def _run(tracker: Tracker, frames, with_images: bool = True, start: int = 0) -> list[list[Person]]:
    return [
        tracker.step(start + t, people, image if with_images else None, FOCAL, SIZE)
        for t, (people, image) in enumerate(frames)
    ]


def _ids(people: list[Person], outputs: list[Person]) -> list[int]:
    """The track id the tracker gave each input detection (outputs are in report order, matched by box)."""
    return [next(o.track_id for o in outputs if o.source == "detected" and o.bbox == p.bbox) for p in people]


def test_crossing_people_keep_their_ids_thanks_to_appearance_and_pose(crossing) -> None:
    outputs = _run(Tracker(), crossing)
    assert all(_ids(people, out) == [1, 2] for (people, _), out in zip(crossing, outputs))
    assert all(p.source == "detected" for frame in outputs for p in frame)


def test_crossing_people_swap_on_location_alone(crossing) -> None:
    """The scenario above is a real test: without appearance and pose the ids do switch."""
    location_only = TrackerConfig(cost=CostConfig(beta_appearance=0.0, beta_pose=0.0))
    outputs = _run(Tracker(location_only), crossing, with_images=False)
    assert any(_ids(people, out) == [2, 1] for (people, _), out in zip(crossing, outputs))


def _drop_pattern() -> np.ndarray:
    """100 frames, 36 % missed in gaps of 1..5 frames; the first eight detected, for the filter to learn the velocity."""
    gaps = [5, 4, 3, 2, 1, 5, 4, 3, 2, 1, 3, 3]
    detected = np.ones(100, bool)
    start = 8
    for gap in gaps:
        detected[start : start + gap] = False
        start += gap + 4
    return detected


def test_dropped_frames_are_covered_by_predictions_that_beat_a_stale_copy() -> None:
    detected = _drop_pattern()
    assert (~detected).mean() == pytest.approx(0.36)
    rng = np.random.default_rng(4)
    tracker = Tracker()
    errors, stale_errors, last_seen = [], [], None
    for t in range(100):
        truth = np.array([-1.0 + 0.02 * t, 0.1, 4.0 + 0.01 * t])
        noisy = truth + rng.normal(0, [0.005, 0.005, 0.02])
        out = tracker.step(t, [person(STANDING, noisy)] if detected[t] else [], None, FOCAL, SIZE)
        assert [(p.track_id, p.source) for p in out] == [(1, "detected" if detected[t] else "predicted")]
        if detected[t]:
            last_seen = out[0]
            continue
        errors.append(np.linalg.norm(out[0].camera_translation - truth))
        stale_errors.append(np.linalg.norm(last_seen.camera_translation - truth))
        # 2D and 3D are predicted on their own but stay consistent: the 2D is near where the 3D body projects.
        reprojected = person(out[0].keypoints_3d, out[0].camera_translation).keypoints_2d[:, :2]
        np.testing.assert_allclose(out[0].keypoints_2d[:, :2], reprojected, atol=4.0)  # ~2 % of the body
        assert 0 < out[0].tracking_confidence < 1
    print(f"prediction error: max {max(errors):.3f} m, mean {np.mean(errors):.3f} m; stale {np.mean(stale_errors):.3f} m")
    assert np.mean(errors) < 0.5 * np.mean(stale_errors)
    assert max(errors) < 0.06, errors


def test_tentative_track_survives_a_single_miss() -> None:
    tracker = Tracker()
    seen = [tracker.step(t, [] if t == 2 else [person(STANDING, np.array([0.0, 0.1, 4.0]))], None, FOCAL, SIZE)
            for t in range(5)]
    assert [[p.track_id for p in out] for out in seen] == [[1], [1], [], [1], [1]]


def test_spurious_detection_neither_steals_an_id_nor_keeps_one() -> None:
    tracker = Tracker()
    walker = lambda t: person(STANDING, np.array([-0.8 + 0.02 * t, 0.1, 4.0]))  # noqa: E731
    for t in range(10):
        tracker.step(t, [walker(t)], None, FOCAL, SIZE)
    # The walker is missed while a weak, spurious detection shows up elsewhere: it must not take id 1, nor be
    # shown (the video has a confirmed person, so a new one must earn its place), nor ever be predicted.
    out = tracker.step(10, [person(arms_up(), np.array([0.9, 0.1, 5.0]), score=0.6)], None, FOCAL, SIZE)
    assert [(p.track_id, p.source) for p in out] == [(1, "predicted")]
    for t in range(11, 20):
        out = tracker.step(t, [walker(t)], None, FOCAL, SIZE)
        assert [(p.track_id, p.source) for p in out] == [(1, "detected")]
    assert [t.track_id for t in tracker.tracks] == [1]  # the spurious tentative track is gone
    out = tracker.step(20, [walker(20), person(STANDING, np.array([1.0, 0.1, 5.0]))], None, FOCAL, SIZE)
    assert [p.track_id for p in out] == [1, 3]  # a clear new person is shown at once; ids are never reused


def test_second_solution_for_a_tracked_body_starts_no_track() -> None:
    """A detector's second, shifted solution for the tracked person is dropped; after a miss the person's next
    detection goes back to its own id (with a tentative duplicate track around, it could have taken it)."""
    tracker = Tracker()
    walker = lambda t: person(STANDING, np.array([-0.5 + 0.02 * t, 0.1, 4.0]))  # noqa: E731
    for t in range(5):
        tracker.step(t, [walker(t)], None, FOCAL, SIZE)
    double = person(STANDING, np.array([-0.5 + 0.02 * 5 + 0.06, 0.0, 4.2]))
    assert overlap_fraction(double.bbox, walker(5).bbox) > 0.6
    out = tracker.step(5, [walker(5), double], None, FOCAL, SIZE)
    assert [p.track_id for p in out] == [1]
    assert [t.track_id for t in tracker.tracks] == [1]
    tracker.step(6, [], None, FOCAL, SIZE)
    assert [(p.track_id, p.source) for p in tracker.step(7, [double], None, FOCAL, SIZE)] == [(1, "detected")]


def test_small_one_off_find_behind_the_subject_waits_for_confirmation() -> None:
    """A clear detection far smaller than the video's subject (a spectator, a shape in the background) is held
    back; a clear one of comparable size is shown at once."""
    subject = person(STANDING, np.array([-0.3, 0.1, 3.0]))
    for newcomer, shown in [(person(STANDING, np.array([1.5, 0.1, 12.0])), [1]),
                            (person(STANDING, np.array([0.8, 0.1, 4.0])), [1, 2])]:
        tracker = Tracker()
        for t in range(5):
            tracker.step(t, [subject], None, FOCAL, SIZE)
        assert [p.track_id for p in tracker.step(5, [subject, newcomer], None, FOCAL, SIZE)] == shown


def test_confirmed_track_is_predicted_for_max_age_frames_then_deleted() -> None:
    tracker = Tracker(TrackerConfig(max_age=5))
    for t in range(4):
        tracker.step(t, [person(STANDING, np.array([0.0, 0.1, 4.0]))], None, FOCAL, SIZE)
    tracker.tracks[0].hits = 100  # long seen: only max_age limits its predictions
    unseen = [tracker.step(t, [], None, FOCAL, SIZE) for t in range(4, 11)]
    assert [len(out) for out in unseen] == [1, 1, 1, 1, 1, 0, 0]
    confidences = [out[0].tracking_confidence for out in unseen[:5]]
    assert confidences == sorted(confidences, reverse=True)
    assert tracker.tracks == []
    out = tracker.step(11, [person(STANDING, np.array([0.0, 0.1, 4.0]))], None, FOCAL, SIZE)
    assert [p.track_id for p in out] == [2]


def test_lost_bystander_is_searched_for_less_often_the_longer_it_is_lost() -> None:
    """The primary person is looked for on every missed frame; a bystander on each of its first
    ``lost_search_frames`` missed frames, then on every ``lost_search_every``-th."""
    tracker = Tracker(TrackerConfig(lost_search_frames=2, lost_search_every=3))
    for t in range(12):  # the subject from frame 0 (the primary person), the bystander from frame 2
        subject = person(STANDING, np.array([-0.5 + 0.01 * t, 0.1, 4.0]))
        tracker.step(t, [subject] + ([person(arms_up(), np.array([0.6, 0.1, 6.0]))] if t >= 2 else []), None,
                     FOCAL, SIZE)
    primary = tracker.primary_id
    searched: dict[int, list[bool]] = {}
    for t in range(12, 23):  # both missed from frame 12: at frame t, ``t - 12`` frames missed so far
        lost = [h for h in tracker.hints(t) if h.lost]
        searched[t - 12] = [len(lost) == 2, len(lost) >= 1]
        tracker.step(t, [], None, FOCAL, SIZE)
    assert [m for m, (bystander, _) in searched.items() if bystander] == [1, 2, 3, 6, 9]
    assert [m for m, (_, anyone) in searched.items() if anyone] == list(range(1, 11)) and primary == 1


def test_a_track_of_an_earlier_shot_gives_no_hint() -> None:
    """Where a track was says nothing after a cut: the detector is not sent there (the person is found again by
    appearance, as a track of an earlier shot is not predicted either). Without the cut, the person missed is
    looked for where expected."""
    colours = (np.array([200.0, 40.0, 40.0]), np.array([40.0, 40.0, 200.0]))
    blocks = np.kron(np.indices((6, 8)).sum(0) % 2, np.ones((HEIGHT // 6, WIDTH // 8)))
    another_shot = np.repeat(blocks[..., None] * 255, 3, axis=2).astype(np.uint8)
    for cut in (False, True):
        tracker = Tracker()
        for t in range(6):
            subject = person(STANDING, np.array([0.01 * t, 0.1, 4.0]))
            tracker.step(t, [subject], paint([(subject, colours)]), FOCAL, SIZE)
        tracker.step(6, [], another_shot if cut else paint([]), FOCAL, SIZE)  # the person missed
        assert tracker.shot == int(cut)
        assert [hint.lost for hint in tracker.hints(7)] == ([] if cut else [True])


def test_lost_track_is_re_associated_after_a_gap() -> None:
    tracker = Tracker()
    frames = [t for t in range(30) if not 10 <= t < 18]
    for t in frames:
        out = tracker.step(t, [person(STANDING, np.array([-0.5 + 0.02 * t, 0.1, 4.0]))], None, FOCAL, SIZE)
        assert [p.track_id for p in out] == [1]
    assert tracker.tracks[0].state(29) == "confirmed"


def test_two_dimensional_detections_are_tracked_and_shifted_when_missed() -> None:
    """A 2D-only backend (no 3D, no translation): location from the 2D root, predictions move the 2D keypoints."""
    tracker = Tracker(TrackerConfig(smoothing=SmoothingConfig(enabled=False)))
    for t in range(6):
        p = person(STANDING, np.array([-0.5 + 0.02 * t, 0.1, 4.0]))
        out = tracker.step(t, [Person(p.keypoints_2d, p.bbox, p.score)], None, FOCAL, SIZE)
    missed = tracker.step(6, [], None, FOCAL, SIZE)[0]
    expected = person(STANDING, np.array([-0.5 + 0.02 * 6, 0.1, 4.0])).keypoints_2d[:, :2]
    assert missed.source == "predicted" and missed.camera_translation is None
    np.testing.assert_allclose(missed.keypoints_2d[:, :2], expected, atol=0.5)
    assert missed.bbox[0] == pytest.approx(out[0].bbox[0] + FOCAL * 0.02 / 4.0, abs=0.5)


def test_smoothing_reduces_jitter_without_lagging_on_motion() -> None:
    rng = np.random.default_rng(5)
    raw, smooth = Tracker(TrackerConfig(smoothing=SmoothingConfig(enabled=False))), Tracker()
    jitter = {"raw": [], "smooth": []}
    for t in range(60):
        p = person(STANDING, np.array([0.0, 0.1, 4.0]) + rng.normal(0, 0.01, 3))
        for name, tracker in (("raw", raw), ("smooth", smooth)):
            jitter[name].append(tracker.step(t, [replace(p)], None, FOCAL, SIZE)[0].camera_translation)
    assert np.std(jitter["smooth"][10:], axis=0).sum() < 0.7 * np.std(jitter["raw"][10:], axis=0).sum()

    # Walking across at 1 m/s: the smoothed position trails the true one by under 2 cm.
    mover = Tracker()
    for t in range(30):
        truth = np.array([-1.0 + t / 30, 0.1, 4.0])
        out = mover.step(t, [person(STANDING, truth)], None, FOCAL, SIZE)[0].camera_translation
    assert abs(out[0] - truth[0]) < 0.02


def test_a_track_keeps_its_last_fit_state_and_hands_it_to_the_next_association() -> None:
    """associate -> (a body stage fits the reported detections) -> commit: the fit state given with a detection
    is the one the track's next association hands back; a frame without a new one (not fitted, or missed) keeps it."""
    tracker = Tracker()
    handed = []
    for t in range(5):
        detections = [] if t == 3 else [person(STANDING, np.array([0.0, 0.1, 4.0]))]
        association = tracker.associate(t, detections, None, FOCAL, SIZE)
        handed.append([association.previous_fits[d] for d in association.reported])
        fitted = {d: (association.detections[d], {"frame": t}) for d in association.reported if t == 1}
        tracker.commit(association, fitted)
    assert handed == [[None], [None], [{"frame": 1}], [], [{"frame": 1}]]


def test_state_round_trip_gives_identical_outputs(crossing) -> None:
    frames = crossing
    original = Tracker()
    _run(original, frames[:12])
    original.tracks[0].fit_state = {"warm": [1.5, 2.5]}
    restored = Tracker.from_state(json.loads(json.dumps(original.to_state())))
    rest = [(people[:1] if t % 3 else [], image) for t, (people, image) in enumerate(frames[12:])]
    assert [t.fit_state for t in restored.tracks] == [t.fit_state for t in original.tracks]
    for a, b in zip(_run(original, rest, start=12), _run(restored, rest, start=12)):
        assert len(a) == len(b)
        for p, q in zip(a, b):
            assert (p.track_id, p.source, p.score, p.bbox, p.tracking_confidence) == (
                q.track_id, q.source, q.score, q.bbox, q.tracking_confidence)
            for field in ("keypoints_2d", "keypoints_3d", "camera_translation"):
                np.testing.assert_array_equal(getattr(p, field), getattr(q, field))
