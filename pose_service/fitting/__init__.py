"""Fitting a body model to detected keypoints: staged least squares in the style of SMPLify (see ``fitter``)."""

from __future__ import annotations

from pose_service.fitting.config import FitConfig, FitStage
from pose_service.fitting.fitter import Fitter, FitResult, FitState

__all__ = ["FitConfig", "FitResult", "FitStage", "FitState", "Fitter"]
