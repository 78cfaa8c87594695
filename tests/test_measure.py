"""Body measurements: exact girths and lengths on analytic meshes, Anny's height against its own Anthropometry,
plausible values and orderings on Anny bodies (A-pose and T-pose), the SMPL landmark definitions on a synthetic
SMPL model. ``pytest -s`` prints the figures."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import trimesh
from scipy.spatial import ConvexHull

from pose_service.body.anny_model import POSE_BONES
from pose_service.body.smpl_model import SMPL_JOINT_NAMES, SMPLModel
from pose_service.measure import MEASUREMENTS, Landmarks, body_landmarks, measure_body, measure_mesh, neutral_body
from pose_service.measure.geometry import MeshSections
from pose_service.measure.landmarks import SMPL_JOINTS, anny_skeleton, landmarks_from_skeleton

GIRTHS = ("chest", "waist", "hip", "thigh", "neck")


# ------------------------------------------------------------------------------------------------ analytic meshes
def _upright(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """trimesh builds solids along z; the measurements' vertical is camera y."""
    return mesh.apply_transform(trimesh.transformations.rotation_matrix(-np.pi / 2, [1, 0, 0]))


def _cylinder(radius: float, y_range: tuple[float, float], x: float = 0.0, depth_scale: float = 1.0):
    """A 256-sided cylinder spanning ``y_range``, centred at ``x``, its z radius scaled by ``depth_scale``."""
    height = y_range[1] - y_range[0]
    mesh = _upright(trimesh.creation.cylinder(radius=radius, height=height, sections=256))
    mesh.apply_scale([1.0, 1.0, depth_scale])
    return mesh.apply_translation([x, 0.5 * (y_range[0] + y_range[1]), 0.0])


def _ellipse_perimeter(a: float, b: float) -> float:
    """Ramanujan's first approximation (its error is negligible at these eccentricities)."""
    return math.pi * (3 * (a + b) - math.sqrt((3 * a + b) * (a + 3 * b)))


def _vertical_axis(top: float = -0.45, bottom: float = 0.45, x: float = 0.0) -> np.ndarray:
    return np.array([[x, bottom, 0.0], [x, top, 0.0]])


def _landmarks(**changes) -> Landmarks:
    """Hand-made landmarks of an upright body part spanning y in [-0.5, 0.5] about the y axis: levels from the
    top, neck base -0.4, armpit -0.36, lowest rib -0.15, top of the hip bone 0.15, crotch 0.355; arms (which
    only enter lengths) out at x = +-0.3: shoulder width 60 cm, arm 5 + 30 + 25 = 60 cm."""
    side = np.array([1.0, -1.0])[:, None]
    fields = dict(
        acromion=side * [0.3, 0.0, 0.0] + [0.0, -0.5, 0.0],
        shoulder=side * [0.3, 0.0, 0.0] + [0.0, -0.45, 0.0],
        elbow=side * [0.3, 0.0, 0.0] + [0.0, -0.15, 0.0],
        wrist=side * [0.3, 0.0, 0.0] + [0.0, 0.1, 0.0],
        crotch=np.array([0.0, 0.355, 0.0]),
        torso_axis=_vertical_axis(),
        thigh_axis=np.stack([_vertical_axis(), _vertical_axis()]),
        neck_axis=_vertical_axis(),
        hip_bone_top=0.15,
        lowest_rib=-0.15,
        armpit=-0.36,
        neck_base=-0.4,
    )
    return Landmarks(**{**fields, **changes})


def _measure(mesh: trimesh.Trimesh, landmarks: Landmarks) -> dict[str, float]:
    return measure_mesh(mesh.vertices, mesh.faces, landmarks)


PRISMS = {
    "cylinder": (lambda: _cylinder(0.15, (-0.5, 0.5)), 2 * math.pi * 0.15),
    "elliptic_cylinder": (
        lambda: _cylinder(0.16, (-0.5, 0.5), depth_scale=0.1 / 0.16), _ellipse_perimeter(0.16, 0.1)
    ),
    "box": (lambda: _upright(trimesh.creation.box(extents=[0.3, 0.2, 1.0])), 2 * (0.3 + 0.2)),
}


