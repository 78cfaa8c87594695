"""A track as a binary glTF 2.0 (``.glb``): the avatar mesh, skinned to the track's skeleton, and its motion.

Axes and units: glTF's own, metres, y up; the export axes of :mod:`~pose_service.measure.skeleton_animation`
(the service's camera axes turned half a turn about x), with the camera at the origin looking along -z.

Contents: one scene with two root nodes: the skeleton (25 joint nodes named after the BODY_25 keypoints, rooted
at ``mid_hip``, in the rest pose: translation = rest offset from the parent, no rotation) and the mesh (the
neutral-pose avatar of the track's shape, ``POSITION``, ``NORMAL``, ``JOINTS_0``, ``WEIGHTS_0``, triangles
counter-clockwise from outside) with a skin over those joints; one animation, ``LINEAR`` samplers keyed at
``frame_number / fps`` seconds for each frame with a body: per joint a ``rotation`` and a ``translation`` channel
(in its parent's frame, the root's in the world), so the posed joints are the frame's keypoints in the camera
frame.

Skin weights: each vertex is bound to the joints of the bone segments nearest to it in the rest pose, at most four
(a bone segment moves with its parent joint, whose rotation aims it; a joint's distance is that of its nearest
segment), weighted by inverse distance to the fourth power, so a vertex follows its own limb and blends with the
next only near the joint between them. A skinned mesh approximates the served one: the model's own skinning and
the per-frame shapes are not carried, only the keypoints are exact.
"""

from __future__ import annotations

import numpy as np
import trimesh
from pygltflib import (ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER, FLOAT, GLTF2, MAT4, SCALAR, UNSIGNED_BYTE, UNSIGNED_INT,
                       VEC3, VEC4, Accessor, Animation, AnimationChannel, AnimationChannelTarget, AnimationSampler,
                       Asset, Attributes, Buffer, BufferView, Mesh, Node, Primitive, Scene, Skin)

from ..conventions import BODY25_INDEX, BODY25_NAMES, ROOT_NAME
from .skeleton_animation import CHILDREN, PARENTS, SkeletonAnimation

JOINTS_PER_VERTEX = 4
WEIGHT_POWER = 4.0
_MIN_DISTANCE = 1e-3
"""Metres: distances below count as this (a vertex on a segment)."""

_COMPONENT_TYPES = {np.dtype(np.float32): FLOAT, np.dtype(np.uint32): UNSIGNED_INT, np.dtype(np.uint8): UNSIGNED_BYTE}
_ELEMENT_TYPES = {(): SCALAR, (3,): VEC3, (4,): VEC4, (4, 4): MAT4}


class _BinaryChunk:
    """The GLB's binary chunk as it is filled: each array 4-byte aligned, with its buffer view and accessor."""

    def __init__(self, gltf: GLTF2) -> None:
        self.gltf = gltf
        self.data = bytearray()

    def add(self, array: np.ndarray, target: int | None = None, bounds: bool = False) -> int:
        """Append ``array`` (first axis: the elements); the index of its accessor. ``bounds``: give min and max
        (glTF requires them on ``POSITION`` and animation inputs)."""
        array = np.ascontiguousarray(array)
        offset = len(self.data)
        self.data += array.tobytes()
        self.data += b"\0" * (-len(self.data) % 4)
        self.gltf.bufferViews.append(BufferView(buffer=0, byteOffset=offset, byteLength=array.nbytes, target=target))
        flat = array.reshape(len(array), -1)
        self.gltf.accessors.append(Accessor(
            bufferView=len(self.gltf.bufferViews) - 1, componentType=_COMPONENT_TYPES[array.dtype],
            count=len(array), type=_ELEMENT_TYPES[array.shape[1:]],
            min=flat.min(axis=0).tolist() if bounds else None, max=flat.max(axis=0).tolist() if bounds else None))
        return len(self.gltf.accessors) - 1

    def finish(self) -> None:
        self.gltf.buffers = [Buffer(byteLength=len(self.data))]
        self.gltf.set_binary_blob(bytes(self.data))


