"""Where the HMR 2.0 files are: upstream's cache layout, and the settings that override it.

Standard library only, so that the set-up script can say where the weights go and install them
(:mod:`pose_service.models.hmr2.fetch`) before the service's dependencies are installed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_CACHE_DIR = Path("~/.cache/4DHumans")
CHECKPOINT_RELPATH = Path("logs/train/multiruns/hmr2/0/checkpoints/epoch=35-step=1000000.ckpt")


@dataclass(frozen=True)
class HMR2Files:
    """Where the HMR 2.0 files are: upstream's cache folder (``logs/`` and ``data/`` inside, as
    ``hmr2_data.tar.gz`` unpacks) and, optionally, one weights file that overrides the cache's."""

    cache: Path = DEFAULT_CACHE_DIR.expanduser()
    checkpoint: Path | None = None

    @classmethod
    def from_settings(cls, cache_dir: str = "", checkpoint: str = "") -> "HMR2Files":
        """From ``ServiceConfig.hmr2_cache_dir`` / ``hmr2_checkpoint`` (empty: the defaults)."""
        return cls(Path(cache_dir or DEFAULT_CACHE_DIR).expanduser(),
                   Path(checkpoint).expanduser() if checkpoint else None)

    def data(self, name: str) -> Path:
        """A file of upstream's ``data`` folder, e.g. ``smpl_mean_params.npz`` or ``smpl/SMPL_NEUTRAL.pkl``."""
        return self.cache / "data" / name

    def upstream_checkpoint(self) -> Path:
        """The explicit checkpoint, or the released one's place in the cache folder."""
        return self.checkpoint or self.cache / CHECKPOINT_RELPATH

    def converted(self) -> Path:
        """Where ``setup-4d-humans-wsl.sh`` writes the safetensors conversion: ``<cache>/hmr2.safetensors``."""
        return self.cache / "hmr2.safetensors"

    def weights(self) -> Path:
        """The weights file to serve: the explicit checkpoint, else the converted safetensors when present, else
        the upstream checkpoint in the cache layout (an error names what is missing and where it goes)."""
        if self.checkpoint is None and self.converted().is_file():
            return self.converted()
        return require_file(self.upstream_checkpoint())


def require_file(path: Path) -> Path:
    """``path`` if it is a file; otherwise an error that says what is missing and how to provide it."""
    if not path.is_file():
        raise FileNotFoundError(
            f"HMR 2.0 file not found: {path}. Put it there (upstream's hmr2_data.tar.gz unpacks into "
            f"{DEFAULT_CACHE_DIR}/; setup-4d-humans-wsl.sh run without arguments says what to download), or point "
            f"POSE_HMR2_CACHE_DIR (or upstream's HMR2_CACHE_DIR) at the folder holding logs/ and data/, or "
            f"POSE_HMR2_CHECKPOINT at the checkpoint file itself.")
    return path
