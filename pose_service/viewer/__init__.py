"""The browser viewer (``GET /viewer``): one static page, ``templates/viewer.html``, with ``static/viewer.js`` and
``static/viewer.css``. The page extracts a video's frames in the browser, posts them to ``/pose/hybrid`` and draws
the answers; no third-party script, no build step.

What the page must agree on with the service comes from here, embedded in the page as JSON, so that it is never
copied into the script by hand: the BODY_25 keypoint names and limbs (:mod:`pose_service.conventions`) and the
track colours of :mod:`pose_service.render.overlay` (the same as ``scripts/render_overlay.py`` draws).
"""

from __future__ import annotations

from typing import Any

from ..conventions import BODY25_INDEX, BODY25_LIMBS, BODY25_NAMES
from ..render.overlay import PALETTE


def page_settings() -> dict[str, Any]:
    """``keypoints``: BODY_25 names in order; ``limbs``: (parent, child) rows into them; ``palette``: track colours,
    RGB 0-255, track ``id`` drawn in ``palette[id % len(palette)]``."""
    return {
        "keypoints": list(BODY25_NAMES),
        "limbs": [[BODY25_INDEX[a], BODY25_INDEX[b]] for a, b in BODY25_LIMBS],
        "palette": [[round(255 * c) for c in color] for color in PALETTE],
    }
