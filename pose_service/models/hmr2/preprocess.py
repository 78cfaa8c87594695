"""Person crops for HMR 2.0, as upstream's inference dataset (``ViTDetDataset``) makes them.

Per detection box: a square box of side ``max(h, 4w/3)`` centred on it (no extra margin), so that the central
3:4 band the ViT sees is the box padded to 192x256; an anti-alias Gaussian blur when the crop shrinks the image
by more than 2.2x; a bilinear affine warp to 256x256 with a black border; ImageNet normalisation.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
from scipy.ndimage import gaussian_filter

from .camera import CROP_SIZE

IMAGENET_MEAN = 255.0 * np.array([0.485, 0.456, 0.406])
IMAGENET_STD = 255.0 * np.array([0.229, 0.224, 0.225])
BBOX_ASPECT = 256 / 192  # H / W of the region the ViT sees (upstream MODEL.BBOX_SHAPE = [192, 256])
_TRUNCATE = 4.0  # Gaussian support in sigmas (skimage.filters.gaussian / scipy default)


@dataclass
class Crops:
    """Network input and what is needed to map its camera back to the image (:func:`.camera.cam_crop_to_full`)."""

    images: torch.Tensor  # (B, 3, 256, 256) float32, RGB, ImageNet-normalised
    box_center: torch.Tensor  # (B, 2) float32, square box centre in image pixels
    box_size: torch.Tensor  # (B,) float32, square box side in image pixels
    image_size: torch.Tensor  # (B, 2) float32, [W, H]


def square_boxes(boxes_xywh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Detection boxes to the square crop boxes.

    Args:
        boxes_xywh: (B, 4) ``[x, y, w, h]`` in pixels, (x, y) the top-left corner.
    Returns:
        centres (B, 2) and sides (B,) = ``max(h, 4w/3)``, float64.
    """
    boxes = np.asarray(boxes_xywh, dtype=np.float64).reshape(-1, 4)
    center = boxes[:, :2] + boxes[:, 2:] / 2
    size = np.maximum(boxes[:, 3], boxes[:, 2] * BBOX_ASPECT)
    return center, size


def antialias_sigma(box_size: float) -> float:
    """Gaussian sigma (pixels) upstream blurs the image with before shrinking ``box_size`` px to 256; 0 for none."""
    factor = box_size / CROP_SIZE / 2
    return (factor - 1) / 2 if factor > 1.1 else 0.0


def crop_transform(center: np.ndarray, size: float) -> np.ndarray:
    """(2, 3) affine map from image pixels to crop pixels: ``p_crop = (p - center) * 256 / size + 128``.

    Built from three float32 point pairs with ``cv2.getAffineTransform``, as upstream does, so the matrix (and the
    sampled pixels) agree with it to the last bit.
    """
    half = size / 2
    src = np.float32([center, center + (0, half), center + (half, 0)])
    dst = np.float32([[CROP_SIZE / 2, CROP_SIZE / 2], [CROP_SIZE / 2, CROP_SIZE], [CROP_SIZE, CROP_SIZE / 2]])
    return cv2.getAffineTransform(src, dst)


def blurred_window(image: np.ndarray, matrix: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Blur only the part of the image the crop samples, with a margin that makes it equal to blurring it all.

    Upstream blurs the whole image (``skimage.filters.gaussian``: float64, 'nearest' edges, 4 sigma support);
    inside the window plus the kernel radius the result is identical, and image edges stay image edges.

    Args:
        image: (H, W, 3) uint8.
        matrix: (2, 3) image -> crop map.
    Returns:
        the blurred float64 window and the (2, 3) map from window pixels to crop pixels.
    """
    inverse = cv2.invertAffineTransform(matrix)
    corners = np.array([[0, 0, 1], [CROP_SIZE, 0, 1], [0, CROP_SIZE, 1], [CROP_SIZE, CROP_SIZE, 1]], float)
    src = corners @ inverse.T  # the crop's corners in the image
    margin = int(_TRUNCATE * sigma + 0.5) + 2  # kernel radius + the bilinear neighbours
    h, w = image.shape[:2]
    x0, y0 = (np.clip(np.floor(src.min(axis=0)) - margin, 0, (w, h))).astype(int)
    x1, y1 = (np.clip(np.ceil(src.max(axis=0)) + margin + 1, 0, (w, h))).astype(int)
    window = gaussian_filter(image[y0:y1, x0:x1].astype(np.float64), sigma=(sigma, sigma, 0), mode="nearest",
                             truncate=_TRUNCATE)
    shifted = matrix.copy()
    shifted[:, 2] += matrix[:, :2] @ (x0, y0)  # window pixel (u, v) is image pixel (u + x0, v + y0)
    return window, shifted


def crop_person(image: np.ndarray, center: np.ndarray, size: float) -> np.ndarray:
    """One (256, 256, 3) crop, in the image's dtype (uint8 rounded as upstream) or float64 when blurred."""
    matrix = crop_transform(center, size)
    sigma = antialias_sigma(size)
    if sigma > 0:
        image, matrix = blurred_window(image, matrix, sigma)
        if image.size == 0:  # the crop lies outside the image: all border
            return np.zeros((CROP_SIZE, CROP_SIZE, 3))
    return cv2.warpAffine(image, matrix, (CROP_SIZE, CROP_SIZE), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def normalize(crops: np.ndarray) -> torch.Tensor:
    """(B, 256, 256, 3) RGB crops in [0, 255] -> (B, 3, 256, 256) float32, ``(x - 255 mean) / (255 std)``."""
    x = torch.from_numpy(np.ascontiguousarray(crops, dtype=np.float32)).permute(0, 3, 1, 2)
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32).view(1, 3, 1, 1)
    return (x - mean) / std


def preprocess(image: np.ndarray, boxes_xywh: np.ndarray) -> Crops:
    """Crops for every detection box of one image.

    Args:
        image: (H, W, 3) uint8 RGB.
        boxes_xywh: (B, 4) ``[x, y, w, h]`` detection boxes in pixels.
    Returns:
        :class:`Crops` with B entries.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {image.shape} {image.dtype}")
    centers, sizes = square_boxes(boxes_xywh)
    crops = np.stack([crop_person(image, c, s) for c, s in zip(centers, sizes)]) if len(sizes) else \
        np.zeros((0, CROP_SIZE, CROP_SIZE, 3))
    h, w = image.shape[:2]
    return Crops(
        images=normalize(crops),
        box_center=torch.from_numpy(centers).float(),
        box_size=torch.from_numpy(sizes).float(),
        image_size=torch.tensor([[w, h]], dtype=torch.float32).expand(len(sizes), 2).contiguous(),
    )
