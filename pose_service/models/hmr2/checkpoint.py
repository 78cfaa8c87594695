"""HMR 2.0 weights: the upstream Lightning checkpoint, its conversion to safetensors, and loading into :class:`HMR2`.

The upstream file (``epoch=35-step=1000000.ckpt``, PyTorch Lightning 1.8.1) pickles a yacs ``CfgNode`` in
``hyper_parameters['cfg']``, so ``torch.load(weights_only=True)`` refuses it and a plain ``torch.load`` would need
yacs and run whatever the pickle names. It is read here with a restricted unpickler instead: torch's tensor rebuild
functions and storages, a few builtin containers, and ``yacs.config.CfgNode`` mapped to a plain dict; any other
global is refused. Convert once (``python -m pose_service.models.hmr2 convert``) and serve from the safetensors file.
"""

from __future__ import annotations

import collections
import json
import pickle
import types
import zipfile
from dataclasses import dataclass
from pathlib import Path

import safetensors.torch
import torch

from .files import require_file
from .network import HMR2, HMR2Config

MODEL_PREFIXES = ("backbone.", "smpl_head.")  # the rest (discriminator, smpl, optimizer moments) is not needed
_FORMAT = "hmr2-state-dict-v1"  # safetensors metadata tag


# --------------------------------------------------------------------------------------------------------------
# Restricted unpickling


class CfgNode(dict):
    """Stand-in for ``yacs.config.CfgNode``: a plain nested dict. yacs' own attributes (``__immutable__``, ...)
    land in the instance ``__dict__`` and are ignored."""


class UnsafeCheckpointError(pickle.UnpicklingError):
    """The file's pickle names a global outside the allow-list."""


_ALLOWED_GLOBALS: dict[tuple[str, str], object] = {
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
    ("collections", "OrderedDict"): collections.OrderedDict,
    # protocol-2 files name builtins by their Python 2 module
    ("__builtin__", "set"): set, ("builtins", "set"): set,
    ("__builtin__", "frozenset"): frozenset, ("builtins", "frozenset"): frozenset,
    ("yacs.config", "CfgNode"): CfgNode,
}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only :data:`_ALLOWED_GLOBALS`. (torch.load resolves tensor storage types before
    this is asked.)"""

    def find_class(self, module: str, name: str) -> object:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise UnsafeCheckpointError(
                f"refusing to load global '{module}.{name}': an HMR 2.0 checkpoint needs only tensors, plain "
                f"containers and yacs.config.CfgNode (the file is corrupt, not an HMR 2.0 checkpoint, or "
                f"malicious)") from None


def _restricted_load(file, **kwargs) -> object:
    return RestrictedUnpickler(file, **kwargs).load()


# torch.load takes a pickle *module*; its legacy (non-zip) path also calls ``load`` directly.
restricted_pickle = types.ModuleType("hmr2_restricted_pickle")
restricted_pickle.Unpickler = RestrictedUnpickler
restricted_pickle.load = _restricted_load


# --------------------------------------------------------------------------------------------------------------
# Reading, checking, converting


@dataclass
class UpstreamCheckpoint:
    state_dict: dict[str, torch.Tensor]  # backbone.* and smpl_head.* only
    cfg: dict  # hyper_parameters['cfg'] as nested dicts
    meta: dict  # epoch, global_step, pytorch-lightning_version


def read_upstream_checkpoint(path: Path | str) -> UpstreamCheckpoint:
    """Read a Lightning checkpoint without yacs and without running pickled code beyond tensor rebuilding.

    A zip-format file is memory-mapped, so the optimizer moments it may hold are never read from disk.
    """
    path = require_file(Path(path))
    ckpt = torch.load(path, map_location="cpu", pickle_module=restricted_pickle, weights_only=False,
                      mmap=zipfile.is_zipfile(path))
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise ValueError(f"{path}: not a Lightning checkpoint (no 'state_dict' at the top level)")
    state_dict = {k: v for k, v in ckpt["state_dict"].items() if k.startswith(MODEL_PREFIXES)}
    meta = {k: ckpt.get(k) for k in ("epoch", "global_step", "pytorch-lightning_version")}
    return UpstreamCheckpoint(state_dict, (ckpt.get("hyper_parameters") or {}).get("cfg", {}), meta)


def expected_shapes(config: HMR2Config) -> dict[str, torch.Size]:
    """Key -> shape of the network's state dict, without allocating it."""
    with torch.device("meta"):
        return {k: v.shape for k, v in HMR2(config).state_dict().items()}


def check_state_dict(state_dict: dict[str, torch.Tensor], config: HMR2Config, source: str = "state dict") -> None:
    """Raise ``ValueError`` listing missing, unexpected and wrongly shaped tensors, if any."""
    expected = expected_shapes(config)
    missing = sorted(expected.keys() - state_dict.keys())
    unexpected = sorted(state_dict.keys() - expected.keys())
    wrong = sorted(f"{k}: {tuple(state_dict[k].shape)} in file, {tuple(s)} expected"
                   for k, s in expected.items() if k in state_dict and state_dict[k].shape != s)
    if missing or unexpected or wrong:
        parts = [f"{title} ({len(keys)}): " + ", ".join(keys)
                 for title, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong))
                 if keys]
        raise ValueError(f"{source} does not fit HMR2 {config}:\n  " + "\n  ".join(parts))


def convert(ckpt_path: Path | str, out_path: Path | str, config: HMR2Config = HMR2Config()) -> Path:
    """Upstream checkpoint -> safetensors file of the model tensors, with the config in its metadata."""
    ckpt = read_upstream_checkpoint(ckpt_path)
    check_state_dict(ckpt.state_dict, config, str(ckpt_path))
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"format": _FORMAT, "config": json.dumps(config.to_dict()),
                "source": json.dumps({"file": Path(ckpt_path).name, **ckpt.meta})}
    safetensors.torch.save_file({k: v.contiguous() for k, v in ckpt.state_dict.items()}, str(out_path), metadata)
    return out_path


def load_safetensors(path: Path | str, config: HMR2Config | None = None
                     ) -> tuple[dict[str, torch.Tensor], HMR2Config]:
    """Read a converted file (memory-mapped); the config comes from its metadata unless given. Checked strictly."""
    path = require_file(Path(path))
    with safetensors.safe_open(str(path), framework="pt") as f:
        metadata = f.metadata() or {}
    if config is None:
        if metadata.get("format") != _FORMAT:
            raise ValueError(f"{path}: no HMR2 config in its metadata; pass one")
        config = HMR2Config.from_dict(json.loads(metadata["config"]))
    state_dict = safetensors.torch.load_file(str(path))
    check_state_dict(state_dict, config, str(path))
    return state_dict, config


def load_hmr2(path: Path | str, config: HMR2Config | None = None, device: str = "cpu") -> HMR2:
    """The network in eval mode, from a ``.safetensors`` file or an upstream checkpoint.

    The module is built on the meta device and takes the loaded tensors as its parameters, so the weights are
    never allocated twice.
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        state_dict, config = load_safetensors(path, config)
    else:
        config = config or HMR2Config()
        state_dict = read_upstream_checkpoint(path).state_dict
        check_state_dict(state_dict, config, str(path))
    with torch.device("meta"):
        model = HMR2(config)
    model.load_state_dict(state_dict, strict=True, assign=True)
    return model.to(device).eval()
