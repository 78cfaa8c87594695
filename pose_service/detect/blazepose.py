"""Several people per frame from MediaPipe's bundled BlazePose models, run directly with LiteRT.

The legacy ``mp.solutions.pose`` graph keeps one person. This module runs the same two models that ship inside the
mediapipe 0.10.21 wheel (``pose_detection.tflite``, ``pose_landmark_full.tflite``) with ``ai_edge_litert`` and
re-implements the graph's pre- and post-processing (google/mediapipe ``pose_detection_cpu.pbtxt``,
``pose_detection_to_roi.pbtxt``, ``pose_landmark_by_roi_post_processing.pbtxt``, ``pose_landmarks_to_roi.pbtxt``)
for every detection instead of the first:

1. Detector: the image (or a tile, or a crop around a caller's hint) letterboxed to 224x224 in [-1, 1]; SSD boxes
   (the face) and 4 keypoints decoded against 2254 fixed-size anchors; sigmoid scores; weighted NMS per run, then
   one NMS over all runs in image pixels (whole frame first). A person found only in a tile or hint crop gets one
   tracking step (their landmarks' own ROI), since a crop can cut the body; views of one body are merged.
2. ROI: centred on keypoint 0 (mid-hip), side 2 x |kp1 - kp0| x 1.25, rotated so that kp0 -> kp1 points up.
3. Landmarks: the ROI warped to 256x256 in [0, 1]; 39 landmarks (x, y, z, visibility, presence logits) refined from
   the heatmaps, projected back to image pixels; pose presence gates the result; world landmarks rotated by the ROI
   rotation. Landmarks 33 and 34 (auxiliary) give the next frame's ROI, which is MediaPipe's tracking mode
   (``track``): the landmark model alone, no detector.

MediaPipe's temporal landmark smoothing (video mode) is not reproduced: each call is independent.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import cv2
import numpy as np

from ..timing import TimedLock
from ..types import Box, Hint, Person
from .mediapipe_pose import landmarks_to_person, mediapipe_to_body25

DETECTOR_SIZE = 224
LANDMARK_SIZE = 256
NUM_LANDMARKS = 39  # 33 pose landmarks, 2 auxiliary (ROI alignment), 4 unused
NUM_POSE_LANDMARKS = 33
AUX_CENTRE, AUX_SCALE = 33, 34
ROI_SCALE = 1.25  # pose_detection_to_roi / pose_landmarks_to_roi: margin the landmark model was trained with
NMS_IOU = 0.3  # pose_detection_cpu: min_suppression_threshold
HEATMAP_KERNEL = 7  # RefineLandmarksFromHeatmapCalculator kernel_size
HEATMAP_MIN_CONFIDENCE = 0.5  # its min_confidence_to_refine default

def model_paths() -> tuple[Path, Path]:
    """The detector and full landmark model inside the installed mediapipe package (found without importing it)."""
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or spec.origin is None:
        raise ImportError("mediapipe is not installed; its wheel carries the BlazePose models")
    modules = Path(spec.origin).parent / "modules"
    return (
        modules / "pose_detection" / "pose_detection.tflite",
        modules / "pose_landmark" / "pose_landmark_full.tflite",
    )


def ssd_anchor_centres() -> np.ndarray:
    """(2254, 2) anchor centres in [0, 1] as MediaPipe's SsdAnchorsCalculator makes them for the pose detector.

    Options: 5 layers, strides 8/16/32/32/32, input 224x224, offset 0.5, aspect ratio 1 plus the interpolated
    scale (default 1.0), fixed anchor size (so widths and heights are 1 and only the centres matter). Layers
    sharing a stride share one grid, with 2 anchors per layer at each cell.
    """
    strides = (8, 16, 32, 32, 32)
    centres = []
    layer = 0
    while layer < len(strides):
        same = 0
        while layer + same < len(strides) and strides[layer + same] == strides[layer]:
            same += 1
        cells = math.ceil(DETECTOR_SIZE / strides[layer])
        grid = (np.arange(cells) + 0.5) / cells
        y, x = np.meshgrid(grid, grid, indexing="ij")
        centres.append(np.repeat(np.stack([x.ravel(), y.ravel()], axis=1), 2 * same, axis=0))
        layer += same
    return np.concatenate(centres).astype(np.float32)


@dataclass(frozen=True)
class PoseRoi:
    """A rotated square region around one person, in image pixels (MediaPipe's NormalizedRect, de-normalised)."""

    cx: float
    cy: float
    size: float
    rotation: float
    """Radians; the crop is rotated by this so that the body stands upright in it."""

    @classmethod
    def from_alignment(cls, centre: np.ndarray, scale_point: np.ndarray) -> PoseRoi:
        """AlignmentPointsRectsCalculator (target angle 90 deg) then RectTransformationCalculator (scale, square)."""
        dx, dy = scale_point - centre
        rotation = math.pi / 2 - math.atan2(-dy, dx)
        rotation = rotation - 2 * math.pi * math.floor((rotation + math.pi) / (2 * math.pi))
        return cls(float(centre[0]), float(centre[1]), 2.0 * math.hypot(dx, dy) * ROI_SCALE, rotation)

    def crop_to_image(self) -> np.ndarray:
        """(2, 3) affine map from 256x256 crop pixels to image pixels."""
        scale = self.size / LANDMARK_SIZE
        cos, sin = math.cos(self.rotation) * scale, math.sin(self.rotation) * scale
        half = LANDMARK_SIZE / 2
        return np.array([
            [cos, -sin, self.cx - cos * half + sin * half],
            [sin, cos, self.cy - sin * half - cos * half],
        ])


@dataclass
class PoseEstimate:
    """One person found by :class:`BlazePoseDetector`, with the ROI to track them into the next frame."""

    person: Person
    next_roi: PoseRoi
    """From the auxiliary landmarks: pass it to ``track`` with the next frame."""
    landmarks: np.ndarray
    """(33, 4) MediaPipe landmarks: x, y in image pixels, visibility, presence."""


@dataclass
class _Detections:
    """Detector output in image pixels."""

    scores: np.ndarray  # (N,)
    boxes: np.ndarray  # (N, 4) x0, y0, x1, y1 (the face)
    keypoints: np.ndarray  # (N, 4, 2): mid-hip, full-body scale point, mid-shoulder, upper-body scale point

    @classmethod
    def concatenate(cls, parts: Sequence[_Detections]) -> _Detections:
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("scores", "boxes", "keypoints")))

    def take(self, index: np.ndarray | list[int]) -> _Detections:
        return _Detections(self.scores[index], self.boxes[index], self.keypoints[index])


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    x0 = np.maximum(box[0], boxes[:, 0])
    y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[2], boxes[:, 2])
    y1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
    return inter / np.maximum(area(box) + area(boxes) - inter, 1e-9)


