"""Anny's BODY_25 keypoints through its posable bones alone, for a shape that does not change (the fit's hot path).

Anny poses 104 bones ('local-ref' parameterisation: one rotation per bone in world-aligned axes, chained parent to
child) and skins its vertices by linear blend skinning; the keypoints are a linear regression of the vertices. The
fitter moves only ``POSE_BONES``; every other bone keeps its identity delta. Then, for a fixed shape:

- A bone ``b`` moves rigidly with its nearest posed ancestor-or-self ``a(b)`` (the root if none):
  ``W_b = W_a C_b`` with ``C_b = W⁰_a⁻¹ W⁰_b`` from the identity pose ``W⁰``.
- Skinning and regression collapse into one homogeneous 4-vector per keypoint and posed bone:
  ``keypoint_k = Σ_a W_a Z_ka``, ``Z_ka = Σ_{b: a(b)=a} C_b P_b⁻¹ Σ_v r_kv ω_vb x̃_v`` (``P_b`` the rest pose,
  ``ω`` the skinning weights, ``r`` the regressor, ``x̃`` the homogeneous rest vertices).
- A posed bone follows its posed parent ``a'`` through a constant link: ``W_a = W_a' G_a [D_a U_a | 0]`` (``D_a``
  its delta rotation, ``U_a`` its reference orientation; see ``anny.utils.kinematics.forward_kinematic``), so
  ``G_a = W⁰_a'⁻¹ W⁰_a [U_a | 0]⁻¹``.

A step of the fit then costs about 20 small products instead of the 104-bone chain and the skinning of the 8,795
vertices the regressor reads, with the same keypoints to float precision (``tests/test_body_models.py`` compares
them with the full mesh's).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import roma
import torch

if TYPE_CHECKING:
    import anny


@dataclass(frozen=True)
class KeypointRig:
    """The keypoints of one shape as a function of the posable bones' rotations. Nodes: the root, then the
    posable bones in bone order (parents before children)."""

    parents: tuple[int, ...]
    """(N,) each node's posed parent node (-1 for the root)."""
    pose_columns: torch.Tensor
    """(N-1,) the ``body_pose`` column of each node after the root."""
    root_pose: torch.Tensor
    """(4, 4) the root's posed pose (posing never moves it)."""
    links: torch.Tensor
    """(N-1, 4, 4) ``G_a``."""
    orientations: torch.Tensor
    """(N-1, 3, 3) ``U_a``."""
    weights: torch.Tensor
    """(K, N, 4) ``Z_ka``."""

    def keypoints(self, body_pose: torch.Tensor) -> torch.Tensor:
        """(B, J, 3) axis-angle ``body_pose`` -> (B, K, 3) keypoints in Anny's native axes."""
        rotations = roma.rotvec_to_rotmat(body_pose[:, self.pose_columns]) @ self.orientations  # (B, N-1, 3, 3)
        # links @ [R | 0; 0 | 1], written without in-place assignment so that forward-mode AD (a fit's Jacobian)
        # goes through: the links' rotation columns turn by R, their translation column stays.
        turned = self.links[:, :, :3] @ rotations
        local = torch.cat([turned, self.links[:, :, 3:].expand(*turned.shape[:-1], 1)], -1)  # (B, N-1, 4, 4)
        local = local.unbind(1)  # N-1 x (B, 4, 4); one unbind: a gradient per select would not be
        poses = [self.root_pose.expand(body_pose.shape[0], 4, 4)]
        for node in range(1, len(self.parents)):
            poses.append(poses[self.parents[node]] @ local[node - 1])
        posed = torch.stack(poses, 1)[..., :3, :]  # (B, N, 3, 4)
        return torch.einsum("bnij,knj->bki", posed, self.weights)


def keypoint_rig(
    model: "anny.Anny", rest: dict[str, torch.Tensor], regressor: torch.Tensor, pose_bones: torch.Tensor
) -> KeypointRig:
    """The rig of one shape.

    Args:
        model: the Anny whose vertices ``regressor`` reads ('local-ref' pose parameterisation).
        rest: ``model.get_rest_model`` of the shape (batch 1): ``rest_vertices`` (1, V, 3), ``rest_bone_poses``
            (1, B, 4, 4).
        regressor: (K, V) keypoint regression weights.
        pose_bones: (J,) the bone index of each ``body_pose`` column.
    """
    if model.pose_parameterization != "local-ref":
        raise ValueError(f"keypoint_rig needs Anny's 'local-ref' pose parameterisation, not {model.pose_parameterization!r}")
    rest_poses = rest["rest_bone_poses"][0]
    bone_count = rest_poses.shape[0]
    identity = torch.eye(4, dtype=rest_poses.dtype, device=rest_poses.device).repeat(1, bone_count, 1, 1)
    _, identity_poses = model.get_bone_transforms(identity, rest["rest_bone_poses"])
    identity_poses = identity_poses[0]  # W⁰ (B, 4, 4)

    nodes = [0] + sorted(int(b) for b in pose_bones)
    node_of = {bone: i for i, bone in enumerate(nodes)}
    owner = []  # each bone's nearest posed ancestor-or-self, as a node index (parents come before children)
    for bone, parent in enumerate(model.bone_parents):
        owner.append(node_of[bone] if bone in node_of else owner[parent] if bone else 0)
    owner_bones = torch.tensor([nodes[n] for n in owner])
    parents = (-1, *(owner[model.bone_parents[bone]] for bone in nodes[1:]))

    # Z: skinning and regression per bone, moved into its owner's frame, summed per owner.
    follow = torch.linalg.inv(identity_poses[owner_bones]) @ identity_poses @ torch.linalg.inv(rest_poses)
    support = regressor.abs().sum(0).nonzero()[:, 0]  # the vertices the keypoints read
    vertices = rest["rest_vertices"][0, support]
    homogeneous = torch.cat([vertices, torch.ones_like(vertices[:, :1])], 1)  # (V', 4)
    # (K, V', 4) weighted points, then one matrix product with the skinning weights (V', B).
    weighted = regressor[:, support, None] * homogeneous
    per_bone = torch.einsum("kvd,vb->kbd", weighted, model.dense_vertex_bone_weights[support])
    weights = torch.zeros(regressor.shape[0], len(nodes), 4, dtype=vertices.dtype, device=vertices.device)
    weights.index_add_(1, torch.tensor(owner, device=vertices.device), torch.einsum("bij,kbj->kbi", follow, per_bone))

    orientations = model.reference_bone_orientations
    orientations = (rest_poses[:, :3, :3] if orientations is None else orientations)[nodes[1:]]
    frames = torch.eye(4, dtype=rest_poses.dtype, device=rest_poses.device).repeat(len(nodes) - 1, 1, 1)
    frames[:, :3, :3] = orientations
    parent_bones = [nodes[p] for p in parents[1:]]
    links = torch.linalg.inv(identity_poses[parent_bones]) @ identity_poses[nodes[1:]] @ torch.linalg.inv(frames)
    columns = {int(b): i for i, b in enumerate(pose_bones)}
    return KeypointRig(
        parents=parents,
        pose_columns=torch.tensor([columns[b] for b in nodes[1:]]),
        root_pose=identity_poses[0],
        links=links,
        orientations=orientations,
        weights=weights,
    )
