"""The body-model interface shared by the fitter and the measurements.

Conventions (every adapter, every output)
    Units are metres. Axes are the service's camera axes (``pose_service.conventions``): x right, y down, z forward
    (away from the camera). ``global_orient = 0`` is an upright person facing the camera, i.e. looking along -z:
    the subject's left side is at +x, the head at -y. Outputs are root-relative: the BODY_25 ``mid_hip`` keypoint
    is at the origin, and ``global_orient`` rotates the body about that point.

Parameters
    ``global_orient`` (B, 3): axis-angle in camera axes, applied after the native-to-camera axis change.
    ``body_pose`` (B, J, 3): axis-angle per posable joint (``pose_joint_names``), in the model's native local
    parameterisation (documented by each adapter); 0 is the model's rest pose.
    ``shape`` (B, S): unconstrained (fitting needs no bounds); 0 is the average body.

Adapters implement ``_native_forward`` in their native frame; the axis change, the global rotation and the root
subtraction happen once, in :meth:`BodyModel.forward`, as one affine map.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

import numpy as np
import roma
import torch

from pose_service.conventions import BODY25_INDEX, ROOT_NAME

_ROOT = BODY25_INDEX[ROOT_NAME]


@dataclass(frozen=True)
class BodyOutput:
    """``vertices`` (B, V, 3) or None when not requested; ``keypoints`` (B, 25, 3) in BODY_25 order."""

    vertices: torch.Tensor | None
    keypoints: torch.Tensor


class BodyModel(torch.nn.Module, abc.ABC):
    """A posable, shapeable body mesh with BODY_25 keypoints (see the module docstring for conventions).

    Subclasses set ``name``, ``faces`` (F, 3) int64, ``pose_joint_names`` and ``native_to_camera`` (3, 3), the
    rotation taking the model's native axes (with the body upright and facing its native front) to camera axes.
    """

    name: str
    faces: np.ndarray
    pose_joint_names: tuple[str, ...]
    native_to_camera: torch.Tensor

    @property
    @abc.abstractmethod
    def num_vertices(self) -> int: ...

    @property
    @abc.abstractmethod
    def shape_dim(self) -> int: ...

    @property
    def num_pose_joints(self) -> int:
        return len(self.pose_joint_names)

    @property
    def dtype(self) -> torch.dtype:
        return self.native_to_camera.dtype

    @property
    def device(self) -> torch.device:
        return self.native_to_camera.device

    @abc.abstractmethod
    def _native_forward(
        self, body_pose: torch.Tensor, shape: torch.Tensor, with_vertices: bool
    ) -> tuple[torch.Tensor | None, torch.Tensor]:
        """Posed ``(vertices (B, V, 3) | None, keypoints (B, 25, 3))`` in native axes, any origin, no global rotation."""

    def forward(
        self,
        global_orient: torch.Tensor,
        body_pose: torch.Tensor,
        shape: torch.Tensor,
        *,
        with_vertices: bool = True,
    ) -> BodyOutput:
        """Posed body in camera axes, root-relative.

        Args:
            global_orient: (B, 3) axis-angle, camera axes.
            body_pose: (B, J, 3) axis-angle, J = ``num_pose_joints``.
            shape: (B, S) unconstrained, S = ``shape_dim``; or (1, S), one body in B poses (a fit's batched
                Jacobian).
            with_vertices: False skips the full mesh and evaluates only what the keypoints need (fitting loops).
        Returns:
            BodyOutput with vertices (B, V, 3) or None, keypoints (B, 25, 3).
        """
        vertices, keypoints = self._native_forward(body_pose, shape, with_vertices)
        keypoints, vertices = self._to_camera(global_orient, keypoints, keypoints, vertices)
        return BodyOutput(vertices=vertices, keypoints=keypoints)

    def _to_camera(
        self, global_orient: torch.Tensor, native_keypoints: torch.Tensor, *points: torch.Tensor | None
    ) -> list[torch.Tensor | None]:
        """Map native-frame ``points`` (each (B, N, 3) or None) to camera axes, rotated by ``global_orient`` (B, 3)
        about the BODY_25 root of ``native_keypoints`` (B, 25, 3), which ends at the origin."""
        # x_cam = R_global @ C @ (x_native - root): one rotation for both the axis change and the global orient.
        rotation_t = (roma.rotvec_to_rotmat(global_orient) @ self.native_to_camera).transpose(1, 2)
        root = native_keypoints[:, _ROOT : _ROOT + 1]
        return [None if p is None else (p - root) @ rotation_t for p in points]

    def zero_params(self, batch_size: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(global_orient (B,3), body_pose (B,J,3), shape (B,S))`` of zeros: the average body in rest pose."""
        zeros = dict(dtype=self.dtype, device=self.device)
        return (
            torch.zeros(batch_size, 3, **zeros),
            torch.zeros(batch_size, self.num_pose_joints, 3, **zeros),
            torch.zeros(batch_size, self.shape_dim, **zeros),
        )

    def rest_vertices(self, shape: torch.Tensor) -> torch.Tensor:
        """(B, V, 3) mesh of ``shape`` (B, S) in the model's neutral pose (SMPL: T-pose, Anny: A-pose), upright,
        facing the camera, same axes and root as :meth:`forward`: the pose measurements are taken in."""
        global_orient, body_pose, _ = self.zero_params(shape.shape[0])
        vertices = self.forward(global_orient, body_pose, shape).vertices
        assert vertices is not None
        return vertices

