#!/usr/bin/env python
"""Draw the service's fitted meshes and keypoints over a video's frames, to look at the results.

    python scripts/render_overlay.py clip.mp4 out/ [--url http://localhost:5000 | --spawn] [--video out.mp4]
    python scripts/render_overlay.py frames_dir/ out/ --responses responses.jsonl

The input is a video (MP4/QuickTime, Matroska/WebM or AVI) or a folder of images (sorted by name). Each frame is
posted to POST /pose/hybrid of a running service (--url, or --spawn to start one) as the Node backend does, or its
response is read from --responses (JSON lines, one /pose/hybrid response per frame, in order). Writes
overlay_00000.png... into the output folder, and an mp4 too with --video. Faces are fetched once from GET /mesh/faces.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

from benchmark_service import service  # noqa: E402
from test_frame_coverage import jpeg_b64, post_frame  # noqa: E402

from pose_service.batch.video import read_frames  # noqa: E402
from pose_service.render.overlay import draw_response  # noqa: E402

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}


def frames(source: Path, max_frames: int | None) -> Iterator[np.ndarray]:
    """RGB frames of a video file or of a folder's images."""
    if source.is_dir():
        paths = sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:max_frames]
        for path in paths:
            yield cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    else:
        yield from read_frames(source, max_frames)


def write_overlays(args: argparse.Namespace, saved: Iterator[str] | None, stack: ExitStack) -> int:
    """Draw every frame's response; returns how many frames."""
    faces, writer, count = None, None, 0
    if saved is None:
        try:
            with urllib.request.urlopen(args.url + "/mesh/faces", timeout=60) as response:
                faces = np.asarray(json.loads(response.read())["mesh_faces_data"])
        except urllib.error.HTTPError:
            faces = None  # a backend without meshes: keypoints only
    for index, rgb in enumerate(frames(args.source, args.max_frames)):
        if saved is not None:
            response = json.loads(next(saved))
        else:
            body = {"image_base64": jpeg_b64(rgb), "frame_number": index, "video_id": args.video_id,
                    "include_faces": False}
            if args.focal:
                body["focal_length_px"] = args.focal
            response = post_frame(args.url, body)
        overlay = cv2.cvtColor(draw_response(rgb, response, faces), cv2.COLOR_RGB2BGR)
        cv2.imwrite(str(args.out / f"overlay_{index:05d}.png"), overlay)
        if args.video is not None:
            if writer is None:
                height, width = overlay.shape[:2]
                writer = cv2.VideoWriter(str(args.video), cv2.VideoWriter_fourcc(*"mp4v"), 30, (width, height))
                stack.callback(writer.release)
            writer.write(overlay)
        count += 1
    return count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="a video file or a folder of frames")
    parser.add_argument("out", type=Path, help="folder for the overlay PNGs")
    parser.add_argument("--url", default="http://localhost:5000")
    parser.add_argument("--spawn", action="store_true", help="start a gunicorn server for the run")
    parser.add_argument("--responses", type=Path, help="JSON lines of saved responses instead of a service")
    parser.add_argument("--video-id", default="overlay")
    parser.add_argument("--focal", type=float, help="focal_length_px sent with every frame")
    parser.add_argument("--max-frames", type=int)
    parser.add_argument("--video", type=Path, help="also write the overlays as this mp4")
    args = parser.parse_args()

    args.out.mkdir(parents=True, exist_ok=True)
    saved = iter(args.responses.read_text().splitlines()) if args.responses else None
    with ExitStack() as stack:
        if saved is None:
            args.url = stack.enter_context(service(args.url, args.spawn))
        count = write_overlays(args, saved, stack)
    print(f"wrote {count} overlays to {args.out}" + (f" and {args.video}" if args.video else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
