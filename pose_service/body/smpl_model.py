"""SMPL adapter through ``smplx`` (the model files are the user's, under SMPL's non-commercial licence).

Native frame: metres, Y up, the body faces +Z, +X is the subject's left; camera axes are ``diag(1, -1, -1)`` of it.
Shape: the first ``num_betas`` betas (0 = mean body). Pose: standard SMPL ``body_pose``, the axis-angle of the 23
joints ``SMPL_JOINT_NAMES[1:]`` in their parents' frames (native axes), so HMR-style predictions plug in directly.
SMPL's own global orientation is left at 0; the service's ``global_orient`` (camera axes) relates to an HMR2
``global_orient`` R_hmr (which maps SMPL's frame straight to a y-down camera) by ``R = R_hmr @ diag(1, -1, -1)``.

Keypoints: BODY_25 = the 25 OpenPose joints of HMR 2.0 (SMPL joints + smplx's vertex joints, ``SMPL_TO_OPENPOSE``).
:meth:`SMPLModel.forward_joints` also gives SMPL's 24 joints and HMR 2.0's 44 (the 25 + ``SMPL_to_J19.pkl``).

Files: the official ``SMPL_NEUTRAL.pkl`` / ``basicModel_neutral_lbs_10_207_0_v1.0.0.pkl`` pickle chumpy objects and
a scipy sparse ``J_regressor``; :func:`read_legacy_pickle` reads them without chumpy (nor any code from the file) and
:func:`convert_smpl_pkl` writes the arrays once to ``.npz``.
"""

from __future__ import annotations

import os
import pathlib
import pickle
from dataclasses import dataclass
from typing import Any, Union

import numpy as np
import smplx
import torch
from smplx.lbs import lbs
from smplx.utils import Struct

from pose_service.body.base import BodyModel

PathLike = Union[str, os.PathLike]

SMPL_JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hand", "right_hand",
)  # fmt: skip

# HMR 2.0 smpl_wrapper.py: OpenPose BODY_25 from smplx's joints (24 SMPL joints, then nose, reye, leye, rear, lear,
# LBigToe, LSmallToe, LHeel, RBigToe, RSmallToe, RHeel vertex joints). BODY_25 order == conventions.BODY25_NAMES.
SMPL_TO_OPENPOSE: tuple[int, ...] = (24, 12, 17, 19, 21, 16, 18, 20, 0, 2, 5, 8, 1, 4, 7, 25, 26, 27, 28, 29, 30, 31,
                                     32, 33, 34)  # fmt: skip
_NUM_VERTEX_JOINTS = 11  # face + feet vertex joints used by BODY_25 (smplx also appends 10 fingertips)

ARRAY_KEYS: tuple[str, ...] = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")
MODEL_FILENAMES: tuple[str, ...] = ("SMPL_NEUTRAL.npz", "SMPL_NEUTRAL.pkl", "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl")

_NATIVE_TO_CAMERA = ((1.0, 0.0, 0.0), (0.0, -1.0, 0.0), (0.0, 0.0, -1.0))


