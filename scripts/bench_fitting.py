"""Per-frame fit time on a synthetic 60-frame motion (Anny posed along a smooth trajectory and projected; no
rendering, no detector): the cold first frame, then warm-started frames, on 2 threads.

    python scripts/bench_fitting.py [--frames 60] [--no-3d] [--seed 0]
"""

from __future__ import annotations

import argparse
import pathlib
import sys

import numpy as np
import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from pose_service.body.anny_model import AnnyModel  # noqa: E402
from pose_service.evaluation.keypoints3d import pa_mpjpe  # noqa: E402
from pose_service.fitting import Fitter  # noqa: E402

WIDTH, HEIGHT = 640, 480
FOCAL = float(max(WIDTH, HEIGHT))


def motion(model: AnnyModel, frames: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Ground-truth keypoints (F, 25, 3) root-relative and translations (F, 3) of a smooth motion: every joint
    swings sinusoidally about a random offset while the person turns and walks sideways at ~3 m."""
    _, body_pose, _ = model.zero_params(1)
    offset = rng.normal(scale=0.15, size=body_pose.shape[1:])
    amplitude = rng.normal(scale=0.25, size=body_pose.shape[1:])
    phase = rng.uniform(0, 2 * np.pi, size=body_pose.shape[1:])
    time = np.arange(frames) / 30.0  # 30 fps
    pose = offset + amplitude * np.sin(2 * np.pi * 0.7 * time[:, None, None] + phase)
    yaw = 0.6 * np.sin(2 * np.pi * 0.2 * time)
    orient = np.stack([np.zeros(frames), yaw, np.zeros(frames)], 1)
    shape = np.tile(rng.normal(scale=0.3, size=(1, model.shape_dim)), (frames, 1))
    with torch.no_grad():
        keypoints = model(*(torch.tensor(a, dtype=torch.float32) for a in (orient, pose, shape))).keypoints.numpy()
    translation = np.stack([0.4 * np.sin(2 * np.pi * 0.25 * time), 0.1 + 0 * time, 3.2 + 0.3 * time], 1)
    return keypoints.astype(np.float64), translation


def observe(keypoints: np.ndarray, translation: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """2D keypoints (25, 3) with 2 px noise and MediaPipe-like confidences; 3D at 0.9 scale with 2 cm noise."""
    points = keypoints + translation
    uv = FOCAL * points[:, :2] / points[:, 2:] + [WIDTH / 2, HEIGHT / 2]
    confidence = rng.uniform(0.6, 1.0, size=(25, 1))
    confidence[[20, 23]] = 0.0  # MediaPipe has no small toes
    keypoints_2d = np.concatenate([uv + rng.normal(scale=2.0, size=uv.shape), confidence], 1)
    keypoints_3d = 0.9 * keypoints + rng.normal(scale=0.02, size=keypoints.shape)
    return keypoints_2d, keypoints_3d - keypoints_3d[8]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-3d", action="store_true", help="fit to 2D keypoints only")
    args = parser.parse_args()
    torch.set_num_threads(2)
    rng = np.random.default_rng(args.seed)
    model, fitter = AnnyModel(), Fitter()
    keypoints, translation = motion(model, args.frames, rng)
    fitter.fit(model, *observe(keypoints[0], translation[0], rng)[:1], (WIDTH, HEIGHT), FOCAL)  # warm-up (allocator)

    times, evals, pa, reproj, depth, state = [], [], [], [], [], None
    for frame in range(args.frames):
        keypoints_2d, keypoints_3d = observe(keypoints[frame], translation[frame], rng)
        result = fitter.fit(
            model, keypoints_2d, (WIDTH, HEIGHT), FOCAL, None if args.no_3d else keypoints_3d, previous=state
        )
        state = result.state
        times.append(result.time_s * 1000)
        evals.append(result.evaluations)
        pa.append(pa_mpjpe(result.keypoints_3d, keypoints[frame]) * 1000)
        reproj.append(np.median(np.linalg.norm(result.keypoints_2d[:, :2] - keypoints_2d[:, :2], axis=1)))
        depth.append(abs(result.camera_translation[2] / translation[frame, 2] - 1) * 100)

    warm = np.array(times[1:])
    print(f"frames: {args.frames}, 3D targets: {not args.no_3d}, threads: {torch.get_num_threads()}")
    print(f"cold first frame: {times[0]:.0f} ms ({evals[0]} evals)")
    print(
        f"warm frames: median {np.median(warm):.1f} ms, p90 {np.percentile(warm, 90):.1f} ms, "
        f"median {np.median(evals[1:]):.0f} evals"
    )
    print(
        f"accuracy: PA-MPJPE mean {np.mean(pa):.1f} mm, 2D median {np.median(reproj):.1f} px, "
        f"depth error mean {np.mean(depth):.1f} %"
    )


if __name__ == "__main__":
    main()
