"""Optional person boxes from ViTDet (detectron2), the detector 4D-Humans' demo uses: only when detectron2 is
importable, which this project does not install (it has no wheels and builds against a CUDA toolkit).

Set ``POSE_DETECTOR=vitdet`` with ``POSE_VITDET_CONFIG`` (a detectron2 LazyConfig, e.g. ViTDet's
``cascade_mask_rcnn_vitdet_h_75ep.py`` from the detectron2 repository's ``projects/ViTDet/configs/COCO``) and
``POSE_VITDET_WEIGHTS`` (its ``model_final_*.pkl``). As in 4D-Humans, frames are resized so their shorter side is
1,024 px, and people are COCO class 0 above a score threshold.
People come back as boxes with a score and no keypoints (confidence 0); the HMR 2.0 stage fills those in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

import numpy as np

from ..conventions import NUM_KEYPOINTS
from ..timing import TimedLock
from ..types import Hint, Person

PERSON_CLASS = 0  # COCO


def people_from_detections(
    boxes_xyxy: np.ndarray, scores: np.ndarray, classes: np.ndarray, threshold: float
) -> list[Person]:
    """Persons (class 0) above ``threshold``, best first, as boxes without keypoints.

    boxes_xyxy: (N, 4) x0, y0, x1, y1 pixels; scores: (N,); classes: (N,) int.
    """
    keep = np.flatnonzero((classes == PERSON_CLASS) & (scores >= threshold))
    keep = keep[np.argsort(-scores[keep], kind="stable")]
    return [
        Person(
            keypoints_2d=np.zeros((NUM_KEYPOINTS, 3)),
            bbox=(float(x0), float(y0), float(x1 - x0), float(y1 - y0)),
            score=float(scores[i]),
        )
        for i, (x0, y0, x1, y1) in zip(keep, boxes_xyxy[keep])
    ]


class ViTDetDetector:
    name = "vitdet"

    def __init__(self, device: str = "cpu", score_threshold: float = 0.5, short_edge: int = 1024,
                 config_path: Optional[str] = None, weights_path: Optional[str] = None) -> None:
        try:
            from detectron2.checkpoint import DetectionCheckpointer
            from detectron2.config import LazyConfig, instantiate
            from detectron2.data import transforms
        except ImportError as exc:
            raise RuntimeError(
                "POSE_DETECTOR=vitdet needs detectron2, which is not installed (see detectron2's install guide); "
                "the default detector, blazepose, needs nothing"
            ) from exc
        if not config_path or not weights_path:
            raise RuntimeError("POSE_DETECTOR=vitdet needs $POSE_VITDET_CONFIG and $POSE_VITDET_WEIGHTS")
        import torch

        config = LazyConfig.load(config_path)
        self._model = instantiate(config.model).to(device).eval()
        DetectionCheckpointer(self._model).load(weights_path)
        self._resize = transforms.ResizeShortestEdge([short_edge, short_edge], short_edge)
        self._rgb_input = getattr(self._model, "input_format", "BGR") == "RGB"
        self._device = device
        self._torch = torch
        self.score_threshold = score_threshold
        self._lock = TimedLock("detector")

    def warm_up(self) -> None:
        self(np.zeros((256, 256, 3), np.uint8))

    def __call__(self, rgb: np.ndarray, hints: Sequence[Hint] = (), wide: Optional[bool] = None) -> list[Person]:
        """Everyone in the frame (a full-image detector: the search ``hints`` and ``wide`` do not apply)."""
        height, width = rgb.shape[:2]
        image = rgb if self._rgb_input else rgb[:, :, ::-1]
        resized = self._resize.get_transform(image).apply_image(image)
        tensor = self._torch.as_tensor(np.ascontiguousarray(resized.transpose(2, 0, 1)), dtype=self._torch.float32)
        with self._lock, self._torch.inference_mode():
            instances = self._model([{"image": tensor.to(self._device), "height": height, "width": width}])[0]["instances"]
        return people_from_detections(
            instances.pred_boxes.tensor.cpu().numpy(), instances.scores.cpu().numpy(),
            instances.pred_classes.cpu().numpy(), self.score_threshold,
        )  # fmt: skip
