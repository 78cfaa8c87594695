"""Service configuration: one dataclass, read from ``POSE_*`` environment variables.

Every field is documented in the README's configuration table; keep the two in step.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .batch.jobs import Retention
    from .decode import ImageLimits
    from .models.hmr2.files import HMR2Files
    from .pipeline import VideoOptions
    from .tracking import TrackerConfig

BACKENDS = ("embedded", "hmr2")
DETECTORS = ("blazepose", "mediapipe", "vitdet")
BODY_MODELS = ("anny", "smpl", "none")
OOM_POLICIES = ("cpu", "fail")
# 4D-Humans' own variable names, read when the POSE_ name is unset (its set-up script exports them).
UPSTREAM_NAMES = {"hmr2_cache_dir": "HMR2_CACHE_DIR", "hmr2_checkpoint": "HMR2_CHECKPOINT"}


_CHOICES = {"backend": BACKENDS, "detector": DETECTORS, "body_model": BODY_MODELS, "oom_policy": OOM_POLICIES}
_POSITIVE = ("max_body_bytes", "max_image_pixels", "max_tiles", "max_people", "session_ttl_s", "max_sessions",
             "session_lock_timeout_s", "wide_search_every", "track_confirm_hits", "batch_max_frames",
             "job_max_active", "job_ttl_s", "job_max_finished", "job_max_result_bytes", "retry_after_s")
_NON_NEGATIVE = ("torch_threads", "frame_budget_ms", "track_max_age", "reorder_window", "reorder_wait_ms", "batch_sync_max_frames")


class ConfigError(ValueError):
    """A setting has a value the service cannot run with; the message names its variable."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"POSE_{field.upper()}: {message}")
        self.field = field


