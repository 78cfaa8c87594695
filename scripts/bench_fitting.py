"""Per-frame fit time on a synthetic 60-frame motion (Anny posed along a smooth trajectory and projected; no
rendering, no detector): the cold first frame, then warm-started frames.

    python scripts/bench_fitting.py [--frames 60] [--no-3d] [--seed 0] [--threads 1]
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
from pose_service.evaluation.synthetic import observe, smooth_motion  # noqa: E402
from pose_service.fitting import Fitter  # noqa: E402

WIDTH, HEIGHT = 640, 480
FOCAL = float(max(WIDTH, HEIGHT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-3d", action="store_true", help="fit to 2D keypoints only")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the service's default is 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    model, fitter = AnnyModel(), Fitter()
    subjects = smooth_motion(model, args.frames, rng)
    fitter.fit(model, observe(subjects[0], (WIDTH, HEIGHT), FOCAL, rng)[0], (WIDTH, HEIGHT), FOCAL)  # warm-up

    times, evals, pa, reproj, depth, state = [], [], [], [], [], None
    for subject in subjects:
        keypoints_2d, keypoints_3d = observe(subject, (WIDTH, HEIGHT), FOCAL, rng)
        result = fitter.fit(
            model, keypoints_2d, (WIDTH, HEIGHT), FOCAL, None if args.no_3d else keypoints_3d, previous=state
        )
        state = result.state
        times.append(result.time_s * 1000)
        evals.append(result.evaluations)
        pa.append(pa_mpjpe(result.keypoints_3d, subject.keypoints) * 1000)
        reproj.append(np.median(np.linalg.norm(result.keypoints_2d[:, :2] - keypoints_2d[:, :2], axis=1)))
        depth.append(abs(result.camera_translation[2] / subject.translation[2] - 1) * 100)

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
