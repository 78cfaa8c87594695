"""Anny adapter (anny 0.6.2, NAVER, Apache-2.0): 13,718 vertices, 27,420 triangles, 104 bones.

Native frame: metres, Z up, the body faces -Y, +X is the subject's left (``native_to_camera`` maps it to camera
axes). Shape: the 6 default phenotypes (gender, age, muscle, weight, height, proportions) as logits,
``phenotype = sigmoid(shape)``, so 0 is the 0.5 average. Pose: ``pose_parameterization="local-ref"``, i.e. one
rotation per bone in world-aligned native axes, chained parent to child; ``body_pose`` holds the rotation vectors of
``POSE_BONES`` (native axes), every other bone stays at identity. Identity pose is Anny's A-pose.

Keypoints: BODY_25 from Anny's COCO-WholeBody regressor (23 labels); neck = mean of the shoulders, mid_hip = mean of
the hips. With ``with_vertices=False`` and a frozen shape (a fit's pose steps), a rig of the posable bones gives the
full mesh's keypoints exactly (``anny_keypoints``); while the shape itself is fitted, a reduced Anny that skins only
the ``top_k`` heaviest regressor vertices per keypoint (weights renormalised) estimates them (within ~4 mm).

Cache: anny builds ~790 MB of model data on first use (~35-45 s) in ``POSE_ANNY_CACHE_DIR`` (default
``~/.cache/pose-service/anny``); ``python -m pose_service.body.anny_model build-cache`` builds it ahead of serving.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import pathlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import roma
import torch

from pose_service.body.anny_keypoints import KeypointRig, keypoint_rig
from pose_service.body.base import BodyModel
from pose_service.conventions import BODY25_NAMES

if TYPE_CHECKING:
    import anny

DEFAULT_CACHE_DIR = pathlib.Path.home() / ".cache" / "pose-service" / "anny"
REST_MODELS_KEPT = 8
"""Shapes whose rest models and keypoint rigs are kept (~0.2 MB each with the full mesh): a busy frame's people."""

# The posable bones a fitter optimises (the first of each chain segment; the rest follow rigidly).
POSE_BONES: tuple[str, ...] = (
    "spine04", "spine02", "neck01", "head",
    "clavicle.L", "upperarm01.L", "lowerarm01.L", "wrist.L",
    "clavicle.R", "upperarm01.R", "lowerarm01.R", "wrist.R",
    "upperleg01.L", "lowerleg01.L", "foot.L",
    "upperleg01.R", "lowerleg01.R", "foot.R",
)  # fmt: skip

# BODY_25 names that are the mean of two Anny regressor labels; every other name is an Anny label itself.
_MEAN_OF: dict[str, tuple[str, str]] = {
    "neck": ("left_shoulder", "right_shoulder"),
    "mid_hip": ("left_hip", "right_hip"),
}

# Native (Z up, facing -Y, +X = subject's left) to camera (x right, y down, z forward): x=X, y=-Z, z=Y.
_NATIVE_TO_CAMERA = ((1.0, 0.0, 0.0), (0.0, 0.0, -1.0), (0.0, 1.0, 0.0))


def cache_dir(path: str | os.PathLike | None = None) -> pathlib.Path:
    """The Anny cache directory: ``path`` (``ServiceConfig.anny_cache_dir``), else ``~/.cache/pose-service/anny``."""
    return pathlib.Path(path or DEFAULT_CACHE_DIR).expanduser()


def _import_anny(cache: pathlib.Path):
    """Import anny with its cache pointed at ``cache``: anny reads ANNY_CACHE_DIR once at import, so set the
    variable first and also the module-level path in case anny was imported already."""
    os.environ["ANNY_CACHE_DIR"] = str(cache)
    import anny
    import anny.paths

    anny.paths.set_anny_cache_path(cache)
    return anny


def _body25_regressor(weights: torch.Tensor, labels: list[str]) -> torch.Tensor:
    """(25, V) BODY_25 regression weights from Anny's (K, V) ones."""
    rows = []
    for name in BODY25_NAMES:
        pair = _MEAN_OF.get(name, (name, name))
        rows.append(0.5 * (weights[labels.index(pair[0])] + weights[labels.index(pair[1])]))
    return torch.stack(rows)


