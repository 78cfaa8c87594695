import pytest

from pose_service.config import ConfigError, ServiceConfig


def test_from_env_reads_typed_pose_variables():
    config = ServiceConfig.from_env(
        {"POSE_MAX_IMAGE_PIXELS": "1000", "POSE_LOAD_IN_BACKGROUND": "false", "POSE_DEVICE": "cuda", "OTHER": "x"}
    )
    assert config.max_image_pixels == 1000 and config.load_in_background is False and config.device == "cuda"
    assert ServiceConfig.from_env({}, retry_after_s=9).retry_after_s == 9


def test_unknown_backend_and_bad_limits_are_refused():
    with pytest.raises(ConfigError, match="POSE_BACKEND: 'nope' is not one of embedded, hmr2"):
        ServiceConfig(backend="nope")
    with pytest.raises(ConfigError, match="POSE_MAX_BODY_BYTES: 0 must be positive"):
        ServiceConfig.from_env({"POSE_MAX_BODY_BYTES": "0"})
    with pytest.raises(ConfigError, match="POSE_MAX_TILES: '4 8' is not a valid int"):
        ServiceConfig.from_env({"POSE_MAX_TILES": "4 8"})
    with pytest.raises(ConfigError, match="POSE_SMOOTHING: 'ja' is not a valid bool"):
        ServiceConfig.from_env({"POSE_SMOOTHING": "ja"})


def test_keypoints_only_mode_has_no_body_stage():
    from pose_service.backends import build_pipeline

    pipeline = build_pipeline(ServiceConfig(body_model="none", detector="mediapipe"), lambda name, state: None)
    assert pipeline.fitter is None and pipeline.faces is None and pipeline.body_model is None
    with pytest.raises(ConfigError, match="POSE_BODY_MODEL: 'smplx' is not one of"):
        ServiceConfig(body_model="smplx")


def test_embedded_backend_can_fit_the_users_smpl_model(smpl_pkl, astronaut):
    """POSE_BODY_MODEL=smpl: the same fitter on the SMPL adapter (a synthetic SMPL file: geometry is random, so
    only the plumbing is checked here; tests/test_fitting.py checks SMPL fits)."""
    from pose_service.backends import build_pipeline
    from pose_service.fitting import FitConfig, Fitter
    from pose_service.pipeline import FrameRequest

    config = ServiceConfig.from_env({"POSE_SMPL_MODEL": str(smpl_pkl)}, body_model="smpl", detector="mediapipe")
    pipeline = build_pipeline(config, lambda name, state: None)
    assert pipeline.body_model == "smpl" and pipeline.faces.shape == (13776, 3)
    assert pipeline.files == {"smpl": str(smpl_pkl)}
    # Random geometry cannot explain a person's keypoints: its fits would be rejected (fit_confidence ~0.04).
    pipeline.fitter.fitter = Fitter(FitConfig(reject_fit_error=float("inf")))
    person = pipeline.process(FrameRequest(image=astronaut, frame_number=0, video_id="smpl")).people[0]
    assert person.body_model == "smpl" and person.vertices.shape == (6890, 3)
    assert person.body_params["body_pose"].shape == (23, 3) and person.body_params["shape"].shape == (10,)


def test_tracking_settings_reach_the_pipeline():
    from pose_service.backends import build_pipeline

    config = ServiceConfig.from_env({"POSE_TRACK_CONFIRM_HITS": "5", "POSE_TRACK_MAX_AGE": "12", "POSE_SMOOTHING": "off",
                                     "POSE_BODY_MODEL": "none", "POSE_DETECTOR": "mediapipe"})
    tracker = build_pipeline(config, lambda name, state: None).tracker_config
    assert (tracker.n_init, tracker.max_age, tracker.smoothing.enabled) == (5, 12, False)
