"""Body models behind one interface (:class:`BodyModel`): Anny (default, Apache-2.0) and SMPL (user-supplied files)."""

from __future__ import annotations

from pose_service.body.base import BodyModel, BodyOutput

__all__ = ["BodyModel", "BodyOutput", "load_body_model"]


def load_body_model(name: str = "anny", **kwargs) -> BodyModel:
    """Build a body model by name: ``"anny"`` (kwargs of ``AnnyModel``) or ``"smpl"`` (kwargs of
    ``SMPLModel.from_file``, e.g. ``model_path=...``). Adapters are imported lazily: each pulls in its own stack."""
    if name == "anny":
        from pose_service.body.anny_model import AnnyModel

        return AnnyModel(**kwargs)
    if name == "smpl":
        from pose_service.body.smpl_model import SMPLModel

        return SMPLModel.from_file(**kwargs)
    raise ValueError(f"Unknown body model {name!r}; available: 'anny', 'smpl'.")
