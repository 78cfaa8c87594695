"""``GET /metrics``: Prometheus metrics (prometheus-client), the one module that knows about them.

Several gunicorn workers: gunicorn.conf.py gives every server start a fresh, empty ``PROMETHEUS_MULTIPROC_DIR``
before the workers fork. prometheus-client, seeing it when first imported, keeps each worker's values in files
there; a scrape, whichever worker serves it, reads them all (a ``MultiProcessCollector`` built per scrape), and the
master deletes a dead worker's live gauges (``child_exit``). Without it (``create_app`` called directly, as the tests
do) the metrics live in this process's default registry.

Labels stay few: routes are Flask's URL rules (``/sessions/<video_id>``, never a video id), methods outside the
usual ones count as ``other``. Per frame the cost is a handful of counter and histogram updates, nothing per vertex.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter as Tally
from collections.abc import Mapping

from flask import Blueprint, Response, current_app, g, request
from prometheus_client import (CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Gauge, Histogram,
                               generate_latest, values)
from prometheus_client.multiprocess import MultiProcessCollector
from redis.exceptions import RedisError

from ..batch.runner import BatchResult
from ..timing import LOCK_WAIT_OBSERVERS
from ..types import FrameResult
from .context import sessions

log = logging.getLogger(__name__)
bp = Blueprint("metrics", __name__)

# prometheus-client's own variable (it reads it when first imported); gunicorn.conf.py sets it, never a POSE_ setting.
MULTIPROCESS = "PROMETHEUS_MULTIPROC_DIR" in os.environ
if MULTIPROCESS and values.ValueClass is values.MutexValue:
    # Imported before the variable was set (in gunicorn's master, before on_starting): every worker would count alone.
    raise RuntimeError("prometheus_client was imported before PROMETHEUS_MULTIPROC_DIR was set; import it later")

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
MODEL_STATES = ("loading", "loaded", "failed")
SOURCES = ("detected", "predicted", "interpolated")

REQUESTS = Counter("pose_requests", "HTTP requests by route (Flask's URL rule; 'unmatched' when none matched), "
                   "method and status", ["route", "method", "status"])
REQUEST_SECONDS = Histogram("pose_request_duration_seconds", "Time from the request's arrival to its response "
                            "(body serialised), by route", ["route"],
                            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300))
STAGE_SECONDS = Histogram("pose_stage_duration_seconds", "Time a POST /pose/hybrid frame spent in each stage: "
                          "decode, detect, body (fit or regress), track, encode", ["stage"],
                          buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
PEOPLE = Counter("pose_people", "People answered by /pose/hybrid frames and by batches run in this process, by "
                 "source: detected, predicted (by a track over a miss), interpolated (inside a batch's track)",
                 ["source"])
LOCK_WAIT_SECONDS = Histogram("pose_model_lock_wait_seconds", "Time spent waiting for a model's lock (detector, body, "
                              "regressor), per acquisition", ["lock"],
                              buckets=(0.0001, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
# Set by the worker serving the scrape, from its session store and job queue: with Redis every worker sees the same
# ones, and the most recent value is the current one.
SESSIONS = Gauge("pose_sessions_active", "Video sessions kept by the session store", multiprocess_mode="livemostrecent")
JOBS = Gauge("pose_jobs", "Batch jobs kept, by state (as /jobs/<id> reports it)", ["state"],
             multiprocess_mode="livemostrecent")
# Each worker loads its own models: summed over the live workers, how many have each model in each state.
MODELS = Gauge("pose_model_state", "Workers with the model in this state (loading, loaded, failed)",
               ["model", "state"], multiprocess_mode="livesum")

LOCK_WAIT_OBSERVERS.append(lambda lock, seconds: LOCK_WAIT_SECONDS.labels(lock).observe(seconds))


def observe_models(models: Mapping[str, str]) -> None:
    """``ModelRuntime``'s models (name -> "loading", "loaded" or "failed: <reason>") into ``pose_model_state``."""
    for model, state in models.items():
        current = "failed" if state.startswith("failed") else state
        for name in MODEL_STATES:
            MODELS.labels(model, name).set(1 if name == current else 0)


def observe_frame(result: FrameResult, times: Mapping[str, float]) -> None:
    """A ``/pose/hybrid`` frame: its stage times (the pipeline's and the route's ``times``) and its people."""
    for stage, seconds in {**result.timings, **times}.items():
        STAGE_SECONDS.labels(stage).observe(seconds)
    for source, count in Tally(person.source for person in result.people).items():
        PEOPLE.labels(source).inc(count)


def counted_batch(result: BatchResult) -> BatchResult:
    """A batch's result, its people counted (from its summary's counts by source)."""
    for source in SOURCES:
        PEOPLE.labels(source).inc(result.summary[source])
    return result


@bp.before_app_request
def _start_clock() -> None:
    g.metrics_started = time.perf_counter()


@bp.after_app_request
def _count_request(response: Response) -> Response:
    route = request.url_rule.rule if request.url_rule is not None else "unmatched"
    method = request.method if request.method in METHODS else "other"
    REQUESTS.labels(route, method, str(response.status_code)).inc()
    REQUEST_SECONDS.labels(route).observe(time.perf_counter() - g.metrics_started)
    return response


@bp.get("/metrics")
def metrics() -> Response:
    try:
        SESSIONS.set(sessions().count())
        for state, count in current_app.extensions["pose_jobs"].counts().items():
            JOBS.labels(state).set(count)
    except RedisError as exc:  # the rest of the metrics matter most while Redis is failing
        log.warning("[METRICS] sessions and jobs not counted: %s", exc)
    if MULTIPROCESS:
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
