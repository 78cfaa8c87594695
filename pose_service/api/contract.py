"""The response bodies of the HTTP API as pydantic models: the contract that ``GET /openapi.json`` publishes.

The routes never build or validate these models: they answer plain dicts serialised by orjson
(:mod:`pose_service.respond`), because validating a mesh-sized body on every frame would cost time on the hot path.
``tests/test_openapi.py`` proves that real answers conform to the document built from these models. Every model
forbids unknown fields, so a field the service starts sending fails that test until it is described here.

Names match the Node.js client's interfaces (``clients/node/index.d.ts``). Units and axes follow
:mod:`pose_service.conventions`: pixels with the origin top-left (x right, y down); 3D in metres in camera axes
(x right, y down, z forward); keypoints in OpenPose BODY_25 order.
"""

from __future__ import annotations

from typing import Annotated, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field

from ..config import BACKENDS
from ..conventions import BODY25_NAMES, MESH_RESOLUTIONS, NUM_KEYPOINTS

KeypointName = Literal[BODY25_NAMES]  # type: ignore[valid-type]
Backend = Literal[BACKENDS]  # type: ignore[valid-type]
MeshResolution = Literal[tuple(MESH_RESOLUTIONS)]  # type: ignore[valid-type]
BodyModelName = Literal["anny", "smpl"]
"""The body models behind meshes: ``anny`` (embedded backend, default), ``smpl`` (hmr2, or ``POSE_BODY_MODEL=smpl``)."""
# Fixed-length arrays of one type are "items" with a length, not "prefixItems": tools (schemathesis, Swagger UI)
# handle them better.
Vec3 = Annotated[list[float], Field(min_length=3, max_length=3)]
"""x, y, z: metres, camera axes (or an axis-angle, radians)."""
BBox = Annotated[list[float], Field(min_length=4, max_length=4)]
"""x, y (top-left corner), width, height: image pixels."""
Face = Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=3, max_length=3)]
"""A triangle: three indices into the mesh's vertices."""
Confidence = Annotated[float, Field(ge=0, le=1)]
Count = Annotated[int, Field(ge=0)]
Base64 = Annotated[str, Field(json_schema_extra={"contentEncoding": "base64"})]

MeshVertices = Union[
    Annotated[list[Vec3], Field(description="`mesh_encoding: json`: (V, 3) vertices, metres, camera axes")],
    Annotated[Base64, Field(description="`mesh_encoding: base64_float32`: little-endian float32, V*3, row-major")],
]
MeshTriangles = Union[
    Annotated[list[Face], Field(description="`mesh_encoding: json`: (F, 3) vertex indices")],
    Annotated[Base64, Field(description="`mesh_encoding: base64_float32`: little-endian uint32, F*3, row-major")],
]


class Contract(BaseModel):
    """A JSON object of the contract: exactly these fields."""

    # Never used to validate at run time: pydantic builds a model's validator only when the document needs it.
    model_config = ConfigDict(extra="forbid", defer_build=True)


# --- POST /pose/hybrid ---------------------------------------------------------------------------------------


class Keypoint(Contract):
    """2D keypoint: image pixels. Confidence: the detector's where it saw the keypoint, else the body's lower guess."""

    name: KeypointName
    x: float
    y: float
    confidence: Confidence


class Keypoint3D(Contract):
    """3D keypoint: metres, camera axes, relative to the root (mid-hip)."""

    name: KeypointName
    x: float
    y: float
    z: float


class BodyParams(Contract):
    global_orient: Vec3 = Field(description="axis-angle, camera axes")
    body_pose: list[Vec3] = Field(description="J axis-angles in the model's local axes (Anny: 18 bones, SMPL: 23 joints)")
    shape: list[float] = Field(description="Anny: 6 phenotype logits; SMPL: 10 betas")


Keypoints = Annotated[list[Keypoint], Field(max_length=NUM_KEYPOINTS, description="all 25 in BODY_25 order, or none")]
Keypoints3D = Annotated[list[Keypoint3D], Field(max_length=NUM_KEYPOINTS,
                                                description="all 25 in BODY_25 order, or none without 3D")]


