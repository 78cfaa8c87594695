"""Shared fixtures. Heavy objects (apps with loaded models) are built once per test session."""

from __future__ import annotations

import base64

import cv2
import numpy as np
import pytest
from skimage import data

from pose_service.app import create_app
from pose_service.config import ServiceConfig


def encode_b64(rgb: np.ndarray, ext: str = ".jpg") -> str:
    ok, buf = cv2.imencode(ext, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return base64.b64encode(buf.tobytes()).decode()


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """A real photo of one person, (512, 512, 3) RGB."""
    return data.astronaut()


@pytest.fixture(scope="session")
def astronaut_b64(astronaut: np.ndarray) -> str:
    return encode_b64(astronaut)


@pytest.fixture(scope="session")
def no_person_b64() -> str:
    """A real photo with no person in it (a cup of coffee)."""
    return encode_b64(data.coffee())


@pytest.fixture(scope="session")
def app():
    """The embedded-default service, loaded once for the session."""
    application = create_app(ServiceConfig())
    assert application.extensions["pose_runtime"].wait(timeout=300), "models failed to load"
    return application


@pytest.fixture()
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def anny_model():
    """The Anny adapter, loaded once per session (the first build of anny's cache takes ~40 s)."""
    from pose_service.body.anny_model import AnnyModel

    return AnnyModel()


@pytest.fixture(scope="module")
def smpl_arrays() -> dict[str, np.ndarray]:
    """Synthetic SMPL arrays (random geometry, official layout): SMPL tests run without the licensed files."""
    parents = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21]
    rng = np.random.default_rng(0)
    v, j = 6890, 24
    regressor = np.where(rng.random((j, v)) < 0.01, rng.random((j, v)), 0.0)
    weights = rng.random((v, j)) ** 8
    return {
        "v_template": rng.normal(scale=0.3, size=(v, 3)),
        "shapedirs": rng.normal(scale=0.01, size=(v, 3, 10)),
        "posedirs": rng.normal(scale=0.01, size=(v, 3, 207)),
        "J_regressor": regressor / regressor.sum(1, keepdims=True),
        "weights": weights / weights.sum(1, keepdims=True),
        "kintree_table": np.array([[2**32 - 1] + parents[1:], list(range(j))], dtype=np.int64),
        "f": rng.integers(0, v, size=(13776, 3)).astype(np.uint32),
    }
