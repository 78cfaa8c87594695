"""Measurements and exports over HTTP, on clips and photos rendered from an Anny body of known shape."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh
from scipy.spatial.transform import Rotation

from conftest import encode_b64
from pose_service.conventions import BODY25_INDEX, BODY25_NAMES, DEFAULT_MESH_RESOLUTION
from pose_service.measure import MEASUREMENTS
from pose_service.measure.shape import neutral_height_cm
from pose_service.synth.clip import ClipSpec, PersonSpec

ROOT = Path(__file__).resolve().parents[1]
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
        # The served mesh is the default resolution's subset of the full mesh's vertices.
        vertices = pipeline.mesh_levels[DEFAULT_MESH_RESOLUTION].select(vertices)
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
    ("track_id=1&format=glb&fps=0", 400, "invalid_field"),
    ("track_id=1&format=bvh&fps=-30", 400, "invalid_field"),
    ("track_id=1&format=glb&fps=fast", 400, "invalid_field"),
    ("track_id=1&format=glb&fps=nan", 400, "invalid_field"),
    ("track_id=1&format=glb&fps=inf", 400, "invalid_field"),
    ("track_id=1&format=bvh&fps=1001", 400, "invalid_field"),
    ("format=npz", 400, "invalid_field"),
    ("track_id=abc&format=npz", 400, "invalid_field"),
    ("track_id=999&format=npz", 404, "track_not_found"),
])
def test_export_errors(client, posted, query, status, code):
    response = client.get(f"/sessions/measure-walk/export?{query}")
    assert response.status_code == status and response.get_json()["code"] == code


# glb and bvh: a skeleton of the BODY_25 keypoints animated over the clip, in y-up axes (camera axes, y and z negated).
Y_UP = np.diag([1.0, -1.0, -1.0])
GLTF_COMPONENTS = {5126: np.float32, 5125: np.uint32, 5123: np.uint16, 5121: np.uint8}
GLTF_WIDTHS = {"SCALAR": 1, "VEC3": 3, "VEC4": 4, "MAT4": 16}


def gltf_array(gltf, blob: bytes, index: int) -> np.ndarray:
    """Accessor ``index`` of a GLB (tightly packed views, as the export writes them): (count, width)."""
    accessor = gltf.accessors[index]
    view = gltf.bufferViews[accessor.bufferView]
    start = (view.byteOffset or 0) + (accessor.byteOffset or 0)
    width = GLTF_WIDTHS[accessor.type]
    values = np.frombuffer(blob, GLTF_COMPONENTS[accessor.componentType], accessor.count * width, start)
    return values.reshape(accessor.count, width)


def forward_kinematics(parents: list[int], translations: np.ndarray, rotations: np.ndarray) -> np.ndarray:
    """(N, J, 4, 4) world matrices of joints with local ``translations`` (N, J, 3) and ``rotations`` (N, J, 3, 3);
    ``parents`` (J,): -1 for the root."""
    local = np.tile(np.eye(4), translations.shape[:2] + (1, 1))
    local[..., :3, :3], local[..., :3, 3] = rotations, translations
    world = np.zeros_like(local)
    done: set[int] = set()
    while len(done) < len(parents):
        for joint, parent in enumerate(parents):
            if joint not in done and (parent < 0 or parent in done):
                world[:, joint] = local[:, joint] if parent < 0 else world[:, parent] @ local[:, joint]
                done.add(joint)
    return world


@pytest.fixture(scope="module")
def served_bodies(posted, pipeline) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(frame_numbers (N,), keypoints (N, 25, 3), vertices (N, V, 3))`` of each served frame's body (the body
    model at the response's ``body_params``: its full mesh and that mesh's keypoints) plus its
    ``camera_translation``, in y-up axes."""
    frames, params, translations = [], [], []
    for response in posted:
        person = response["people"][0] if response["people"] else None
        if person is not None and person["source"] == "detected":
            frames.append(response["frame_number"])
            params.append([person["body_params"][k] for k in ("global_orient", "body_pose", "shape")])
            translations.append(person["camera_translation"])
    tensors = [torch.tensor(np.array(values), dtype=torch.float32) for values in zip(*params)]
    with pipeline.body_lock, torch.no_grad():
        body = pipeline.body(*tensors)
    translations = np.array(translations)[:, None]
    keypoints, vertices = ((points.double().numpy() + translations) @ Y_UP.T
                           for points in (body.keypoints, body.vertices))
    return np.array(frames), keypoints, vertices


