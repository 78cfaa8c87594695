"""Request bodies, validated with pydantic. Unknown fields are ignored so that clients can send more."""

from __future__ import annotations

from typing import Annotated, Literal, Optional, Union

from pydantic import (BaseModel, ConfigDict, Field, Strict, StrictBool, StrictInt, StrictStr, StringConstraints,
                      ValidationError)

from ..conventions import DEFAULT_MESH_RESOLUTION, MESH_ENCODINGS, MESH_RESOLUTIONS
from ..decode.image import RAW_CHANNELS
from .errors import ApiError

PixelFormat = Literal[tuple(RAW_CHANNELS)]  # type: ignore[valid-type]
MeshResolution = Literal[tuple(MESH_RESOLUTIONS)]  # type: ignore[valid-type]
MeshEncoding = Literal[MESH_ENCODINGS]  # type: ignore[valid-type]
HeightCm = Annotated[float, Field(ge=50, le=260, allow_inf_nan=False)]
FocalLengthPx = Annotated[float, Field(ge=1, le=1e6, allow_inf_nan=False)]
"""A focal length in pixels: 1e6 is a field of view of 0.04 degrees across a 640 px frame; beyond it the fit's
depth runs away (and at 1e30 its linear algebra fails)."""
VideoId = Annotated[str, Strict(), StringConstraints(min_length=1, max_length=256, pattern=r"^[^\x00-\x1f\x7f]+$")]
"""A client's name for a video: no control characters, which would forge log lines."""
TrackIdKey = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,9}$")]
HeightsCm = Union[HeightCm, Annotated[dict[TrackIdKey, HeightCm], Field(max_length=64)]]
"""A person's known height: a number for the video's main subject, or ``{"<track_id>": cm}``."""


class FrameOptions(BaseModel):
    """What ``/pose/hybrid`` and ``/pose/batch`` share: what a response holds and how people are fitted. Lax types
    (the batch's multipart form sends strings); the JSON bodies tighten them."""

    model_config = ConfigDict(extra="ignore")

    include_mesh: bool = True
    include_faces: bool = True
    mesh_resolution: MeshResolution = DEFAULT_MESH_RESOLUTION
    mesh_encoding: MeshEncoding = "json"
    focal_length_px: Optional[FocalLengthPx] = None
    simulate_misses: float = Field(default=0.0, ge=0, le=1, allow_inf_nan=False)
    height_cm: Optional[HeightsCm] = None


class PoseRequest(FrameOptions):
    include_mesh: StrictBool = True  # JSON: a boolean, not "yes"
    include_faces: StrictBool = True
    image_base64: StrictStr
    frame_number: StrictInt = Field(ge=0)
    video_id: Optional[VideoId] = None
    width: Optional[StrictInt] = Field(default=None, gt=0)
    height: Optional[StrictInt] = Field(default=None, gt=0)
    pixel_format: Optional[PixelFormat] = None


class MeshFacesQuery(BaseModel):
    """``GET /mesh/faces`` query parameters."""

    model_config = ConfigDict(extra="ignore")

    body_model: Optional[str] = None
    mesh_resolution: MeshResolution = DEFAULT_MESH_RESOLUTION
    mesh_encoding: MeshEncoding = "json"


def parse(model: type[BaseModel], payload: object) -> BaseModel:
    """Validate ``payload``; a failure becomes a 400 that names every offending field."""
    if not isinstance(payload, dict):
        raise ApiError(400, "invalid_request", "the JSON body must be an object")
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        code = "missing_field" if all(e["type"] == "missing" for e in errors) else "invalid_field"
        detail = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in errors)
        raise ApiError(400, code, detail) from None


class MeasurementRequest(BaseModel):
    """``POST /measurements``: one to a few photos of one person (front, side, back), and their height and sex if
    known."""

    model_config = ConfigDict(extra="ignore")

    images_base64: list[StrictStr] = Field(min_length=1, max_length=8)
    height_cm: Optional[HeightCm] = None
    sex: Optional[Literal["female", "male"]] = None


class BatchFrame(BaseModel):
    model_config = ConfigDict(extra="ignore")

    image_base64: StrictStr
    frame_number: Optional[StrictInt] = Field(default=None, ge=0)
    width: Optional[StrictInt] = Field(default=None, gt=0)
    height: Optional[StrictInt] = Field(default=None, gt=0)
    pixel_format: Optional[PixelFormat] = None


class BatchOptionsFields(FrameOptions):
    """Options of ``POST /pose/batch`` shared by the JSON body and the multipart form."""

    video_id: Optional[VideoId] = None
    smooth: bool = True


class BatchRequest(BatchOptionsFields):
    """The JSON batch: strict types, as in ``/pose/hybrid`` (only the multipart form needs strings converted)."""

    model_config = ConfigDict(extra="ignore", strict=True)

    frames: list[BatchFrame] = Field(min_length=1)


class BatchVideoForm(BatchOptionsFields):
    max_frames: Optional[int] = Field(default=None, gt=0)
