"""The synthetic-clip generator: its ground truth agrees with what it draws."""

from __future__ import annotations

import json
import math

import dataclasses

import numpy as np
import pytest

from pose_service.conventions import BODY25_INDEX
from pose_service.evaluation.clip import ClipScore, score_frame
from pose_service.render import PinholeCamera
from pose_service.synth.clip import (
    PRESETS, ClipRenderer, ClipSpec, Occluder, PersonSpec, background, concatenate_clips, preset, save_clip,
)

ROOT = BODY25_INDEX["mid_hip"]
SMALL = {"width": 320, "height": 240, "background": "noise"}  # focal 320 px: a 3 m tall slice at 3 m


@pytest.fixture(scope="module")
def renderer(anny_model):
    """A renderer on the bare Anny model: these tests need no service models."""
    return ClipRenderer(anny_model)


def test_ground_truth_2d_is_the_projection_of_the_3d_joints(render_preset):
    clip = render_preset("single_person_3m")
    camera = clip.camera
    for truth in clip.ground_truth[::10]:
        person = truth[1]
        np.testing.assert_allclose(person["keypoints_2d"], camera.project(person["joints_cam"]), atol=1e-9)
        np.testing.assert_allclose(person["joints_cam"] - person["camera_translation"], person["joints_rel"], atol=1e-12)
        assert np.allclose(person["joints_rel"][ROOT], 0, atol=1e-6)


def test_the_body_is_drawn_where_the_ground_truth_says(render_preset):
    clip = render_preset("single_person_3m")
    frame, person = clip.frames[0], clip.ground_truth[0][1]
    backdrop = clip.frames[0].astype(int)
    x, y, w, h = person["bbox"]
    u, v = person["keypoints_2d"][ROOT].astype(int)
    assert x < u < x + w and y < v < y + h
    # The body's pixels differ from the backdrop around the root; far from the box the frame is backdrop only.
    from pose_service.synth.clip import background

    plain = background(clip.spec).astype(int)
    assert np.abs(backdrop[v, u] - plain[v, u]).sum() > 30
    assert np.array_equal(frame[: int(y) - 5], background(clip.spec)[: int(y) - 5])
    assert 1.2 < h * person["camera_translation"][2] / clip.camera.fy < 2.2  # a person-sized silhouette in metres


def test_the_nearer_person_hides_the_farther_one(render_preset):
    clip = render_preset("two_people_crossing")
    hidden = [truth[2]["visible"].sum() for truth in clip.ground_truth]
    assert min(hidden) < 10 < max(hidden)  # person 2 (farther) is hidden while they cross, seen before and after
    assert all(truth[1]["visible"].sum() == 25 for truth in clip.ground_truth[:20])


def test_leaving_the_frame_clears_visibility_and_the_box(render_preset):
    clip = render_preset("leaves_the_frame")
    last = clip.ground_truth[-1][1]
    assert not last["in_view"] and last["bbox"] is None and not last["visible"].any()
    inside = clip.camera.in_image(clip.ground_truth[-1][1]["keypoints_2d"])
    assert not inside.any()


def test_rendering_is_deterministic_and_saves_its_ground_truth(clip_renderer, tmp_path):
    spec = ClipSpec(frames=3, people=[PersonSpec(1, "wave", shape=(0.3, -0.2, 0, 0, 0.5, 0))], seed=4)
    first, second = clip_renderer.render(spec), clip_renderer.render(spec)
    assert all(np.array_equal(a, b) for a, b in zip(first.frames, second.frames))
    path = save_clip(first, tmp_path)
    saved = json.loads(path.read_text())
    assert saved["intrinsics"]["fx"] == 640.0 and len(saved["frames"]) == 3
    assert np.allclose(saved["frames"][2]["1"]["joints_cam"], first.ground_truth[2][1]["joints_cam"])
    assert (tmp_path / "frame_00002.png").exists()
    rest = np.load(tmp_path / "rest_vertices.npz")["1"]
    assert rest.shape == (13718, 3) and 1.4 < np.ptp(rest[:, 1]) < 2.1  # an upright body's height in metres


def test_the_detector_finds_a_rendered_person_over_a_real_photo(clip_renderer, pipeline, tmp_path):
    """End to end: a body rendered over a real photo (skimage's rocket launch site) is found where the ground truth
    says."""
    import cv2
    from skimage import data

    photo = tmp_path / "rocket.png"
    cv2.imwrite(str(photo), cv2.cvtColor(data.rocket(), cv2.COLOR_RGB2BGR))
    spec = ClipSpec(frames=1, background=str(photo), people=[PersonSpec(1, "walk", start=(0.0, 3.0), heading=0.3)])
    clip = clip_renderer.render(spec)
    truth = clip.ground_truth[0][1]
    people = pipeline.detector(clip.frames[0])
    assert len(people) == 1
    for name in ("nose", "left_shoulder", "right_shoulder", "left_hip", "right_hip"):
        index = BODY25_INDEX[name]
        assert np.linalg.norm(people[0].keypoints_2d[index, :2] - truth["keypoints_2d"][index]) < 12, name


