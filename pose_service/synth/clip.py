"""Synthetic clips with ground truth: posed Anny bodies rendered by a pinhole camera over a background.

A clip is a :class:`ClipSpec` (image size, focal length, frames, background, camera motion, people, occluders);
each :class:`PersonSpec` walks a straight line at constant velocity on a ground plane, with a motion from
:mod:`.motion` (which may tip the whole body forwards; its lowest point rests on the ground), a heading, a shape and
optionally a window of frames outside which it is absent. Deterministic: the same spec renders the same frames.
:func:`concatenate_clips` joins rendered clips into one edited clip with hard cuts.

The scene is laid out in the world frame: the camera's frame at frame 0 before any shake (x right, y down, z
forward, metres; the camera at the origin, ``camera_height`` above the ground). A still camera keeps that frame
throughout; a panning or shaking one rotates about its centre, and each frame's geometry is rotated into that
frame's camera before drawing, so all the ground truth is in the moving camera's frame, as the service sees it.

Ground truth per frame and present person (camera axes and units of :mod:`pose_service.conventions`):
``joints_cam`` (25, 3) BODY_25 joints in the camera frame, ``joints_rel`` (25, 3) root-relative,
``keypoints_2d`` (25, 2) pixels, ``visible`` (25,) in the image and not hidden by nearer geometry (the rendered
depth at the keypoint's pixel belongs to this person, or lies behind the joint), ``camera_translation`` (3,),
``bbox`` [x, y, w, h] of the visible silhouette (None when none of it is in view), and ``in_view``. A person outside
their ``visible_frames`` is absent from that frame's dict, so a frame with nobody present has ``{}``.
Per person: ``shape`` (6,) Anny phenotype logits and ``rest_vertices`` (V, 3), the body in Anny's neutral pose
(upright, facing the camera, root-relative): what measurements are taken on.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Optional

import cv2
import numpy as np
import roma
import torch

from ..body.anny_model import AnnyModel
from ..conventions import default_focal_length
from ..render import Mesh, PinholeCamera, render_meshes
from .motion import MOTIONS

# Clothing colours (RGB, 0..1) by the bone that moves a vertex most.
SKIN_TONES = ((0.87, 0.69, 0.56), (0.62, 0.44, 0.32), (0.42, 0.28, 0.2), (0.95, 0.8, 0.68))
SHIRTS = ((0.15, 0.35, 0.75), (0.8, 0.2, 0.2), (0.2, 0.6, 0.3), (0.95, 0.85, 0.3), (0.55, 0.3, 0.65))
TROUSERS = ((0.15, 0.15, 0.2), (0.35, 0.3, 0.25), (0.25, 0.3, 0.5), (0.6, 0.6, 0.6))
SHOES = (0.1, 0.08, 0.06)


@dataclass
class PersonSpec:
    identity: int
    motion: str = "walk"
    start: tuple[float, float] = (0.0, 3.0)
    """(x, z) on the ground plane at frame 0, metres in the world frame (the camera's at frame 0)."""
    velocity: tuple[float, float] = (0.0, 0.0)
    """(vx, vz) metres per second."""
    heading: float = 0.0
    """Yaw in radians about the world's y axis (0: facing the camera at frame 0)."""
    turn_rate: float = 0.0
    """Change of heading, radians per second."""
    shape: tuple[float, ...] = (0.0,) * 6
    """Anny phenotype logits (gender, age, muscle, weight, height, proportions); 0 is average."""
    skin: int = 0
    shirt: int = 0
    trousers: int = 0
    phase: float = 0.0
    """Seconds added to the clip time for this person's motion."""
    visible_frames: Optional[tuple[int, int]] = None
    """Frames [first, end) in which the person exists (drawn and in the ground truth); None: all. Someone who
    leaves and comes back along another path is two specs with the same identity, shape and clothes and disjoint
    windows (see the ``leave_and_return`` preset)."""

    def present(self, frame: int) -> bool:
        return self.visible_frames is None or self.visible_frames[0] <= frame < self.visible_frames[1]


@dataclass
class Occluder:
    """An upright box standing on the ground: centre (x, z) and size (width, height, depth) in metres."""

    centre: tuple[float, float]
    size: tuple[float, float, float] = (0.8, 1.2, 0.3)
    color: tuple[float, float, float] = (0.45, 0.35, 0.25)


@dataclass
class ClipSpec:
    frames: int = 60
    width: int = 640
    height: int = 480
    fps: float = 30.0
    focal_length: Optional[float] = None
    """Pixels; default: the service's default for the image size."""
    camera_height: float = 1.0
    """Metres above the ground; the camera looks horizontally."""
    background: str = "room"
    """"room" (wall and floor with texture), "noise", "plain", or the path of a photo (scaled to fill the frame)."""
    camera_yaw_rate: float = 0.0
    """Pan, radians per second about the camera's vertical axis; positive turns right (the scene moves left)."""
    camera_shake: float = 0.0
    """Standard deviation in pixels (at the image centre) of a random yaw and pitch added to each frame
    independently, deterministic from ``seed``; 0: none."""
    people: list[PersonSpec] = field(default_factory=lambda: [PersonSpec(identity=1)])
    occluders: list[Occluder] = field(default_factory=list)
    seed: int = 0


@dataclass
class Clip:
    spec: ClipSpec
    camera: PinholeCamera
    frames: list[np.ndarray]
    """RGB uint8 (H, W, 3)."""
    ground_truth: list[dict[int, dict[str, Any]]]
    """Per frame: identity -> that person's ground truth (see the module docstring)."""
    rest_vertices: dict[int, np.ndarray]
    """identity -> (V, 3) neutral-pose mesh."""
    cuts: list[int] = field(default_factory=list)
    """Frames at which a new shot starts (hard cuts, :func:`concatenate_clips`); empty for a single shot."""
    shots: list[ClipSpec] = field(default_factory=list)
    """Each shot's spec, with identities as in ``ground_truth``, when there are cuts; ``spec`` then holds the shared
    image settings, the total frame count and everyone in any shot (it does not render this clip)."""


def background(spec: ClipSpec, margin: tuple[int, int] = (0, 0)) -> np.ndarray:
    """(H + 2 my, W + 2 mx, 3) uint8 RGB backdrop for ``margin`` (mx, my) pixels, deterministic from ``spec.seed``.

    The frame's backdrop is its centre (W, H) window; a moving camera sees other windows (:func:`_backdrop_window`).
    Room, noise and plain are drawn at the full size; a photo fills the frame and is mirrored out into the margin.
    """
    rng = np.random.default_rng(spec.seed)
    mx, my = margin
    h, w = spec.height + 2 * my, spec.width + 2 * mx
    if spec.background not in ("room", "noise", "plain"):
        photo = cv2.imread(spec.background)
        if photo is None:
            raise ValueError(f"background {spec.background!r} is neither a known kind nor a readable image")
        photo = cv2.resize(photo, (spec.width, spec.height), interpolation=cv2.INTER_AREA)
        return np.pad(cv2.cvtColor(photo, cv2.COLOR_BGR2RGB), ((my, my), (mx, mx), (0, 0)), mode="symmetric")
    if spec.background == "plain":
        return np.full((h, w, 3), 128, np.uint8)
    noise = cv2.GaussianBlur(rng.normal(0, 1, (h, w, 3)).astype(np.float32), (0, 0), 3)
    if spec.background == "noise":
        return np.clip(128 + 60 * noise / noise.std(), 0, 255).astype(np.uint8)
    horizon = h // 2  # the camera looks horizontally: the horizon is the image's middle row
    image = np.empty((h, w, 3), np.float32)
    rows = np.arange(h)[:, None]
    wall = np.array([0.78, 0.76, 0.7]) * 255 * (0.85 + 0.15 * rows[:horizon] / horizon)[..., None]
    image[:horizon] = wall
    image[horizon:] = np.array([0.45, 0.42, 0.38]) * 255
    image += 8 * noise / noise.std()
    return np.clip(image, 0, 255).astype(np.uint8)


def camera_angles(spec: ClipSpec, focal: float) -> Optional[np.ndarray]:
    """(frames, 2) camera yaw (positive: turned right) and pitch (positive: tilted up) per frame, radians from the
    world frame; None for a still camera."""
    if not spec.camera_yaw_rate and not spec.camera_shake:
        return None
    yaw = spec.camera_yaw_rate * np.arange(spec.frames) / spec.fps
    # Its own stream from the seed, so the backdrop's noise stays the same with or without shake.
    shake = np.random.default_rng([spec.seed, 1]).normal(0.0, spec.camera_shake / focal, (spec.frames, 2))
    return np.stack([yaw, np.zeros_like(yaw)], axis=1) + shake


def _world_to_camera(yaw: float, pitch: float) -> np.ndarray:
    """(3, 3) rotation from world to camera axes for a camera turned by ``yaw`` about y, then tilted by ``pitch``."""
    cos_y, sin_y, cos_p, sin_p = math.cos(yaw), math.sin(yaw), math.cos(pitch), math.sin(pitch)
    turn = np.array([[cos_y, 0, sin_y], [0, 1, 0], [-sin_y, 0, cos_y]])  # camera to world: forward -> (sin, 0, cos)
    tilt = np.array([[1, 0, 0], [0, cos_p, -sin_p], [0, sin_p, cos_p]])  # forward -> (0, -sin, cos): up, as y is down
    return (turn @ tilt).T


def _backdrop_window(panorama: np.ndarray, spec: ClipSpec, margin: tuple[int, int], focal: float, yaw: float,
                     pitch: float) -> np.ndarray:
    """The (H, W, 3) part of ``panorama`` (from ``background(spec, margin)``) seen at (``yaw``, ``pitch``).

    An approximation: the backdrop is a cylinder at infinity unrolled at ``focal`` pixels per radian, so it shifts
    rigidly by focal x angle, in whole pixels. That is the motion of a far wall at the image centre; a pinhole sees
    the wall move up to 1 + tan^2(half field of view) times faster at the edges (25 % at the sides of a 53 degree
    view), and the bodies and occluders, which are rotated exactly, do move so.
    """
    x0 = int(round(margin[0] + focal * yaw))
    y0 = int(round(margin[1] - focal * pitch))
    return panorama[y0 : y0 + spec.height, x0 : x0 + spec.width]


def _bone_groups(model: AnnyModel) -> np.ndarray:
    """(V,) clothing group per vertex: 0 skin, 1 shirt, 2 trousers, 3 shoes (by its heaviest bone)."""
    labels = model.full.bone_labels
    heaviest = model.full.vertex_bone_indices.gather(1, model.full.vertex_bone_weights.argmax(1, keepdim=True))[:, 0]

    def group(label: str) -> int:
        if label.startswith(("neck", "head", "eye", "wrist", "finger", "metacarpal")):
            return 0
        if label.startswith(("spine", "clavicle", "shoulder", "upperarm", "lowerarm")):
            return 1
        if label.startswith(("foot", "toe")):
            return 3
        return 2  # root, pelvis, legs

    table = np.array([group(label) for label in labels])
    return table[heaviest.numpy()]


class ClipRenderer:
    """Renders :class:`ClipSpec` s with one Anny model (load it once; rendering a 640x480 frame takes ~40 ms)."""

    def __init__(self, model: AnnyModel) -> None:
        self.model = model
        self.groups = _bone_groups(model)
        self.faces = model.faces

    def colors(self, person: PersonSpec) -> np.ndarray:
        palette = np.array([
            SKIN_TONES[person.skin % len(SKIN_TONES)], SHIRTS[person.shirt % len(SHIRTS)],
            TROUSERS[person.trousers % len(TROUSERS)], SHOES,
        ])  # fmt: skip
        return palette[self.groups]

    @torch.inference_mode()
    def body(self, person: PersonSpec, t: float, ground_y: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(vertices (V, 3), joints (25, 3), translation (3,)) of ``person`` at time ``t`` in the world frame, the
        lowest vertex on the ground (the feet, or the knees and hands of a body the motion tips forwards)."""
        pose = MOTIONS[person.motion](t + person.phase)
        body_pose = torch.tensor(pose.body_pose, dtype=torch.float32)[None]
        heading = person.heading + person.turn_rate * t
        # Tip forward (about camera x, the left-right axis of a body facing the camera), then turn to the heading.
        orient = roma.rotmat_to_rotvec(roma.euler_to_rotmat("YX", [heading, pose.pitch], dtype=torch.float32))[None]
        shape = torch.tensor([person.shape], dtype=torch.float32)
        out = self.model(orient, body_pose, shape)
        vertices, joints = out.vertices[0].double().numpy(), out.keypoints[0].double().numpy()
        x = person.start[0] + person.velocity[0] * t
        z = person.start[1] + person.velocity[1] * t
        translation = np.array([x, ground_y - vertices[:, 1].max(), z])  # lowest point (largest y) on the floor
        return vertices + translation, joints + translation, translation

    def render(self, spec: ClipSpec) -> Clip:
        focal = spec.focal_length or default_focal_length(spec.width, spec.height)
        camera = PinholeCamera.for_image(spec.width, spec.height, focal)
        angles = camera_angles(spec, focal)
        margin = (0, 0) if angles is None else tuple(int(m) for m in np.ceil(focal * np.abs(angles).max(axis=0)))
        backdrop = background(spec, margin)
        occluder_meshes = [_box_mesh(o, spec.camera_height) for o in spec.occluders]
        frames, truth = [], []
        for index in range(spec.frames):
            t = index / spec.fps
            people = [p for p in spec.people if p.present(index)]
            if len({p.identity for p in people}) < len(people):
                raise ValueError(f"frame {index}: two people present with the same identity")
            bodies = [self.body(p, t, spec.camera_height) for p in people]
            occluders, frame_backdrop = occluder_meshes, backdrop
            if angles is not None:
                rotation = _world_to_camera(*angles[index])
                bodies = [tuple(a @ rotation.T for a in body) for body in bodies]
                occluders = [Mesh(m.vertices @ rotation.T, m.faces, m.colors) for m in occluder_meshes]
                frame_backdrop = _backdrop_window(backdrop, spec, margin, focal, *angles[index])
            meshes = [Mesh(body[0], self.faces, self.colors(p)) for p, body in zip(people, bodies)]
            render = render_meshes(meshes + occluders, camera, frame_backdrop)
            frames.append(render.image)
            truth.append({p.identity: _person_truth(i, bodies[i], camera, render) for i, p in enumerate(people)})
        with torch.inference_mode():
            rest = {
                p.identity: self.model.rest_vertices(torch.tensor([p.shape], dtype=torch.float32))[0].numpy()
                for p in spec.people
            }
        return Clip(spec=spec, camera=camera, frames=frames, ground_truth=truth, rest_vertices=rest)


def concatenate_clips(a: Clip, b: Clip, identity_offset: int = 100) -> Clip:
    """One edited clip: ``a``'s frames, then a hard cut to ``b``'s, with ``identity_offset`` added to ``b``'s
    identities so that nobody in ``b`` is taken for someone in ``a``. The clips must share camera and frame rate."""
    if a.camera != b.camera or a.spec.fps != b.spec.fps:
        raise ValueError("clips to concatenate must have the same camera (image size, focal length) and fps")
    renumbered = {identity: identity + identity_offset for identity in b.rest_vertices}
    if set(renumbered.values()) & set(a.rest_vertices):
        raise ValueError(f"identity_offset {identity_offset} makes identities of both clips coincide")

    def renumber(spec: ClipSpec) -> ClipSpec:
        return replace(spec, people=[replace(p, identity=renumbered[p.identity]) for p in spec.people])

    start = len(a.frames)
    return Clip(
        spec=replace(a.spec, frames=start + len(b.frames), people=a.spec.people + renumber(b.spec).people),
        camera=a.camera,
        frames=a.frames + b.frames,
        ground_truth=a.ground_truth + [{renumbered[i]: t for i, t in frame.items()} for frame in b.ground_truth],
        rest_vertices={**a.rest_vertices, **{renumbered[i]: v for i, v in b.rest_vertices.items()}},
        cuts=a.cuts + [start] + [start + cut for cut in b.cuts],
        shots=(a.shots or [a.spec]) + [renumber(spec) for spec in b.shots or [b.spec]],
    )


def _box_mesh(box: Occluder, ground_y: float) -> Mesh:
    (cx, cz), (w, h, d) = box.centre, box.size
    xs, ys, zs = (cx - w / 2, cx + w / 2), (ground_y - h, ground_y), (cz - d / 2, cz + d / 2)
    corners = np.array([[x, y, z] for x in xs for y in ys for z in zs])
    # Twelve triangles, counter-clockwise seen from outside.
    faces = np.array([
        [0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
        [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3],
    ])  # fmt: skip
    return Mesh(corners, faces, box.color)


def _person_truth(index: int, body: tuple[np.ndarray, np.ndarray, np.ndarray], camera: PinholeCamera,
                  render) -> dict[str, Any]:
    vertices, joints, translation = body
    pixels = camera.project(joints)
    inside = camera.in_image(pixels)
    visible = np.zeros(len(joints), bool)
    for k in np.flatnonzero(inside):
        u, v = int(pixels[k, 0]), int(pixels[k, 1])
        owner, depth = render.mesh_index[v, u], render.depth[v, u]
        # A joint lies inside its body, behind its own surface: hidden only by something else in front of it.
        visible[k] = owner in (index, -1) or depth > joints[k, 2]
    silhouette = np.argwhere(render.mesh_index == index)
    bbox = None
    if len(silhouette):
        (y0, x0), (y1, x1) = silhouette.min(0), silhouette.max(0)
        bbox = [float(x0), float(y0), float(x1 - x0 + 1), float(y1 - y0 + 1)]
    return {
        "joints_cam": joints,
        "joints_rel": joints - translation,
        "keypoints_2d": pixels,
        "visible": visible,
        "camera_translation": translation,
        "bbox": bbox,
        "in_view": bbox is not None,
    }


def save_clip(clip: Clip, folder: Path) -> Path:
    """Frames as ``frame_00000.png`` ..., ``ground_truth.json`` (arrays as nested lists; ``cuts`` and ``shots`` as
    on :class:`Clip`) and ``rest_vertices.npz`` (one (V, 3) array per identity, keys ``"1"``, ``"2"``, ...) into
    ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(clip.frames):
        cv2.imwrite(str(folder / f"frame_{i:05d}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    camera = clip.camera
    document = {
        "format": "pose-service synthetic clip v1; conventions: pose_service/conventions.py; see pose_service/synth/clip.py",
        "spec": asdict(clip.spec),
        "cuts": clip.cuts,
        "shots": [asdict(shot) for shot in clip.shots],
        "intrinsics": {"fx": camera.fx, "fy": camera.fy, "cx": camera.cx, "cy": camera.cy,
                       "width": camera.width, "height": camera.height},
        "people": {p.identity: {"shape": list(p.shape)} for p in clip.spec.people},
        "frames": [
            {str(identity): {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in person.items()}
             for identity, person in frame.items()}
            for frame in clip.ground_truth
        ],
    }
    path = folder / "ground_truth.json"
    path.write_text(json.dumps(document))
    np.savez_compressed(folder / "rest_vertices.npz", **{str(k): v for k, v in clip.rest_vertices.items()})
    return path


# --------------------------------------------------------------------------------------------------------- presets
def preset(name: str, seed: int = 0) -> ClipSpec:
    """Named clips used by the tests, benchmarks and issue figures."""
    rng = np.random.default_rng(seed)

    def shape() -> tuple[float, ...]:
        return tuple(float(v) for v in rng.normal(0, 0.4, 6))

    if name == "single_person_3m":  # one person about 3 m away, walking on the spot while turning slowly
        return ClipSpec(frames=60, seed=seed, people=[
            PersonSpec(1, "walk", start=(0.0, 3.0), heading=-0.5, turn_rate=0.5, shape=shape(), shirt=0)])
    if name == "one_person_140_frames":  # walks across slowly, turning; for coverage and gap filling
        return ClipSpec(frames=140, seed=seed, people=[
            PersonSpec(1, "walk", start=(-0.8, 3.2), velocity=(0.35, 0.0), heading=0.6, turn_rate=-0.3,
                       shape=shape(), shirt=1, trousers=2)])
    if name == "two_people_crossing":  # they walk past each other, the nearer one hiding the other for a while
        return ClipSpec(frames=90, seed=seed, people=[
            PersonSpec(1, "walk", start=(-1.2, 3.0), velocity=(0.8, 0.0), heading=-1.2, shape=shape(),
                       skin=0, shirt=1, trousers=0),
            PersonSpec(2, "walk", start=(1.4, 4.2), velocity=(-0.8, 0.0), heading=1.2, shape=shape(),
                       skin=2, shirt=2, trousers=3, phase=0.4),
        ])
    if name == "leaves_the_frame":  # walks out of view to the right, and a box hides the legs on the way
        return ClipSpec(frames=90, seed=seed, occluders=[Occluder(centre=(0.6, 2.6), size=(0.8, 0.7, 0.3))], people=[
            PersonSpec(1, "walk", start=(-0.6, 3.2), velocity=(1.2, 0.0), heading=-1.3, shape=shape(), shirt=3)])
    if name == "pan_follow":  # walks across the room; the handheld camera pans to keep them a little left of centre
        return ClipSpec(frames=90, seed=seed, camera_yaw_rate=0.2, camera_shake=2.0, people=[
            PersonSpec(1, "walk", start=(-0.4, 3.5), velocity=(0.8, 0.0), heading=-1.2, shape=shape(), shirt=4,
                       trousers=1)])
    if name == "leave_and_return":  # walks out to the right at frame ~48, turns unseen, is back in view at ~80
        person = PersonSpec(1, "walk", shape=shape(), skin=1, shirt=2, trousers=2)
        return ClipSpec(frames=120, seed=seed, people=[
            replace(person, start=(0.0, 3.2), velocity=(1.2, 0.0), heading=-1.3, visible_frames=(0, 60)),
            replace(person, start=(4.6, 3.2), velocity=(-1.0, 0.0), heading=1.3, visible_frames=(60, 120)),
        ])  # fmt: skip
    if name == "empty_start":  # nobody for 15 frames, then someone steps in from the left edge
        return ClipSpec(frames=60, seed=seed, people=[
            PersonSpec(1, "walk", start=(-2.3, 3.2), velocity=(1.0, 0.0), heading=-1.0, shape=shape(), shirt=1,
                       visible_frames=(15, 60))])
    if name == "hard_poses":  # one person holding each of HARD_POSES in turn, seen from front, sides and back
        return ClipSpec(frames=HARD_POSE_FRAMES * len(HARD_POSES), camera_height=1.2, seed=seed,
                        people=_hard_pose_windows(PersonSpec(1, shape=shape(), skin=3, shirt=2, trousers=1)))
    if name == "hard_poses_occluded":  # the same over clutter, handheld and panning, a box hiding some poses' legs
        return replace(preset("hard_poses", seed), background="noise", camera_yaw_rate=0.05, camera_shake=1.5,
                       occluders=[Occluder(centre=(0.45, 3.3), size=(0.6, 0.4, 0.3))])
    raise ValueError(f"unknown preset {name!r}")


HARD_POSES: tuple[tuple[str, float, float], ...] = (
    ("snowboard_stance", 0.0, 0.45), ("bend", math.pi / 2, -0.3), ("kneel", math.pi, -0.4),
    ("all_fours", -math.pi / 2, -0.6), ("arms_cross", 0.5, 0.45),
)
"""The ``hard_poses`` presets' windows in order: (motion, heading, x on the ground in metres, 4 m from the camera at
1.2 m, which sees the ground from 3.2 m on). Those at x = 0.45 are behind the ``hard_poses_occluded`` box, which
hides their feet and shins."""
HARD_POSE_FRAMES = 18  # per pose: 0.6 s at 30 fps


def _hard_pose_windows(person: PersonSpec, fps: float = 30.0) -> list[PersonSpec]:
    """``person`` (one identity, shape and clothes) holding each of ``HARD_POSES`` for ``HARD_POSE_FRAMES`` frames,
    the window's middle at the motion's extreme (its t = 0)."""
    return [
        replace(person, motion=motion, start=(x, 4.0), heading=heading, phase=-(i + 0.5) * HARD_POSE_FRAMES / fps,
                visible_frames=(i * HARD_POSE_FRAMES, (i + 1) * HARD_POSE_FRAMES))
        for i, (motion, heading, x) in enumerate(HARD_POSES)
    ]


PRESETS = ("single_person_3m", "one_person_140_frames", "two_people_crossing", "leaves_the_frame", "pan_follow",
           "leave_and_return", "empty_start", "hard_poses", "hard_poses_occluded")
