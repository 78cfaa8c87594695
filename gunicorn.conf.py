"""gunicorn settings for the pose service (read from POSE_* environment variables; see the README).

Each worker is one process that loads its own models (no preload: MediaPipe and torch state must not be shared
across fork). Threads let /health answer while a worker is busy with a frame; model calls are serialised inside.
"""

import os

bind = f"{os.environ.get('POSE_HOST', '0.0.0.0')}:{os.environ.get('POSE_PORT', '5000')}"
workers = int(os.environ.get("POSE_WORKERS", "1"))
worker_class = "gthread"
threads = int(os.environ.get("POSE_THREADS", "4"))
# A first CPU frame (cold fit) or a batch can take seconds; the default 30 s would kill such a worker.
timeout = int(os.environ.get("POSE_WORKER_TIMEOUT", "300"))
graceful_timeout = 30
keepalive = 5
accesslog = os.environ.get("POSE_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("POSE_LOG_LEVEL", "info").lower()
wsgi_app = "pose_service.app:create_app()"
