"""HMR 2.0 as a pipeline stage: detected people -> SMPL bodies, all crops of a frame in one batched forward.

Per person: the detector's box (a keypoint extent is padded by ``BOX_PADDING`` because keypoints stop short of
the silhouette; a box detector's box is used as it is) -> upstream's crop -> network -> SMPL (through the body-model layer) -> root-relative vertices and
BODY_25 keypoints in camera axes, the root's translation in the full image's camera (``cam_crop_to_full`` with the
request's focal length or upstream's ``5000/256 * max(W, H)``), and 2D keypoints projected from the 3D ones.

Device: the network runs on ``device`` with bf16 autocast on CUDA. On CUDA out-of-memory the request falls back to a
CPU copy of the network (made on first need) unless ``oom_policy="fail"``, which raises :class:`~pose_service.pipeline.GpuOutOfMemory`.
"""

from __future__ import annotations

import logging
from typing import Literal, Optional

import numpy as np
import roma
import torch

from ..body.smpl_model import SMPLModel
from ..conventions import project
from ..models.hmr2.camera import cam_crop_to_full, hmr2_focal_length
from ..models.hmr2.network import HMR2
from ..models.hmr2.preprocess import preprocess
from ..pipeline import GpuOutOfMemory
from ..timing import TimedLock
from ..types import Person

log = logging.getLogger(__name__)

BOX_PADDING = 1.2  # detector boxes from keypoints are scaled by this about their centre
# HMR 2.0's global orientation maps SMPL's native frame straight to the camera; the body-model layer applies its
# own native->camera axis change first, so its global orientation is R_hmr @ diag(1, -1, -1).
_SMPL_TO_CAMERA = torch.diag(torch.tensor([1.0, -1.0, -1.0]))


def padded_boxes(people: list[Person], padding: float = BOX_PADDING) -> np.ndarray:
    """(N, 4) ``[x, y, w, h]`` boxes of ``people`` scaled by ``padding`` about their centres."""
    boxes = np.array([p.bbox for p in people], dtype=np.float64).reshape(-1, 4)
    centres = boxes[:, :2] + boxes[:, 2:] / 2
    sizes = boxes[:, 2:] * padding
    return np.concatenate([centres - sizes / 2, sizes], axis=1)


class HMR2Regressor:
    name = "hmr2"

    def __init__(
        self,
        network: HMR2,
        smpl: SMPLModel,
        device: torch.device,
        oom_policy: Literal["cpu", "fail"] = "cpu",
        box_padding: float = BOX_PADDING,
    ) -> None:
        self.network = network.to(device).eval()
        self.smpl = smpl.to(device)
        self.device = device
        self.oom_policy = oom_policy
        self.box_padding = box_padding
        self._cpu_network: Optional[HMR2] = None
        self._lock = TimedLock("regressor")

    @torch.inference_mode()
    def _forward(self, network: HMR2, images: torch.Tensor, device: torch.device) -> dict[str, torch.Tensor]:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            out = network(images.to(device))
        return {k: out[k].float() for k in ("global_orient", "body_pose", "betas", "pred_cam")}

    def _run_network(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        try:
            return self._forward(self.network, images, self.device)
        except torch.OutOfMemoryError:
            if self.oom_policy != "cpu":
                raise GpuOutOfMemory(f"{self.device} ran out of memory for {len(images)} crops") from None
            torch.cuda.empty_cache()
            log.warning("[POSE] %s out of memory for %d crops: this request runs on the CPU", self.device, len(images))
            if self._cpu_network is None:
                self._cpu_network = HMR2(self.network.config)
                self._cpu_network.load_state_dict({k: v.cpu() for k, v in self.network.state_dict().items()})
                self._cpu_network.eval()
            out = self._forward(self._cpu_network, images, torch.device("cpu"))
            return {k: v.to(self.device) for k, v in out.items()}

    @torch.inference_mode()
    def __call__(self, image: np.ndarray, people: list[Person], focal_length_px: Optional[float] = None) -> list[Person]:
        """Fill ``keypoints_3d``, ``vertices``, ``camera_translation`` and projected ``keypoints_2d`` of ``people``;
        the camera has ``focal_length_px`` (default: upstream's ``5000/256 * max(W, H)``)."""
        if not people:
            return people
        height, width = image.shape[:2]
        focal = float(focal_length_px or hmr2_focal_length((width, height)))
        crops = preprocess(image, padded_boxes(people, self.box_padding))
        with self._lock:
            out = self._run_network(crops.images)
            global_orient = roma.rotmat_to_rotvec(out["global_orient"][:, 0] @ _SMPL_TO_CAMERA.to(self.device))
            body_pose = roma.rotmat_to_rotvec(out["body_pose"])
            body = self.smpl(global_orient, body_pose, out["betas"])
            # cam_crop_to_full translates HMR's SMPL output, whose root sits at the template pelvis (HMR's frame is
            # the camera's, so the native pelvis coordinates are camera coordinates there).
            cam_t = cam_crop_to_full(out["pred_cam"].cpu(), crops.box_center, crops.box_size, crops.image_size, focal)
            root = cam_t + self.smpl.native_pelvis(out["betas"]).cpu()
        params = {"global_orient": global_orient, "body_pose": body_pose, "shape": out["betas"]}
        params = {k: v.cpu().numpy().astype(np.float64) for k, v in params.items()}
        vertices = body.vertices.cpu().numpy()
        keypoints_3d = body.keypoints.cpu().numpy()
        for i, person in enumerate(people):
            translation = root[i].numpy().astype(np.float64)
            pixels = project(keypoints_3d[i] + translation, focal, (width, height))
            # HMR 2.0 predicts every keypoint; the detector's confidence says how well each one was seen.
            confidence = np.where(person.keypoints_2d[:, 2] > 0, person.keypoints_2d[:, 2], person.score)
            person.keypoints_2d = np.column_stack([pixels, confidence])
            person.keypoints_3d = keypoints_3d[i].astype(np.float64)
            person.vertices = vertices[i]
            person.camera_translation = translation
            person.body_model = self.smpl.name
            person.body_params = {k: v[i] for k, v in params.items()}
        return people