def test_a_pan_moves_the_scene_the_other_way_by_focal_times_the_angle(renderer):
    rate = 0.3  # rad/s, panning right
    spec = ClipSpec(frames=3, camera_yaw_rate=rate, people=[PersonSpec(1, "wave")], **SMALL)
    clip = renderer.render(spec)
    step = clip.camera.fx * rate / spec.fps  # 3.2 px a frame
    roots = np.array([truth[1]["keypoints_2d"][ROOT] for truth in clip.ground_truth])
    np.testing.assert_allclose(np.diff(roots[:, 0]), -step, rtol=0.01)  # the standing person moves left
    assert np.abs(np.diff(roots[:, 1])).max() < 0.5
    # The backdrop moves with the scene, by whole pixels: rows above the head are the previous frame's, shifted.
    shift = round(step)
    for before, after in zip(clip.frames, clip.frames[1:]):
        assert np.array_equal(after[:20, : -shift], before[:20, shift:])


def test_ground_truth_follows_a_panning_shaking_camera(renderer):
    spec = ClipSpec(
        frames=4, fps=5.0, camera_yaw_rate=0.5, camera_shake=3.0, seed=2, **SMALL,
        occluders=[Occluder(centre=(0.6, 2.4), size=(0.5, 0.6, 0.3))],
        people=[PersonSpec(1, "walk", start=(0.0, 3.0), velocity=(0.8, 0.0), heading=-1.0)],
    )
    clip = renderer.render(spec)
    assert np.array_equal(renderer.render(spec).frames[3], clip.frames[3])  # the shake is seeded
    for frame, truth in zip(clip.frames, clip.ground_truth):
        person = truth[1]
        np.testing.assert_allclose(person["keypoints_2d"], clip.camera.project(person["joints_cam"]), atol=1e-9)
        np.testing.assert_allclose(person["joints_cam"] - person["camera_translation"], person["joints_rel"])
        x, y, w, h = person["bbox"]
        points = person["keypoints_2d"][person["visible"]]
        assert len(points) >= 10
        assert np.all((points >= [x - 1, y - 1]) & (points <= [x + w + 1, y + h + 1]))
        u, v = person["keypoints_2d"][ROOT].astype(int)
        assert np.abs(frame[v, u].astype(int) - frame[5, u]).sum() > 30  # the body is drawn at its root, not backdrop
    # Panning right at 0.1 rad a frame outruns a person walking right at 0.8 m/s: they drift left in the image.
    assert np.all(np.diff([truth[1]["keypoints_2d"][ROOT][0] for truth in clip.ground_truth]) < -5)


def test_people_are_absent_and_undrawn_outside_their_frames(renderer):
    spec = ClipSpec(frames=3, people=[PersonSpec(1, "wave", visible_frames=(1, 2))], **SMALL)
    clip = renderer.render(spec)
    assert clip.ground_truth[0] == {} and clip.ground_truth[2] == {} and clip.ground_truth[1][1]["in_view"]
    backdrop = background(spec)
    assert np.array_equal(clip.frames[0], backdrop) and np.array_equal(clip.frames[2], backdrop)
    assert not np.array_equal(clip.frames[1], backdrop)
    score = ClipScore()  # scoring takes frames with nobody in them
    for index, truth in enumerate(clip.ground_truth):
        score_frame(score, [], truth, {}, index)
    assert score.summary()["coverage"] == {1: 0.0}


def test_one_identity_cannot_be_present_twice_at_once(renderer):
    person = PersonSpec(1, visible_frames=(0, 2))
    spec = ClipSpec(frames=3, people=[person, dataclasses.replace(person, visible_frames=(1, 3))], **SMALL)
    with pytest.raises(ValueError, match="frame 1"):
        renderer.render(spec)


def test_concatenated_clips_keep_their_frames_and_truth_with_distinct_identities(renderer, tmp_path):
    a = renderer.render(ClipSpec(frames=2, people=[PersonSpec(1, "wave")], **SMALL))
    b = renderer.render(ClipSpec(frames=2, people=[PersonSpec(1, "walk", start=(0.5, 3.5))], seed=1, **SMALL))
    edited = concatenate_clips(a, b)
    assert edited.cuts == [2] and edited.spec.frames == 4
    assert all(x is y for x, y in zip(edited.frames, a.frames + b.frames))
    assert [set(truth) for truth in edited.ground_truth] == [{1}, {1}, {101}, {101}]
    assert edited.ground_truth[3][101] is b.ground_truth[1][1] and edited.ground_truth[0][1] is a.ground_truth[0][1]
    assert set(edited.rest_vertices) == {1, 101} and [p.identity for p in edited.spec.people] == [1, 101]
    assert [shot.people[0].identity for shot in edited.shots] == [1, 101] and edited.shots[1].seed == 1

    again = concatenate_clips(edited, a, identity_offset=200)
    assert again.cuts == [2, 4] and set(again.ground_truth[5]) == {201} and len(again.shots) == 3
    with pytest.raises(ValueError, match="coincide"):
        concatenate_clips(edited, a)  # a's 1 would become 101, already taken
    with pytest.raises(ValueError, match="same camera"):
        concatenate_clips(a, dataclasses.replace(b, camera=PinholeCamera.for_image(640, 480)))

    saved = json.loads(save_clip(edited, tmp_path).read_text())
    assert saved["cuts"] == [2] and set(saved["frames"][2]) == {"101"} and len(saved["shots"]) == 2


