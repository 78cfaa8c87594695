"""The synthetic-clip generator: its ground truth agrees with what it draws."""

from __future__ import annotations

import json

import numpy as np

from pose_service.conventions import BODY25_INDEX
from pose_service.synth.clip import ClipSpec, PersonSpec, save_clip

ROOT = BODY25_INDEX["mid_hip"]


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
