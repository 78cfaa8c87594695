"""The fitter as a pipeline stage: fits the body model to each detected person, warm-started from its track."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any, Optional

import numpy as np

from ..body.base import BodyModel
from ..conventions import project
from ..timing import TimedLock
from ..types import Person
from .fitter import Fitter, FitState


class FitStage:
    """``(image, people, previous fit states, focal) -> [(person with body, new fit state)]`` (see
    ``pipeline.Fitter``).

    A person whose keypoints are too few to fit, whose fit is rejected (``FitConfig.reject_fit_error``), or who is
    whose fit would end past the frame's deadline (all but the first), keeps its detector keypoints and no mesh, and gives no
    new fit state (None: its track keeps the last one). One fit at a time
    (``lock``, shared with the measurements): the body model caches its rest mesh between calls.
    """

    def __init__(self, model: BodyModel, fitter: Optional[Fitter] = None) -> None:
        self.model = model
        self.fitter = fitter or Fitter()
        self.lock = TimedLock("body")

    def warm_up(self, width: int = 640, height: int = 480) -> None:
        """One cold fit to the model's own rest pose 3 m away: torch's first calls pay set-up costs (~1 s) that
        would otherwise land on the first request."""
        import torch

        with torch.no_grad():
            keypoints = self.model(*self.model.zero_params(), with_vertices=False).keypoints[0].double().numpy()
        points = keypoints + np.array([0.0, 0.0, 3.0])
        focal = float(max(width, height))
        pixels = project(points, focal, (width, height))
        detected = np.column_stack([pixels, np.ones(len(pixels))])
        self.fitter.fit(self.model, detected, (width, height), focal, keypoints)

    def __call__(
        self, image: np.ndarray, people: list[Person], previous: list[Optional[dict[str, Any]]], focal_length_px: float,
        deadline: Optional[float] = None, with_mesh: bool = True,
    ) -> list[tuple[Person, Optional[dict[str, Any]]]]:
        height, width = image.shape[:2]
        fitted = []
        with self.lock:
            longest = 0.0  # the slowest fit of this frame so far: the next one may take as long
            for i, (person, state) in enumerate(zip(people, previous)):
                # A fit that would end past the frame's budget is not started: keypoints now, a body next frame.
                # The first (primary) person always fits.
                started = time.monotonic()
                if i > 0 and deadline is not None and started + longest > deadline:
                    fitted.append((person, None))
                    continue
                result = self.fitter.fit(
                    self.model, person.keypoints_2d, (width, height), focal_length_px, person.keypoints_3d,
                    None if state is None else FitState.from_dict(state), with_vertices=with_mesh,
                )  # fmt: skip
                longest = max(longest, time.monotonic() - started)
                if result is None:
                    fitted.append((person, None))
                    continue
                if result.error > self.fitter.config.reject_fit_error:
                    fitted.append((replace(person, fit_confidence=result.confidence), None))
                    continue
                params = result.state
                fitted.append((
                    replace(
                        person,
                        keypoints_2d=result.keypoints_2d,
                        keypoints_3d=result.keypoints_3d,
                        camera_translation=result.camera_translation,
                        vertices=result.vertices,
                        body_model=self.model.name,
                        body_params={"global_orient": params.global_orient, "body_pose": params.body_pose,
                                     "shape": params.shape},
                        fit_confidence=result.confidence,
                    ),
                    params.to_dict(),
                ))
        return fitted
