"""Arrays to and from JSON-safe values, exactly (raw bytes in base64, not decimal text), for session state."""

from __future__ import annotations

import base64
from typing import Any, Optional

import numpy as np


def encode_array(array: Optional[np.ndarray]) -> Optional[dict[str, Any]]:
    if array is None:
        return None
    array = np.ascontiguousarray(array)
    return {"dtype": array.dtype.str, "shape": list(array.shape), "data": base64.b64encode(array.tobytes()).decode()}


def decode_array(value: Optional[dict[str, Any]]) -> Optional[np.ndarray]:
    if value is None:
        return None
    flat = np.frombuffer(base64.b64decode(value["data"]), dtype=np.dtype(value["dtype"]))
    return flat.reshape(value["shape"]).copy()