@pytest.mark.parametrize("name", PRISMS)
def test_prism_girths_and_lengths(name):
    """A straight prism 1 m tall has one cross-section: every girth is its hull perimeter (a 256-gon's is within
    3e-5 of its circle or ellipse); the lengths are the mesh's height and the landmarks' distances."""
    make, girth = PRISMS[name]
    mesh = make()
    values = _measure(mesh, _landmarks())
    expected = {g: 100 * girth for g in GIRTHS}
    expected.update(height=100.0, inseam=100 * (0.5 - 0.355), shoulder_width=60.0, arm_length=60.0)
    errors = {k: values[k] / expected[k] - 1 for k in MEASUREMENTS}
    print(f"\n{name}: relative errors " + ", ".join(f"{k} {e:+.1e}" for k, e in errors.items()))
    assert max(map(abs, errors.values())) < 0.005
    assert MeshSections(mesh.vertices, mesh.faces).surface_above(np.zeros(3))[1] == pytest.approx(-0.5)  # top


def test_hourglass_takes_band_extremes():
    """A body of revolution narrow at the middle: waist is the band's minimum, chest, hip and thigh its maxima."""
    narrow, wide = 0.12, 0.16
    # (radius, height) profile, revolved about the height axis, which _upright turns into camera y.
    heights = np.array([-0.45, -0.2, -0.05, 0.05, 0.2, 0.45])
    profile = [(0.0, -0.45), *zip([wide, wide, narrow, narrow, wide, wide], heights), (0.0, 0.45)]
    mesh = _upright(trimesh.creation.revolve(np.array(profile), sections=256))
    values = _measure(mesh, _landmarks())
    radii = dict(chest=wide, waist=narrow, hip=wide, thigh=wide, neck=wide)
    errors = {name: values[name] / (100 * 2 * math.pi * radius) - 1 for name, radius in radii.items()}
    print("\nhourglass: relative errors " + ", ".join(f"{k} {e:+.1e}" for k, e in errors.items()))
    assert max(map(abs, errors.values())) < 0.005


def test_leg_girth_is_its_own_loop_and_hip_the_enclosing_one():
    """Two legs reaching up into (and out through the sides of) a pelvis shell that also holds an inner surface: a
    thigh is its own leg's loop (not the shell's, not the hull of both legs); the hip is the shell's loop, which
    encloses both legs' axes (not the inner surface's, which lies wholly inside it)."""
    leg_radius, leg_x, pelvis = 0.08, 0.12, (0.16, 0.12)
    legs = [_cylinder(leg_radius, (0.0, 0.9), x=x) for x in (leg_x, -leg_x)]
    shell = _cylinder(pelvis[0], (-0.4, 0.3), depth_scale=pelvis[1] / pelvis[0])
    inner = _cylinder(0.03, (-0.35, 0.05))
    mesh = trimesh.util.concatenate([*legs, shell, inner])
    thighs = np.stack([_vertical_axis(top=0.0, bottom=0.9, x=x) for x in (leg_x, -leg_x)])
    # Hip band: from the top of the hip bone (-0.1) down to the crotch (0.1); thigh band: 1-5 cm below it.
    landmarks = _landmarks(crotch=np.array([0.0, 0.1, 0.0]), thigh_axis=thighs, hip_bone_top=-0.1, lowest_rib=-0.2)
    values = _measure(mesh, landmarks)
    errors = dict(thigh=values["thigh"] / (100 * 2 * math.pi * leg_radius) - 1,
                  hip=values["hip"] / (100 * _ellipse_perimeter(*pelvis)) - 1)  # fmt: skip
    print("\nlegs in a pelvis shell: relative errors " + ", ".join(f"{k} {e:+.1e}" for k, e in errors.items()))
    assert max(map(abs, errors.values())) < 0.005

    sections = MeshSections(mesh.vertices, mesh.faces)
    loops = sections.loops(0.5)
    both_legs = ConvexHull(np.concatenate([loop.points for loop in loops])).area
    assert len(loops) == 2
    assert both_legs == pytest.approx(4 * leg_x + 2 * math.pi * leg_radius, rel=0.005)
    assert sections.girth(0.5, thighs[1, 0]) == pytest.approx(2 * math.pi * leg_radius, rel=0.005)
    assert sections.loop_containing(0.5, np.zeros(3)) is None  # between the legs
    hip = sections.loop_containing(0.05, np.zeros(3))
    assert hip.girth() == pytest.approx(_ellipse_perimeter(*pelvis), rel=0.005)
    assert all(hip.contains(thigh[0, [0, 2]]) for thigh in thighs)