def _top_k(weights: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the k largest weights of each row, renormalised to sum to 1. (K, V) -> (K, V)."""
    values, indices = weights.topk(k, dim=1)
    return torch.zeros_like(weights).scatter_(1, indices, values / values.sum(1, keepdim=True))


def _slice_vertices(model: "anny.Anny", keep: torch.Tensor) -> "anny.Anny":
    """An Anny that only has the vertices ``keep`` (no faces): same rig, phenotypes and pose parameterisation."""
    import anny

    data = model.to_model_data()
    data = dataclasses.replace(
        data,
        template_vertices=data.template_vertices[keep],
        blendshapes=data.blendshapes[:, keep],
        vertex_bone_weights=data.vertex_bone_weights[keep],
        vertex_bone_indices=data.vertex_bone_indices[keep],
        base_mesh_vertex_indices=data.base_mesh_vertex_indices[keep],
        faces=data.faces[:0],
        texture_coordinates=None,
        face_texture_coordinate_indices=None,
    )
    return anny.Anny.from_model_data(
        data,
        skinning_method="lbs",
        pose_parameterization=model.pose_parameterization,
        bone_orientation=model.bone_orientation,
        root_identity_orientation=model.root_identity_orientation,
    )


class _ShapeCache:
    """What was built for each of the last ``REST_MODELS_KEPT`` frozen shapes, the most recently used first."""

    def __init__(self) -> None:
        self._entries: list[tuple[torch.Tensor, Any]] = []

    @staticmethod
    def keeps(shape: torch.Tensor) -> bool:
        """Whether what is built for ``shape`` may be kept: not while the shape is being fitted (it changes every
        step), nor in inference mode (its tensors cannot enter a later autograd graph)."""
        return not shape.requires_grad and not torch.is_inference_mode_enabled()

    def get(self, shape: torch.Tensor, build: Callable[[], Any]) -> Any:
        if not self.keeps(shape):
            return build()
        for index, (key, value) in enumerate(self._entries):
            if key.shape == shape.shape and torch.equal(key, shape):
                self._entries.insert(0, self._entries.pop(index))
                return value
        value = build()
        self._entries.insert(0, (shape.detach().clone(), value))
        del self._entries[REST_MODELS_KEPT:]
        return value


class AnnyModel(BodyModel):
    """Anny behind the :class:`BodyModel` interface (float32, dense LBS, no warp)."""

    name = "anny"
    pose_joint_names = POSE_BONES

    def __init__(self, cache: str | os.PathLike | None = None, top_k: int = 32) -> None:
        super().__init__()
        anny = _import_anny(cache_dir(cache))
        self.full = anny.Anny(skinning_method="lbs").to(torch.float32)
        self.faces = self.full.faces.numpy()
        self.register_buffer("native_to_camera", torch.tensor(_NATIVE_TO_CAMERA), persistent=False)

        coco = anny.KeypointsRegressor.coco(self.full)
        regressor = _body25_regressor(coco.regression_weights, coco.labels)
        self.register_buffer("regressor", regressor, persistent=False)
        reduced = _body25_regressor(_top_k(coco.regression_weights, top_k), coco.labels)
        keep = reduced.abs().sum(0).nonzero()[:, 0]
        self.register_buffer("reduced_regressor", reduced[:, keep], persistent=False)
        self.reduced = _slice_vertices(self.full, keep)

        bone_index = torch.tensor([self.full.bone_labels.index(b) for b in POSE_BONES])
        self.register_buffer("pose_bone_index", bone_index, persistent=False)
        # Per frozen shape (equal values, no grad), reused: the rest models of both paths (posing then costs only
        # forward kinematics and skinning) and the keypoints' rig (anny_keypoints: posable bones only). Several
        # shapes are kept: a frame with a few people (each track's shape) would otherwise rebuild them each frame.
        self._rest_cache = {True: _ShapeCache(), False: _ShapeCache()}
        self._rig_cache = _ShapeCache()

    @property
    def num_vertices(self) -> int:
        return self.full.template_vertices.shape[0]

    @property
    def shape_dim(self) -> int:
        return len(self.full.phenotype_labels)

    @property
    def phenotype_labels(self) -> list[str]:
        return list(self.full.phenotype_labels)

    def _rest_model(self, model: "anny.Anny", shape: torch.Tensor, with_vertices: bool) -> dict[str, torch.Tensor]:
        def build() -> dict[str, torch.Tensor]:
            empty = shape.new_zeros(shape.shape[0], 0)  # no local changes, no facial actions
            coefficients = model._get_phenotype_blendshape_coefficients(torch.sigmoid(shape), empty, empty)
            return model.get_rest_model(coefficients)

        return self._rest_cache[with_vertices].get(shape, build)

    def _keypoint_rig(self, shape: torch.Tensor) -> KeypointRig:
        """The full mesh's keypoints of a frozen shape through its posable bones (~20 ms to build, then ~1 ms a
        step with gradients): exactly the keypoints of the served mesh, faster than the reduced model's estimate."""
        return self._rig_cache.get(shape, lambda: keypoint_rig(
            self.full, self._rest_model(self.full, shape, True), self.regressor, self.pose_bone_index))

    def _native_forward(
        self, body_pose: torch.Tensor, shape: torch.Tensor, with_vertices: bool
    ) -> tuple[torch.Tensor | None, torch.Tensor]:
        if not with_vertices and shape.shape[0] == 1 and _ShapeCache.keeps(shape):
            return None, self._keypoint_rig(shape).keypoints(body_pose)
        model, regressor = (self.full, self.regressor) if with_vertices else (self.reduced, self.reduced_regressor)
        batch = body_pose.shape[0]
        rest = self._rest_model(model, shape, with_vertices)
        deltas = torch.eye(4, dtype=body_pose.dtype, device=body_pose.device).repeat(batch, model.bone_count, 1, 1)
        deltas[:, self.pose_bone_index, :3, :3] = roma.rotvec_to_rotmat(body_pose)
        transforms, _ = model.get_bone_transforms(deltas, rest["rest_bone_poses"])
        vertices = model.get_skinned_vertices(rest["rest_vertices"].expand(batch, -1, -1), transforms)
        keypoints = torch.einsum("kv,bvd->bkd", regressor, vertices)
        return (vertices if with_vertices else None), keypoints


def _build_cache(args: argparse.Namespace) -> None:
    start = time.perf_counter()
    AnnyModel(cache=args.cache_dir)
    print(f"Anny cache ready in {cache_dir(args.cache_dir)} ({time.perf_counter() - start:.1f} s)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pose_service.body.anny_model")
    commands = parser.add_subparsers(required=True)
    build = commands.add_parser("build-cache", help="build anny's model-data cache (first run ~40 s, 790 MB)")
    build.add_argument("--cache-dir", help=f"default: $POSE_ANNY_CACHE_DIR or {DEFAULT_CACHE_DIR}")
    build.set_defaults(run=_build_cache)
    args = parser.parse_args(argv)
    if not args.cache_dir:
        from ..config import ServiceConfig

        args.cache_dir = ServiceConfig.from_env().anny_cache_dir
    args.run(args)


if __name__ == "__main__":
    main()
