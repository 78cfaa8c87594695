"""HMR 2.0 (4D-Humans) network: a ViT-H backbone and a transformer-decoder SMPL head, in one file.

Parameter and buffer names equal the keys of the official checkpoint's ``state_dict`` (``backbone.*``,
``smpl_head.*``), so ``HMR2(config).load_state_dict(sd, strict=True)`` loads the released weights unchanged.
Shapes use B = batch of person crops, C = ViT width, D = decoder width, N = number of ViT tokens (16*12 = 192).

The numbers that decide equivalence with upstream, each written once below:
* patch-embedding convolution with padding 2 (a ViTPose quirk) on the central 256x192 of the 256x256 crop;
* position embedding of N+1 rows added as ``pos[:, 1:] + pos[:, :1]``, no CLS token is ever prepended;
* LayerNorm eps 1e-6 in the ViT, 1e-5 in the decoder; exact (erf) GELU;
* decoder query/key/value projections have no bias, the ViT context is not re-normalised;
* 6D rotation layout: two consecutive triplets are the first two columns of R (not SPIN's interleaved layout);
* one IEF step from the mean parameters stored as buffers.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class HMR2Config:
    """Sizes of the network. The defaults are those of the released HMR 2.0b checkpoint."""

    # ViT backbone (ViTPose-style ViT-H)
    img_size: tuple[int, int] = (256, 192)  # (H, W) the backbone sees
    patch_size: int = 16
    patch_padding: int = 2
    embed_dim: int = 1280
    depth: int = 32
    num_heads: int = 16
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    vit_ln_eps: float = 1e-6
    # SMPL head: transformer decoder with one query token
    dec_dim: int = 1024
    dec_depth: int = 6
    dec_heads: int = 8
    dec_dim_head: int = 64
    dec_mlp_dim: int = 1024
    context_dim: int = 1280
    num_tokens: int = 1
    token_dim: int = 1  # the query input is zeros(B, 1, 1) ('zero' TRANSFORMER_INPUT)
    dec_ln_eps: float = 1e-5
    num_joints: int = 24  # 6D rotation per joint: global orient + 23 body joints
    num_betas: int = 10
    ief_iters: int = 1
    # camera of the crop
    focal_length: float = 5000.0
    image_size: int = 256  # side of the square input crop

    def __post_init__(self) -> None:
        if self.image_size < self.img_size[1] or self.img_size[0] != self.image_size:
            raise ValueError(f"backbone input {self.img_size} must be a central column band of the "
                             f"{self.image_size}x{self.image_size} crop")

    @property
    def grid(self) -> tuple[int, int]:
        """(Hp, Wp): the token grid of the patch-embedding convolution (16, 12 for the released size)."""
        h, w = self.img_size
        p, pad = self.patch_size, self.patch_padding
        return (h + 2 * pad - p) // p + 1, (w + 2 * pad - p) // p + 1

    @property
    def num_pos(self) -> int:
        """Rows of the position table: one per patch (counted without padding, as ViTPose does) plus an unused one."""
        return (self.img_size[0] // self.patch_size) * (self.img_size[1] // self.patch_size) + 1

    @classmethod
    def from_dict(cls, d: dict) -> HMR2Config:
        """Build from the nested ``config`` dict of the reference file (keys ``backbone``, ``head``, ...)."""
        b, h = d["backbone"], d["head"]
        if h.get("ncam", 3) != 3 or h["npose"] % 6:
            raise ValueError(f"unsupported head outputs: npose={h['npose']}, ncam={h.get('ncam')}")
        return cls(
            img_size=tuple(b["img_size"]), patch_size=b["patch_size"], patch_padding=b["patch_padding"],
            embed_dim=b["embed_dim"], depth=b["depth"], num_heads=b["num_heads"], mlp_ratio=b["mlp_ratio"],
            qkv_bias=b["qkv_bias"], vit_ln_eps=b["layer_norm_eps"],
            dec_dim=h["dim"], dec_depth=h["depth"], dec_heads=h["heads"], dec_dim_head=h["dim_head"],
            dec_mlp_dim=h["mlp_dim"], context_dim=h["context_dim"], dec_ln_eps=h["layer_norm_eps"],
            num_joints=h["npose"] // 6, num_betas=h["nbetas"], ief_iters=h["ief_iters"],
            focal_length=float(d["focal_length"]), image_size=d["image_size"],
        )

    def to_dict(self) -> dict:
        """Inverse of :meth:`from_dict`."""
        return {
            "backbone": {"img_size": list(self.img_size), "patch_size": self.patch_size,
                         "embed_dim": self.embed_dim, "depth": self.depth, "num_heads": self.num_heads,
                         "mlp_ratio": self.mlp_ratio, "qkv_bias": self.qkv_bias,
                         "patch_padding": self.patch_padding, "layer_norm_eps": self.vit_ln_eps},
            "head": {"dim": self.dec_dim, "depth": self.dec_depth, "heads": self.dec_heads,
                     "dim_head": self.dec_dim_head, "mlp_dim": self.dec_mlp_dim, "context_dim": self.context_dim,
                     "npose": 6 * self.num_joints, "nbetas": self.num_betas, "ncam": 3,
                     "ief_iters": self.ief_iters, "layer_norm_eps": self.dec_ln_eps},
            "focal_length": self.focal_length,
            "image_size": self.image_size,
        }


# --------------------------------------------------------------------------------------------------------------
# Geometry: one function per mathematical step


def split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """(B, n, heads*d) -> (B, heads, n, d)."""
    b, n, _ = x.shape
    return x.view(b, n, heads, -1).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """(B, heads, n, d) -> (B, n, heads*d)."""
    b, h, n, d = x.shape
    return x.transpose(1, 2).reshape(b, n, h * d)


def rot6d_to_rotmat(x: torch.Tensor) -> torch.Tensor:
    """6D rotation representation to rotation matrices by Gram-Schmidt.

    Args:
        x: (..., 6): ``x[..., 0:3]`` and ``x[..., 3:6]`` are the (unnormalised) first and second columns.
    Returns:
        (..., 3, 3) rotation matrices whose columns are b1, b2, b3 = b1 x b2.
    """
    a1, a2 = x[..., 0:3], x[..., 3:6]
    b1 = F.normalize(a1, dim=-1)
    b2 = F.normalize(a2 - (b1 * a2).sum(dim=-1, keepdim=True) * b1, dim=-1)
    b3 = torch.linalg.cross(b1, b2, dim=-1)
    return torch.stack((b1, b2, b3), dim=-1)


def crop_camera_translation(pred_cam: torch.Tensor, focal_length: float, image_size: int) -> torch.Tensor:
    """Weak-perspective crop camera to a translation for a pinhole camera on the crop.

    Args:
        pred_cam: (B, 3) ``[s, tx, ty]``; s scales the body (crop width = 2 units) into the crop.
    Returns:
        (B, 3) ``[tx, ty, 2 f / (image_size s)]``; the depth makes f / tz equal the weak-perspective scale.
    """
    s, tx, ty = pred_cam.unbind(-1)
    # Upstream divides a (B,) focal tensor; a Python-scalar numerator would round differently (~3e-5).
    f = torch.full_like(s, focal_length)
    return torch.stack((tx, ty, 2 * f / (image_size * s + 1e-9)), dim=-1)


# --------------------------------------------------------------------------------------------------------------
# ViT backbone


class PatchEmbed(nn.Module):
    def __init__(self, config: HMR2Config):
        super().__init__()
        self.proj = nn.Conv2d(3, config.embed_dim, config.patch_size, stride=config.patch_size,
                              padding=config.patch_padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) image -> (B, C, Hp, Wp) patch features."""
        return self.proj(x)


