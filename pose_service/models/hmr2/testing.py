"""Random-weight HMR 2.0 checkpoints in upstream's on-disk format, for tests and benchmarks without the real file."""

from __future__ import annotations

import pickle
import types
from pathlib import Path

import torch

from .checkpoint import CfgNode
from .network import HMR2, HMR2Config


class _UpstreamPickler(pickle._Pickler):
    """Writes the :class:`CfgNode` stand-in under yacs' name, as upstream files have it.

    The pure-Python pickler is used because the C one cannot be told to name a class that is not importable.
    Tensors are not pickled but written by torch.save as separate records, so this costs little.
    """

    def save_global(self, obj: object, name: str | None = None) -> None:
        if obj is CfgNode:
            self.write(pickle.GLOBAL + b"yacs.config\nCfgNode\n")
            self.memoize(obj)
        else:
            super().save_global(obj, name)


_upstream_pickle = types.ModuleType("hmr2_upstream_pickle")  # torch.save takes a pickle *module*
_upstream_pickle.Pickler = _UpstreamPickler


def _cfg(d: dict) -> CfgNode:
    return CfgNode({k: _cfg(v) if isinstance(v, dict) else v for k, v in d.items()})


def upstream_cfg(config: HMR2Config) -> CfgNode:
    """The inference-relevant part of upstream's yacs config for ``config``."""
    return _cfg({
        "MODEL": {"IMAGE_SIZE": config.image_size, "IMAGE_MEAN": [0.485, 0.456, 0.406],
                  "IMAGE_STD": [0.229, 0.224, 0.225], "BACKBONE": {"TYPE": "vit"},
                  "BBOX_SHAPE": [config.img_size[1], config.img_size[0]],
                  "SMPL_HEAD": {"TYPE": "transformer_decoder", "TRANSFORMER_DECODER": {
                      "depth": config.dec_depth, "heads": config.dec_heads, "mlp_dim": config.dec_mlp_dim,
                      "dim_head": config.dec_dim_head, "dropout": 0.0, "emb_dropout": 0.0, "norm": "layer",
                      "context_dim": config.context_dim}}},
        "EXTRA": {"FOCAL_LENGTH": config.focal_length, "PELVIS_IND": 39},
        "SMPL": {"MODEL_PATH": "data/smpl", "GENDER": "neutral", "NUM_BODY_JOINTS": config.num_joints - 1,
                 "JOINT_REGRESSOR_EXTRA": "data/SMPL_to_J19.pkl", "MEAN_PARAMS": "data/smpl_mean_params.npz"},
    })


def random_model(config: HMR2Config = HMR2Config(), seed: int = 0) -> HMR2:
    """The network with torch's default initialisation under ``seed`` and plausible mean parameters (identity
    rotations, zero shape, a body filling the crop), so outputs are finite and rotations well defined."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = HMR2(config)
        with torch.no_grad():
            model.backbone.pos_embed.normal_(std=0.02)
            model.smpl_head.transformer.pos_embedding.normal_(std=0.02)
            model.smpl_head.init_body_pose.copy_(torch.tensor([1.0, 0, 0, 0, 1, 0]).repeat(config.num_joints))
            model.smpl_head.init_cam.copy_(torch.tensor([0.9, 0.0, 0.0]))
    return model.eval()


def write_random_checkpoint(path: Path | str, config: HMR2Config = HMR2Config(), seed: int = 0) -> Path:
    """Write a Lightning-1.8-style checkpoint of a :func:`random_model` that the restricted loader reads.

    torch.save writes each tensor's storage straight from memory into the zip, so the peak is one copy of the
    weights (about 2.7 GB at the released size).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state_dict = random_model(config, seed).state_dict()
    state_dict["initialized"] = torch.tensor(True)  # upstream's extra buffer, dropped on loading
    ckpt = {
        "epoch": 35, "global_step": 1000000, "pytorch-lightning_version": "1.8.1",
        "state_dict": state_dict,
        "hyper_parameters": {"cfg": upstream_cfg(config)}, "hparams_name": "kwargs",
        "loops": {}, "callbacks": {}, "optimizer_states": [], "lr_schedulers": [],
    }
    torch.save(ckpt, path, pickle_module=_upstream_pickle, pickle_protocol=2)
    return path
