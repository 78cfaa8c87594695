import pytest

from pose_service.config import ServiceConfig


def test_from_env_reads_typed_pose_variables():
    config = ServiceConfig.from_env(
        {"POSE_MAX_IMAGE_PIXELS": "1000", "POSE_LOAD_IN_BACKGROUND": "false", "POSE_DEVICE": "cuda", "OTHER": "x"}
    )
    assert config.max_image_pixels == 1000 and config.load_in_background is False and config.device == "cuda"
    assert ServiceConfig.from_env({}, retry_after_s=9).retry_after_s == 9


def test_unknown_backend_and_bad_limits_are_refused():
    with pytest.raises(ValueError, match="unknown backend"):
        ServiceConfig(backend="nope")
    with pytest.raises(ValueError):
        ServiceConfig.from_env({"POSE_MAX_BODY_BYTES": "0"})


def test_keypoints_only_mode_has_no_body_stage():
    from pose_service.backends import build_pipeline

    pipeline = build_pipeline(ServiceConfig(body_model="none", detector="mediapipe"), lambda name, state: None)
    assert pipeline.fitter is None and pipeline.faces is None and pipeline.body_model is None
    with pytest.raises(ValueError, match="unknown body_model"):
        ServiceConfig(body_model="smplx")
