"""gunicorn settings for the pose service (read from POSE_* environment variables; see the README).

Each worker is one process that loads its own models (no preload: MediaPipe and torch state must not be shared
across fork). Threads let /health answer while a worker is busy with a frame; model calls are serialised inside.
"""

import os
import sys

from pose_service.gunicorn_worker import PoseWorker


def _positive_int(name: str, default: str) -> int:
    """A bad value names its variable and exits with status 2 (gunicorn would print a traceback and exit 1)."""
    raw = os.environ.get(name, default)
    if not raw.strip().isdigit() or int(raw) <= 0:
        sys.stderr.write(f"pose service: {name}: {raw!r} must be a positive integer\n")
        sys.exit(2)
    return int(raw)


bind = f"{os.environ.get('POSE_HOST', '0.0.0.0')}:{_positive_int('POSE_PORT', '5000')}"
workers = _positive_int("POSE_WORKERS", "1")
# gthread, but no idle or slow client can hold a thread (request heads are read by its event loop), and gunicorn's
# own error answers are JSON: pose_service/gunicorn_worker.py.
worker_class = PoseWorker
threads = _positive_int("POSE_THREADS", "4")
# Seconds a client has to send a request head, and that each read of a request body may wait.
PoseWorker.client_timeout_s = _positive_int("POSE_CLIENT_TIMEOUT_S", "10")
# A first CPU frame (cold fit) or a batch can take seconds; the default 30 s would kill such a worker.
timeout = _positive_int("POSE_WORKER_TIMEOUT", "300")
graceful_timeout = 30
keepalive = 5
accesslog = os.environ.get("POSE_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("POSE_LOG_LEVEL", "info").lower()
wsgi_app = "pose_service.app:create_app()"


def worker_exit(server, worker):
    # In the exiting worker: its batch job stops before its next frame (status "cancelled"). Otherwise the exit would
    # wait for the job's thread until graceful_timeout ran out and the arbiter killed the worker, job and all.
    from pose_service.app import shutdown

    shutdown(getattr(worker, "wsgi", None))


def _is_loopback(host: str) -> bool:
    import ipaddress

    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def on_starting(server):
    import tempfile

    from pose_service.config import ConfigError, ServiceConfig

    try:  # here, once, rather than in every worker, where gunicorn would say only "Worker failed to boot"
        config = ServiceConfig.from_env()
    except ConfigError as exc:
        sys.stderr.write(f"pose service: {exc}\n")
        sys.exit(2)
    if not config.api_token_list() and not _is_loopback(os.environ.get("POSE_HOST", "0.0.0.0")):
        server.log.warning("[STARTUP] %s\n[STARTUP] NO AUTHENTICATION on %s: anyone who can reach this port can read "
                           "and delete every session and job. Set POSE_API_TOKENS, bind POSE_HOST=127.0.0.1, or put "
                           "an authenticating proxy in front.\n[STARTUP] %s", "!" * 100, bind, "!" * 100)

    # /metrics across workers (pose_service/api/metrics.py): prometheus-client keeps each worker's values in files
    # under PROMETHEUS_MULTIPROC_DIR, set before any worker forks and before prometheus_client is first imported (it
    # reads the variable then: hence no import of it at the top of this file). A fresh, empty folder per start.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="pose-metrics-")
    server.log.info("[STARTUP] metrics folder %s", os.environ["PROMETHEUS_MULTIPROC_DIR"])


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # its live gauges go; its counters keep counting in the totals


def on_exit(server):
    import shutil

    shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
