#!/usr/bin/env python
"""Tracking through gaps on real clips: identities, ghost boxes and predicted poses where frames are blanked.

    python scripts/eval_gaps.py <clip>... [--url URL | --spawn] [--drop 0.36] [--seeds 0,1,2] [--max-frames N]
        [--variants dark,blur,rotate,rotate90,text] [--concurrency 1|2 [--compare-sequential]]
        [--json out.json] [--env KEY=VALUE ...]

Each clip is posted frame by frame to ``POST /pose/hybrid`` (JPEG, ``frame_number``, a fresh ``video_id``, no
mesh). Pass 1 posts it as it is. Pass 2, once per seed in a fresh session each, replaces each frame after its own
first detection with a uniform grey frame with probability --drop (decided per frame index from
``numpy.random.default_rng(seed)``); its scores are pooled over the seeds, since one seed gives only a dozen
predicted frames on a short clip. Per pass
it prints the coverage, the track ids of the primary person (``people[0]``) with their frame counts, the share of
frames where the main subject (the most frequent primary id) is detected (pass 1), the predicted people whose box
is mostly outside the image, the share of people that are not the main subject, and the session's ``restarts``.
On the blanked frames where pass 2's primary is predicted and pass 1's is detected, the predicted keypoints are
scored with PCK@0.2·torso and the mean error in torso lengths against pass 1's (12 body joints with pass 1
confidence > 0.3), beside two baselines
from pass 2's detections: the last detected pose ("stale") and its 2D constant-velocity extrapolation ("cv2d").

--variants also runs pass 1 on degraded copies of the frames. --concurrency 2 posts frames in pairs from two
threads, frame n+1 a moment before frame n, as a backend with a pool of two processes may deliver them;
--compare-sequential then also runs pass 1 sequentially and compares. --env sets the spawned server's
environment (with --spawn). Exits 0, or 2 on an HTTP or connection error.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Optional

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

from benchmark_service import service  # noqa: E402
from pose_service.batch.video import read_frames  # noqa: E402
from pose_service.conventions import BODY12_INDICES, BODY25_INDEX  # noqa: E402
from pose_service.tracking.track import inside_fraction  # noqa: E402
from test_frame_coverage import jpeg_b64, post_frame  # noqa: E402

SHOULDERS = [BODY25_INDEX["left_shoulder"], BODY25_INDEX["right_shoulder"]]
HIPS = [BODY25_INDEX["left_hip"], BODY25_INDEX["right_hip"]]
GREY = 128

# A frame record: {"frame_number", "blanked", "image_size": [w, h], "people": [{"track_id", "source", "bbox",
# "score", "keypoints": (25, 3) x, y, confidence}]}; people[0] is the primary person.
Record = dict[str, Any]
Keypoints = np.ndarray
History = Sequence[tuple[int, Keypoints]]
"""(frame number, keypoints) of earlier frames where the primary person was detected, in frame order."""
FrameSource = Callable[[int, list[Record]], tuple[np.ndarray, bool]]
"""``(i, records so far) -> (image to post as frame i, whether it is blanked)``."""


# --- metrics (pure functions) ---------------------------------------------------------------------------------

def pck(pred: Keypoints, ref: Keypoints, threshold: float = 0.2, min_confidence: float = 0.3) -> tuple[int, int]:
    """(correct, scored) joints of the 12 body joints where ``ref`` is confident; correct = within ``threshold``
    times the reference torso (mid-shoulder to mid-hip)."""
    torso = float(np.linalg.norm(ref[SHOULDERS, :2].mean(0) - ref[HIPS, :2].mean(0)))
    joints = BODY12_INDICES[ref[BODY12_INDICES, 2] > min_confidence]
    if torso <= 0 or not len(joints):
        return 0, 0
    distances = np.linalg.norm(pred[joints, :2] - ref[joints, :2], axis=1)
    return int((distances < threshold * torso).sum()), len(joints)


def torso_errors(pred: Keypoints, ref: Keypoints, min_confidence: float = 0.3) -> list[float]:
    """Distances of the 12 body joints where ``ref`` is confident, in reference torso lengths: finer than PCK where
    both guesses are within its threshold."""
    torso = float(np.linalg.norm(ref[SHOULDERS, :2].mean(0) - ref[HIPS, :2].mean(0)))
    joints = BODY12_INDICES[ref[BODY12_INDICES, 2] > min_confidence]
    if torso <= 0:
        return []
    return list(np.linalg.norm(pred[joints, :2] - ref[joints, :2], axis=1) / torso)


def stale(history: History, frame_number: int) -> Keypoints:
    """The last detected pose, held."""
    return history[-1][1]


def constant_velocity_2d(history: History, frame_number: int) -> Keypoints:
    """The last two detected poses extrapolated linearly per keypoint to ``frame_number`` (x, y only; the
    confidence is the last one's); the last pose when there is only one."""
    if len(history) < 2:
        return stale(history, frame_number)
    (f1, k1), (f2, k2) = history[-2], history[-1]
    out = k2.copy()
    out[:, :2] = k2[:, :2] + (k2[:, :2] - k1[:, :2]) * (frame_number - f2) / (f2 - f1)
    return out


def mostly_outside(bbox: Sequence[float], image_size: Sequence[int]) -> bool:
    """Whether less than half of the ``[x, y, w, h]`` box lies inside the ``(w, h)`` image."""
    return inside_fraction(tuple(bbox), tuple(image_size)) < 0.5


def primary_ids(records: Sequence[Record]) -> list[tuple[int, int]]:
    """(track id, frames) of the primary person, in order of first appearance."""
    counts = Counter(r["people"][0]["track_id"] for r in records if r["people"])
    return list(counts.items())  # Counter keeps insertion order: first appearance


def main_subject(records: Sequence[Record]) -> Optional[int]:
    """The track id that is the primary person on the most frames."""
    ids = primary_ids(records)
    return max(ids, key=lambda item: item[1])[0] if ids else None


def detected_share(records: Sequence[Record], track_id: Optional[int]) -> float:
    """Frames where ``track_id`` is detected / all frames."""
    hits = sum(any(p["track_id"] == track_id and p["source"] == "detected" for p in r["people"]) for r in records)
    return hits / len(records) if records else 0.0


def pass_figures(records: Sequence[Record]) -> dict[str, Any]:
    main = main_subject(records)
    people = [p for r in records for p in r["people"]]
    predicted = [(p, r["image_size"]) for r in records for p in r["people"] if p["source"] == "predicted"]
    return {
        "frames": len(records),
        "blanked": sum(r["blanked"] for r in records),
        "coverage": sum(bool(r["people"]) for r in records) / len(records) if records else 0.0,
        "primary_ids": primary_ids(records),
        "main_subject": main,
        "main_detected_share": detected_share(records, main),
        "predicted": len(predicted),
        "predicted_mostly_outside": sum(mostly_outside(p["bbox"], size) for p, size in predicted),
        "not_main_share": sum(p["track_id"] != main for p in people) / len(people) if people else 0.0,
    }


def gap_scores(pass1: Sequence[Record], passes2: Sequence[Sequence[Record]]) -> dict[str, Any]:
    """PCK@0.2·torso and mean error (torso lengths) of pass 2's predicted primary and of the baselines, against
    pass 1's detected primary, pooled over the blanked frames where pass 2 predicts and pass 1 detects, over every
    pass 2 given (one per seed)."""
    baselines: dict[str, Callable[[History, int], Keypoints]] = {"stale": stale, "cv2d": constant_velocity_2d}
    totals = {name: [0, 0] for name in ["pred", *baselines]}
    errors: dict[str, list[float]] = {name: [] for name in totals}
    frames = 0
    for pass2 in passes2:
        history: list[tuple[int, Keypoints]] = []
        for r1, r2 in zip(pass1, pass2):
            primary = r2["people"][0] if r2["people"] else None
            if primary is not None and primary["source"] == "detected":
                history.append((r2["frame_number"], primary["keypoints"]))
                continue
            reference = r1["people"][0] if r1["people"] else None
            if not (r2["blanked"] and primary is not None and primary["source"] == "predicted" and history
                    and reference is not None and reference["source"] == "detected"):
                continue
            frames += 1
            guesses = {"pred": primary["keypoints"]} | {
                name: baseline(history, r2["frame_number"]) for name, baseline in baselines.items()}
            for name, guess in guesses.items():
                correct, scored = pck(guess, reference["keypoints"])
                totals[name][0] += correct
                totals[name][1] += scored
                errors[name].extend(torso_errors(guess, reference["keypoints"]))
    return {"frames": frames, "joints": totals["pred"][1]} | {
        name: correct / scored if scored else None for name, (correct, scored) in totals.items()} | {
        f"{name}_error": float(np.mean(values)) if values else None for name, values in errors.items()}


# --- frame variants ---------------------------------------------------------------------------------------------

def darken(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A night phone clip: underexposed, with sensor noise."""
    return np.clip(rgb * 0.35 + rng.normal(0, 6, rgb.shape), 0, 255).astype(np.uint8)


def motion_blur(rgb: np.ndarray, length: int = 15) -> np.ndarray:
    """Horizontal plus diagonal motion blur."""
    kernel = np.eye(length, dtype=np.float32)
    kernel[length // 2, :] += 1
    return cv2.filter2D(rgb, -1, kernel / kernel.sum())


def caption(rgb: np.ndarray) -> np.ndarray:
    """A big phone-video caption across the lower third, white with a black outline."""
    out = rgb.copy()
    h, w = rgb.shape[:2]
    lines = ["WAIT FOR IT...", "best day of the", "whole summer!!"]
    font = cv2.FONT_HERSHEY_DUPLEX
    scale = 0.9 * w / cv2.getTextSize(max(lines, key=len), font, 1.0, 2)[0][0]
    thickness = max(2, round(2 * scale))
    step = h / 3 / len(lines)
    for i, line in enumerate(lines):
        origin = (int(0.05 * w), int(2 * h / 3 + (i + 0.8) * step))
        cv2.putText(out, line, origin, font, scale, (0, 0, 0), thickness * 3, cv2.LINE_AA)
        cv2.putText(out, line, origin, font, scale, (255, 255, 255), thickness, cv2.LINE_AA)
    return out


def variant(name: str, seed: int) -> Callable[[np.ndarray], np.ndarray]:
    if name == "dark":
        rng = np.random.default_rng(seed)
        return lambda rgb: darken(rgb, rng)
    return {
        "blur": motion_blur,
        "rotate": lambda rgb: cv2.rotate(rgb, cv2.ROTATE_180),  # upside down, as a rider in a flip
        "rotate90": lambda rgb: cv2.rotate(rgb, cv2.ROTATE_90_CLOCKWISE),
        "text": caption,
    }[name]


VARIANTS = ("dark", "blur", "rotate", "rotate90", "text")


# --- posting ----------------------------------------------------------------------------------------------------

def get_json(url: str, method: str = "GET") -> dict:
    with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=30) as response:
        return json.loads(response.read())


def record(result: dict, blanked: bool) -> Record:
    return {
        "frame_number": result["frame_number"],
        "blanked": blanked,
        "image_size": result["image_size"],
        "people": [{"track_id": p["track_id"], "source": p["source"], "bbox": p["bbox"], "score": p["score"],
                    "keypoints": np.array([[k["x"], k["y"], k["confidence"]] for k in p["keypoints"]])}
                   for p in result["people"]],
    }


def run_pass(url: str, video_id: str, count: int, frame_at: FrameSource, concurrency: int) -> tuple[list[Record], int]:
    """Post ``count`` frames and return their records and the session's restarts. ``frame_at(i, records so far)``
    gives frame i's image and whether it is blanked. With concurrency 2, frames go in pairs (n, n+1) from two
    threads, n+1 first."""
    records: list[Record] = []

    def send(body: dict, blanked: bool) -> Record:
        return record(post_frame(url, body), blanked)

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for start in range(0, count, concurrency):
            # Encoded before any is sent, so that the head start below is not lost to JPEG encoding.
            batch = []
            for i in range(start, min(start + concurrency, count)):
                rgb, blanked = frame_at(i, records)
                batch.append(({"image_base64": jpeg_b64(rgb), "frame_number": i, "video_id": video_id,
                               "include_mesh": False, "include_faces": False}, blanked))
            futures = []
            for k, (body, blanked) in enumerate(reversed(batch)):
                if k:
                    time.sleep(0.002)  # the later frame gets a head start, to reach the service first
                futures.append(pool.submit(send, body, blanked))
            records.extend(sorted((f.result() for f in futures), key=lambda r: r["frame_number"]))
    session = get_json(f"{url}/sessions/{video_id}")
    get_json(f"{url}/sessions/{video_id}", method="DELETE")  # the video has ended; don't leave it in a shared service
    return records, session["restarts"]


def fresh_id(clip: Path, label: str) -> str:
    return f"{clip.stem}-{label}-{secrets.token_hex(4)}"


def blanking(frames: Sequence[np.ndarray], drop: float, seed: int) -> FrameSource:
    """Pass 2's frames: after the first frame on which this pass detected someone, each frame is grey with
    probability ``drop`` (one draw per frame index, so the same frames for the same seed)."""
    drops = np.random.default_rng(seed).random(len(frames)) < drop

    def frame_at(i: int, records: list[Record]) -> tuple[np.ndarray, bool]:
        # Only frames already answered count: with concurrency 2 a detection is known one pair later.
        started = any(p["source"] == "detected" for r in records for p in r["people"])
        if started and drops[i]:
            return np.full_like(frames[i], GREY), True
        return frames[i], False

    return frame_at


# --- report -----------------------------------------------------------------------------------------------------

def ids_text(ids: Sequence[tuple[int, int]]) -> str:
    return ", ".join(f"{t} ({n})" for t, n in ids) or "none"


def print_pass(label: str, video_id: str, figures: dict[str, Any], restarts: int, detected: bool) -> None:
    blanked = f" ({figures['blanked']} blanked)" if figures["blanked"] else ""
    print(f"  {label:<14} {video_id}: frames {figures['frames']}{blanked}, coverage {figures['coverage']:.3f}, "
          f"restarts {restarts}")
    main = figures["main_subject"]
    share = f", detected {figures['main_detected_share']:.3f} of frames" if detected else ""
    print(f"    primary ids: {ids_text(figures['primary_ids'])} [{len(figures['primary_ids'])} distinct]; "
          f"main subject {main}{share}")
    print(f"    predicted boxes mostly outside: {figures['predicted_mostly_outside']}/{figures['predicted']}; "
          f"people not the main subject: {figures['not_main_share']:.3f}")


def score_text(value: Optional[float]) -> str:
    return "  -  " if value is None else f"{value:.2f}"


def evaluate_clip(url: str, clip: Path, args: argparse.Namespace) -> dict[str, Any]:
    frames = list(read_frames(clip, args.max_frames))
    if not frames:
        print(f"{clip}: no frames could be read")
        return {"clip": str(clip), "passes": {}}
    print(f"{clip} ({len(frames)} frames {frames[0].shape[1]}x{frames[0].shape[0]})")
    passes: dict[str, dict[str, Any]] = {}

    def run(label: str, frame_at: FrameSource, concurrency: int, detected: bool = True) -> list[Record]:
        video_id = fresh_id(clip, label)
        records, restarts = run_pass(url, video_id, len(frames), frame_at, concurrency)
        figures = pass_figures(records)
        print_pass(label, video_id, figures, restarts, detected)
        passes[label] = {"video_id": video_id, "restarts": restarts, "figures": figures, "frames": records}
        return records

    def as_is(i: int, _: list[Record]) -> tuple[np.ndarray, bool]:
        return frames[i], False

    pass1 = run("p1", as_is, args.concurrency)
    if args.compare_sequential:
        run("p1-seq", as_is, 1)
        a, b = passes["p1"]["figures"], passes["p1-seq"]["figures"]
        same_ids, same_coverage = a["primary_ids"] == b["primary_ids"], a["coverage"] == b["coverage"]
        print(f"    concurrent vs sequential: primary ids {'equal' if same_ids else 'DIFFER'}, "
              f"coverage {'equal' if same_coverage else 'DIFFERS'}")
    passes2 = [run(f"p2-seed{seed}", blanking(frames, args.drop, seed), args.concurrency, detected=False)
               for seed in args.seeds]
    scores = gap_scores(pass1, passes2)
    print(f"    pred PCK {score_text(scores['pred'])} | stale {score_text(scores['stale'])} | "
          f"cv2d {score_text(scores['cv2d'])}; mean error (torsos) pred {score_text(scores['pred_error'])} | "
          f"stale {score_text(scores['stale_error'])} | cv2d {score_text(scores['cv2d_error'])} "
          f"(frames {scores['frames']}, joints {scores['joints']}, seeds {len(passes2)})")
    for name in args.variants:
        transform = variant(name, args.seeds[0])
        run(name, lambda i, _, transform=transform: (transform(frames[i]), False), args.concurrency)
    return {"clip": str(clip), "passes": passes, "gap_pck": scores}


def print_summary(results: Sequence[dict[str, Any]], variants: Sequence[str]) -> None:
    header = (f"{'clip':<28} {'frames':>6} {'cov p1':>6} {'cov p2':>6} {'ids p1':>6} {'ids p2':>6} {'det p1':>6} "
              f"{'pred':>5} {'stale':>5} {'cv2d':>5} {'n':>3} {'restarts':>8}"
              + "".join(f" {name[:8]:>8}" for name in variants))
    print("\n" + header + "\n" + "-" * len(header))
    for result in results:
        passes = result["passes"]
        if not passes:
            continue
        p1, scores = passes["p1"]["figures"], result["gap_pck"]
        p2s = [p["figures"] for label, p in passes.items() if label.startswith("p2-")]
        restarts = sum(p["restarts"] for p in passes.values())
        print(f"{Path(result['clip']).stem[:28]:<28} {p1['frames']:>6} {p1['coverage']:>6.3f} "
              f"{min(p['coverage'] for p in p2s):>6.3f} {len(p1['primary_ids']):>6} "
              f"{max(len(p['primary_ids']) for p in p2s):>6} {p1['main_detected_share']:>6.3f} "
              f"{score_text(scores['pred']):>5} {score_text(scores['stale']):>5} {score_text(scores['cv2d']):>5} "
              f"{scores['frames']:>3} {restarts:>8}"
              + "".join(f" {passes[name]['figures']['main_detected_share']:>8.3f}" for name in variants))
    if variants:
        print("(variant columns: share of frames where the variant's main subject is detected)")


def to_json(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return np.round(value, 2).tolist()
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    return value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", type=Path, nargs="+", help="video files (MP4/QuickTime, Matroska/WebM or AVI)")
    parser.add_argument("--url", default="http://localhost:5000")
    parser.add_argument("--spawn", action="store_true", help="start a gunicorn server on a free port for the run")
    parser.add_argument("--drop", type=float, default=0.36, help="probability of blanking a frame in pass 2")
    parser.add_argument("--seeds", default="0,1,2", help="pass 2 once per seed (comma-separated), scores pooled")
    parser.add_argument("--max-frames", type=int)
    parser.add_argument("--variants", default="", help=f"comma-separated, of {','.join(VARIANTS)}")
    parser.add_argument("--concurrency", type=int, choices=[1, 2], default=1)
    parser.add_argument("--compare-sequential", action="store_true", help="with --concurrency 2")
    parser.add_argument("--json", type=Path, help="write per-frame records and figures here")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="environment of the spawned server (repeatable)")
    parser.add_argument("--ready-timeout", type=float, default=600, help="seconds to wait for /health to be ready")
    args = parser.parse_args()
    args.variants = [v for v in args.variants.split(",") if v]
    args.seeds = [int(v) for v in args.seeds.split(",")]
    if unknown := set(args.variants) - set(VARIANTS):
        parser.error(f"unknown variants: {', '.join(sorted(unknown))}")
    if args.compare_sequential and args.concurrency != 2:
        parser.error("--compare-sequential needs --concurrency 2")
    if args.env and not args.spawn:
        parser.error("--env needs --spawn")
    if malformed := [item for item in args.env if "=" not in item]:
        parser.error(f"--env wants KEY=VALUE: {', '.join(malformed)}")
    # The spawned server inherits this process's environment.
    os.environ.update(dict(item.split("=", 1) for item in args.env))

    workers = int(os.environ.get("POSE_WORKERS", "1"))  # a spawned server is ready once each of them is
    try:
        with service(args.url, args.spawn, args.ready_timeout, workers=workers) as url:
            results = [evaluate_clip(url, clip, args) for clip in args.clips]
    except urllib.error.HTTPError as error:
        print(f"{error.url}: HTTP {error.code} {error.read()[:1000].decode(errors='replace')}")
        return 2
    except urllib.error.URLError as error:
        print(f"{args.url}: {error.reason}")
        return 2
    print_summary(results, args.variants)
    if args.json:
        args.json.write_text(json.dumps(to_json({"args": vars(args), "clips": results}), indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
