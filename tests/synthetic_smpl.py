"""A synthetic SMPL model file in the official format (random arrays of the real shapes), for tests only.

The official ``SMPL_NEUTRAL.pkl`` pickles chumpy ``Ch`` objects and a scipy sparse ``J_regressor``; this writes the
same structure with a stand-in ``chumpy.ch.Ch`` class that exists only while pickling, so readers are tested
without chumpy installed.
"""

from __future__ import annotations

import pickle
import sys
import types
from pathlib import Path

import numpy as np
import scipy.sparse

SMPL_PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21]


class _FakeCh:
    """Emulates chumpy.ch.Ch's pickle: the array lives in ``x`` of the instance state."""

    def __init__(self, x: np.ndarray) -> None:
        self.x = x


def synthetic_smpl_arrays(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    v, j = 6890, 24
    regressor = np.where(rng.random((j, v)) < 0.01, rng.random((j, v)), 0.0)
    weights = rng.random((v, j)) ** 8
    return {
        "v_template": rng.normal(scale=0.3, size=(v, 3)),
        "shapedirs": rng.normal(scale=0.01, size=(v, 3, 10)),
        "posedirs": rng.normal(scale=0.01, size=(v, 3, 207)),
        "J_regressor": regressor / regressor.sum(1, keepdims=True),
        "weights": weights / weights.sum(1, keepdims=True),
        "kintree_table": np.array([[2**32 - 1] + SMPL_PARENTS[1:], list(range(j))], dtype=np.int64),
        "f": rng.integers(0, v, size=(13776, 3)).astype(np.uint32),
    }


def write_official_format_pkl(arrays: dict[str, np.ndarray], path: Path) -> Path:
    """Pickle ``arrays`` as the official file does: chumpy-like objects, a csc ``J_regressor``, extra entries."""
    chumpy, chumpy_ch = types.ModuleType("chumpy"), types.ModuleType("chumpy.ch")
    _FakeCh.__module__, _FakeCh.__qualname__ = "chumpy.ch", "Ch"
    chumpy_ch.Ch = _FakeCh
    sys.modules.update({"chumpy": chumpy, "chumpy.ch": chumpy_ch})
    try:
        data = {key: _FakeCh(arrays[key]) for key in ("v_template", "shapedirs", "posedirs", "weights")}
        data.update(
            J_regressor=scipy.sparse.csc_matrix(arrays["J_regressor"]),
            kintree_table=arrays["kintree_table"],
            f=arrays["f"],
            bs_style="lbs",
            bs_type="lrotmin",
            J=_FakeCh(np.zeros((24, 3))),
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pickle.dumps(data, protocol=2))
    finally:
        del sys.modules["chumpy"], sys.modules["chumpy.ch"]
    return path