def _suppression_groups(boxes: np.ndarray) -> list[np.ndarray]:
    """Greedy NMS over boxes already in priority order: each group is a kept box (first) and those it suppresses."""
    remaining = np.arange(len(boxes))
    groups = []
    while remaining.size:
        overlap = _iou(boxes[remaining[0]], boxes[remaining]) > NMS_IOU
        groups.append(remaining[overlap])
        remaining = remaining[~overlap]
    return groups


def _weighted_nms(dets: _Detections) -> _Detections:
    """MediaPipe's WEIGHTED non-max suppression: each kept detection's box and keypoints are the score-weighted
    mean of its group, its score the group's best."""
    order = np.argsort(-dets.scores, kind="stable")
    dets = dets.take(order)
    groups = _suppression_groups(dets.boxes)
    weights = [dets.scores[g] / dets.scores[g].sum() for g in groups]
    return _Detections(
        np.array([dets.scores[g[0]] for g in groups], np.float32).reshape(-1),
        np.array([w @ dets.boxes[g] for g, w in zip(groups, weights)]).reshape(-1, 4),
        np.array([np.tensordot(w, dets.keypoints[g], axes=1) for g, w in zip(groups, weights)]).reshape(-1, 4, 2),
    )


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # no overflow for large negative logits


class BlazePoseDetector:
    """Several people per image: BODY_25 2D keypoints (pixels) and 3D keypoints (metres, root-relative)."""

    name = "blazepose_litert"

    def __init__(
        self,
        min_detection_confidence: float = 0.5,
        min_presence: float = 0.5,
        num_threads: int = 2,
        tile_size: int = 320,
        tile_overlap: float = 0.25,
        tile_min_side: int = 640,
        max_tiles: int = 48,
        hint_margin: float = 1.5,
        max_people: Optional[int] = None,
        min_presence_zoomed: float = 0.8,
    ) -> None:
        """
        min_detection_confidence: detector score threshold (MediaPipe's min_detection_confidence).
        min_presence: pose-presence threshold of the landmark model (MediaPipe: 0.5).
        tile_size, tile_overlap: side of the square detector tiles (pixels) and their overlap (fraction of a tile).
            An 80 px tall person is found reliably in tiles of up to ~320 px (the detector sees them at >= 56 px).
        tile_min_side: tile by default when the frame's longer side is at least this many pixels.
        max_tiles: most tiles per frame; a larger frame gets larger tiles. Each detector run costs 5-40 ms on 2
            CPU cores with the detector lock held, so the count bounds how long one frame can stall the others.
        hint_margin: a hint box is searched in a square crop this many times its longer side.
        max_people: keep at most this many people, best detector scores first (None: all).
        min_presence_zoomed: pose-presence threshold for people found only in a tile or hint crop.
        """
        from ai_edge_litert.interpreter import Interpreter

        detector_path, landmark_path = model_paths()
        self._detector = Interpreter(model_path=str(detector_path), num_threads=num_threads)
        self._landmarker = Interpreter(model_path=str(landmark_path), num_threads=num_threads)
        self._detector.allocate_tensors()
        self._landmarker.allocate_tensors()
        self._detector_in = self._detector.get_input_details()[0]["index"]
        self._landmarker_in = self._landmarker.get_input_details()[0]["index"]
        # Outputs by shape: the tensor names (Identity, Identity_1, ...) say nothing about their meaning.
        by_shape = {tuple(d["shape"][1:]): d["index"] for d in self._detector.get_output_details()}
        self._det_raw, self._det_logits = by_shape[(2254, 12)], by_shape[(2254, 1)]
        by_shape = {tuple(d["shape"][1:]): d["index"] for d in self._landmarker.get_output_details()}
        self._lm_raw, self._lm_flag = by_shape[(NUM_LANDMARKS * 5,)], by_shape[(1,)]
        self._lm_heatmap, self._lm_world = by_shape[(64, 64, NUM_LANDMARKS)], by_shape[(NUM_LANDMARKS * 3,)]

        self._anchors = ssd_anchor_centres()
        self._to_body25 = mediapipe_to_body25()
        self.min_detection_confidence = min_detection_confidence
        self.min_presence = min_presence
        self.tile_size = tile_size
        self.tile_overlap = tile_overlap
        self.tile_min_side = tile_min_side
        self.max_tiles = max_tiles
        self.hint_margin = hint_margin
        self.max_people = max_people
        self.min_presence_zoomed = min_presence_zoomed
        self._lock = TimedLock("detector")  # a LiteRT interpreter runs one invocation at a time

    def warm_up(self) -> None:
        """Run both models once: the first invocation pays XNNPACK's set-up."""
        blank = np.zeros((LANDMARK_SIZE, LANDMARK_SIZE, 3), np.uint8)
        self.detect(blank, tiles=False)
        self.track(blank, [PoseRoi(128.0, 128.0, 256.0, 0.0)])

    def __call__(self, rgb: np.ndarray, hints: Sequence[Hint] = (), wide: Optional[bool] = None) -> list[Person]:
        """Detect in an (H, W, 3) RGB uint8 image; ``hints`` and ``wide`` (tiles) as :meth:`detect`."""
        return [estimate.person for estimate in self.detect(rgb, hints, tiles=wide)]

    def detect(self, rgb: np.ndarray, hints: Sequence[Hint] = (), tiles: Optional[bool] = None) -> list[PoseEstimate]:
        """Everyone found by following ``hints``, in the whole frame, in tiles and in crops around the hints.

        hints: where the caller expects people, e.g. a tracker's. A hint with a ``region`` (this detector's
            ``next_roi`` from the previous frame) is followed first by the landmark model alone, as MediaPipe's
            tracking mode does: it keeps a person the face-based detector loses (facing away, blurred, upside
            down). A hint it does not find there, and one without a region, is searched by the detector in a square
            crop ``hint_margin`` times its box's longer side, unless the whole frame already shows someone there
            and the hint is not ``lost``. When every hint is followed and ``tiles`` is false, the person detector
            does not run at all (new people are found on the next frame with ``tiles``).
        tiles: also search overlapping tiles; None tiles frames whose longer side is at least ``tile_min_side``.
        """
        height, width = rgb.shape[:2]
        if tiles is None:
            tiles = max(width, height) >= self.tile_min_side
        with self._lock:
            estimates: list[PoseEstimate] = []
            lost: list[Hint] = []
            for hint in hints:
                estimate = None if hint.region is None else self._landmarks(rgb, PoseRoi(*hint.region))
                if estimate is None:
                    lost.append(hint)
                elif not any(_same_body(estimate, other) for other in estimates):
                    estimates.append(estimate)
            if hints and not lost and not tiles:
                # Everyone tracked was followed: MediaPipe's tracking mode, the landmark model alone. The person
                # detector (a third of a tracked frame's detection time) runs again with the next wide search.
                return estimates
            runs = [self._detect_region(rgb, (0.0, 0.0, float(width), float(height)))]
            # A hint whose person the whole frame already shows (a hip centre in its box) needs no closer look,
            # unless the person was missed last frame: the hip may be someone else's, in front of them.
            hips = runs[0].keypoints[:, 0]
            regions = [self._hint_region(hint.box) for hint in lost
                       if hint.lost or not any(_in_box(hip, hint.box) for hip in hips)]
            if tiles:
                regions += self.tile_regions(width, height)
            runs += [self._detect_region(rgb, region) for region in regions]
            dets, whole_frame = self._merge(runs)
            # Whole-frame detections first: the people they find decide which zoomed-in views are parts of them.
            for i in np.argsort(~np.asarray(whole_frame, bool), kind="stable"):
                box, keypoints, from_whole_frame = dets.boxes[i], dets.keypoints[i], whole_frame[i]
                # Another run's view of someone already found (their nose is at this face box): the landmark
                # model, the expensive part, is not run for it.
                if any(_inside(e.landmarks[0, :2], box) for e in estimates):
                    continue
                estimate = self._landmarks(rgb, PoseRoi.from_alignment(keypoints[0], keypoints[1]))
                if estimate is None:
                    continue
                if not from_whole_frame:
                    # A tile or hint crop may cut the body, which skews the detector's alignment points; one
                    # tracking step re-crops on the landmarks' own ROI, as MediaPipe's next frame would.
                    estimate = self._landmarks(rgb, estimate.next_roi) or estimate
                # Many small views find face-like texture now and then, often on someone already found (a ball in
                # their hands), and where two people overlap the whole frame can give a weak third solution across
                # them: a zoomed-in find is held to a stricter presence and must not lie within someone found, a
                # whole-frame find only where it is weak.
                weak = estimate.person.score < self.min_presence_zoomed
                inside_another = any(_part_of(estimate.person.bbox, other.person.bbox) for other in estimates)
                if (weak or inside_another) if not from_whole_frame else (weak and inside_another):
                    continue
                if not any(_same_body(estimate, other) for other in estimates):
                    estimates.append(estimate)
            return estimates

    def track(self, rgb: np.ndarray, rois: Sequence[PoseRoi]) -> list[Optional[PoseEstimate]]:
        """The landmark model alone on each ROI (from the previous frame's ``next_roi``); None where the person
        was lost (pose presence below ``min_presence``), so that the caller can fall back to ``detect``."""
        with self._lock:
            return [self._landmarks(rgb, roi) for roi in rois]

    # -- detector ---------------------------------------------------------------------------------------------

    def _hint_region(self, box: Box) -> Box:
        x, y, w, h = box
        side = self.hint_margin * max(w, h)
        return (x + w / 2 - side / 2, y + h / 2 - side / 2, side, side)

    def tile_regions(self, width: int, height: int) -> list[Box]:
        """Square tiles of ``tile_size`` (larger where more than ``max_tiles`` would be needed) spread evenly so
        that neighbours overlap by at least ``tile_overlap``."""
        side = float(min(self.tile_size, width, height))

        def positions(side: float) -> tuple[np.ndarray, np.ndarray]:
            step = side * (1.0 - self.tile_overlap)
            return tuple(np.linspace(0.0, n - side, math.ceil((n - side) / step) + 1) for n in (width, height))

        xs, ys = positions(side)
        while len(xs) * len(ys) > self.max_tiles and side < min(width, height):
            side = min(side * 1.25, float(min(width, height)))
            xs, ys = positions(side)
        return [(float(x), float(y), side, side) for y in ys for x in xs]

    def _detect_region(self, rgb: np.ndarray, region: Box) -> _Detections:
        """The detector on one region of the image, letterboxed (centred, zero padding) as ImageToTensor does."""
        x, y, w, h = region
        scale = DETECTOR_SIZE / max(w, h)
        offset = np.array([(DETECTOR_SIZE - w * scale) / 2 - x * scale, (DETECTOR_SIZE - h * scale) / 2 - y * scale])
        matrix = np.array([[scale, 0.0, offset[0]], [0.0, scale, offset[1]]])
        tensor = cv2.warpAffine(rgb, matrix, (DETECTOR_SIZE, DETECTOR_SIZE), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
        self._detector.set_tensor(self._detector_in, (tensor.astype(np.float32) / 127.5 - 1.0)[None])
        self._detector.invoke()
        raw = self._detector.get_tensor(self._det_raw)[0]
        logits = self._detector.get_tensor(self._det_logits)[0, :, 0]
        scores = _sigmoid(np.clip(logits, -100.0, 100.0))  # score_clipping_thresh 100
        keep = scores >= self.min_detection_confidence
        raw, anchors = raw[keep], self._anchors[keep]
        # reverse_output_order: (x, y, w, h) then (x, y) per keypoint, in 224-pixel units relative to the anchor
        # centre (anchor size is fixed at 1). Mapped straight to image pixels by undoing the letterbox.
        centre = raw[:, :2] + anchors * DETECTOR_SIZE
        half = raw[:, 2:4] / 2
        boxes = (np.concatenate([centre - half, centre + half], axis=1) - np.tile(offset, 2)) / scale
        keypoints = (raw[:, 4:12].reshape(-1, 4, 2) + anchors[:, None] * DETECTOR_SIZE - offset) / scale
        return _weighted_nms(_Detections(scores[keep], boxes, keypoints))

    def _merge(self, runs: list[_Detections]) -> tuple[_Detections, np.ndarray]:
        """One detection per person over all runs: NMS in image pixels, the whole-frame run first (it sees whole
        bodies; a tile may cut one), then hints and tiles; within a run, best score first.

        Returns the detections and whether each came from the whole-frame run.
        """
        dets = _Detections.concatenate(runs)  # runs in priority order, each already best score first
        leaders = np.array([group[0] for group in _suppression_groups(dets.boxes)], int)
        if self.max_people is not None:
            leaders = leaders[np.argsort(-dets.scores[leaders], kind="stable")[: self.max_people]]
        return dets.take(leaders), leaders < len(runs[0].scores)

    # -- landmarks --------------------------------------------------------------------------------------------

    def _landmarks(self, rgb: np.ndarray, roi: PoseRoi) -> Optional[PoseEstimate]:
        """The landmark model on one ROI; None when its pose-presence score is below ``min_presence``."""
        crop_to_image = roi.crop_to_image()
        crop = cv2.warpAffine(rgb, cv2.invertAffineTransform(crop_to_image), (LANDMARK_SIZE, LANDMARK_SIZE),
                              flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)  # ImageToTensor's default
        self._landmarker.set_tensor(self._landmarker_in, (crop.astype(np.float32) / 255.0)[None])
        self._landmarker.invoke()
        # The pose flag is already a probability: MediaPipe thresholds it with no activation.
        presence = float(self._landmarker.get_tensor(self._lm_flag)[0, 0])
        if presence < self.min_presence:
            return None
        raw = self._landmarker.get_tensor(self._lm_raw)[0].reshape(NUM_LANDMARKS, 5)
        heatmap = self._landmarker.get_tensor(self._lm_heatmap)[0]
        xy = _refine_from_heatmap(raw[:, :2] / LANDMARK_SIZE, heatmap) * LANDMARK_SIZE
        image_xy = xy @ crop_to_image[:, :2].T + crop_to_image[:, 2]
        visibility, landmark_presence = _sigmoid(raw[:, 3]), _sigmoid(raw[:, 4])

        # WorldLandmarkProjectionCalculator: only the ROI rotation, about the origin (the hip centre).
        world = self._landmarker.get_tensor(self._lm_world)[0].reshape(NUM_LANDMARKS, 3).astype(np.float64)
        cos, sin = math.cos(roi.rotation), math.sin(roi.rotation)
        world[:, :2] = world[:, :2] @ np.array([[cos, sin], [-sin, cos]])

        landmarks = np.column_stack([image_xy, visibility, landmark_presence])[:NUM_POSE_LANDMARKS]
        person = landmarks_to_person(self._to_body25, landmarks[:, :3], world[:NUM_POSE_LANDMARKS], presence)
        next_roi = PoseRoi.from_alignment(image_xy[AUX_CENTRE], image_xy[AUX_SCALE])
        person.next_region = (next_roi.cx, next_roi.cy, next_roi.size, next_roi.rotation)
        return PoseEstimate(person=person, next_roi=next_roi, landmarks=landmarks)


def _part_of(view: Box, person: Box, covered: float = 0.8, iou: float = 0.5) -> bool:
    """Whether a zoomed-in ``view`` is of someone already found at ``person``: it lies mostly (``covered`` of its
    area) inside their box (their hands or face, or a narrower second solution for the same body), or overlaps
    their box by more than ``iou``."""
    x0, y0 = max(view[0], person[0]), max(view[1], person[1])
    x1, y1 = min(view[0] + view[2], person[0] + person[2]), min(view[1] + view[3], person[1] + person[3])
    overlap = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    view_area, person_area = view[2] * view[3], person[2] * person[3]
    return overlap >= covered * view_area or overlap > iou * (view_area + person_area - overlap)


def _in_box(point: np.ndarray, box: Box) -> bool:
    """Whether a point lies in an ``(x, y, width, height)`` box."""
    x, y, w, h = box
    return bool(x <= point[0] <= x + w and y <= point[1] <= y + h)


def _inside(point: np.ndarray, box: np.ndarray) -> bool:
    """Whether a point lies in a face box grown by a quarter of its size each side (boxes from tiles are tighter
    and shifted, and the nose sits near the box's top)."""
    margin = 0.25 * (box[2:] - box[:2])
    return bool(np.all(box[:2] - margin <= point) and np.all(point <= box[2:] + margin))


def _same_body(a: PoseEstimate, b: PoseEstimate) -> bool:
    """Whether two estimates' confidently visible landmarks coincide: a median distance under 5% of the ROI side
    (about 6% of the body's height) over the landmarks both see. Views of one person from different runs can
    survive the detector's NMS (a cut body shifts the face box too) and converge on the same body."""
    both = (a.landmarks[:, 2] > 0.5) & (b.landmarks[:, 2] > 0.5)
    if not both.any():
        return False
    distance = np.median(np.linalg.norm(a.landmarks[both, :2] - b.landmarks[both, :2], axis=1))
    return bool(distance < 0.05 * min(a.next_roi.size, b.next_roi.size))


def _refine_from_heatmap(xy: np.ndarray, heatmap: np.ndarray) -> np.ndarray:
    """RefineLandmarksFromHeatmapCalculator: each landmark (normalised crop coordinates) moves to the sigmoid-
    weighted mean cell of the 7x7 heatmap window around it, where that window's peak is confident enough.

    xy (N, 2), heatmap (S, S, N) logits -> (N, 2); all landmarks' windows at once.
    """
    size, count = heatmap.shape[0], len(xy)
    half = (HEATMAP_KERNEL - 1) // 2
    cells = (xy * size).astype(int)  # truncation, as MediaPipe's int conversion
    inside = np.all((cells >= 0) & (cells < size), axis=1)
    offsets = np.arange(-half, half + 1)
    cols, rows = cells[:, :1] + offsets, cells[:, 1:] + offsets  # (N, K) window cells, clipped below by the mask
    in_window = ((rows >= 0) & (rows < size))[:, :, None] & ((cols >= 0) & (cols < size))[:, None, :]  # (N, K, K)
    logits = heatmap[np.clip(rows, 0, size - 1)[:, :, None], np.clip(cols, 0, size - 1)[:, None, :],
                     np.arange(count)[:, None, None]]
    confidence = np.where(in_window, _sigmoid(logits), 0.0)
    refine = inside & (confidence.max(axis=(1, 2)) >= HEATMAP_MIN_CONFIDENCE)
    weights = confidence / np.maximum(confidence.sum(axis=(1, 2), keepdims=True), 1e-12)
    mean_col = (weights * cols[:, None, :]).sum(axis=(1, 2))
    mean_row = (weights * rows[:, :, None]).sum(axis=(1, 2))
    # In the landmarks' own dtype: a float64 result shifts the next ROI by rounding, and the tracking loop carries
    # such shifts on from frame to frame.
    return np.where(refine[:, None], np.column_stack([mean_col, mean_row]) / size, xy).astype(xy.dtype)