class Attention(nn.Module):
    """Multi-head self-attention of the ViT (one fused qkv projection, with bias)."""

    def __init__(self, config: HMR2Config):
        super().__init__()
        self.num_heads = config.num_heads
        self.qkv = nn.Linear(config.embed_dim, 3 * config.embed_dim, bias=config.qkv_bias)
        self.proj = nn.Linear(config.embed_dim, config.embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, C) -> (B, N, C)."""
        q, k, v = (split_heads(t, self.num_heads) for t in self.qkv(x).chunk(3, dim=-1))
        return self.proj(merge_heads(F.scaled_dot_product_attention(q, k, v)))


class MLP(nn.Module):
    def __init__(self, config: HMR2Config):
        super().__init__()
        hidden = int(config.embed_dim * config.mlp_ratio)
        self.fc1 = nn.Linear(config.embed_dim, hidden)
        self.fc2 = nn.Linear(hidden, config.embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, C) -> (B, N, C)."""
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block. Drop-path (training only) is left out: it is the identity at inference."""

    def __init__(self, config: HMR2Config):
        super().__init__()
        self.norm1 = nn.LayerNorm(config.embed_dim, eps=config.vit_ln_eps)
        self.attn = Attention(config)
        self.norm2 = nn.LayerNorm(config.embed_dim, eps=config.vit_ln_eps)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, C) -> (B, N, C)."""
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ViT(nn.Module):
    def __init__(self, config: HMR2Config):
        super().__init__()
        self.patch_embed = PatchEmbed(config)
        self.pos_embed = nn.Parameter(torch.zeros(1, config.num_pos, config.embed_dim))
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.depth))
        self.last_norm = nn.LayerNorm(config.embed_dim, eps=config.vit_ln_eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, 256, 192) normalised image -> (B, C, Hp, Wp) = (B, 1280, 16, 12) features."""
        feats = self.patch_embed(x)
        b, c, hp, wp = feats.shape
        x = feats.flatten(2).transpose(1, 2)  # (B, N, C), token = h * Wp + w
        # Row 0 of the table was meant for a CLS token; ViTPose adds it to every patch instead.
        x = x + self.pos_embed[:, 1:] + self.pos_embed[:, :1]
        for block in self.blocks:
            x = block(x)
        x = self.last_norm(x)
        return x.transpose(1, 2).reshape(b, c, hp, wp)


# --------------------------------------------------------------------------------------------------------------
# SMPL head: transformer decoder (names follow upstream's pose_transformer.py)


class PreNorm(nn.Module):
    """LayerNorm on the query stream, then ``fn``; the cross-attention context passes through un-normalised."""

    def __init__(self, config: HMR2Config, fn: nn.Module):
        super().__init__()
        self.norm = nn.LayerNorm(config.dec_dim, eps=config.dec_ln_eps)
        self.fn = fn

    def forward(self, x: torch.Tensor, **kwargs: torch.Tensor) -> torch.Tensor:
        """(B, T, D) -> (B, T, D)."""
        return self.fn(self.norm(x), **kwargs)


def _out_projection(config: HMR2Config) -> nn.Sequential:
    # Index 1 is upstream's Dropout(p=0); an Identity keeps the key name ``to_out.0``.
    return nn.Sequential(nn.Linear(config.dec_heads * config.dec_dim_head, config.dec_dim), nn.Identity())


class SelfAttention(nn.Module):
    def __init__(self, config: HMR2Config):
        super().__init__()
        self.heads = config.dec_heads
        self.to_qkv = nn.Linear(config.dec_dim, 3 * config.dec_heads * config.dec_dim_head, bias=False)
        self.to_out = _out_projection(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, D) -> (B, T, D)."""
        q, k, v = (split_heads(t, self.heads) for t in self.to_qkv(x).chunk(3, dim=-1))
        return self.to_out(merge_heads(F.scaled_dot_product_attention(q, k, v)))