# ---------------------------------------------------------------------------------------------------------- files
class _Stub:
    """Stands in for every class a legacy pickle names other than numpy's (chumpy ``Ch``, scipy sparse matrices,
    ...): it runs no code from the file and keeps the pickled state for :func:`_to_array`."""

    pickled_as = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Accepts (and ignores) the constructor arguments a REDUCE passes; the state comes via __setstate__."""

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2:  # (dict, slots) form
            state = state[0]
        if isinstance(state, dict):
            self.__dict__.update(state)


_NUMPY_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("_codecs", "encode"),  # protocol-2 pickles written by Python 3 store array bytes this way
    ("copy_reg", "_reconstructor"), ("copyreg", "_reconstructor"), ("__builtin__", "object"), ("builtins", "object"),
}  # fmt: skip


class _LegacyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _NUMPY_GLOBALS:
            return super().find_class(module, name)
        return type(name, (_Stub,), {"pickled_as": f"{module}.{name}"})


def _to_array(value: Any) -> Any:
    """A chumpy object's ``x`` or a scipy csc/csr matrix as a dense numpy array; anything else unchanged."""
    if not isinstance(value, _Stub):
        return value
    state = value.__dict__
    if "x" in state:  # chumpy.ch.Ch keeps its value in x
        return np.asarray(_to_array(state["x"]))
    if {"data", "indices", "indptr"} <= state.keys():
        rows, cols = state.get("_shape", state.get("shape"))
        counts = np.diff(state["indptr"])
        major = np.repeat(np.arange(len(counts)), counts)
        dense = np.zeros((rows, cols), dtype=state["data"].dtype)
        if "csc" in value.pickled_as:
            dense[state["indices"], major] = state["data"]
        elif "csr" in value.pickled_as:
            dense[major, state["indices"]] = state["data"]
        else:
            raise ValueError(f"Unsupported sparse matrix {value.pickled_as}")
        return dense
    raise ValueError(f"Cannot convert pickled {value.pickled_as} to an array")


def read_legacy_pickle(path: PathLike) -> Any:
    """Unpickle a (Python 2, latin1) SMPL-era file without chumpy/scipy; top-level arrays come back as numpy."""
    with open(path, "rb") as f:
        data = _LegacyUnpickler(f, encoding="latin1").load()
    if isinstance(data, dict):
        return {key: _to_array(value) for key, value in data.items()}
    return _to_array(data)


def convert_smpl_pkl(pkl_path: PathLike, npz_path: PathLike | None = None) -> pathlib.Path:
    """Write the arrays SMPL needs (``ARRAY_KEYS``) from an official pkl to ``.npz`` (default: next to it)."""
    data = read_legacy_pickle(pkl_path)
    out = pathlib.Path(npz_path) if npz_path else pathlib.Path(pkl_path).with_suffix(".npz")
    np.savez(out, **{key: np.asarray(data[key]) for key in ARRAY_KEYS})
    return out


def load_smpl_arrays(path: PathLike, npz_path: PathLike | None = None) -> dict[str, np.ndarray]:
    """SMPL arrays from an ``.npz``, or from a ``.pkl`` converted once to ``npz_path`` (default: next to it);
    a directory is searched for ``MODEL_FILENAMES`` in that order."""
    path = pathlib.Path(path)
    if path.is_dir():
        path = next((path / n for n in MODEL_FILENAMES if (path / n).exists()), path / MODEL_FILENAMES[0])
    if path.suffix == ".pkl":
        target = pathlib.Path(npz_path) if npz_path else path.with_suffix(".npz")
        path = target if target.exists() else convert_smpl_pkl(path, target)
    with np.load(path) as data:
        return {key: data[key] for key in ARRAY_KEYS}


# ---------------------------------------------------------------------------------------------------------- model
@dataclass(frozen=True)
class SMPLJoints:
    """Camera axes, root-relative, like :class:`BodyOutput`: vertices (B, 6890, 3), joints (B, 24, 3) SMPL,
    joints44 (B, 44, 3) HMR 2.0 layout or None without a J19 regressor, keypoints (B, 25, 3) BODY_25."""

    vertices: torch.Tensor
    joints: torch.Tensor
    joints44: torch.Tensor | None
    keypoints: torch.Tensor


