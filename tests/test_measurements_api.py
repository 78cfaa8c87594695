"""Measurements and exports over HTTP, on clips and photos rendered from an Anny body of known shape."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
import trimesh

from conftest import encode_b64
from pose_service.measure import MEASUREMENTS
from pose_service.measure.shape import neutral_height_cm
from pose_service.synth.clip import ClipSpec, PersonSpec

SHAPE = (0.6, 0.3, -0.4, 0.5, 0.8, -0.2)  # a heavier, taller than average body
FRAMES = 36


@pytest.fixture(scope="module")
def walking(clip_renderer):
    spec = ClipSpec(frames=FRAMES, seed=3, people=[
        PersonSpec(1, "walk", start=(0.0, 3.2), heading=-0.6, turn_rate=0.8, shape=SHAPE, shirt=1)])
    return clip_renderer.render(spec)


@pytest.fixture(scope="module")
def true_height(pipeline) -> float:
    with pipeline.body_lock:
        return neutral_height_cm(pipeline.body, np.array(SHAPE))


@pytest.fixture(scope="module")
def posted(app, walking, true_height):
    """The clip posted frame by frame with its subject's height; the responses."""
    client = app.test_client()
    responses = []
    for index, frame in enumerate(walking.frames):
        response = client.post("/pose/hybrid", json={"image_base64": encode_b64(frame), "frame_number": index,
                                                     "video_id": "measure-walk", "height_cm": true_height})
        assert response.status_code == 200
        responses.append(response.get_json())
    return responses


def test_measurements_of_a_tracked_person_with_a_given_height(client, posted, true_height):
    body = client.get("/sessions/measure-walk/measurements").get_json()
    assert body["video_id"] == "measure-walk" and len(body["tracks"]) == 1
    track = body["tracks"][0]
    assert track["track_id"] == posted[-1]["people"][0]["track_id"]
    assert track["scale"] == "given" and track["height_cm_given"] == pytest.approx(true_height)
    assert track["body_model"] == "anny" and track["frames_used"] >= FRAMES - 3
    assert set(track["measurements_cm"]) == set(track["uncertainty_cm"]) == set(MEASUREMENTS)
    # The stature parameter is solved for the given height: the neutral body is that tall.
    assert track["measurements_cm"]["height"] == pytest.approx(true_height, abs=0.5)
    assert track["uncertainty_cm"]["height"] == 0.0


def test_the_shape_settles_and_the_mesh_stops_breathing(posted):
    shapes = [np.array(r["people"][0]["body_params"]["shape"]) for r in posted[-5:]]
    for shape in shapes[1:]:
        np.testing.assert_array_equal(shape, shapes[0])


def test_npz_export_re_poses_the_served_meshes(client, posted, pipeline):
    track_id = posted[-1]["people"][0]["track_id"]
    response = client.get(f"/sessions/measure-walk/export?track_id={track_id}&format=npz")
    assert response.status_code == 200
    data = np.load(io.BytesIO(response.data))
    assert list(data["phenotype_labels"]) == pipeline.body.phenotype_labels
    served = {r["frame_number"]: r for r in posted if r["people"] and r["people"][0]["source"] == "detected"}
    assert set(data["frame_numbers"].tolist()) == set(served)
    for row in (0, len(data["frame_numbers"]) // 2, -1):
        frame = int(data["frame_numbers"][row])
        params = [torch.as_tensor(data[k][row], dtype=torch.float32)[None]
                  for k in ("global_orient", "body_pose", "frame_shapes")]
        with pipeline.body_lock, torch.no_grad():
            vertices = pipeline.body(*params).vertices[0].numpy()
        served_vertices = np.asarray(served[frame]["mesh_vertices_data"])
        assert np.abs(vertices - served_vertices).max() < 1e-3
        np.testing.assert_allclose(data["transl"][row], served[frame]["camera_translation"], atol=1e-5)


def test_obj_and_json_exports(client, posted, pipeline, true_height):
    track_id = posted[-1]["people"][0]["track_id"]
    response = client.get(f"/sessions/measure-walk/export?track_id={track_id}&format=obj")
    assert response.status_code == 200
    mesh = trimesh.load(io.BytesIO(response.data), file_type="obj", process=False)
    assert mesh.vertices.shape == (pipeline.body.num_vertices, 3) and len(mesh.faces) == len(pipeline.faces)
    # Modelling axes: y up, so the head is at the top; the given height is the mesh's vertical extent.
    assert np.ptp(mesh.vertices[:, 1]) * 100 == pytest.approx(true_height, abs=0.5)
    body = client.get(f"/sessions/measure-walk/export?track_id={track_id}&format=json").get_json()
    assert body["track_id"] == track_id and len(body["frames"]) >= FRAMES - 3
    assert body["measurements"]["scale"] == "given"


@pytest.mark.parametrize("query, status, code", [
    ("track_id=1&format=fbx", 400, "invalid_field"),
    ("format=npz", 400, "invalid_field"),
    ("track_id=abc&format=npz", 400, "invalid_field"),
    ("track_id=999&format=npz", 404, "track_not_found"),
])
def test_export_errors(client, posted, query, status, code):
    response = client.get(f"/sessions/measure-walk/export?{query}")
    assert response.status_code == status and response.get_json()["code"] == code


def test_unknown_session(client):
    for path in ("/sessions/nobody/measurements", "/sessions/nobody/export?track_id=1&format=npz"):
        response = client.get(path)
        assert response.status_code == 404 and response.get_json()["code"] == "session_not_found"


@pytest.fixture(scope="module")
def photos(clip_renderer) -> list[str]:
    """Front, side and back photos of the body."""
    encoded = []
    for heading in (0.0, np.pi / 2, np.pi):
        spec = ClipSpec(frames=1, people=[PersonSpec(1, "walk", start=(0.0, 3.0), heading=heading, shape=SHAPE)])
        encoded.append(encode_b64(clip_renderer.render(spec).frames[0]))
    return encoded


def test_photo_measurements_front_side_back(client, photos, true_height):
    response = client.post("/measurements", json={"images_base64": photos, "height_cm": true_height})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["photos"] == 3 and body["photos_used"] >= 2 and body["scale"] == "given"
    assert body["sex_given"] is None
    assert body["measurements_cm"]["height"] == pytest.approx(true_height, abs=0.5)
    assert len(body["mesh_vertices_data"]) == 13718 and len(body["mesh_faces_data"]) == 27420


def test_photo_measurements_with_a_given_sex(client, photos, true_height):
    """The sex sets Anny's gender phenotype (0.75 for female) before the height is solved; the height holds."""
    response = client.post("/measurements", json={"images_base64": photos, "height_cm": true_height,
                                                  "sex": "female"})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["sex_given"] == "female" and body["uncertainty_cm"]["height"] == 0.0
    assert torch.sigmoid(torch.tensor(body["body_params"]["shape"][0])) == pytest.approx(0.75, abs=1e-6)
    assert body["measurements_cm"]["height"] == pytest.approx(true_height, abs=0.5)
    response = client.post("/measurements", json={"images_base64": photos, "sex": "unknown"})
    assert response.status_code == 400 and "sex" in response.get_json()["error"]


def test_photo_measurements_errors(client, no_person_b64):
    response = client.post("/measurements", json={"images_base64": []})
    assert response.status_code == 400
    response = client.post("/measurements", json={"images_base64": [no_person_b64]})
    assert response.status_code == 422 and response.get_json()["code"] == "no_person"
    response = client.post("/measurements", json={"images_base64": ["not base64!"]})
    assert response.status_code == 400
