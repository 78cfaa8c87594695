"""Loads the models once per process, in the background, and says how far it got.

``/health`` reads :meth:`ModelRuntime.health`; request handlers take the pipeline with :meth:`ModelRuntime.pipeline`,
which raises :class:`NotReady` until loading has finished.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from typing import Optional

from .backends import build_pipeline
from .config import ServiceConfig
from .pipeline import FramePipeline
from .sessions import SessionStore

log = logging.getLogger(__name__)


class NotReady(RuntimeError):
    """Models are still loading, or failed to load (``failed`` is then True)."""

    def __init__(self, message: str, failed: bool) -> None:
        super().__init__(message)
        self.failed = failed


class ModelRuntime:
    def __init__(self, config: ServiceConfig, sessions: Optional[SessionStore] = None,
                 on_models: Callable[[dict[str, str]], None] = lambda models: None) -> None:
        """on_models: called with every model's state after each change (``/metrics`` keeps its gauge with it)."""
        self.config = config
        self.sessions = sessions
        self._on_models = on_models
        self._models: dict[str, str] = {}
        self._pipeline: Optional[FramePipeline] = None
        self._error: Optional[str] = None
        self._lock = threading.Lock()
        self._thread: Optional[threading.Thread] = None

    def start(self) -> None:
        """Begin loading: in a daemon thread, or right here when ``config.load_in_background`` is False."""
        if self.config.load_in_background:
            self._thread = threading.Thread(target=self._load, name="model-loader", daemon=True)
            self._thread.start()
        else:
            self._load()

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Block until loading has ended (ready or failed); True when ready."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self._pipeline is not None

    def _report(self, name: str, state: str) -> None:
        with self._lock:
            self._models[name] = state
            models = dict(self._models)
        log.info("[INIT] %s: %s", name, state)
        self._on_models(models)

    def _load(self) -> None:
        started = time.perf_counter()
        log.info("[INIT] loading backend %r on %s", self.config.backend, self.config.device)
        try:
            pipeline = build_pipeline(self.config, self._report, self.sessions)
        except Exception as exc:  # any failure must reach /health, not kill the worker
            reason = f"{type(exc).__name__}: {exc}"
            log.error("[INIT] backend %r failed: %s\n%s", self.config.backend, reason, traceback.format_exc())
            with self._lock:
                self._error = reason
                for name, state in self._models.items():
                    if state == "loading":
                        self._models[name] = f"failed: {reason}"
                models = dict(self._models)
            self._on_models(models)
            return
        with self._lock:
            self._pipeline = pipeline
        log.info("[INIT] backend %r ready in %.1f s", self.config.backend, time.perf_counter() - started)

    def pipeline(self) -> FramePipeline:
        with self._lock:
            if self._pipeline is not None:
                return self._pipeline
            if self._error is not None:
                raise NotReady(f"models failed to load: {self._error}", failed=True)
        raise NotReady("models are still loading", failed=False)

    def health(self) -> dict:
        with self._lock:
            pipeline = self._pipeline
            status = "ready" if pipeline else ("error" if self._error else "warming_up")
            return {
                "status": status,
                "ready": status == "ready",
                "models": dict(self._models),
                "device": pipeline.device if pipeline else self.config.device,
                "backend": self.config.backend,
                "files": dict(pipeline.files) if pipeline else {},
                "error": self._error,
            }
