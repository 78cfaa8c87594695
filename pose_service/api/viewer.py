"""``GET /viewer``: the browser viewer (:mod:`pose_service.viewer`) and its script and style sheet under
``/viewer/static/``. Public even with ``POSE_API_TOKENS`` (see :mod:`.auth`): the page holds no data, and the
calls it makes send the token typed into it."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, render_template

from ..viewer import page_settings

_FILES = Path(__file__).resolve().parents[1] / "viewer"
bp = Blueprint("viewer", __name__, template_folder=str(_FILES / "templates"), static_folder=str(_FILES / "static"),
               static_url_path="/viewer/static")


@bp.get("/viewer")
def page() -> str:
    return render_template("viewer.html", settings=page_settings())
