"""HMR 2.0 network, checkpoint loading, camera and preprocessing, at the reduced reference size (fast)."""

from __future__ import annotations

import io
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from pose_service.config import ServiceConfig
from pose_service.models.hmr2.__main__ import REFERENCE_KEYS
from pose_service.models.hmr2.camera import cam_crop_to_full, hmr2_focal_length
from pose_service.models.hmr2.checkpoint import (UnsafeCheckpointError, check_state_dict, convert, expected_shapes,
                                                 load_hmr2, load_safetensors, read_upstream_checkpoint,
                                                 restricted_pickle)
from pose_service.models.hmr2.network import HMR2, HMR2Config, rot6d_to_rotmat
from pose_service.models.hmr2.preprocess import IMAGENET_MEAN, IMAGENET_STD, preprocess
from pose_service.models.hmr2.testing import random_model, write_random_checkpoint

DATA = Path(__file__).parent / "data"
REFERENCE = DATA / "hmr2_tiny_reference.pt"
CKPT = DATA / "hmr2_tiny.ckpt"
ROOT = Path(__file__).parent.parent


@pytest.fixture(scope="module")
def ref() -> dict:
    return torch.load(REFERENCE, weights_only=True)


@pytest.fixture(scope="module")
def config(ref: dict) -> HMR2Config:
    return HMR2Config.from_dict(ref["config"])


def _run(model: HMR2, x: torch.Tensor) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        return model(x)


def test_config_round_trip_and_released_defaults(ref: dict, config: HMR2Config) -> None:
    assert config.to_dict() == ref["config"]
    released = HMR2Config()
    assert released.grid == (16, 12) and released.num_pos == 193
    shapes = expected_shapes(released)
    assert len(shapes) == 503
    assert sum(s.numel() for k, s in shapes.items() if k.startswith("backbone.")) == 630_912_000


def test_network_reproduces_reference(ref: dict, config: HMR2Config) -> None:
    model = HMR2(config).eval()
    model.load_state_dict(ref["state_dict"], strict=True)
    out = _run(model, ref["input_256x256"])
    for key in REFERENCE_KEYS:
        assert out[key].shape == ref[key].shape, key
        tol = 1e-4 if key == "backbone_feats" else 1e-5
        torch.testing.assert_close(out[key], ref[key], rtol=tol, atol=tol, msg=key)


def test_rot6d_layout_is_consecutive_columns() -> None:
    r = rot6d_to_rotmat(torch.tensor([[2.0, 0, 0, 1, 3, 0]]))
    torch.testing.assert_close(r[0], torch.eye(3))
    r = rot6d_to_rotmat(torch.tensor([0.0, 1, 0, -1, 0, 0]))  # first column y, second -x
    torch.testing.assert_close(r, torch.tensor([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]]))


def test_checkpoint_loader_reads_upstream_file_without_yacs(ref: dict) -> None:
    ckpt = read_upstream_checkpoint(CKPT)
    assert "yacs" not in sys.modules
    assert ckpt.state_dict.keys() == ref["state_dict"].keys()
    for k, v in ref["state_dict"].items():
        assert torch.equal(ckpt.state_dict[k], v), k
    assert ckpt.cfg["MODEL"]["SMPL_HEAD"]["TRANSFORMER_DECODER"]["dim"] == 48
    assert ckpt.meta["pytorch-lightning_version"] == "1.8.1"


class _Exploit:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_restricted_unpickler_refuses_code_execution(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"state_dict": {}, "x": _Exploit(marker)}, protocol=2)
    with pytest.raises(UnsafeCheckpointError, match="system"):
        restricted_pickle.Unpickler(io.BytesIO(payload)).load()
    bad = tmp_path / "bad.ckpt"
    torch.save({"state_dict": {}, "x": _Exploit(marker)}, bad)
    with pytest.raises(UnsafeCheckpointError, match="refusing to load global"):
        read_upstream_checkpoint(bad)
    assert not marker.exists()


def test_safetensors_round_trip_and_load(tmp_path: Path, ref: dict, config: HMR2Config) -> None:
    out = convert(CKPT, tmp_path / "hmr2.safetensors", config)
    state_dict, loaded_config = load_safetensors(out)
    assert loaded_config == config
    assert state_dict.keys() == ref["state_dict"].keys()
    assert all(torch.equal(state_dict[k], v) for k, v in ref["state_dict"].items())
    result = _run(load_hmr2(out), ref["input_256x256"])
    torch.testing.assert_close(result["betas"], ref["betas"], rtol=1e-5, atol=1e-5)


def test_strict_check_reports_shape_missing_and_unexpected(ref: dict, config: HMR2Config) -> None:
    sd = dict(ref["state_dict"])
    sd["smpl_head.deccam.bias"] = torch.zeros(4)
    del sd["backbone.last_norm.bias"]
    sd["discriminator.x"] = torch.zeros(1)
    with pytest.raises(ValueError) as err:
        check_state_dict(sd, config)
    msg = str(err.value)
    assert "smpl_head.deccam.bias: (4,) in file, (3,) expected" in msg
    assert "missing (1): backbone.last_norm.bias" in msg and "unexpected (1): discriminator.x" in msg


