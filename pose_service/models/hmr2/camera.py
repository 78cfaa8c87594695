"""HMR 2.0 camera conventions: from the crop's weak-perspective camera to a pinhole camera on the full image.

Axes are OpenCV's (x right, y down, z forward), as in :mod:`pose_service.conventions`. The full-image camera has its
principal point at the image centre.
"""

from __future__ import annotations

import numpy as np
import torch

CROP_FOCAL_LENGTH = 5000.0  # px, for the 256 px crop (upstream EXTRA.FOCAL_LENGTH)
CROP_SIZE = 256  # px, side of the square crop (upstream MODEL.IMAGE_SIZE)

ArrayLike = torch.Tensor | np.ndarray


def hmr2_focal_length(image_size: ArrayLike) -> torch.Tensor:
    """The focal length upstream's demo assumes for a full image: the crop's 5000 px scaled to the longer side.

    Args:
        image_size: (..., 2) ``[W, H]`` in pixels.
    Returns:
        (...) focal length in pixels, ``5000 / 256 * max(W, H)``.
    """
    size = torch.as_tensor(image_size, dtype=torch.float32)
    return CROP_FOCAL_LENGTH / CROP_SIZE * size.max(dim=-1).values


def cam_crop_to_full(pred_cam: ArrayLike, box_center: ArrayLike, box_size: ArrayLike, image_size: ArrayLike,
                     focal_length: ArrayLike | float) -> torch.Tensor:
    """Translation of the body root in the full image's camera, from the crop camera.

    The crop camera maps the body into a box of side ``box_size`` px with scale ``s`` (box width = 2 units), so the
    body is at depth ``2 f / (box_size s)``; the box centre's offset from the principal point becomes a lateral
    offset at that depth.

    Args:
        pred_cam: (B, 3) ``[s, tx, ty]`` from the network.
        box_center: (B, 2) centre of the square crop box in image pixels.
        box_size: (B,) side of the square crop box in image pixels.
        image_size: (B, 2) ``[W, H]`` in pixels.
        focal_length: (B,) or scalar, focal length of the full image in pixels (see :func:`hmr2_focal_length`).
    Returns:
        (B, 3) ``[tx, ty, tz]`` in metres, float32.
    """
    cam, center, size, img = (torch.as_tensor(a, dtype=torch.float32)
                              for a in (pred_cam, box_center, box_size, image_size))
    f = torch.as_tensor(focal_length, dtype=torch.float32)
    s, tx, ty = cam.unbind(-1)
    scaled = size * s + 1e-9  # box width in pixels per unit of the crop camera
    offset = 2 * (center - img / 2) / scaled[..., None]  # (B, 2) box centre off the principal point, in crop units
    return torch.stack((offset[..., 0] + tx, offset[..., 1] + ty, 2 * f / scaled), dim=-1)
