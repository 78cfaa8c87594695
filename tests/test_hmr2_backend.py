"""HMR 2.0 as a service backend: the stage's geometry against upstream's convention, the OOM fall-back, and a real
gunicorn process serving a random-weight checkpoint of the released size and format."""

from __future__ import annotations

import json
import logging
import shutil
import signal
import subprocess

import numpy as np
import pytest
import smplx
import torch
from smplx.utils import Struct

from pose_service.body.smpl_model import SMPLModel
from pose_service.models.hmr2.camera import cam_crop_to_full, hmr2_focal_length
from pose_service.models.hmr2.files import CHECKPOINT_RELPATH
from pose_service.models.hmr2.preprocess import preprocess
from pose_service.models.hmr2.testing import random_model, write_random_checkpoint
from pose_service.models.hmr2.network import HMR2Config
from pose_service.pipeline import GpuOutOfMemory
from pose_service.regress.hmr2 import HMR2Regressor, padded_boxes
from pose_service.types import Person
from servers import ROOT, call, start_gunicorn

TINY = HMR2Config.from_dict(torch.load(ROOT / "tests/data/hmr2_tiny_reference.pt", weights_only=True)["config"])


def detected_person(box: tuple[float, float, float, float]) -> Person:
    keypoints = np.zeros((25, 3))
    keypoints[:, 2] = 0.8
    return Person(keypoints_2d=keypoints, bbox=box, score=0.9)


@pytest.fixture(scope="module")
def regressor(smpl_arrays):
    smpl = SMPLModel(smpl_arrays, dtype=torch.float32)
    return HMR2Regressor(random_model(TINY, seed=3), smpl, torch.device("cpu"))


def test_bodies_match_upstreams_convention(regressor, smpl_arrays, astronaut):
    """Camera-frame vertices = smplx SMPL(rotmats) + cam_crop_to_full, exactly as 4D-Humans' demo places them."""
    people = [detected_person((60, 100, 250, 400)), detected_person((300, 50, 150, 300))]
    out = regressor(astronaut, people, focal_length_px=None)

    crops = preprocess(astronaut, padded_boxes([detected_person((60, 100, 250, 400)), detected_person((300, 50, 150, 300))]))
    with torch.inference_mode():
        net = regressor.network(crops.images)
        upstream_smpl = smplx.SMPLLayer(model_path="", data_struct=Struct(**smpl_arrays), num_betas=10)
        upstream = upstream_smpl(global_orient=net["global_orient"], body_pose=net["body_pose"], betas=net["betas"])
    focal = hmr2_focal_length((512, 512))
    cam_t = cam_crop_to_full(net["pred_cam"], crops.box_center, crops.box_size, crops.image_size, focal)
    expected = (upstream.vertices + cam_t[:, None]).numpy()
    for i, person in enumerate(out):
        assert person.vertices.shape == (6890, 3) and person.keypoints_3d.shape == (25, 3)
        np.testing.assert_allclose(person.vertices + person.camera_translation, expected[i], atol=2e-5)
        assert np.allclose(person.keypoints_3d[8], 0)  # mid_hip is the root
        assert person.body_model == "smpl" and person.body_params["shape"].shape == (10,)
        # 2D keypoints are the projection of the 3D ones with upstream's focal length.
        points = person.keypoints_3d + person.camera_translation
        pixels = float(focal) * points[:, :2] / points[:, 2:] + 256
        np.testing.assert_allclose(person.keypoints_2d[:, :2], pixels, rtol=1e-5)


def test_request_focal_length_sets_the_depth(regressor, astronaut):
    """cam_crop_to_full's depth is proportional to the focal length; the root adds the template pelvis to it."""
    short = regressor(astronaut, [detected_person((60, 100, 250, 400))], focal_length_px=500.0)[0]
    long = regressor(astronaut, [detected_person((60, 100, 250, 400))], focal_length_px=1000.0)[0]
    betas = torch.tensor(short.body_params["shape"][None], dtype=torch.float32)
    pelvis_z = float(regressor.smpl.native_pelvis(betas)[0, 2])
    assert long.camera_translation[2] - pelvis_z == pytest.approx(2 * (short.camera_translation[2] - pelvis_z), rel=1e-4)