# ----------------------------------------------------------------------------------------------------------- Anny
def _anny_rest_vertices(model, shapes: np.ndarray) -> torch.Tensor:
    """(B, V, 3) anny's own rest mesh (native axes), what ``anny.Anthropometry`` expects."""
    with torch.no_grad():
        phenotypes = torch.sigmoid(torch.as_tensor(shapes, dtype=torch.float32))
        return model.full(phenotype_kwargs=phenotypes)["rest_vertices"]


@pytest.fixture(scope="module")
def random_anny(anny_model):
    """50 random Anny bodies (shape logits ~ N(0, 1), seeded: children to tall adults): shapes (50, 6), our
    measurements (50, 9) in ``MEASUREMENTS`` order, and anny.Anthropometry's height and waist (50,) in cm."""
    import anny

    shapes = np.random.default_rng(0).normal(size=(50, 6))
    # What measure_body does, with the 50 neutral meshes from one batched forward.
    global_orient, body_pose, _ = anny_model.zero_params(len(shapes))
    with torch.no_grad():
        meshes = anny_model(global_orient, body_pose, torch.as_tensor(shapes, dtype=torch.float32)).vertices.double()
    ours = []
    for shape, vertices in zip(shapes, meshes.numpy()):
        values = measure_mesh(vertices, anny_model.faces, body_landmarks(anny_model, shape, vertices))
        ours.append([values[k] for k in MEASUREMENTS])
    ours = np.array(ours)
    anthropometry = anny.Anthropometry(anny_model.full)
    rest = _anny_rest_vertices(anny_model, shapes)
    height, waist = anthropometry.height(rest), anthropometry.waist_circumference(rest)
    return shapes, ours, 100 * height.numpy(), 100 * waist.numpy()


def test_height_matches_anny_anthropometry(random_anny):
    _, ours, height, _ = random_anny
    difference = np.abs(ours[:, MEASUREMENTS.index("height")] - height)
    print(f"\nheight vs anny.Anthropometry on 50 bodies: median |diff| {np.median(difference):.2f} cm, "
          f"max {difference.max():.2f} cm")  # fmt: skip
    assert np.median(difference) <= 0.5


def test_waist_against_anny_ring_waist(random_anny):
    """ISO's smallest girth between rib and hip bone is not anny's fixed vertex ring (see measure.body): only
    print the difference; assert what must hold."""
    _, ours, _, ring = random_anny
    waist, chest, hip = (ours[:, MEASUREMENTS.index(k)] for k in ("waist", "chest", "hip"))
    difference = waist - ring
    print(f"\nwaist - anny ring waist on 50 bodies: median {np.median(difference):+.1f} cm, "
          f"range [{difference.min():+.1f}, {difference.max():+.1f}] cm")  # fmt: skip
    assert np.all((waist > 30) & (waist < 150) & (ring > 30) & (ring < 150))
    assert np.all(waist <= chest) and np.all(waist <= hip)


def _adult_shapes() -> list[np.ndarray]:
    """The average body and four random adults: logits ~ N(0, 1) clipped to [-1, 1], age logit >= 0 (the average
    age is a young adult; negative logits reach children: -2 is a ~93 cm child)."""
    shapes = np.clip(np.random.default_rng(1).normal(size=(4, 6)), -1.0, 1.0)
    shapes[:, 1] = np.abs(shapes[:, 1])
    return [np.zeros(6), *shapes]


# Plausible adult ranges (cm). Inseam goes up to 105: Anny's inseam is ~49 % of its height, and its tall adults
# (height logit near +1, older than the average: 197-205 cm here, inside the height bound) reach 96-101 cm.
PLAUSIBLE_ADULT = dict(
    height=(140, 210), chest=(70, 140), waist=(55, 130), hip=(75, 140), thigh=(40, 80), neck=(28, 50),
    inseam=(60, 105), shoulder_width=(30, 50), arm_length=(45, 75),
)  # fmt: skip