class Person(Contract):
    """One person in one frame."""

    track_id: int = Field(ge=1, description="stable for a person within a video, never reused in it")
    source: Literal["detected", "predicted", "interpolated"] = Field(
        description="`predicted`: a tracked person the detector missed in this frame; `interpolated`: only from "
                    "`/pose/batch`, between two detections")
    bbox: BBox
    score: Confidence
    keypoints: Keypoints
    keypoints_3d: Keypoints3D
    camera_translation: Optional[Vec3] = Field(description="the root's position in the camera frame, metres")
    body_model: Optional[BodyModelName]
    body_params: Optional[BodyParams]
    mesh_vertices_data: Optional[MeshVertices] = Field(description="null without a mesh or with `include_mesh: false`")
    tracking_confidence: Optional[Confidence]
    fit_confidence: Optional[Confidence] = Field(description="how well the fitted body explains the detected 2D "
                                                             "keypoints (embedded backend); null without a fit")


class PoseResponse(Contract):
    """One frame's answer. The top-level person fields repeat ``people[0]``, the primary person (null or empty
    when nobody is found)."""

    frame_number: Count
    video_id: Optional[str]
    image_size: list[Annotated[int, Field(gt=0)]] = Field(min_length=2, max_length=2,
                                                         description="width, height in pixels")
    focal_length_px: float = Field(gt=0, description="the focal length the 3D outputs assume, pixels")
    backend: Backend
    has_3d: bool = Field(description="the primary person has a body (even with `include_mesh: false`)")
    keypoints: Keypoints
    keypoints_3d: Keypoints3D
    keypoint_count: int = Field(ge=0, le=NUM_KEYPOINTS, description="the number of entries in `keypoints`")
    mesh_vertices_data: Optional[MeshVertices]
    mesh_faces_data: Optional[MeshTriangles] = Field(description="null with `include_faces: false` (fetch them once "
                                                                 "from `GET /mesh/faces`) or without a mesh")
    camera_translation: Optional[Vec3]
    tracking_confidence: Optional[Confidence]
    fit_confidence: Optional[Confidence]
    processing_time_ms: float = Field(ge=0)
    error: Optional[str] = Field(description="`no person detected` when `people` is empty, else null")
    people: list[Person] = Field(description="the primary person first, then the other detected people, most "
                                             "confident first, then predicted ones")


class MeshFaces(Contract):
    """``GET /mesh/faces``: the triangles of the meshes the service returns at a resolution."""

    body_model: BodyModelName
    mesh_resolution: MeshResolution
    vertex_count: Count = Field(description="vertices of a mesh at this resolution")
    vertex_indices: Optional[list[Count]] = Field(
        description="the full mesh's vertices that this resolution keeps, in the order the meshes list them; null "
                    "for the full mesh")
    mesh_faces_data: MeshTriangles


# --- sessions, measurements, exports ---------------------------------------------------------------------------


class SessionTrack(Contract):
    track_id: int = Field(ge=1)
    state: Literal["tentative", "confirmed", "lost"]
    hits: Count
    frames_unseen: Count


class Session(Contract):
    """``GET /sessions/<video_id>``: the video's counters, coverage and live tracks."""

    video_id: str
    frames_seen: Count
    frames_with_body: Count
    coverage: Optional[Confidence] = Field(description="frames with a person / frames seen; null before any frame")
    detected_count: Count
    predicted_count: Count
    last_frame_number: Optional[Count]
    restarts: Count
    late_frames: Count
    primary_track_id: Optional[Annotated[int, Field(ge=1)]]
    created_at: float = Field(description="Unix time, seconds")
    last_seen_at: float = Field(description="Unix time, seconds")
    tracks: list[SessionTrack]


class Deleted(Contract):
    """``DELETE /sessions/<video_id>``, ``DELETE /jobs/<id>``: the name of what was forgotten."""

    deleted: str


Centimetres = Annotated[Optional[float], Field(description="cm; null for a girth the body gives no loop for")]


class MeasurementsCm(Contract):
    """Nine measurements in cm on the neutral body (ISO 8559-1 style; the README defines each)."""

    height: Centimetres
    chest: Centimetres
    waist: Centimetres
    hip: Centimetres
    thigh: Centimetres
    neck: Centimetres
    inseam: Centimetres
    shoulder_width: Centimetres
    arm_length: Centimetres


class BodyMeasurements(Contract):
    """One person's shape measured: what a track and the photos of ``POST /measurements`` share."""

    frames_used: Count = Field(description="frames (photos) whose fit, with `fit_confidence` >= 0.5, was used")
    scale: Literal["given", "estimated"] = Field(description="`given` when a height fixed it")
    height_cm_given: Optional[float]
    body_model: BodyModelName
    measurements_cm: MeasurementsCm
    uncertainty_cm: MeasurementsCm = Field(description="each measurement's change when the free shape parameters "
                                                       "move by their spread, combined in quadrature")