def test_out_of_memory_falls_back_to_cpu_or_fails_by_policy(regressor, astronaut, monkeypatch, caplog):
    expected = regressor(astronaut, [detected_person((60, 100, 250, 400))], None)[0].vertices
    real_forward = regressor._forward

    def oom_on_the_main_network(network, images, device):
        if network is regressor.network:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real_forward(network, images, device)

    monkeypatch.setattr(regressor, "_forward", oom_on_the_main_network)
    with caplog.at_level(logging.WARNING):
        fallback = regressor(astronaut, [detected_person((60, 100, 250, 400))], None)[0].vertices
    assert "runs on the CPU" in caplog.text
    np.testing.assert_allclose(fallback, expected, atol=1e-6)
    monkeypatch.setattr(regressor, "oom_policy", "fail")
    with pytest.raises(GpuOutOfMemory):
        regressor(astronaut, [detected_person((60, 100, 250, 400))], None)


@pytest.fixture(scope="session")
def hmr2_cache(tmp_path_factory, smpl_pkl):
    """An upstream cache layout: a random-weight checkpoint of the released size (~2.7 GB) and a synthetic SMPL."""
    root = tmp_path_factory.mktemp("4DHumans")
    write_random_checkpoint(root / CHECKPOINT_RELPATH, HMR2Config(), seed=0)
    shutil.copy(smpl_pkl, (root / "data" / "smpl").mkdir(parents=True) or root / "data" / "smpl" / "SMPL_NEUTRAL.pkl")
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slow
def test_service_serves_hmr2_from_a_released_size_checkpoint(hmr2_cache, astronaut_b64):
    process, base = start_gunicorn({"POSE_BACKEND": "hmr2", "POSE_DEVICE": "auto", "HMR2_CACHE_DIR": str(hmr2_cache)})
    try:
        health = None
        for _ in range(1200):
            assert process.poll() is None, process.stdout.read()
            try:
                status, health, _ = call(base + "/health")
                if health["status"] != "warming_up":
                    break
            except OSError:
                pass
            subprocess.run(["sleep", "0.25"])
        assert health["status"] == "ready", health
        assert health["backend"] == "hmr2" and health["device"] in ("cpu", "cuda")
        assert health["models"] == {"blazepose": "loaded", "hmr2": "loaded", "smpl": "loaded"}
        assert health["files"]["hmr2_weights"].endswith("epoch=35-step=1000000.ckpt")

        request = {"image_base64": astronaut_b64, "frame_number": 0, "mesh_resolution": "full"}
        status, body, _ = call(base + "/pose/hybrid", json.dumps(request).encode())
        assert status == 200, body
        assert body["backend"] == "hmr2" and body["has_3d"] is True and body["keypoint_count"] == 25
        assert len(body["mesh_vertices_data"]) == 6890 and len(body["mesh_faces_data"]) == 13776
        assert len(body["camera_translation"]) == 3 and np.isfinite(body["camera_translation"]).all()
        assert body["people"][0]["body_model"] == "smpl"
        status, faces, _ = call(base + "/mesh/faces?body_model=smpl&mesh_resolution=full")
        assert status == 200 and faces["mesh_faces_data"] == body["mesh_faces_data"]
        # The default resolution is the same body's coarser level, with its own triangles.
        status, coarse, _ = call(base + "/pose/hybrid", json.dumps({**request, "mesh_resolution": "high"}).encode())
        status, faces, _ = call(base + "/mesh/faces?body_model=smpl")
        assert faces["vertex_count"] == len(coarse["mesh_vertices_data"]) < 6890
        np.testing.assert_array_equal(coarse["mesh_vertices_data"],
                                      np.asarray(body["mesh_vertices_data"])[faces["vertex_indices"]])
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)


@pytest.mark.parametrize("missing", ["checkpoint", "smpl"])
def test_health_names_a_missing_hmr2_file_and_where_it_goes(tmp_path, smpl_pkl, missing):
    from pose_service.app import create_app
    from pose_service.config import ServiceConfig

    if missing == "checkpoint":  # SMPL is there, the checkpoint is not
        shutil.copy(smpl_pkl, (tmp_path / "data/smpl").mkdir(parents=True) or tmp_path / "data/smpl/SMPL_NEUTRAL.pkl")
    config = ServiceConfig(backend="hmr2", hmr2_cache_dir=str(tmp_path), load_in_background=False)
    health = create_app(config).test_client().get("/health")
    body = health.get_json()
    assert health.status_code == 503 and body["status"] == "error"
    failed = body["models"]["smpl" if missing == "smpl" else "hmr2"]
    expected = tmp_path / "data/smpl" if missing == "smpl" else tmp_path / CHECKPOINT_RELPATH
    assert failed.startswith("failed: ") and str(expected) in failed and str(expected) in body["error"]
