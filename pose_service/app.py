"""Flask application factory. ``create_app()`` starts model loading; importing this module does no work."""

from __future__ import annotations

import logging
import os
from typing import Any, Optional

import orjson
from flask import Flask
from flask.json.provider import JSONProvider

from . import __version__
from .backends import job_manager, session_store
from .config import ServiceConfig
from .runtime import ModelRuntime

log = logging.getLogger(__name__)


class OrjsonProvider(JSONProvider):
    """orjson serialises numpy arrays directly and is ~15x faster than json on mesh-sized payloads."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY).decode()

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return orjson.loads(s)

    def response(self, *args: Any, **kwargs: Any):  # bytes straight into the response, no str round trip
        obj = self._prepare_response_obj(args, kwargs)
        return self._app.response_class(orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY), mimetype="application/json")


def _configure_logging(level: str) -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("pose_service").setLevel(level.upper())


def create_app(config: Optional[ServiceConfig] = None) -> Flask:
    config = config or ServiceConfig.from_env()
    _configure_logging(config.log_level)
    log.info("[STARTUP] pose service %s, backend=%s, device=%s", __version__, config.backend, config.device)

    app = Flask(__name__, static_folder=None)  # no /static route: pose_service/ has no such folder to serve
    app.json = OrjsonProvider(app)
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes
    # Werkzeug answers a path with "//" (e.g. an id that is "/") with an HTML redirect to the merged path, outside
    # the error handlers: unmerged, it is an ordinary JSON 404.
    app.url_map.merge_slashes = False

    from .api.auth import install as install_auth
    from .api.batch import bp as batch_bp
    from .api.docs import bp as docs_bp
    from .api.errors import register_error_handlers
    from .api.measurements import bp as measurements_bp
    from .api.metrics import bp as metrics_bp, observe_models
    from .api.routes import bp
    from .api.viewer import bp as viewer_bp

    register_error_handlers(app)
    app.register_blueprint(metrics_bp)  # first: its clock starts before other request hooks, which may answer early

    install_auth(app, config.api_token_list())

    @app.after_request
    def _name_the_worker(response):  # which process served it: with several workers, for logs and debugging
        response.headers["X-Pose-Worker"] = str(os.getpid())
        return response

    app.register_blueprint(bp)
    app.register_blueprint(batch_bp)
    app.register_blueprint(measurements_bp)
    app.register_blueprint(viewer_bp)
    app.register_blueprint(docs_bp)
    app.extensions["pose_jobs"] = job_manager(config)

    # The session store does not wait for the models: /sessions answers while they load.
    sessions = session_store(config)
    app.extensions["pose_sessions"] = sessions
    runtime = ModelRuntime(config, sessions, on_models=observe_models)
    app.extensions["pose_runtime"] = runtime
    runtime.start()
    return app


def shutdown(app: object) -> None:
    """Stop this process's background work as it exits (gunicorn's ``worker_exit``): batch jobs stop before their
    next frame. ``app`` is what gunicorn loaded (not a Flask app when loading failed)."""
    if isinstance(app, Flask):
        app.extensions["pose_jobs"].shutdown()