@pytest.mark.parametrize("shape", _adult_shapes(), ids=lambda s: "average" if not s.any() else "random")
def test_adult_values_plausible(anny_model, shape):
    values = measure_body(anny_model, shape)
    print(f"\nAnny {np.round(shape, 2)}: " + ", ".join(f"{k} {v:.1f}" for k, v in values.items()))
    for name, (low, high) in PLAUSIBLE_ADULT.items():
        assert low < values[name] < high, (name, values[name])
    assert values["waist"] < values["chest"]
    assert values["thigh"] < values["hip"]
    assert values["inseam"] < values["height"] / 2 + 10


def test_taller_phenotype_is_taller(anny_model):
    short, tall = (measure_body(anny_model, np.array([0, 0, 0, 0, logit, 0.0])) for logit in (-1.0, 1.0))
    assert tall["height"] > short["height"] + 10
    assert tall["inseam"] > short["inseam"] + 5


def test_t_pose_agrees_with_a_pose(anny_model):
    """The same body with its arms raised to a T (SMPL's neutral pose): every value but the chest agrees with the
    A-pose; the chest reads larger there (skinning widens the torso under a raised arm)."""
    shape = np.zeros(6)
    global_orient, body_pose, _ = anny_model.zero_params(1)
    # Anny's A-pose arms hang ~45 degrees; turning the upper arms about the front-back axis raises them level.
    body_pose[0, POSE_BONES.index("upperarm01.L"), 1] = -math.pi / 4
    body_pose[0, POSE_BONES.index("upperarm01.R"), 1] = math.pi / 4
    with torch.no_grad():
        vertices = anny_model(global_orient, body_pose, torch.zeros(1, 6)).vertices[0].double().numpy()
    skeleton = anny_skeleton(anny_model, shape, body_pose[0])
    assert np.ptp(skeleton.elbows[:, 1] - skeleton.shoulders[:, 1]) < 0.03  # arms level
    landmarks = landmarks_from_skeleton(MeshSections(vertices, anny_model.faces), skeleton)
    t_pose, a_pose = measure_mesh(vertices, anny_model.faces, landmarks), measure_body(anny_model, shape)
    print("\nT-pose - A-pose (cm): " + ", ".join(f"{k} {t_pose[k] - a_pose[k]:+.1f}" for k in MEASUREMENTS))
    for name in MEASUREMENTS:
        if name != "chest":
            assert t_pose[name] == pytest.approx(a_pose[name], abs=1.5), name
    assert a_pose["chest"] <= t_pose["chest"] < a_pose["chest"] + 15


# ----------------------------------------------------------------------------------------------------------- SMPL
def test_smpl_landmarks_finite(smpl_arrays):
    """The synthetic SMPL mesh is random, so only the plumbing is checked: the named joints are SMPL's, and the
    landmarks come out finite with their documented shapes."""
    model = SMPLModel(smpl_arrays)
    shape = torch.zeros(model.shape_dim)
    vertices, _ = neutral_body(model, shape)
    landmarks = body_landmarks(model, shape, vertices)

    joints = model.forward_joints(*model.zero_params(1)[:2], shape[None]).joints[0].double().numpy()
    spine = [SMPL_JOINT_NAMES.index(name) for name in SMPL_JOINTS["spine"]]
    np.testing.assert_allclose(landmarks.torso_axis, joints[spine], atol=1e-6)
    np.testing.assert_allclose(landmarks.elbow[0], joints[SMPL_JOINT_NAMES.index("left_elbow")], atol=1e-6)
    shapes = dict(
        acromion=(2, 3), shoulder=(2, 3), elbow=(2, 3), wrist=(2, 3), crotch=(3,), torso_axis=(5, 3),
        thigh_axis=(2, 2, 3), neck_axis=(2, 3), hip_bone_top=(), lowest_rib=(), armpit=(), neck_base=(),
    )  # fmt: skip
    for name, expected in shapes.items():
        value = np.asarray(getattr(landmarks, name))
        assert value.shape == expected, name
        assert np.isfinite(value).all(), name
