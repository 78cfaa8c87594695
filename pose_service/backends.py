"""Build the pipeline of the configured backend, reporting each model's loading state as it goes."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import Optional, TypeVar

from .config import ServiceConfig
from .pipeline import FramePipeline
from .sessions import InMemorySessionStore, SessionStore

log = logging.getLogger(__name__)

Report = Callable[[str, str], None]
"""report(model_name, state) with state "loading", "loaded" or "failed: <reason>"."""

T = TypeVar("T")


def build_pipeline(config: ServiceConfig, report: Report, sessions: Optional[SessionStore] = None) -> FramePipeline:
    """The configured backend's pipeline, keeping its sessions in ``sessions`` (default: :func:`session_store`)."""
    builders = {"embedded": _build_embedded, "hmr2": _build_hmr2}
    pipeline = builders[config.backend](config, report, sessions or session_store(config))
    if pipeline.body is not None:
        # Imported here, not first inside a frame or a batch job: trimesh (which measure/ uses) keeps the tracebacks
        # of its optional imports that failed, and with them every frame of the importing thread's stack, whose
        # locals (a whole batch result) would stay in memory for the life of the process.
        importlib.import_module(".measure.shape", __package__)
    return pipeline


def redis_client(config: ServiceConfig):
    """A client of ``config.redis_url`` (raw bytes responses)."""
    import redis

    return redis.Redis.from_url(config.redis_url, socket_timeout=30, health_check_interval=30)


def session_store(config: ServiceConfig) -> SessionStore:
    """Redis when ``config.redis_url`` is set (sessions shared by every worker), else this process's memory."""
    if config.redis_url:
        from .sessions.redis_store import RedisSessionStore

        return RedisSessionStore(redis_client(config), namespace=config.redis_namespace, ttl_s=config.session_ttl_s,
                                 lock_timeout_s=config.session_lock_timeout_s)
    return InMemorySessionStore(ttl_s=config.session_ttl_s, max_sessions=config.max_sessions)


def job_manager(config: ServiceConfig):
    """Batch jobs on RQ when ``config.redis_url`` is set (any worker answers for any job), else in this process."""
    if config.redis_url:
        from .batch.queue import RQJobs

        return RQJobs(redis_client(config), config.redis_namespace, config.job_max_active, config.job_retention())
    from .batch.jobs import JobManager

    return JobManager(config.job_max_active, config.job_retention())


def resolve_device(requested: str) -> str:
    """``auto`` -> ``cuda`` when torch sees a GPU, else ``cpu``; anything else is taken as given."""
    if requested != "auto":
        return requested
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _loaded(report: Report, name: str, load: Callable[[], T]) -> T:
    report(name, "loading")
    value = load()
    report(name, "loaded")
    return value


def _detector(config: ServiceConfig):
    if config.detector == "vitdet":
        from .detect.vitdet import ViTDetDetector

        detector = ViTDetDetector(device=resolve_device(config.device), config_path=config.vitdet_config or None,
                                  weights_path=config.vitdet_weights or None)
    elif config.detector == "mediapipe":
        from .detect.mediapipe_pose import MediaPipePoseDetector

        detector = MediaPipePoseDetector()
    else:
        from .detect.blazepose import BlazePoseDetector

        # Landmarks run for at most twice the people kept (some detections turn out not to be people): a crowd
        # cannot hold the detector for long either.
        detector = BlazePoseDetector(max_tiles=config.max_tiles, max_people=2 * config.max_people)
    detector.warm_up()
    return detector


def _build_embedded(config: ServiceConfig, report: Report, sessions: SessionStore) -> FramePipeline:
    detector = _loaded(report, config.detector, lambda: _detector(config))
    if config.body_model == "none":
        return FramePipeline("embedded", detector, sessions, video=config.video_options())

    from .fitting.stage import FitStage

    _set_torch_threads(config.torch_threads or 1)
    model, files = _loaded(report, config.body_model, lambda: _body_model(config))
    fitter = FitStage(model)
    fitter.warm_up()
    return FramePipeline(
        "embedded",
        detector,
        sessions,
        fitter=fitter,
        video=config.video_options(),
        body_model=model.name,
        mesh_levels=_mesh_levels(model),
        body=model,
        body_lock=fitter.lock,
        files=files,
    )


def _mesh_levels(model) -> dict:
    """The mesh resolutions of ``model``, decimated from its average body in its neutral pose (~0.2 s)."""
    import torch

    from .body.levels import mesh_levels

    with torch.no_grad():
        rest = model.rest_vertices(model.zero_params(1)[2])[0].cpu().numpy()
    return mesh_levels(rest, model.faces)


def _set_torch_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    log.info("[INIT] torch operators run on %d thread(s)", threads)


def _body_model(config: ServiceConfig):
    """The body model to fit and the files it came from: Anny (free, in its wheel) or the user's SMPL."""
    if config.body_model == "smpl":
        from .body.smpl_model import SMPLModel

        path = config.smpl_model or config.hmr2_files().data("smpl")
        return SMPLModel.from_file(path), {"smpl": str(path)}
    from .body.anny_model import AnnyModel, cache_dir

    cache = cache_dir(config.anny_cache_dir or None)
    return AnnyModel(cache), {"anny_cache": str(cache)}


def _build_hmr2(config: ServiceConfig, report: Report, sessions: SessionStore) -> FramePipeline:
    import torch

    from .body.smpl_model import SMPLModel
    from .models.hmr2.camera import hmr2_focal_length
    from .models.hmr2.checkpoint import load_hmr2
    from .regress.hmr2 import BOX_PADDING, HMR2Regressor

    if config.torch_threads:
        _set_torch_threads(config.torch_threads)
    device = torch.device(resolve_device(config.device))
    detector = _loaded(report, config.detector, lambda: _detector(config))
    # Files are looked for inside the reported steps, so that a missing one shows in /health as that model's
    # failure, with its path and where it goes. SMPL first: it loads in a second, the network in tens.
    files = config.hmr2_files()
    smpl_dir = files.data("smpl")
    smpl = _loaded(report, "smpl", lambda: SMPLModel.from_file(smpl_dir))
    network = _loaded(report, "hmr2", lambda: load_hmr2(files.weights(), device="cpu"))
    weights = files.weights()
    log.info("[INIT] HMR 2.0 weights: %s; SMPL: %s", weights, smpl_dir)
    # Keypoint extents stop short of the silhouette; a detector's own boxes (ViTDet) are used as they are.
    padding = 1.0 if config.detector == "vitdet" else BOX_PADDING
    regressor = HMR2Regressor(network, smpl, device, oom_policy=config.oom_policy, box_padding=padding)
    return FramePipeline(
        "hmr2",
        detector,
        sessions,
        regressor=regressor,
        video=config.video_options(),
        default_focal=lambda width, height: float(hmr2_focal_length((width, height))),
        body_model=smpl.name,
        mesh_levels=_mesh_levels(smpl),
        body=smpl,
        device=str(device),
        files={"hmr2_weights": str(weights), "smpl": str(smpl_dir)},
    )