def skin_weights(vertices: np.ndarray, rest_positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(joints (V, 4) uint8, weights (V, 4) float32)`` of ``vertices`` (V, 3) on the skeleton at
    ``rest_positions`` (J, 3), same axes (module docstring); weights sum to 1, unused slots weigh 0."""
    distances = np.full((len(vertices), len(PARENTS)), np.inf)
    for child, parent in enumerate(PARENTS):
        if parent < 0:
            continue
        start, end = rest_positions[parent], rest_positions[child]
        along = np.clip((vertices - start) @ (end - start) / np.dot(end - start, end - start), 0.0, 1.0)
        distance = np.linalg.norm(vertices - (start + along[:, None] * (end - start)), axis=1)
        distances[:, parent] = np.minimum(distances[:, parent], distance)
    joints = np.argsort(distances, axis=1)[:, :JOINTS_PER_VERTEX]
    nearest = np.take_along_axis(distances, joints, axis=1)
    weights = np.where(np.isfinite(nearest), np.maximum(nearest, _MIN_DISTANCE) ** -WEIGHT_POWER, 0.0)
    weights /= weights.sum(axis=1, keepdims=True)
    return joints.astype(np.uint8), weights.astype(np.float32)


def glb_bytes(animation: SkeletonAnimation, faces: np.ndarray, fps: float) -> bytes:
    """The ``.glb`` of ``animation`` with the avatar's triangles ``faces`` (F, 3), keyed at ``frame / fps`` s."""
    gltf = GLTF2(asset=Asset(generator="pose_service"))
    chunk = _BinaryChunk(gltf)
    joint_count = len(BODY25_NAMES)

    gltf.nodes = [Node(name=name, translation=offset.tolist(), children=list(CHILDREN[joint]))
                  for joint, (name, offset) in enumerate(zip(BODY25_NAMES, animation.rest_offsets))]
    inverse_bind = np.tile(np.eye(4), (joint_count, 1, 1))
    inverse_bind[:, :3, 3] = -animation.rest_positions
    # glTF matrices are column-major: each stored matrix is the transpose of the row-major array.
    gltf.skins = [Skin(name="skeleton", skeleton=BODY25_INDEX[ROOT_NAME], joints=list(range(joint_count)),
                       inverseBindMatrices=chunk.add(inverse_bind.transpose(0, 2, 1).astype(np.float32)))]

    vertices = animation.rest_vertices
    normals = trimesh.Trimesh(vertices, faces, process=False).vertex_normals
    joints, weights = skin_weights(vertices, animation.rest_positions)
    attributes = Attributes(
        POSITION=chunk.add(vertices.astype(np.float32), ARRAY_BUFFER, bounds=True),
        NORMAL=chunk.add(np.asarray(normals, np.float32), ARRAY_BUFFER),
        JOINTS_0=chunk.add(joints, ARRAY_BUFFER), WEIGHTS_0=chunk.add(weights, ARRAY_BUFFER))
    indices = chunk.add(np.asarray(faces, np.uint32).reshape(-1), ELEMENT_ARRAY_BUFFER)
    gltf.meshes = [Mesh(name="avatar", primitives=[Primitive(attributes=attributes, indices=indices)])]
    gltf.nodes.append(Node(name="avatar", mesh=0, skin=0))

    times = chunk.add((animation.frames / fps).astype(np.float32), bounds=True)
    motion = Animation(name="motion")
    for joint in range(joint_count):
        for path, values in (("rotation", animation.rotations), ("translation", animation.translations)):
            motion.samplers.append(AnimationSampler(input=times, output=chunk.add(values[:, joint].astype(np.float32)),
                                                    interpolation="LINEAR"))
            motion.channels.append(AnimationChannel(sampler=len(motion.samplers) - 1,
                                                    target=AnimationChannelTarget(node=joint, path=path)))
    gltf.animations = [motion]
    gltf.scenes = [Scene(nodes=[BODY25_INDEX[ROOT_NAME], len(gltf.nodes) - 1])]
    gltf.scene = 0
    chunk.finish()
    return b"".join(gltf.save_to_bytes())
