"""3D human pose service. The data flow is one package per stage:

decode -> detect -> (body, fitting) -> tracking -> measure/export -> api (respond).
Conventions (keypoint names and order, units, axes) are stated once, in :mod:`pose_service.conventions`.
"""

__version__ = "0.1.0"
