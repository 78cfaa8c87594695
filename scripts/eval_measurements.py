#!/usr/bin/env python
"""Measurements against the truth on clips rendered from Anny bodies of known shape.

    python scripts/eval_measurements.py [--frames 60] [--json out.json]

Six bodies (both ends of Anny's gender phenotype, 1.5-1.95 m, thin to heavy), each in a turntable clip (walking on
the spot while turning a full circle) and a walking clip (across the room, turning), posted frame by frame to the
embedded pipeline in-process, once with the subject's height (``height_cm``) and once without. The truth is the
nine measurements of the body's own neutral mesh (:func:`pose_service.measure.measure_body`). Also the avatar flow
(``POST /measurements``'s logic) on three photos of each body (front, side, back) with its height, and with its
height and sex. Prints per measurement the median and largest absolute error (cm) with and without the height and
from the photos, and how much each track's measurements moved over its clip's last 30 frames. ``--photos-only``
skips the clips.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pose_service.backends import build_pipeline  # noqa: E402
from pose_service.batch.photos import measure_photos  # noqa: E402
from pose_service.config import ServiceConfig  # noqa: E402
from pose_service.measure import MEASUREMENTS, measure_body  # noqa: E402
from pose_service.measure.shape import track_measurements  # noqa: E402
from pose_service.pipeline import FrameRequest  # noqa: E402
from pose_service.synth.clip import ClipRenderer, ClipSpec, PersonSpec  # noqa: E402

BODIES = {  # Anny phenotype logits: gender, age, muscle, weight, height, proportions
    "gender0_short_thin": (-2.0, 0.0, -0.5, -1.0, -1.6, 0.0),
    "gender0_average": (-2.0, 0.3, 0.0, 0.3, 0.0, 0.0),
    "gender0_tall_heavy": (-2.0, 0.2, 0.0, 1.3, 1.2, 0.0),
    "gender1_short_heavy": (2.0, 0.5, 0.3, 1.0, -1.2, 0.0),
    "gender1_average": (2.0, 0.0, 0.0, 0.0, 0.3, 0.0),
    "gender1_tall_thin": (2.0, 0.0, 0.5, -1.0, 1.8, 0.0),
}
LENGTHS = ("height", "inseam", "shoulder_width", "arm_length")


def clip_spec(kind: str, shape: tuple[float, ...], frames: int) -> ClipSpec:
    if kind == "turntable":
        person = PersonSpec(1, "walk", start=(0.0, 3.4), turn_rate=2 * np.pi * 30.0 / frames, shape=shape, shirt=2)
    else:
        person = PersonSpec(1, "walk", start=(-0.8, 3.4), velocity=(0.5, 0.0), heading=-1.0, turn_rate=0.6,
                            shape=shape, shirt=1, trousers=2)
    return ClipSpec(frames=frames, seed=1, people=[person])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--photos-only", action="store_true")
    args = parser.parse_args()
    pipeline = build_pipeline(ServiceConfig(), lambda name, state: None)
    model = pipeline.body
    renderer = ClipRenderer(model)
    rows = []
    for body, shape in BODIES.items():
        truth = measure_body(model, np.array(shape))
        for kind in () if args.photos_only else ("turntable", "walk"):
            clip = renderer.render(clip_spec(kind, shape, args.frames))
            for given in (True, False):
                video_id = f"{body}-{kind}-{given}"
                height = truth["height"] if given else None
                late = []
                for index, frame in enumerate(clip.frames):
                    pipeline.process(FrameRequest(image=frame, frame_number=index, video_id=video_id,
                                                  height_cm=height))
                    if index >= args.frames - 30:
                        state = pipeline.sessions.get(video_id)
                        primary = state.tracker.primary_id
                        late.append(None if primary is None else state.bodies.tracks[primary].settled_shape)
                state = pipeline.sessions.get(video_id)
                primary = state.tracker.primary_id
                history = pipeline.sessions.histories(video_id).tracks[primary]
                result = track_measurements(model, history, height, track=state.bodies.tracks[primary])
                distinct = {None if s is None else s.tobytes(): s for s in late}
                moved = {name: 0.0 for name in MEASUREMENTS}
                if None not in distinct and len(distinct) > 1:
                    values = [measure_body(model, s) for s in distinct.values()]
                    moved = {name: float(np.ptp([v[name] for v in values])) for name in MEASUREMENTS}
                error = {name: result["measurements_cm"][name] - truth[name] for name in MEASUREMENTS}
                rows.append({"body": body, "clip": kind, "height_given": given, "truth": truth,
                             "measured": result["measurements_cm"], "uncertainty": result["uncertainty_cm"],
                             "error": error, "moved_last_30": moved, "settled_in_last_30": None not in distinct,
                             "tracks": len(state.bodies.tracks)})
                print(f"{video_id:<40} " + " ".join(f"{n[:6]} {e:+5.1f}" for n, e in error.items()), flush=True)
                pipeline.sessions.delete(video_id)
        photos = []
        for heading in (0.0, np.pi / 2, np.pi):
            spec = ClipSpec(frames=1, people=[PersonSpec(1, "walk", start=(0.0, 3.0), heading=heading, shape=shape)])
            photos.append(renderer.render(spec).frames[0])
        for sex in (None, "male" if shape[0] < 0 else "female"):  # Anny's gender phenotype: 0 male, 1 female
            result = measure_photos(pipeline, photos, truth["height"], sex)
            error = {name: result["measurements_cm"][name] - truth[name] for name in MEASUREMENTS}
            rows.append({"body": body, "clip": "photos", "height_given": True, "sex_given": sex, "truth": truth,
                         "measured": result["measurements_cm"], "photos_used": result["photos_used"], "error": error})
            label = f"{body}-photos" + ("" if sex is None else f"-{sex}")
            print(f"{label:<40} " + " ".join(f"{n[:6]} {e:+5.1f}" for n, e in error.items()), flush=True)

    print(f"\n{'measurement':<15} {'kind':<6} {'clips with height: median / max |err|':>38} {'without':>16} "
          f"{'photos, height':>16} {'photos, height+sex':>19} {'moved (last 30 frames), max':>28}")
    clips = [r for r in rows if r["clip"] != "photos"]
    photos = [r for r in rows if r["clip"] == "photos"]
    for name in MEASUREMENTS:
        kind = "length" if name in LENGTHS else "girth"
        cells = []
        for selected in ([r for r in clips if r["height_given"]], [r for r in clips if not r["height_given"]],
                         [r for r in photos if r["sex_given"] is None], [r for r in photos if r["sex_given"]]):
            errors = np.abs([r["error"][name] for r in selected])
            cells.append(f"{np.median(errors):5.1f} / {errors.max():5.1f}" if len(errors) else "-")
        moved = max((r["moved_last_30"][name] for r in clips), default=float("nan"))
        print(f"{name:<15} {kind:<6} {cells[0]:>38} {cells[1]:>16} {cells[2]:>16} {cells[3]:>19} {moved:>28.2f}")
    print("(cm; truth: the rendered body's own neutral mesh; bodies: " + ", ".join(BODIES) + ")")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
