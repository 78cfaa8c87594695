"""Mesh resolutions (``conventions.MESH_RESOLUTIONS``): coarser meshes of the same body for clients that draw or store
meshes. The fit always uses the full model; a level only chooses which of the posed vertices are served.

A level is a subset of the full mesh's vertices with its own triangles: the body model's rest mesh (average shape,
neutral pose) is decimated by quadric edge collapses (``fast_simplification``), and each vertex of the result is
replaced by the original vertex nearest to it among those collapsed into it. So every served vertex is exactly a
vertex of the full posed mesh (``vertex_indices``), whatever the pose and shape, within ~3 cm of where the
decimation would have put it (mean 2-5 mm on Anny).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..conventions import MESH_RESOLUTIONS


@dataclass(frozen=True)
class MeshLevel:
    """One mesh resolution of a body model."""

    name: str
    vertex_indices: Optional[np.ndarray]
    """(N,) int64 indices into the full mesh's vertices, or None for the full mesh itself."""
    faces: np.ndarray
    """(F, 3) int64 triangles over this level's vertices (indices into ``vertex_indices`` order)."""

    @property
    def vertex_count(self) -> int:
        """Vertices in this level (every vertex of a full mesh is in a triangle)."""
        return len(self.vertex_indices) if self.vertex_indices is not None else int(self.faces.max()) + 1

    def select(self, vertices: np.ndarray) -> np.ndarray:
        """(V, 3) full mesh -> (N, 3) this level's vertices."""
        return vertices if self.vertex_indices is None else vertices[self.vertex_indices]


def decimate(vertices: np.ndarray, faces: np.ndarray, target_vertices: int) -> tuple[np.ndarray, np.ndarray]:
    """About ``target_vertices`` of the mesh ``vertices`` (V, 3), ``faces`` (F, 3): (N,) indices of the vertices
    kept and (F', 3) triangles over them."""
    import fast_simplification

    points, triangles = np.asarray(vertices, np.float32), np.asarray(faces, np.int32)
    # A closed triangle mesh has about twice as many triangles as vertices.
    reduction = 1.0 - min(1.0, 2.0 * target_vertices / len(triangles))
    _, _, collapses = fast_simplification.simplify(points, triangles, target_reduction=reduction,
                                                   return_collapses=True)
    decimated, decimated_faces, mapping = fast_simplification.replay_simplification(points, triangles, collapses)
    # Each decimated vertex is represented by the nearest original vertex collapsed into it.
    distance = np.linalg.norm(points - decimated[np.maximum(mapping, 0)], axis=1)
    distance[mapping < 0] = np.inf
    order = np.lexsort((distance, mapping))  # by decimated vertex, nearest first
    first = np.ones(len(order), bool)
    first[1:] = mapping[order[1:]] != mapping[order[:-1]]
    chosen = order[first & (mapping[order] >= 0)]
    indices = np.empty(len(decimated), np.int64)
    indices[mapping[chosen]] = chosen
    return indices, np.asarray(decimated_faces, np.int64)


def mesh_levels(rest_vertices: np.ndarray, faces: np.ndarray) -> dict[str, MeshLevel]:
    """Every level of ``MESH_RESOLUTIONS`` for a body model whose rest mesh is ``rest_vertices`` (V, 3), ``faces``."""
    levels = {}
    for name, target in MESH_RESOLUTIONS.items():
        if target is None or target >= len(rest_vertices):
            levels[name] = MeshLevel(name, None, np.asarray(faces, np.int64))
        else:
            levels[name] = MeshLevel(name, *decimate(rest_vertices, faces, target))
    return levels
