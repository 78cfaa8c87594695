"""CPU rendering of body meshes (numpy + OpenCV): synthetic clips and overlays."""

from .camera import PinholeCamera
from .mesh import Mesh, Render, render_meshes

__all__ = ["Mesh", "PinholeCamera", "Render", "render_meshes"]
