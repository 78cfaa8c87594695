"""A small CPU mesh rasteriser (numpy + OpenCV) for synthetic clips and overlays.

Several meshes are drawn into one image with mutual occlusion: the faces of all meshes are culled, shaded and
depth-sorted together (painter's algorithm, far to near) and each face is filled with its index into an int32 face-id
buffer. Colours, the per-pixel depth (the face's mean depth, good to a few mm at body scale) and the per-pixel mesh
index are then looked up from that one buffer, so they always agree with what was drawn.

Shading is Lambertian with one directional light plus ambient, using vertex normals averaged per face, so the
27k-face Anny body looks smooth at typical image sizes. Vertices are in the camera frame (metres, x right, y down,
z forward); faces are wound counter-clockwise seen from outside (Anny's winding: positive signed volume).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import cv2
import numpy as np

from pose_service.render.camera import PinholeCamera

_SUBPIXEL_BITS = 4  # cv2.fillConvexPoly's ``shift``: vertices at 1/16 px
_NEAR = 0.05  # metres: faces with a vertex closer than this are dropped instead of clipped
# Towards the light: from the upper left, somewhat behind the camera, so fronts are lit and limbs get shading.
_LIGHT = np.array([-0.35, -0.55, -1.0]) / np.linalg.norm([-0.35, -0.55, -1.0])


@dataclass
class Mesh:
    """``vertices`` (V, 3) camera frame, ``faces`` (F, 3) int, ``colors`` RGB in [0, 1]: (3,) for the whole mesh,
    (V, 3) per vertex, or (F, 3) per face when ``per_face``."""

    vertices: np.ndarray
    faces: np.ndarray
    colors: np.ndarray | tuple[float, float, float] = (0.7, 0.7, 0.7)
    per_face: bool = False


@dataclass
class Render:
    """``image`` (H, W, 3) uint8 RGB; ``depth`` (H, W) float32 metres, inf where no mesh; ``mesh_index`` (H, W)
    int16, the index into the ``meshes`` argument of the surface seen at each pixel, -1 where none."""

    image: np.ndarray
    depth: np.ndarray
    mesh_index: np.ndarray
    face_count: int = field(default=0)  # faces drawn after culling


def _face_colors(mesh: Mesh) -> np.ndarray:
    colors = np.asarray(mesh.colors, np.float64)
    if colors.ndim == 1:
        return np.broadcast_to(colors, (len(mesh.faces), 3))
    return colors if mesh.per_face else colors[mesh.faces].mean(axis=1)


def _vertex_normals(vertices: np.ndarray, faces: np.ndarray, face_normals: np.ndarray) -> np.ndarray:
    """Area-weighted vertex normals ((V, 3), unit length) from unnormalised face normals."""
    index = faces.ravel()
    normals = np.stack(
        [np.bincount(index, np.repeat(face_normals[:, k], 3), minlength=len(vertices)) for k in range(3)], axis=1
    )
    return normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)


def render_meshes(
    meshes: Sequence[Mesh],
    camera: PinholeCamera,
    background: np.ndarray | None = None,
    alpha: float = 1.0,
    ambient: float = 0.35,
) -> Render:
    """Draw ``meshes`` with mutual occlusion over ``background`` ((H, W, 3) uint8 RGB; black when None), blended
    with opacity ``alpha`` where a mesh covers the pixel."""
    size = (camera.height, camera.width)
    pieces = []  # per mesh: (camera-frame corners (F,3,3), shade normals (F,3), colours (F,3), mesh index (F,))
    for index, mesh in enumerate(meshes):
        vertices = np.asarray(mesh.vertices, np.float64)
        faces = np.asarray(mesh.faces, np.int64)
        corners = vertices[faces]
        normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
        shade_normals = _vertex_normals(vertices, faces, normals)[faces].mean(axis=1)
        # Back-face cull (the face looks away from the camera at the origin) and drop faces behind the near plane.
        keep = (np.einsum("fd,fd->f", normals, corners.mean(axis=1)) < 0) & (corners[:, :, 2].min(axis=1) > _NEAR)
        pieces.append(
            (corners[keep], shade_normals[keep], _face_colors(mesh)[keep], np.full(keep.sum(), index, np.int16))
        )
    corners, shade_normals, colors, owner = (np.concatenate(p) for p in zip(*pieces)) if pieces else [np.zeros(0)] * 4

    face_ids = np.zeros(size, np.int32)
    face_count = 0
    if len(corners):
        pixels = camera.project(corners)
        on_screen = (
            (pixels[..., 0].max(1) >= 0) & (pixels[..., 0].min(1) < camera.width)
            & (pixels[..., 1].max(1) >= 0) & (pixels[..., 1].min(1) < camera.height)
        )  # fmt: skip
        depth = corners[:, :, 2].mean(axis=1)
        order = np.flatnonzero(on_screen)[np.argsort(-depth[on_screen], kind="stable")]
        fixed = np.round(pixels[order] * (1 << _SUBPIXEL_BITS)).astype(np.int32)
        for face, polygon in zip((order + 1).tolist(), fixed):
            cv2.fillConvexPoly(face_ids, polygon, face, cv2.LINE_8, _SUBPIXEL_BITS)
        face_count = len(order)

        unit = shade_normals / np.maximum(np.linalg.norm(shade_normals, axis=1, keepdims=True), 1e-12)
        light = ambient + (1.0 - ambient) * np.clip(unit @ _LIGHT, 0.0, 1.0)
        shaded = np.clip(colors * light[:, None] * 255.0 + 0.5, 0, 255).astype(np.uint8)
        lut_rgb = np.concatenate([np.zeros((1, 3), np.uint8), shaded])
        lut_depth = np.concatenate([[np.inf], depth]).astype(np.float32)
        lut_owner = np.concatenate([[-1], owner]).astype(np.int16)
    else:
        lut_rgb, lut_depth, lut_owner = np.zeros((1, 3), np.uint8), np.array([np.inf], np.float32), np.array([-1], np.int16)

    covered = face_ids > 0
    image = np.zeros((*size, 3), np.uint8) if background is None else np.array(background, np.uint8, copy=True)
    assert image.shape == (*size, 3), f"background must be {(*size, 3)}, got {image.shape}"
    drawn = lut_rgb[face_ids[covered]]
    if alpha >= 1.0:
        image[covered] = drawn
    else:
        image[covered] = np.round(alpha * drawn + (1.0 - alpha) * image[covered]).astype(np.uint8)
    return Render(image=image, depth=lut_depth[face_ids], mesh_index=lut_owner[face_ids], face_count=face_count)
