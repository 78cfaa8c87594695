"""Horizontal sections of a body mesh as loops, the girth a tape reads around one loop, and vertical ray hits.

Axes are the service's camera axes (metres, y down), so a horizontal plane is ``y = level`` and a point in it is
written 2D as ``(x, z)``. A plane cuts a closed body mesh into one closed loop per body part it crosses (torso,
each arm, each leg); the loops are told apart by connectivity (segments sharing an end point), not by proximity,
so an arm that touches the torso or two thighs that touch still give separate loops.

A tape measure spans the concave parts of a cross-section (the dip between the buttocks, the navel), so a girth is
the perimeter of the convex hull of a loop, not the length of the loop itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import ConvexHull, cKDTree

# Vertices closer than this are one point of the surface (metres): a seam's duplicated vertices. Distinct vertices
# of a body mesh are millimetres apart.
_MERGE_TOLERANCE = 1e-8


def plane_point(point: np.ndarray) -> np.ndarray:
    """(..., 3) camera-axes points -> (..., 2) their ``(x, z)`` in a horizontal plane."""
    return np.asarray(point, dtype=np.float64)[..., [0, 2]]


def point_at_level(axis: np.ndarray, level: float) -> np.ndarray:
    """(3,) the point of the polyline ``axis`` (N, 3), ordered from bottom to top, at height ``y = level``:
    linear between its vertices, clamped to its end points above and below it."""
    # y grows downwards and the axis goes up, so its y values decrease: reversed, they suit np.interp.
    upward = np.asarray(axis, dtype=np.float64)[::-1]
    y = upward[:, 1]
    return np.array([np.interp(level, y, upward[:, 0]), level, np.interp(level, y, upward[:, 2])])


@dataclass(frozen=True)
class Loop:
    """One closed loop of a horizontal section: ``segments`` (M, 2, 2) as ``(x, z)`` end points in metres, in no
    particular order."""

    segments: np.ndarray

    @property
    def points(self) -> np.ndarray:
        """(2M, 2) every segment end point."""
        return self.segments.reshape(-1, 2)

    def contains(self, point: np.ndarray) -> bool:
        """Whether the ``(x, z)`` point (2,) lies inside the loop."""
        return bool(self.contains_all(np.asarray(point, dtype=np.float64)[None]))

    def contains_all(self, points: np.ndarray) -> bool:
        """Whether every ``(x, z)`` point of (N, 2) lies inside the loop (even-odd rule: a ray along +x crosses the
        loop an odd number of times, which needs no ordering of the segments)."""
        (x0, z0), (x1, z1) = (end.T[:, :, None] for end in (self.segments[:, 0], self.segments[:, 1]))
        x, z = points.T[:, None, :]  # segments along axis 0, points along axis 1
        straddles = (z0 > z) != (z1 > z)
        with np.errstate(divide="ignore", invalid="ignore"):
            crossing_x = x0 + (z - z0) * (x1 - x0) / (z1 - z0)
        return bool(np.all(np.count_nonzero(straddles & (crossing_x > x), axis=0) % 2))

    def encloses(self, other: Loop) -> bool:
        """Whether ``other`` lies wholly inside this loop: its bounding box inside this one's, then up to 64 of its
        points inside it (a loop crossing this one, as a body part pressed into another does, has many points
        outside it, so a sample decides)."""
        points = other.points
        if np.any(points.min(0) < self.points.min(0)) or np.any(points.max(0) > self.points.max(0)):
            return False
        return self.contains_all(points[:: max(1, len(points) // 64)])

    @cached_property
    def _hull(self) -> ConvexHull:
        return ConvexHull(self.points)

    def girth(self) -> float:
        """Perimeter of the loop's convex hull in metres: what a tape around this body part reads."""
        # For 2D input scipy's ``area`` is the hull's perimeter (``volume`` is its area).
        return float(self._hull.area)

    def hull_area(self) -> float:
        """Area of the loop's convex hull in square metres."""
        return float(self._hull.volume)


