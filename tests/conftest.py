"""Shared fixtures. Heavy objects (apps with loaded models) are built once per test session.

Redis: tests that need it use ``redis_client``, the server at ``POSE_TEST_REDIS_URL`` (default
``redis://127.0.0.1:6379/15``); without one they are skipped, naming the URL. ``POSE_TEST_FAIL_ON_SKIP=1`` (set
by ``.ci/run``) turns any skip into a failed run, so that CI never passes without them.
"""

from __future__ import annotations

import base64
import os
import uuid

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


REDIS_URL = os.environ.get("POSE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def pytest_sessionfinish(session, exitstatus):
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if os.environ.get("POSE_TEST_FAIL_ON_SKIP") == "1" and skipped and exitstatus == 0:
        reporter.write_line(f"POSE_TEST_FAIL_ON_SKIP: {skipped} test(s) skipped, failing the run", red=True)
        session.exitstatus = 1


@pytest.fixture(scope="session")
def redis_client():
    """A client of the test Redis (see the module docstring)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.exceptions.RedisError as exc:
        pytest.skip(f"no Redis at {REDIS_URL} (POSE_TEST_REDIS_URL): {exc}")
    return client


@pytest.fixture()
def redis_namespace(redis_client):
    """A key prefix of this test's own; its keys are deleted afterwards."""
    namespace = f"pose-test-{uuid.uuid4().hex[:12]}"
    yield namespace
    keys = list(redis_client.scan_iter(match=namespace + ":*"))
    if keys:
        redis_client.delete(*keys)


@pytest.fixture(scope="session")
def app():
    """The embedded-default service, loaded once for the session. Without a frame budget: tests compare results of
    runs (in memory and on Redis, one worker and three), which must not depend on how fast each run happened to be
    (the budget has its own tests)."""
    application = create_app(ServiceConfig(frame_budget_ms=0))
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


@pytest.fixture(scope="session")
def smpl_arrays() -> dict[str, np.ndarray]:
    from tests.synthetic_smpl import synthetic_smpl_arrays

    return synthetic_smpl_arrays()


@pytest.fixture(scope="session")
def smpl_pkl(smpl_arrays, tmp_path_factory):
    """A synthetic SMPL_NEUTRAL.pkl in the official format (chumpy objects, sparse J_regressor)."""
    from tests.synthetic_smpl import write_official_format_pkl

    return write_official_format_pkl(smpl_arrays, tmp_path_factory.mktemp("smpl") / "SMPL_NEUTRAL.pkl")


@pytest.fixture(scope="session")
def pipeline(app):
    """The embedded pipeline of the session's app (BlazePose + Anny fitting + tracking)."""
    return app.extensions["pose_runtime"].pipeline()


@pytest.fixture(scope="session")
def clip_renderer(pipeline):
    from pose_service.synth.clip import ClipRenderer

    return ClipRenderer(pipeline.fitter.model)


@pytest.fixture(scope="session")
def render_preset(clip_renderer):
    """preset name -> rendered Clip, each rendered once per session."""
    from functools import lru_cache

    from pose_service.synth.clip import preset

    return lru_cache(maxsize=None)(lambda name: clip_renderer.render(preset(name)))