class TrackMeasurements(BodyMeasurements):
    track_id: int = Field(ge=1)


class SessionMeasurements(Contract):
    """``GET /sessions/<video_id>/measurements``."""

    video_id: str
    tracks: list[TrackMeasurements]


class ShapeParams(Contract):
    shape: list[float] = Field(description="Anny: 6 phenotype logits; SMPL: 10 betas")


class PhotoMeasurements(BodyMeasurements):
    """``POST /measurements``: the person's measurements, shape and neutral-pose mesh."""

    sex_given: Optional[Literal["female", "male"]]
    photos: Count
    photos_used: Count
    body_params: ShapeParams
    mesh_vertices_data: MeshVertices
    mesh_faces_data: MeshTriangles


class TrackExportFrame(Contract):
    frame_number: Count
    camera_translation: Vec3
    global_orient: Vec3
    body_pose: list[Vec3]
    shape: list[float]
    fit_confidence: Optional[Confidence]


class TrackExport(Contract):
    """``GET /sessions/<video_id>/export?format=json``: a track's bodies, frame by frame."""

    video_id: str
    track_id: int = Field(ge=1)
    body_model: BodyModelName
    measurements: Optional[BodyMeasurements] = Field(description="null when no frame's fit qualifies")
    frames: list[TrackExportFrame]


# --- POST /pose/batch, /jobs ----------------------------------------------------------------------------------


class BatchSummary(Contract):
    frames: Count
    frames_with_body: Count
    coverage: Optional[Confidence] = Field(description="frames with at least one person / frames")
    detected: Count = Field(description="people counted by source")
    predicted: Count
    interpolated: Count
    track_ids: list[Annotated[int, Field(ge=1)]]
    measurements: Optional[list[TrackMeasurements]] = Field(description="per track; null without a body model")


class BatchResult(Contract):
    """``POST /pose/batch`` answered inline: one ``/pose/hybrid`` answer per frame, in order."""

    summary: BatchSummary
    frames: list[PoseResponse]


class JobAccepted(Contract):
    """HTTP 202: the batch runs as a job."""

    job_id: str
    status_url: str


class JobProgress(Contract):
    frames_done: Count
    frames_total: Count


class JobResult(Contract):
    summary: BatchSummary
    frames_url: str = Field(description="`/jobs/<id>/frames`, paged")


class Job(Contract):
    """``GET /jobs/<id>``: the frames are not in it, they come in pages from ``frames_url``."""

    job_id: str
    status: Literal["queued", "running", "done", "failed", "cancelled"]
    progress: JobProgress
    error: Optional[str]
    result: Optional[JobResult] = Field(description="once done")


class JobFramesPage(Contract):
    """``GET /jobs/<id>/frames``: frames ``start`` to ``start + limit`` (fewer at the end)."""

    job_id: str
    start: Count
    limit: int = Field(ge=1)
    frames_total: Count
    frames: list[PoseResponse]


# --- health and errors --------------------------------------------------------------------------------------


class Health(Contract):
    status: Literal["ready", "warming_up", "error"]
    ready: bool
    models: dict[str, str] = Field(description='per model: "loaded", "loading" or "failed: <reason>"')
    device: str
    backend: Backend
    files: dict[str, str] = Field(description="model files by role")
    error: Optional[str] = Field(description="why loading failed, naming a missing file and where it goes")
    version: str


class Liveness(Contract):
    live: Literal[True]


class Readiness(Contract):
    ready: bool


class ErrorBody(Contract):
    """Every failure's body, with a 4xx or 5xx status."""

    error: str = Field(description="what went wrong, for a human")
    code: str = Field(description="a stable machine code; each operation lists the codes it can answer. Outside "
                                  "the operations: `not_found` for a path the API does not have, "
                                  "`method_not_allowed` for a method its path does not have")


RESPONSE_MODELS: tuple[type[Contract], ...] = (
    PoseResponse, MeshFaces, Session, Deleted, SessionMeasurements, PhotoMeasurements, TrackExport, BatchResult,
    JobAccepted, Job, JobFramesPage, Health, Liveness, Readiness, ErrorBody,
)
"""The top-level bodies; the document's components are these and the models they hold."""