def test_missing_checkpoint_names_file_and_place(tmp_path: Path) -> None:
    files = ServiceConfig.from_env({"HMR2_CACHE_DIR": str(tmp_path)}).hmr2_files()  # upstream's variable name
    expected = tmp_path / "logs/train/multiruns/hmr2/0/checkpoints/epoch=35-step=1000000.ckpt"
    with pytest.raises(FileNotFoundError, match="epoch=35-step=1000000.ckpt") as err:
        files.weights()
    assert str(expected) in str(err.value)


def test_weights_prefer_explicit_file_then_conversion(tmp_path: Path) -> None:
    explicit = tmp_path / "mine.safetensors"
    explicit.write_bytes(b"")
    config = ServiceConfig.from_env({"POSE_HMR2_CACHE_DIR": str(tmp_path), "HMR2_CACHE_DIR": "/elsewhere"})
    assert config.hmr2_files().cache == tmp_path  # the POSE_ name wins over upstream's
    assert config.hmr2_files().converted() == tmp_path / "hmr2.safetensors"
    (tmp_path / "hmr2.safetensors").write_bytes(b"")
    assert config.hmr2_files().weights() == tmp_path / "hmr2.safetensors"
    with_checkpoint = ServiceConfig(hmr2_cache_dir=str(tmp_path), hmr2_checkpoint=str(explicit))
    assert with_checkpoint.hmr2_files().weights() == explicit


def test_random_checkpoint_loads(tmp_path: Path, config: HMR2Config) -> None:
    path = write_random_checkpoint(tmp_path / "random.ckpt", config, seed=3)
    model = load_hmr2(path, config)
    x = torch.randn(1, 3, 256, 256)
    expected = _run(random_model(config, seed=3), x)
    got = _run(model, x)
    assert all(torch.equal(got[k], expected[k]) for k in expected)


def test_cam_crop_to_full_hand_computed() -> None:
    # 1000x500 image, box of 200 px centred at (700, 300), s=0.5, tx=0.1, ty=-0.2, F = 5000/256*1000.
    f = hmr2_focal_length(torch.tensor([[1000.0, 500.0]]))
    torch.testing.assert_close(f, torch.tensor([19531.25]))
    t = cam_crop_to_full(torch.tensor([[0.5, 0.1, -0.2]]), torch.tensor([[700.0, 300.0]]), torch.tensor([200.0]),
                         torch.tensor([[1000.0, 500.0]]), f)
    # bs = 100; tx = 2*200/100 + 0.1 = 4.1; ty = 2*50/100 - 0.2 = 0.8; tz = 2*19531.25/100 = 390.625
    torch.testing.assert_close(t, torch.tensor([[4.1, 0.8, 390.625]]))


def test_preprocess_centres_box_and_sizes_square() -> None:
    image = np.zeros((480, 640, 3), np.uint8)
    image[200, 300] = (255, 128, 0)  # the box centre pixel
    crops = preprocess(image, np.array([[250.0, 100, 100, 200]]))  # centre (300, 200), side max(200, 133)
    assert crops.images.shape == (1, 3, 256, 256)
    torch.testing.assert_close(crops.box_center, torch.tensor([[300.0, 200.0]]))
    torch.testing.assert_close(crops.box_size, torch.tensor([200.0]))
    rgb = crops.images[0].permute(1, 2, 0).numpy() * IMAGENET_STD + IMAGENET_MEAN
    assert np.unravel_index(rgb[..., 0].argmax(), rgb.shape[:2]) == (128, 128)
    np.testing.assert_allclose(rgb[128, 128], (255, 128, 0), atol=1e-3)
    wide = preprocess(image, np.array([[0.0, 0, 300, 150]]))
    torch.testing.assert_close(wide.box_size, torch.tensor([400.0]))  # 4/3 of the width


def test_preprocess_blur_window_matches_whole_image_blur() -> None:
    gaussian = pytest.importorskip("skimage.filters").gaussian
    import cv2

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (700, 900, 3), dtype=np.uint8)
    box = np.array([[500.0, -50, 420, 700]])  # side 700 > 563 px: blurred, and partly outside the image
    crops = preprocess(image, box)
    sigma = (700 / 256 / 2 - 1) / 2
    blurred = gaussian(image, sigma=sigma, channel_axis=2, preserve_range=True)
    src = np.float32([[710, 300], [710, 650], [1060, 300]])
    dst = np.float32([[128, 128], [128, 256], [256, 128]])
    patch = cv2.warpAffine(blurred, cv2.getAffineTransform(src, dst), (256, 256), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT)
    expected = torch.from_numpy(((patch - IMAGENET_MEAN) / IMAGENET_STD).astype(np.float32)).permute(2, 0, 1)
    torch.testing.assert_close(crops.images[0], expected, rtol=0, atol=1e-5)


def _verify(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pose_service.models.hmr2", "verify", str(path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_verify_cli(tmp_path: Path, ref: dict) -> None:
    good = _verify(REFERENCE)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "pred_cam_t" in good.stdout
    perturbed = dict(ref)
    perturbed["state_dict"] = dict(ref["state_dict"])
    perturbed["state_dict"]["smpl_head.decshape.bias"] = ref["state_dict"]["smpl_head.decshape.bias"] + 1e-3
    torch.save(perturbed, tmp_path / "perturbed.pt")
    bad = _verify(tmp_path / "perturbed.pt")
    assert bad.returncode == 1 and "FAIL" in bad.stdout