def test_glb_export_skins_the_avatar_and_reproduces_the_served_keypoints(client, posted, pipeline, served_bodies):
    from pygltflib import GLTF2

    track_id = posted[-1]["people"][0]["track_id"]
    response = client.get(f"/sessions/measure-walk/export?track_id={track_id}&format=glb")
    assert response.status_code == 200 and response.mimetype == "model/gltf-binary"
    gltf = GLTF2.load_from_bytes(response.data)
    blob = gltf.binary_blob()
    frames, expected, served_vertices = served_bodies

    primitive = gltf.meshes[0].primitives[0]
    vertices = gltf_array(gltf, blob, primitive.attributes.POSITION)
    assert vertices.shape == (pipeline.body.num_vertices, 3)
    assert gltf_array(gltf, blob, primitive.indices).size == 3 * len(pipeline.faces)
    skin = gltf.skins[0]
    assert [gltf.nodes[j].name for j in skin.joints] == list(BODY25_NAMES)
    weights = gltf_array(gltf, blob, primitive.attributes.WEIGHTS_0)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-6)

    # The animation: a rotation and a translation channel per joint, keyed at frame_number / 30 (the default fps).
    animation = gltf.animations[0]
    assert len(animation.channels) == 2 * len(skin.joints)
    tracks = {(c.target.node, c.target.path): animation.samplers[c.sampler] for c in animation.channels}
    for sampler in animation.samplers:
        times = gltf_array(gltf, blob, sampler.input)[:, 0]
        np.testing.assert_allclose(times, frames / 30.0, rtol=1e-6)
        assert len(gltf_array(gltf, blob, sampler.output)) == len(frames)

    # Pose the skeleton from the file's data alone: each joint's world position per frame.
    parents = [-1] * len(gltf.nodes)
    for index, node in enumerate(gltf.nodes):
        for child in node.children or []:
            parents[child] = index
    joints = skin.joints
    translations = np.stack([gltf_array(gltf, blob, tracks[j, "translation"].output) for j in joints], axis=1)
    quaternions = np.stack([gltf_array(gltf, blob, tracks[j, "rotation"].output) for j in joints], axis=1)
    rotations = Rotation.from_quat(quaternions.reshape(-1, 4)).as_matrix().reshape(quaternions.shape[:2] + (3, 3))
    world = forward_kinematics([parents[j] for j in joints], translations, rotations)
    assert np.abs(world[..., :3, 3] - expected).max() < 1e-3
    # The served keypoints_3d are the same keypoints, One-Euro smoothed over time; on the track's first frame
    # nothing is smoothed yet.
    first = posted[int(frames[0])]["people"][0]
    keypoints_3d = np.array([[k["x"], k["y"], k["z"]] for k in first["keypoints_3d"]])
    served = (keypoints_3d + first["camera_translation"]) @ Y_UP.T
    assert np.abs(world[0, :, :3, 3] - served).max() < 1e-3

    # Skinning (joint matrices x inverse bind matrices, weighted) poses the avatar near the served mesh: within
    # ~1 cm on the last frame (the settled shape), more where the skeleton has no joint (shoulders, spine).
    inverse_bind = gltf_array(gltf, blob, skin.inverseBindMatrices).reshape(-1, 4, 4).transpose(0, 2, 1)
    skinning = world[-1] @ inverse_bind  # (J, 4, 4)
    bound = gltf_array(gltf, blob, primitive.attributes.JOINTS_0).astype(int)
    homogeneous = np.c_[vertices, np.ones(len(vertices))]
    posed = np.einsum("vk,vkij,vj->vi", weights, skinning[bound], homogeneous)[:, :3]
    distances = np.linalg.norm(posed - served_vertices[-1], axis=1)
    assert np.median(distances) < 0.015 and np.percentile(distances, 95) < 0.05


def parse_bvh(text: str) -> tuple[list[str], list[int], np.ndarray, float, np.ndarray]:
    """``(joint names, parents, offsets (J, 3), frame time, motion (M, channels))`` of a BVH whose joints all have
    six channels (position, then rotation), as the export writes them."""
    names, parents, offsets, stack = [], [], [], []
    lines = iter(text.splitlines())
    for line in lines:
        words = line.split()
        if words[:1] in (["ROOT"], ["JOINT"]):
            parents.append(stack[-1] if stack else -1)
            names.append(words[1])
        elif words[:1] == ["End"]:
            names.append(None)  # an end site: braces and an offset, no channels
            parents.append(stack[-1])
        elif words[:1] == ["{"]:
            stack.append(len(names) - 1)
        elif words[:1] == ["}"]:
            stack.pop()
        elif words[:1] == ["OFFSET"]:
            offsets.append([float(v) for v in words[1:]])
        elif words[:1] == ["CHANNELS"]:
            assert words[1:] == ["6", "Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation"]
        elif words[:1] == ["MOTION"]:
            break
    count = int(next(lines).split(":")[1])
    frame_time = float(next(lines).split(":")[1])
    motion = np.array([[float(v) for v in next(lines).split()] for _ in range(count)])
    joints = [i for i, name in enumerate(names) if name is not None]
    return ([names[i] for i in joints], [joints.index(parents[i]) if parents[i] >= 0 else -1 for i in joints],
            np.array(offsets)[joints], frame_time, motion)


