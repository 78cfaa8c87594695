"""Shared pytest fixtures."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def anny_model():
    """The Anny adapter, loaded once per session (the first build of anny's cache takes ~40 s)."""
    from pose_service.body.anny_model import AnnyModel

    return AnnyModel()
