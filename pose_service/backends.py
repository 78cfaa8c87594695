"""Build the pipeline of the configured backend, reporting each model's loading state as it goes."""

from __future__ import annotations

import logging
from collections.abc import Callable

from .config import ServiceConfig
from .pipeline import FramePipeline

log = logging.getLogger(__name__)

Report = Callable[[str, str], None]
"""report(model_name, state) with state "loading", "loaded" or "failed: <reason>"."""


def build_pipeline(config: ServiceConfig, report: Report) -> FramePipeline:
    builders = {"embedded": _build_embedded}
    return builders[config.backend](config, report)


def _build_embedded(config: ServiceConfig, report: Report) -> FramePipeline:
    from .detect.mediapipe_pose import MediaPipePoseDetector

    report(MediaPipePoseDetector.name, "loading")
    detector = MediaPipePoseDetector()
    detector.warm_up()
    report(MediaPipePoseDetector.name, "loaded")
    return FramePipeline(backend="embedded", detector=detector)