def test_bvh_export_has_every_frame_and_reproduces_the_served_keypoints(client, posted, served_bodies):
    track_id = posted[-1]["people"][0]["track_id"]
    response = client.get(f"/sessions/measure-walk/export?track_id={track_id}&format=bvh&fps=25")
    assert response.status_code == 200
    names, parents, offsets, frame_time, motion = parse_bvh(response.data.decode())
    frames, expected, _ = served_bodies
    assert sorted(names) == sorted(BODY25_NAMES) and names[0] == "mid_hip"
    assert frame_time == pytest.approx(1 / 25) and len(motion) == frames[-1] - frames[0] + 1 == len(frames)
    assert motion.shape[1] == 6 * len(names)
    np.testing.assert_allclose(offsets[0], 0.0)  # the root's position channels are its world position
    channels = motion.reshape(len(motion), len(names), 6)
    rotations = Rotation.from_euler("ZXY", channels[..., 3:].reshape(-1, 3), degrees=True).as_matrix()
    world = forward_kinematics(parents, channels[..., :3], rotations.reshape(channels.shape[:2] + (3, 3)))
    order = [names.index(name) for name in BODY25_NAMES]
    assert np.abs(world[..., :3, 3][:, order] - expected).max() < 1e-3


def test_bvh_fills_frames_without_a_body(client, posted, pipeline, served_bodies):
    """A frame missing from a track's history (a miss) gets a BVH row between its neighbours'; the others keep
    theirs."""
    from pose_service.measure.bvh_export import bvh_text
    from pose_service.measure.skeleton_animation import track_animation
    from pose_service.sessions.bodies import BodyHistory

    track_id = posted[-1]["people"][0]["track_id"]
    data = np.load(io.BytesIO(client.get(f"/sessions/measure-walk/export?track_id={track_id}&format=npz").data))
    kept = np.arange(len(data["frame_numbers"])) != 10
    history = BodyHistory("anny", *(data[k][kept] for k in ("frame_numbers", "global_orient", "body_pose",
                                                               "frame_shapes", "transl", "fit_confidence")))
    with pipeline.body_lock:
        animation = track_animation(pipeline.body, history, data["shape"])
    names, parents, _, _, motion = parse_bvh(bvh_text(animation, 30.0))
    frames, expected, _ = served_bodies
    assert len(motion) == len(frames)  # every frame of the span, the missing one too
    channels = motion.reshape(len(motion), len(names), 6)
    rotations = Rotation.from_euler("ZXY", channels[..., 3:].reshape(-1, 3), degrees=True).as_matrix()
    world = forward_kinematics(parents, channels[..., :3], rotations.reshape(channels.shape[:2] + (3, 3)))
    joints = world[..., :3, 3][:, [names.index(name) for name in BODY25_NAMES]]
    assert np.abs(joints[kept] - expected[kept]).max() < 1e-3
    root = BODY25_INDEX["mid_hip"]
    np.testing.assert_allclose(joints[10, root], (expected[9, root] + expected[11, root]) / 2, atol=1e-6)


def test_blender_imports_the_exports(client, posted, served_bodies, tmp_path):
    """scripts/check_blender_import.py in Blender (Debian: apt-get install blender python3-numpy): both files
    import, and the left ankle is within 1 cm of the served mesh's on a frame in the middle of the clip, and of
    the response's own ``keypoints_3d`` + ``camera_translation`` on the track's first frame (later ones are
    smoothed by the tracker, the mesh is not: README, exports)."""
    assert shutil.which("blender"), "Blender is not installed (apt-get install -y blender python3-numpy)"
    track_id = posted[-1]["people"][0]["track_id"]
    for fmt in ("glb", "bvh"):
        response = client.get(f"/sessions/measure-walk/export?track_id={track_id}&format={fmt}")
        assert response.status_code == 200
        (tmp_path / f"walk.{fmt}").write_bytes(response.data)
    frames, expected, _ = served_bodies
    first = next(r for r in posted if r["frame_number"] == frames[0])["people"][0]
    ankle = next(k for k in first["keypoints_3d"] if k["name"] == "left_ankle")
    served_ankle = (np.array([ankle["x"], ankle["y"], ankle["z"]]) + first["camera_translation"]) @ Y_UP.T
    for row, left_ankle in ((len(frames) // 2, expected[len(frames) // 2, BODY25_INDEX["left_ankle"]]),
                            (0, served_ankle)):
        (tmp_path / "expected.json").write_text(json.dumps({
            "fps": 30, "first_frame": int(frames[0]), "frame_number": int(frames[row]),
            "left_ankle": left_ankle.tolist()}))
        result = subprocess.run(
            ["blender", "--background", "--factory-startup", "--python", str(ROOT / "scripts/check_blender_import.py"),
             "--", "--glb", str(tmp_path / "walk.glb"), "--bvh", str(tmp_path / "walk.bvh"),
             "--expect", str(tmp_path / "expected.json")],
            capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        print(result.stdout)  # the script's report (pytest -s shows it)
        reports = re.findall(r"^(glb|bvh): frames (\S+), (\d+) bones; .* error ([0-9.]+) cm$", result.stdout,
                             re.MULTILINE)
        assert [r[0] for r in reports] == ["glb", "bvh"], result.stdout
        span = f"{frames[0]}-{frames[-1]}"
        assert reports[0][1] == span and reports[1][1] == f"1-{len(frames)}"  # the BVH starts at Blender's frame 1
        for _, _, bones, error in reports:
            assert int(bones) == len(BODY25_NAMES) and float(error) < 1.0


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
