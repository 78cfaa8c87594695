"""Tracking behaviours on clips the project renders, through the real pipeline (BlazePose, Anny fit, tracker):
predictions that stop at the border, identities through gaps during a pan, shot cuts, empty first frames,
one-off detections that are never predicted, and frames of one video arriving out of order."""

from __future__ import annotations

import dataclasses
import threading
import time

import cv2
import numpy as np
import pytest
from skimage import data

from pose_service.pipeline import FramePipeline, FrameRequest, VideoOptions, _Lookahead
from pose_service.sessions import InMemorySessionStore
from pose_service.synth.clip import ClipSpec, PersonSpec, concatenate_clips
from pose_service.tracking.track import inside_fraction
from pose_service.types import FrameResult, Hint

GREY = 128


def run(pipeline, frames, video_id: str, blank=()) -> list[FrameResult]:
    """Each frame in order (grey where its index is in ``blank``); the session is deleted afterwards."""
    results = [
        pipeline.process(FrameRequest(image=np.full_like(frame, GREY) if i in blank else frame, frame_number=i,
                                      video_id=video_id))
        for i, frame in enumerate(frames)
    ]
    pipeline.sessions.delete(video_id)
    return results


def ids(results: list[FrameResult], source: str | None = None) -> set[int]:
    return {p.track_id for r in results for p in r.people if source is None or p.source == source}


@pytest.mark.slow
def test_a_prediction_stops_once_its_box_leaves_the_image(pipeline, render_preset):
    clip = render_preset("leaves_the_frame")
    width = clip.spec.width
    # The detector goes blind as the person nears the right border: from then on only predictions can show them.
    edge = next(i for i, truth in enumerate(clip.ground_truth) if truth[1]["bbox"] and
                truth[1]["bbox"][0] + truth[1]["bbox"][2] > 0.9 * width)
    results = run(pipeline, clip.frames, "border", blank=range(edge, len(clip.frames)))
    predicted = [(i, p) for i, r in enumerate(results) for p in r.people if p.source == "predicted"]
    assert predicted, "the person should be predicted for a few frames after the detector loses them"
    assert all(inside_fraction(p.bbox, (width, clip.spec.height)) >= 0.5 for _, p in predicted)
    assert max(i for i, _ in predicted) < len(results) - 1  # the ghost ended: it is not carried to the clip's end


@pytest.mark.slow
def test_the_same_person_keeps_one_id_through_a_gap_during_a_pan(pipeline, render_preset):
    clip = render_preset("pan_follow")
    gap = range(40, 47)
    results = run(pipeline, clip.frames, "pan-gap", blank=gap)
    assert ids(results) == {1}
    assert all([p.source for p in results[i].people] == ["predicted"] for i in gap)
    assert all(r.people and r.people[0].source == "detected" for i, r in enumerate(results) if i not in gap)
    # The predictions follow the pan: the predicted hips stay within a quarter of the body of the truth.
    for i in gap:
        truth = clip.ground_truth[i][1]
        hips = results[i].people[0].keypoints_2d[8, :2]
        height = truth["bbox"][3]
        assert np.linalg.norm(hips - truth["keypoints_2d"][8]) < 0.25 * height


@pytest.mark.slow
def test_a_shot_cut_never_drags_a_track_into_the_next_shot(pipeline, clip_renderer):
    before = clip_renderer.render(ClipSpec(frames=15, background="room", people=[
        PersonSpec(1, "walk", start=(0.0, 3.0), heading=-0.3, shirt=1, trousers=0)]))
    # Another place, another person where the first one stood: location alone would carry track 1 on.
    after = clip_renderer.render(ClipSpec(frames=15, background="noise", seed=5, people=[
        PersonSpec(1, "wave", start=(0.05, 3.1), heading=0.3, skin=2, shirt=3, trousers=3)]))
    clip = concatenate_clips(before, after)
    results = run(pipeline, clip.frames, "cut")
    first, second = ids(results[:15]), ids(results[15:])
    assert first == {1} and len(second) == 1 and not first & second
    assert ids(results[15:], "predicted") == set()


@pytest.mark.slow
def test_a_video_whose_first_frames_show_nobody_works(pipeline, render_preset):
    clip = render_preset("empty_start")
    results = run(pipeline, clip.frames, "empty-start")
    assert all(not r.people and r.frame_number == i for i, r in enumerate(results[:15]))
    # Found once in view (the face-based detector needs the face: a body half past the edge is not found yet).
    entered = [i for i, truth in enumerate(clip.ground_truth) if truth and truth[1]["visible"].sum() >= 21]
    assert entered and all(results[i].people for i in range(entered[0], len(results)))
    assert ids(results) == {1}


@pytest.mark.slow
def test_a_one_frame_stranger_is_shown_but_never_predicted(pipeline, render_preset):
    """A real person (the astronaut photo) pasted into one frame of a walking clip: a detection the tracker has
    never seen before or after. It may be reported on that frame, never carried on as a prediction."""
    clip = render_preset("single_person_3m")
    frames = [frame.copy() for frame in clip.frames[:30]]
    stranger = cv2.resize(data.astronaut(), (200, 200))
    frames[20][240:440, 420:620] = stranger
    results = run(pipeline, frames, "stranger")
    assert ids(results, "predicted") <= {1}
    assert all(r.people[0].track_id == 1 for r in results)  # the subject stays the primary person
    assert ids(results[21:]) == {1}