@dataclass(frozen=True)
class ServiceConfig:
    backend: str = "embedded"
    """Which pose backend serves requests (``POSE_BACKEND``)."""
    detector: str = "blazepose"
    """Person detector (``POSE_DETECTOR``): ``blazepose`` (the bundled BlazePose models on LiteRT, several people,
    small ones found by tiles), ``mediapipe`` (MediaPipe's legacy pose graph, one person per image), or, for the
    hmr2 backend only, ``vitdet`` (4D-Humans' detector; needs detectron2, see ``detect/vitdet.py``)."""
    body_model: str = "anny"
    """Embedded backend's body model (``POSE_BODY_MODEL``): ``anny`` fits a mesh to every person; ``smpl`` fits the
    user's licensed SMPL model instead (``SMPL_NEUTRAL.npz``/``.pkl`` under ``<hmr2_cache_dir>/data/smpl``, or the file
    ``POSE_SMPL_MODEL`` names); ``none`` returns the detector's 2D and 3D keypoints only (no mesh, no camera
    translation), the fastest mode."""
    wide_search_every: int = 10
    """Search each video's frames in tiles every this many frames, for new, small people (``POSE_WIDE_SEARCH_EVERY``)."""
    max_tiles: int = 48
    """Most detector tiles in one frame's wide search (``POSE_MAX_TILES``); larger frames get larger tiles, so a
    huge frame cannot hold the detector for long."""
    frame_budget_ms: int = 3000
    """A frame's work stops starting fits that would end after this many milliseconds from its start
    (``POSE_FRAME_BUDGET_MS``; 0: no budget): people not fitted (the primary person is fitted first, always) get
    their keypoints without a body this frame, so a crowded or huge frame cannot hold the body model for long."""
    max_people: int = 8
    """Most people detected in one frame (``POSE_MAX_PEOPLE``); beyond it the most confident are kept, so a crowd
    cannot hold the body model for long. Tracked people missed in the frame are still predicted."""
    device: str = "auto"
    """Torch device for models that use torch (``POSE_DEVICE``): ``auto`` (CUDA when available), ``cpu``, ``cuda``."""
    torch_threads: int = 0
    """Threads of torch's operators in each worker process (``POSE_TORCH_THREADS``); 0 chooses: 1 for the embedded
    backend, whose fits are thousands of small operators (on 2 cores a second thread made a fit's step 1.2-10x
    slower, more so when the other core is busy: ``scripts/benchmark_service.py --stages``), and torch's default
    (all cores) for HMR 2.0's large matrix products. Run more workers, not more threads, to use more cores."""
    oom_policy: str = "cpu"
    """On CUDA out-of-memory: ``cpu`` runs that request on the CPU, ``fail`` answers 503 (``POSE_OOM_POLICY``)."""
    max_body_bytes: int = 32 * 1024 * 1024
    """Largest request body accepted, in bytes (``POSE_MAX_BODY_BYTES``); larger gives 413."""
    max_image_pixels: int = 40_000_000
    """Largest decoded image accepted, in pixels (``POSE_MAX_IMAGE_PIXELS``); larger gives 413."""
    max_image_side: int = 8192
    """Longest image side accepted, in pixels (``POSE_MAX_IMAGE_SIDE``; OpenCV fails at 32,767); longer gives 413."""
    max_aspect_ratio: float = 10.0
    """Most elongated image accepted, long side : short side (``POSE_MAX_ASPECT_RATIO``); more gives 413 (a 32766x1
    strip would otherwise be searched in tens of thousands of tiles)."""
    session_ttl_s: int = 300
    """A video session unused this long is forgotten (``POSE_SESSION_TTL_S``)."""
    max_sessions: int = 1000
    """Most video sessions kept; beyond it the least recently used goes (``POSE_MAX_SESSIONS``)."""
    smpl_model: str = ""
    """With ``body_model="smpl"``: the SMPL neutral model file (``POSE_SMPL_MODEL``); empty: the HMR 2.0 cache's
    ``data/smpl``."""
    hmr2_cache_dir: str = ""
    """HMR 2.0 files in upstream's layout, ``logs/`` and ``data/`` (``POSE_HMR2_CACHE_DIR``, or upstream's own
    ``HMR2_CACHE_DIR``); empty: ``~/.cache/4DHumans``."""
    hmr2_checkpoint: str = ""
    """A weights file (``.ckpt`` or ``.safetensors``) to serve instead of the cache's (``POSE_HMR2_CHECKPOINT``, or
    upstream's ``HMR2_CHECKPOINT``)."""
    anny_cache_dir: str = ""
    """Anny's model-data cache (``POSE_ANNY_CACHE_DIR``); empty: ``~/.cache/pose-service/anny``."""
    vitdet_config: str = ""
    """With ``detector="vitdet"``: the detectron2 LazyConfig file (``POSE_VITDET_CONFIG``)."""
    vitdet_weights: str = ""
    """With ``detector="vitdet"``: its weights (``POSE_VITDET_WEIGHTS``)."""
    redis_url: str = ""
    """Keep video sessions in this Redis (``POSE_REDIS_URL``, e.g. ``redis://127.0.0.1:6379/0``), shared by every
    worker process; empty: in this process's memory. ``max_sessions`` does not apply to Redis (size it with
    Redis's ``maxmemory``)."""
    redis_namespace: str = "pose"
    """Prefix of this service's Redis keys (``POSE_REDIS_NAMESPACE``)."""
    session_lock_timeout_s: int = 30
    """With Redis: a video's lock not released within this many seconds is let go (its worker died holding it);
    longer than any one frame takes (``POSE_SESSION_LOCK_TIMEOUT_S``)."""
    batch_max_frames: int = 1000
    """Most frames in one ``POST /pose/batch`` (``POSE_BATCH_MAX_FRAMES``); more gives 413."""
    batch_sync_max_frames: int = 30
    """Batches of up to this many frames are answered inline; longer ones become jobs
    (``POSE_BATCH_SYNC_MAX_FRAMES``)."""
    job_max_active: int = 4
    """Batch jobs queued or running per worker process (``POSE_JOB_MAX_ACTIVE``); more gives 503."""
    job_ttl_s: int = 3600
    """A finished job's result is kept this long, in seconds (``POSE_JOB_TTL_S``)."""
    job_max_finished: int = 16
    """Most finished jobs kept, per worker process (with Redis: in all); beyond it the oldest finished go
    (``POSE_JOB_MAX_FINISHED``)."""
    job_max_result_bytes: int = 256 * 1024 * 1024
    """Most bytes of frames (as kept: compressed JSON) held by finished jobs together, per worker process (with
    Redis: in all); beyond it the oldest finished go. A job whose own result would pass it fails
    (``POSE_JOB_MAX_RESULT_BYTES``)."""
    track_confirm_hits: int = 3
    """Detections before a track is confirmed and its misses are filled with predictions (``POSE_TRACK_CONFIRM_HITS``)."""
    track_max_age: int = 30
    """Frames a missed, confirmed track is predicted before it is deleted (``POSE_TRACK_MAX_AGE``)."""
    smoothing: bool = True
    """One-Euro smoothing of tracked outputs (``POSE_SMOOTHING``)."""
    reorder_window: int = 8
    """Frames of one video may arrive this far out of order (a client posting several at once): a late frame is
    folded in without touching the tracks; further back, or frame 0 again, starts a new sequence
    (``POSE_REORDER_WINDOW``)."""
    reorder_wait_ms: int = 300
    """How long a frame that arrived ahead of earlier ones of its video waits for them, in milliseconds
    (``POSE_REORDER_WAIT_MS``; 0 never waits)."""
    api_tokens: str = ""
    """Bearer tokens, comma-separated (``POSE_API_TOKENS``): when set, every route but the health probes needs
    ``Authorization: Bearer <token>``, and sessions and jobs are visible only to the token that created them.
    Empty: no authentication (keep the service on loopback or behind a proxy that authenticates)."""
    retry_after_s: int = 5
    """``Retry-After`` sent with 503 while models load (``POSE_RETRY_AFTER_S``)."""
    load_in_background: bool = True
    """Load models in a background thread so /health answers ``warming_up`` meanwhile."""
    log_level: str = "INFO"
    """Python log level name (``POSE_LOG_LEVEL``)."""

    def __post_init__(self) -> None:
        for name, choices in _CHOICES.items():
            if getattr(self, name) not in choices:
                raise ConfigError(name, f"{getattr(self, name)!r} is not one of {', '.join(choices)}")
        if self.detector == "vitdet" and self.backend != "hmr2":
            raise ConfigError("detector", "vitdet gives boxes without keypoints: use it with POSE_BACKEND=hmr2")
        for name in _POSITIVE:
            if getattr(self, name) <= 0:
                raise ConfigError(name, f"{getattr(self, name)} must be positive")
        for name in _NON_NEGATIVE:
            if getattr(self, name) < 0:
                raise ConfigError(name, f"{getattr(self, name)} must be 0 or more")
        if not self.max_aspect_ratio >= 1.0:
            raise ConfigError("max_aspect_ratio", f"{self.max_aspect_ratio} must be at least 1")
        if not 0 < self.max_image_side < 32767:
            raise ConfigError("max_image_side", f"{self.max_image_side} must be within 1..32766 (OpenCV's bound)")

    def job_retention(self) -> "Retention":
        """How finished batch jobs are kept."""
        from .batch.jobs import Retention

        return Retention(self.job_ttl_s, self.job_max_finished, self.job_max_result_bytes)

    def api_token_list(self) -> tuple[str, ...]:
        """The tokens of ``api_tokens``, blanks dropped."""
        return tuple(token.strip() for token in self.api_tokens.split(",") if token.strip())

    def image_limits(self) -> "ImageLimits":
        """What an accepted image may be (size, side, aspect ratio)."""
        from .decode import ImageLimits

        return ImageLimits(self.max_image_pixels, self.max_image_side, self.max_aspect_ratio)

    def video_options(self) -> "VideoOptions":
        """How each video's frames are searched, ordered and tracked."""
        from .pipeline import VideoOptions

        return VideoOptions(tracker=self.tracker_config(), wide_search_every=self.wide_search_every,
                            reorder_window=self.reorder_window, reorder_wait_s=self.reorder_wait_ms / 1000.0,
                            max_people=self.max_people,
                            frame_budget_s=self.frame_budget_ms / 1000.0 if self.frame_budget_ms else None)

    def tracker_config(self) -> "TrackerConfig":
        """The tracker's settings these fields choose (the rest keep :class:`TrackerConfig`'s defaults)."""
        from .tracking import SmoothingConfig, TrackerConfig

        return TrackerConfig(n_init=self.track_confirm_hits, max_age=self.track_max_age,
                             smoothing=SmoothingConfig(enabled=self.smoothing))

    def hmr2_files(self) -> "HMR2Files":
        """Where the HMR 2.0 checkpoint and SMPL files are."""
        from .models.hmr2.files import HMR2Files

        return HMR2Files.from_settings(self.hmr2_cache_dir, self.hmr2_checkpoint)

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ, **overrides: object) -> "ServiceConfig":
        """Build from ``POSE_<FIELD>`` variables (upper case); ``overrides`` win over the environment. A value
        that does not parse or is out of range raises :class:`ConfigError` naming the variable."""
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get("POSE_" + f.name.upper(), env.get(UPSTREAM_NAMES.get(f.name, "")))
            if raw is None:
                continue
            values[f.name] = _parse(f.name, str(f.type), raw)
        values.update(overrides)
        return cls(**values)


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")


def _parse(name: str, kind: str, raw: str) -> object:
    """One variable's text as its field's type."""
    text = raw.strip()
    try:
        if kind == "bool":
            if text.lower() not in _TRUE + _FALSE:
                raise ValueError(f"use one of {', '.join(_TRUE + _FALSE[:-1])}")
            return text.lower() in _TRUE
        if kind == "int":
            return int(text)
        if kind == "float":
            value = float(text)
            if value != value or value in (float("inf"), float("-inf")):
                raise ValueError("not a finite number")
            return value
    except ValueError as exc:
        raise ConfigError(name, f"{raw!r} is not a valid {kind} ({exc})") from None
    return text