class CrossAttention(nn.Module):
    def __init__(self, config: HMR2Config):
        super().__init__()
        self.heads = config.dec_heads
        inner = config.dec_heads * config.dec_dim_head
        self.to_kv = nn.Linear(config.context_dim, 2 * inner, bias=False)
        self.to_q = nn.Linear(config.dec_dim, inner, bias=False)
        self.to_out = _out_projection(config)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """Queries (B, T, D) attend to context (B, N, Cc) -> (B, T, D)."""
        k, v = (split_heads(t, self.heads) for t in self.to_kv(context).chunk(2, dim=-1))
        q = split_heads(self.to_q(x), self.heads)
        return self.to_out(merge_heads(F.scaled_dot_product_attention(q, k, v)))


class FeedForward(nn.Module):
    def __init__(self, config: HMR2Config):
        super().__init__()
        # Indices 2 and 4 are upstream's Dropout(p=0); Identities keep the key names ``net.0`` and ``net.3``.
        self.net = nn.Sequential(nn.Linear(config.dec_dim, config.dec_mlp_dim), nn.GELU(), nn.Identity(),
                                 nn.Linear(config.dec_mlp_dim, config.dec_dim), nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, D) -> (B, T, D)."""
        return self.net(x)


class DecoderLayers(nn.Module):
    """The stack of [self-attention, cross-attention, feed-forward] triples, each residual."""

    def __init__(self, config: HMR2Config):
        super().__init__()
        self.layers = nn.ModuleList(
            nn.ModuleList([PreNorm(config, SelfAttention(config)), PreNorm(config, CrossAttention(config)),
                           PreNorm(config, FeedForward(config))])
            for _ in range(config.dec_depth))

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """Queries (B, T, D), context (B, N, Cc) -> (B, T, D). No final norm."""
        for self_attn, cross_attn, ff in self.layers:
            x = self_attn(x) + x
            x = cross_attn(x, context=context) + x
            x = ff(x) + x
        return x


class TransformerDecoder(nn.Module):
    def __init__(self, config: HMR2Config):
        super().__init__()
        self.to_token_embedding = nn.Linear(config.token_dim, config.dec_dim)
        self.pos_embedding = nn.Parameter(torch.zeros(1, config.num_tokens, config.dec_dim))
        self.transformer = DecoderLayers(config)

    def forward(self, token: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """Query input (B, T, token_dim), context (B, N, Cc) -> (B, T, D)."""
        x = self.to_token_embedding(token)
        x = x + self.pos_embedding[:, : x.shape[1]]
        return self.transformer(x, context)


class SMPLHead(nn.Module):
    """Regresses SMPL pose (6D per joint), shape and crop camera as offsets from the mean parameters."""

    def __init__(self, config: HMR2Config):
        super().__init__()
        self.config = config
        self.transformer = TransformerDecoder(config)
        self.decpose = nn.Linear(config.dec_dim, 6 * config.num_joints)
        self.decshape = nn.Linear(config.dec_dim, config.num_betas)
        self.deccam = nn.Linear(config.dec_dim, 3)
        # Mean parameters (upstream reads smpl_mean_params.npz; the checkpoint carries them, so no npz is needed).
        self.register_buffer("init_body_pose", torch.zeros(1, 6 * config.num_joints))
        self.register_buffer("init_betas", torch.zeros(1, config.num_betas))
        self.register_buffer("init_cam", torch.zeros(1, 3))

    def forward(self, feats: torch.Tensor) -> dict[str, torch.Tensor]:
        """Backbone features (B, C, Hp, Wp) -> token_out (B, D), pred_pose_6d (B, 6J), betas (B, 10),
        pred_cam (B, 3)."""
        b = feats.shape[0]
        context = feats.flatten(2).transpose(1, 2)  # (B, N, C), same token order as the ViT
        pose, betas, cam = (p.expand(b, -1) for p in (self.init_body_pose, self.init_betas, self.init_cam))
        token = feats.new_zeros(b, self.config.num_tokens, self.config.token_dim)
        for _ in range(self.config.ief_iters):
            # The query does not depend on the current estimate ('zero' input), so each step adds the same offset.
            token_out = self.transformer(token, context)[:, 0]
            pose = self.decpose(token_out) + pose
            betas = self.decshape(token_out) + betas
            cam = self.deccam(token_out) + cam
        return {"token_out": token_out, "pred_pose_6d": pose, "betas": betas, "pred_cam": cam}


# --------------------------------------------------------------------------------------------------------------
# The whole model


class HMR2(nn.Module):
    def __init__(self, config: HMR2Config = HMR2Config()):
        super().__init__()
        self.config = config
        self.backbone = ViT(config)
        self.smpl_head = SMPLHead(config)

    def forward(self, img: torch.Tensor) -> dict[str, torch.Tensor]:
        """Run on ImageNet-normalised square crops, as upstream's ``forward_step``.

        Args:
            img: (B, 3, 256, 256) RGB crops (see :mod:`.preprocess`).
        Returns:
            ``backbone_feats`` (B, C, 16, 12), ``token_out`` (B, D), ``pred_pose_6d`` (B, 6J),
            ``global_orient`` (B, 1, 3, 3), ``body_pose`` (B, J-1, 3, 3) parent-relative rotations in SMPL joint
            order, ``betas`` (B, 10), ``pred_cam`` (B, 3) = [s, tx, ty] and ``pred_cam_t`` (B, 3), the translation
            for a pinhole camera of focal 5000 px on the 256 px crop.
        """
        c = self.config
        margin = (c.image_size - c.img_size[1]) // 2  # the ViT sees the central 192 of 256 columns
        feats = self.backbone(img[..., margin: c.image_size - margin])
        out = self.smpl_head(feats)
        rotmats = rot6d_to_rotmat(out["pred_pose_6d"].view(-1, c.num_joints, 6))
        return {
            "backbone_feats": feats,
            **out,
            "global_orient": rotmats[:, :1],
            "body_pose": rotmats[:, 1:],
            "pred_cam_t": crop_camera_translation(out["pred_cam"], c.focal_length, c.image_size),
        }