def _post_in_pairs(pipeline, frames, video_id: str, head_start_s: float) -> dict[int, FrameResult]:
    """Frames (n, n+1) posted from two threads, n+1 ``head_start_s`` ahead, as a backend with a pool of two does."""
    results: dict[int, FrameResult] = {}

    def post(i: int) -> None:
        results[i] = pipeline.process(FrameRequest(image=frames[i], frame_number=i, video_id=video_id))

    for n in range(0, len(frames) - 1, 2):
        later = threading.Thread(target=post, args=(n + 1,))
        later.start()
        time.sleep(head_start_s)
        post(n)
        later.join()
    return results


@pytest.mark.slow
@pytest.mark.parametrize("wait_s", [0.3, 0.0])
def test_frame_n_plus_one_arriving_before_n_keeps_the_tracks(pipeline, render_preset, wait_s):
    """With the reorder wait the frames are put back in order (the same outputs as sequential posting); without
    it, the late frame is folded in. Either way: no restart, the same ids, every frame covered."""
    clip = render_preset("two_people_crossing")
    frames = clip.frames[:20]
    sequential = run(pipeline, frames, "pairs-seq")
    original = pipeline.video
    pipeline.video = dataclasses.replace(original, reorder_wait_s=wait_s)
    try:
        paired = _post_in_pairs(pipeline, frames, "pairs", head_start_s=0.05)
        session = pipeline.sessions.get("pairs")
        assert session.restarts == 0
        assert session.late_frames == (0 if wait_s else 10)
    finally:
        pipeline.video = original
        pipeline.sessions.delete("pairs")
    for i, expected in enumerate(sequential):
        got = paired[i]
        assert sorted(p.track_id for p in got.people) == sorted(p.track_id for p in expected.people)
        if wait_s:
            for p, q in zip(got.people, expected.people):
                np.testing.assert_allclose(p.keypoints_2d, q.keypoints_2d, atol=1e-6)


def _same_results(a: list[FrameResult], b: list[FrameResult]) -> None:
    assert [[(p.track_id, p.source) for p in r.people] for r in a] == [[(p.track_id, p.source) for p in r.people]
                                                                       for r in b]
    for x, y in zip(a, b):
        for p, q in zip(x.people, y.people):
            np.testing.assert_array_equal(p.keypoints_2d, q.keypoints_2d)
            np.testing.assert_array_equal(p.vertices, q.vertices)


@pytest.mark.slow
def test_a_sequence_detected_ahead_gives_the_frame_by_frame_results(pipeline, render_preset, monkeypatch):
    """``process_sequence`` detects the next frames while one is fitted, with the hints it expects the tracks to
    give: kept when they do (here, every frame after the first: people crossing, one hidden behind the other),
    detected again when they do not (a lookahead whose guesses are all wrong), and the results are those of
    ``process``."""
    clip = render_preset("two_people_crossing")
    frames = clip.frames[:30]
    expected = run(pipeline, frames, "one-by-one")

    detected_on = []
    detector = pipeline.detector
    monkeypatch.setattr(pipeline, "detector",
                        lambda *args: detected_on.append(threading.current_thread().name) or detector(*args))

    def sequence(video_id: str) -> list[FrameResult]:
        detected_on.clear()
        requests = (FrameRequest(image=f, frame_number=i, video_id=video_id) for i, f in enumerate(frames))
        results = list(pipeline.process_sequence(requests))
        pipeline.sessions.delete(video_id)
        return results

    _same_results(sequence("ahead"), expected)
    # One detection a frame, all but the first ahead: every guess was right.
    assert [name.startswith("pose-lookahead") for name in detected_on] == [False] + [True] * (len(frames) - 1)

    search = _Lookahead._search

    def wrong_hints(self, request):  # the detection goes ahead with the right hints, but is said to have had others
        hints, wide, people = search(self, request)
        return [Hint((0.0, 0.0, 10.0, 10.0)), *hints], wide, people

    monkeypatch.setattr(_Lookahead, "_search", wrong_hints)
    _same_results(sequence("ahead-wrong"), expected)
    assert sum(not name.startswith("pose-lookahead") for name in detected_on) == len(frames)  # all detected again


@pytest.mark.parametrize("limits, held", [(dict(lookahead_frames=8, lookahead_pixels=35_000), 4),
                                          (dict(lookahead_frames=8), 9), (dict(lookahead_frames=2), 3)])
def test_a_sequence_holds_a_bounded_number_of_frames_ahead(limits, held):
    """``process_sequence`` reads ahead no more frames than ``lookahead_frames`` beyond the current one, nor
    (always the current one) beyond ``lookahead_pixels`` of frames held: what it holds is bounded, whatever the
    batch."""
    read = []

    def requests():
        for i in range(30):
            read.append(i)
            yield FrameRequest(image=np.zeros((100, 100, 3), np.uint8), frame_number=i, video_id="bounded")

    pipeline = FramePipeline("embedded", lambda image, hints=(), wide=None: [], InMemorySessionStore(),
                             video=VideoOptions(**limits))
    results = pipeline.process_sequence(requests())
    next(results)
    assert held <= len(read) <= held + 1  # and one more frame may be being read
    assert len(list(results)) == 29