def test_presets_with_camera_motion_entries_and_exits():
    specs = {name: preset(name) for name in PRESETS}
    assert specs["pan_follow"].camera_yaw_rate > 0 and specs["pan_follow"].camera_shake > 0
    empty = specs["empty_start"]
    assert not any(p.present(i) for p in empty.people for i in range(15))
    assert all(any(p.present(i) for p in empty.people) for i in range(15, empty.frames))
    leaving = specs["leave_and_return"]  # one identity, one look, two paths covering every frame once
    first, second = leaving.people
    assert first.identity == second.identity and first.shape == second.shape and first.shirt == second.shirt
    assert [sum(p.present(i) for p in leaving.people) for i in range(leaving.frames)] == [1] * leaving.frames


def _middle_frames(renderer: ClipRenderer, spec: ClipSpec) -> dict[str, dict]:
    """motion -> ground truth of the middle frame of each window of ``spec``'s one person (standing still), each
    frame rendered alone: a one-frame clip whose motion clock starts where that frame's does."""
    truth = {}
    for person in spec.people:
        middle = sum(person.visible_frames) // 2
        alone = dataclasses.replace(person, visible_frames=None, phase=person.phase + middle / spec.fps)
        truth[person.motion] = renderer.render(dataclasses.replace(spec, frames=1, people=[alone])).ground_truth[0][1]
    return truth


def _knee_angle(joints: np.ndarray, side: str) -> float:
    """Degrees between thigh and shin at the ``side`` ("left"/"right") knee: 180 straight."""
    hip, knee, ankle = (joints[BODY25_INDEX[f"{side}_{name}"]] for name in ("hip", "knee", "ankle"))
    a, b = hip - knee, ankle - knee
    return float(np.degrees(np.arccos(a @ b / np.linalg.norm(a) / np.linalg.norm(b))))


def test_hard_poses_touch_the_ground_where_they_should(renderer):
    spec = preset("hard_poses")
    people = spec.people
    assert len({(p.identity, p.shape, p.skin, p.shirt, p.trousers) for p in people}) == 1  # one person throughout
    assert [sum(p.present(i) for p in people) for i in range(spec.frames)] == [1] * spec.frames
    assert {0.0, math.pi, math.pi / 2, -math.pi / 2} <= {p.heading for p in people}  # front, back and both sides
    truth = _middle_frames(renderer, spec)
    assert set(truth) == {"snowboard_stance", "bend", "kneel", "all_fours", "arms_cross"}
    for motion, person in truth.items():
        assert person["in_view"] and person["visible"].sum() >= 23, motion

    def height(motion: str, joint: str) -> float:
        """Metres above the ground (a still camera: its frame is the world's, the ground at camera_height)."""
        return spec.camera_height - truth[motion]["joints_cam"][BODY25_INDEX[joint], 1]

    # Standing, knees are ~0.45 m up and wrists ~0.85 m: these are on the ground, up to the joint's own thickness.
    assert height("kneel", "right_knee") < 0.09 and height("kneel", "left_knee") > 0.35
    assert height("kneel", "left_heel") < 0.06  # the front foot flat
    for joint in ("left_knee", "right_knee", "left_wrist", "right_wrist"):
        assert height("all_fours", joint) < 0.1, joint
    assert height("all_fours", "neck") > 0.4 and height("all_fours", "mid_hip") > 0.3  # not lying down
    for side in ("left", "right"):
        assert _knee_angle(truth["snowboard_stance"]["joints_cam"], side) < 150
    assert height("bend", "nose") < height("bend", "mid_hip") - 0.2  # bent double
    crossed = truth["arms_cross"]["joints_cam"]
    for side, other in (("left", "right"), ("right", "left")):  # each hand at the other shoulder
        wrist = crossed[BODY25_INDEX[f"{side}_wrist"]]
        reach = {s: np.linalg.norm(wrist - crossed[BODY25_INDEX[f"{s}_shoulder"]]) for s in (side, other)}
        assert reach[other] < 0.2 < reach[side], side


def test_hard_poses_occluded_hides_the_legs_behind_the_box(renderer):
    spec = preset("hard_poses_occluded")
    assert spec.occluders and spec.camera_yaw_rate and spec.camera_shake and spec.background == "noise"
    truth = _middle_frames(renderer, spec)  # each with frame 0's camera turn: a turn hides nothing more or less
    feet = [BODY25_INDEX[name] for name in ("left_ankle", "right_ankle", "left_heel", "right_heel")]
    upper = [BODY25_INDEX[name] for name in ("nose", "left_wrist", "right_wrist", "left_elbow", "right_elbow")]
    behind_the_box = truth["snowboard_stance"]["visible"]
    assert not behind_the_box[feet].any() and behind_the_box[upper].all()
    assert truth["bend"]["visible"].all() and truth["all_fours"]["visible"].all()