class SMPLModel(BodyModel):
    """SMPL behind the :class:`BodyModel` interface, built from arrays (see :func:`load_smpl_arrays`)."""

    name = "smpl"
    pose_joint_names = SMPL_JOINT_NAMES[1:]

    def __init__(
        self,
        arrays: dict[str, np.ndarray],
        j19_regressor: np.ndarray | None = None,
        num_betas: int = 10,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        self.smpl = smplx.SMPL(
            model_path="", data_struct=Struct(**arrays), num_betas=num_betas, dtype=dtype,
            create_betas=False, create_global_orient=False, create_body_pose=False, create_transl=False,
        )  # fmt: skip
        self.faces = np.asarray(arrays["f"], dtype=np.int64)
        self.register_buffer("native_to_camera", torch.tensor(_NATIVE_TO_CAMERA, dtype=dtype), persistent=False)
        self.register_buffer("openpose_index", torch.tensor(SMPL_TO_OPENPOSE), persistent=False)
        self.register_buffer(
            "j19", None if j19_regressor is None else torch.as_tensor(j19_regressor, dtype=dtype), persistent=False
        )
        self._init_keypoint_lbs()

    def _init_keypoint_lbs(self) -> None:
        """Buffers for an lbs() over the 11 vertex joints plus 24 "joint vertices" (J_regressor @ shaped template,
        linear in the betas, hence exact), with a regressor that picks the latter: the 24 joints and BODY_25
        without the 6890-vertex shape, pose and skinning blends."""
        smpl = self.smpl
        ids = smpl.vertex_joint_selector.extra_joints_idxs[:_NUM_VERTEX_JOINTS]
        num_joints, num_vertices = smpl.J_regressor.shape
        joint_template = smpl.J_regressor @ smpl.v_template
        joint_shapedirs = torch.einsum("jv,vdc->jdc", smpl.J_regressor, smpl.shapedirs)
        posedirs = smpl.posedirs.view(-1, num_vertices, 3)[:, ids]
        self.register_buffer("kp_template", torch.cat([smpl.v_template[ids], joint_template]), persistent=False)
        self.register_buffer("kp_shapedirs", torch.cat([smpl.shapedirs[ids], joint_shapedirs]), persistent=False)
        self.register_buffer(
            "kp_posedirs",
            torch.cat([posedirs, posedirs.new_zeros(posedirs.shape[0], num_joints, 3)], 1).flatten(1),
            persistent=False,
        )
        eye = torch.eye(num_joints, dtype=smpl.lbs_weights.dtype)
        self.register_buffer("kp_weights", torch.cat([smpl.lbs_weights[ids], eye]), persistent=False)
        self.register_buffer(
            "kp_regressor", torch.cat([eye.new_zeros(num_joints, len(ids)), eye], 1), persistent=False
        )

    @classmethod
    def from_file(
        cls,
        model_path: PathLike,
        j19_path: PathLike | None = None,
        npz_path: PathLike | None = None,
        **kwargs: Any,
    ) -> "SMPLModel":
        """From an official SMPL pkl, its ``.npz`` conversion or a directory holding one; ``j19_path`` is
        HMR 2.0's ``SMPL_to_J19.pkl`` (19, 6890), needed only for ``joints44``."""
        j19 = None if j19_path is None else np.asarray(read_legacy_pickle(j19_path))
        return cls(load_smpl_arrays(model_path, npz_path), j19, **kwargs)

    @property
    def num_vertices(self) -> int:
        return self.smpl.v_template.shape[0]

    @property
    def shape_dim(self) -> int:
        return self.smpl.num_betas

    def _native_full(self, body_pose: torch.Tensor, shape: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Native ``vertices (B, 6890, 3)`` and ``joints (B, 35, 3)`` (24 SMPL + 11 vertex joints)."""
        output = self.smpl(
            betas=shape, body_pose=body_pose.flatten(1), global_orient=body_pose.new_zeros(body_pose.shape[0], 3)
        )
        return output.vertices, output.joints[:, : 24 + _NUM_VERTEX_JOINTS]

    def _native_forward(
        self, body_pose: torch.Tensor, shape: torch.Tensor, with_vertices: bool
    ) -> tuple[torch.Tensor | None, torch.Tensor]:
        shape = shape.expand(body_pose.shape[0], -1)  # smplx's lbs needs one row per pose
        if with_vertices:
            vertices, joints = self._native_full(body_pose, shape)
        else:
            pose = torch.cat([body_pose.new_zeros(body_pose.shape[0], 3), body_pose.flatten(1)], 1)
            points, skeleton = lbs(
                shape, pose, self.kp_template, self.kp_shapedirs, self.kp_posedirs, self.kp_regressor,
                self.smpl.parents, self.kp_weights,
            )  # fmt: skip
            vertices, joints = None, torch.cat([skeleton, points[:, :_NUM_VERTEX_JOINTS]], 1)
        return vertices, joints[:, self.openpose_index]

    def native_pelvis(self, shape: torch.Tensor) -> torch.Tensor:
        """(B, 3) pelvis joint of the shaped template in SMPL's native frame, for ``shape`` (B, S).

        SMPL's global orientation turns the body about this point, so an HMR-style output (global orientation
        applied, translation 0) has its root here: root-relative points are offset by it.
        """
        pelvis = _NUM_VERTEX_JOINTS  # kp_template holds the 11 vertex joints, then the 24 joints
        return self.kp_template[pelvis] + torch.einsum("bl,dl->bd", shape, self.kp_shapedirs[pelvis])

    def forward_joints(self, global_orient: torch.Tensor, body_pose: torch.Tensor, shape: torch.Tensor) -> SMPLJoints:
        """Full forward with SMPL's 24 joints and HMR 2.0's 44; arguments as :meth:`BodyModel.forward`."""
        vertices, joints = self._native_full(body_pose, shape)
        keypoints = joints[:, self.openpose_index]
        joints44 = None if self.j19 is None else torch.cat([keypoints, self.j19 @ vertices], 1)
        vertices, smpl_joints, joints44, keypoints = self._to_camera(
            global_orient, keypoints, vertices, joints[:, :24], joints44, keypoints
        )
        return SMPLJoints(vertices=vertices, joints=smpl_joints, joints44=joints44, keypoints=keypoints)


def install_smpl(source: PathLike, dest_dir: PathLike) -> pathlib.Path:
    """Check a user's SMPL neutral model and install it as ``dest_dir/SMPL_NEUTRAL.npz`` (no chumpy needed later).

    The arrays must have SMPL's shapes (6,890 vertices, 24 joints, 13,776 faces) and give a finite mesh; nothing
    is left in ``dest_dir`` otherwise.
    """
    dest = pathlib.Path(dest_dir) / "SMPL_NEUTRAL.npz"
    dest.parent.mkdir(parents=True, exist_ok=True)
    scratch = dest.with_name("SMPL_NEUTRAL.checking.npz")
    try:
        arrays = load_smpl_arrays(source, scratch)
        expected = {"v_template": (6890, 3), "J_regressor": (24, 6890), "weights": (6890, 24), "f": (13776, 3)}
        wrong = {k: arrays[k].shape for k, shape in expected.items() if arrays[k].shape != shape}
        if wrong:
            raise ValueError(f"{source} is not the SMPL model (shapes {wrong}, expected {expected})")
        model = SMPLModel(arrays)
        vertices = model.rest_vertices(torch.zeros(1, model.shape_dim))
        if not torch.isfinite(vertices).all():
            raise ValueError(f"{source} gives a non-finite mesh")
        np.savez(dest, **arrays)
    finally:
        scratch.unlink(missing_ok=True)
    height = float(vertices[0, :, 1].max() - vertices[0, :, 1].min())
    print(f"SMPL OK: {source} -> {dest} (T-pose height {height:.2f} m)")
    return dest


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m pose_service.body.smpl_model")
    sub = parser.add_subparsers(dest="command", required=True)
    p_install = sub.add_parser("install", help="check an SMPL neutral .pkl/.npz and convert it into a folder")
    p_install.add_argument("source", type=pathlib.Path)
    p_install.add_argument("dest_dir", type=pathlib.Path)
    args = parser.parse_args(argv)
    try:
        install_smpl(args.source, args.dest_dir)
    except (OSError, ValueError, KeyError, pickle.UnpicklingError) as exc:
        print(f"error: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