def _coincident_labels(vertices: np.ndarray) -> np.ndarray:
    """(V,) one label per point: vertices closer than ``_MERGE_TOLERANCE`` (a seam's duplicates) share it."""
    pairs = cKDTree(vertices).query_pairs(_MERGE_TOLERANCE, output_type="ndarray")
    if not len(pairs):
        return np.arange(len(vertices))
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(vertices),) * 2)
    return connected_components(graph, directed=False)[1]


class MeshSections:
    """Horizontal sections of one triangle mesh.

    Args:
        vertices: (V, 3) metres, camera axes (y down).
        faces: (F, 3) vertex indices.
    """

    def __init__(self, vertices: np.ndarray, faces: np.ndarray) -> None:
        self.vertices = np.asarray(vertices, dtype=np.float64)
        self.faces = np.asarray(faces, dtype=np.int64)
        face_y = self.vertices[self.faces, 1]
        # Per-face height span: a section only visits the faces that can cross its plane.
        self._face_y_min, self._face_y_max = face_y.min(1), face_y.max(1)
        self._same_point = _coincident_labels(self.vertices)
        self._loops: dict[float, list[Loop]] = {}

    def loops(self, level: float) -> list[Loop]:
        """Closed loops of the section ``y = level`` (metres); empty if the plane misses the mesh. Kept per level, as
        measurements share levels (both thighs, the ends of adjacent bands)."""
        self.section_at(level)
        return self._loops[float(level)]

    def section_at(self, *levels: float) -> None:
        """Make the sections of ``levels`` at once (one pass, much faster per level than one at a time)."""
        todo = sorted({float(level) for level in levels} - self._loops.keys())
        if todo:
            self._loops.update(zip(todo, self._sections(np.array(todo))))

    def _sections(self, levels: np.ndarray) -> list[list[Loop]]:
        """The loops of each plane ``y = level`` of ``levels`` (L,). A face crosses a plane when its corners are not
        all on one side of it (a corner on the plane counts as below, so a section through a vertex still closes);
        it gives one segment, between the points where its two crossing edges meet the plane. A crossing edge is
        the same point of the loop in both faces that share it, so the loops are the connected components of the
        segments joined at their edges (coincident vertices, as at a seam, being one vertex)."""
        plane, crossing = np.nonzero((self._face_y_min <= levels[:, None]) & (self._face_y_max >= levels[:, None]))
        faces, level = self.faces[crossing], levels[plane]
        above = self.vertices[faces, 1] > level[:, None]  # (K, 3)
        count_above = above.sum(1)
        cuts = (count_above == 1) | (count_above == 2)
        faces, level, plane, above, count_above = (a[cuts] for a in (faces, level, plane, above, count_above))
        loops: list[list[Loop]] = [[] for _ in levels]
        if not len(faces):
            return loops
        # The corner alone on its side of the plane, and the other two.
        alone = np.argmax(above == (count_above == 1)[:, None], axis=1)
        rows = np.arange(len(faces))
        apex, first, second = (faces[rows, (alone + k) % 3] for k in range(3))
        ends = np.stack([self._crossing(apex, first, level), self._crossing(apex, second, level)], axis=1)
        # Each end named by its plane and edge (its two vertices' labels), then numbered.
        count = len(self.vertices)
        keys = []
        for other in (first, second):
            low, high = np.sort(np.stack([self._same_point[apex], self._same_point[other]]), axis=0)
            keys.append((plane * count + low) * count + high)
        _, node = np.unique(np.stack(keys, 1), return_inverse=True)
        node = node.reshape(-1, 2)
        nodes = int(node.max()) + 1
        graph = coo_matrix((np.ones(len(node)), (node[:, 0], node[:, 1])), shape=(nodes, nodes))
        segment_labels = connected_components(graph, directed=False)[1][node[:, 0]]
        # Fewer than 3 segments enclose nothing (only a degenerate mesh makes such pieces, but then by thousands).
        enclosing = np.flatnonzero(np.bincount(segment_labels)[segment_labels] >= 3)
        order = enclosing[np.argsort(segment_labels[enclosing], kind="stable")]
        starts = np.flatnonzero(np.diff(segment_labels[order])) + 1
        for group in np.split(order, starts):
            if group.size:
                loops[plane[group[0]]].append(Loop(ends[group]))
        return loops

    def _crossing(self, start: np.ndarray, end: np.ndarray, level: np.ndarray) -> np.ndarray:
        """(K, 2) ``(x, z)`` where the edges ``start -> end`` (K,) vertex indices, one end on each side of their
        plane ``y = level`` (K,), meet it."""
        a, b = self.vertices[start], self.vertices[end]
        t = (level - a[:, 1]) / (b[:, 1] - a[:, 1])
        return plane_point(a + t[:, None] * (b - a))

    def loop_containing(self, level: float, point: np.ndarray) -> Loop | None:
        """The loop of the section ``y = level`` that contains ``point`` ((3,) camera axes, or its (2,) ``(x, z)``).

        A loop lying wholly inside another that contains the point is an inner surface (the mouth's, an eye's), not
        a body part, and is passed over. Where loops overlap (a body part pressed into another, which a mesh
        allows), the one with the smallest hull is taken: the part the point is the axis of, not its neighbour
        reaching over it.
        """
        point = np.asarray(point, dtype=np.float64)
        xz = plane_point(point) if point.shape == (3,) else point
        inside = [loop for loop in self.loops(level) if loop.contains(xz)]
        if len(inside) < 2:
            return inside[0] if inside else None
        outer = [a for a in inside if not any(b is not a and b.encloses(a) for b in inside)]
        return min(outer or inside, key=Loop.hull_area)

    def girth(self, level: float, point: np.ndarray) -> float | None:
        """Hull perimeter (metres) of the loop of ``y = level`` containing ``point``; None if no loop does."""
        loop = self.loop_containing(level, point)
        return None if loop is None else loop.girth()

    def surface_above(self, point: np.ndarray) -> np.ndarray | None:
        """(3,) where a vertical ray from ``point`` (3,) going up (-y) first crosses the mesh; None if it misses.

        From a joint centre inside the body this is the skin straight above it.
        """
        point = np.asarray(point, dtype=np.float64)
        hits = self._vertical_hits(point)
        above = hits[hits < point[1]]
        return None if above.size == 0 else np.array([point[0], above.max(), point[2]])

    def _vertical_hits(self, point: np.ndarray) -> np.ndarray:
        """Heights y of every crossing of the vertical line through ``point`` with the mesh's triangles."""
        triangles = self.vertices[self.faces]  # (F, 3, 3)
        a, b, c = (plane_point(triangles[:, i]) for i in range(3))
        p = plane_point(point)
        # Barycentric coordinates of p in each triangle's (x, z) projection.
        v0, v1, v2 = b - a, c - a, p - a
        d00, d01, d11 = (v0 * v0).sum(1), (v0 * v1).sum(1), (v1 * v1).sum(1)
        d20, d21 = (v2 * v0).sum(1), (v2 * v1).sum(1)
        denominator = d00 * d11 - d01 * d01
        valid = np.abs(denominator) > 1e-18  # triangles seen edge-on from above cover no area
        with np.errstate(divide="ignore", invalid="ignore"):
            w1 = (d11 * d20 - d01 * d21) / denominator
            w2 = (d00 * d21 - d01 * d20) / denominator
            w0 = 1.0 - w1 - w2
        hit = valid & (w0 >= 0) & (w1 >= 0) & (w2 >= 0)
        y = triangles[:, :, 1]
        return (w0 * y[:, 0] + w1 * y[:, 1] + w2 * y[:, 2])[hit]
