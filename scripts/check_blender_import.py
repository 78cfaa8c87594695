"""Imports a track's ``.glb`` and ``.bvh`` exports into Blender and checks a joint against the service's keypoints.

    blender --background --factory-startup --python scripts/check_blender_import.py -- \\
        --glb X.glb --bvh X.bvh --expect expected.json

``expected.json``: ``{"fps", "first_frame", "frame_number", "left_ankle": [x, y, z]}``: the frame rate the exports
were made with, the track's first frame with a body, the frame to check, and where the left ankle is on it in the
exports' axes (metres, y up: the frame's ``keypoints_3d`` + ``camera_translation`` with y and z negated).

Axes: Blender is z up. Its glTF importer turns glTF's y up into z up, (x, y, z) -> (x, -z, y); its BVH importer
does the same with the axes passed here (forward -Z, up Y, its defaults). So the expected point is compared as
(x, -z, y), in metres (the BVH's units; ``global_scale`` 1).

Frames: the glTF keys are at ``frame_number / fps`` seconds, and the importer puts a key at the time times the
scene's frame rate, which is set to ``fps`` first (Blender's rate is a whole number: a fractional ``fps`` is checked
at a subframe). The BVH has one row per frame from ``first_frame`` on, imported from Blender frame 1 (the importer's
earliest start).

Prints, for each import, the action's frame range, the armature's bone count, the joint's world position (its
bone's head) and its distance from the expected; exits 1 when one is off by more than ``--tolerance`` metres.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import traceback

import bpy
from io_anim_bvh import import_bvh
from mathutils import Vector

BVH_START = 1


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--glb", required=True)
    parser.add_argument("--bvh", required=True)
    parser.add_argument("--expect", required=True, help="expected.json (see the module docstring)")
    parser.add_argument("--joint", default="left_ankle")
    parser.add_argument("--tolerance", type=float, default=0.01, help="metres (default 1 cm)")
    return parser.parse_args(sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else [])


def _open_without_universal_newlines(file: str, mode: str = "r", *args, **kwargs):
    """``open`` that drops the mode's "U" (universal newlines: always on in Python 3, the flag gone in 3.11)."""
    return open(file, mode.replace("U", ""), *args, **kwargs)


def import_armature(importer, **options) -> bpy.types.Object:
    """Run ``importer`` and return the one armature it added."""
    before = set(bpy.data.objects)
    result = importer(**options)
    if result != {"FINISHED"}:
        raise SystemExit(f"{importer.idname()} failed: {result}")
    armatures = [o for o in bpy.data.objects if o not in before and o.type == "ARMATURE"]
    if len(armatures) != 1:
        raise SystemExit(f"{importer.idname()} added {len(armatures)} armatures, expected 1")
    return armatures[0]


def joint_at(armature: bpy.types.Object, joint: str, frame: float) -> Vector:
    """The world position of ``joint``'s bone head on (sub)frame ``frame``."""
    whole = math.floor(frame)
    bpy.context.scene.frame_set(whole, subframe=frame - whole)
    return armature.matrix_world @ armature.pose.bones[joint].head


def check(label: str, armature: bpy.types.Object, joint: str, frame: float, expected: Vector, tolerance: float) -> bool:
    start, end = armature.animation_data.action.frame_range
    position = joint_at(armature, joint, frame)
    error = (position - expected).length
    print(f"{label}: frames {start:g}-{end:g}, {len(armature.data.bones)} bones; {joint} at frame {frame:g}: "
          f"({position.x:.4f}, {position.y:.4f}, {position.z:.4f}) m, expected ({expected.x:.4f}, {expected.y:.4f}, "
          f"{expected.z:.4f}), error {100 * error:.3f} cm")
    return error <= tolerance


def main() -> int:
    args = parse_args()
    with open(args.expect) as file:
        expect = json.load(file)
    x, y, z = expect[args.joint]
    expected = Vector((x, -z, y))  # y-up export axes -> Blender's z up
    scene = bpy.context.scene
    fps = float(expect["fps"])
    scene.render.fps, scene.render.fps_base = math.ceil(fps), 1.0

    # import_shading="SMOOTH" (the avatar is smooth): the default, "NORMALS", calls np.bool, which Debian 12's numpy
    # 1.24 no longer has (Blender 3.4's glTF importer).
    glb = import_armature(bpy.ops.import_scene.gltf, filepath=args.glb, import_shading="SMOOTH")
    glb_frame = expect["frame_number"] / fps * scene.render.fps
    # Blender 3.4's BVH reader opens the file in mode "rU", which Debian 12's Python 3.11 refuses (upstream's
    # Python 3.10 still took it): its module gets an open() that drops the "U".
    import_bvh.open = _open_without_universal_newlines
    bvh = import_armature(bpy.ops.import_anim.bvh, filepath=args.bvh, axis_forward="-Z", axis_up="Y",
                          global_scale=1.0, frame_start=BVH_START, use_fps_scale=False, update_scene_fps=False)
    bvh_frame = BVH_START + expect["frame_number"] - expect["first_frame"]
    results = [check("glb", glb, args.joint, glb_frame, expected, args.tolerance),
               check("bvh", bvh, args.joint, bvh_frame, expected, args.tolerance)]
    print("OK" if all(results) else f"FAILED: off by more than {100 * args.tolerance:g} cm")
    return 0 if all(results) else 1


if __name__ == "__main__":
    # Blender exits 0 after a script's uncaught exception: turn every failure into a non-zero exit.
    try:
        code = main()
    except Exception:
        traceback.print_exc()
        code = 1
    sys.exit(code)
