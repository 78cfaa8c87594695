"""Command line: ``python -m pose_service.models.hmr2 verify <reference.pt>`` and ``convert <ckpt> <out>``.
(Installing the weights: ``python -m pose_service.models.hmr2.fetch``, which needs no torch.)"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from .checkpoint import check_state_dict, convert
from .network import HMR2, HMR2Config

# Per-tensor tolerance on |ours - reference| <= tol * max(1, |reference|). The relative part matters only for
# pred_cam_t, whose depth 2f/(256 s) (~160 on the reference) magnifies pred_cam's float32 rounding.
BACKBONE_TOL = 1e-4
HEAD_TOL = 1e-5
REFERENCE_KEYS = ("backbone_feats", "token_out", "pred_pose_6d", "global_orient", "body_pose", "betas", "pred_cam",
                  "pred_cam_t")


def verify(reference_path: Path) -> bool:
    """Run the network as configured in the reference file and compare every output; print a table."""
    ref = torch.load(reference_path, map_location="cpu", weights_only=True)
    config = HMR2Config.from_dict(ref["config"])
    check_state_dict(ref["state_dict"], config, str(reference_path))
    model = HMR2(config).eval()
    model.load_state_dict(ref["state_dict"], strict=True)
    with torch.no_grad():
        out = model(ref["input_256x256"])
    ok = True
    print(f"{'tensor':<15} {'shape':<18} {'max |diff|':>11} {'worst/bound':>11}")
    for key in REFERENCE_KEYS:
        tol = BACKBONE_TOL if key == "backbone_feats" else HEAD_TOL
        diff = (out[key] - ref[key]).abs()
        ratio = (diff / (tol * ref[key].abs().clamp(min=1))).max().item()
        ok &= out[key].shape == ref[key].shape and ratio <= 1
        print(f"{key:<15} {str(tuple(ref[key].shape)):<18} {diff.max().item():>11.3e} {ratio:>11.3f}"
              f"{'' if ratio <= 1 else '  FAIL'}")
    print("OK" if ok else "MISMATCH")
    return ok


def _config_from_file(path: Path) -> HMR2Config:
    """A config from a JSON file or from a reference .pt's ``config`` (same nested schema)."""
    d = json.loads(path.read_text()) if path.suffix == ".json" else torch.load(path, weights_only=True)["config"]
    return HMR2Config.from_dict(d)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pose_service.models.hmr2")
    sub = parser.add_subparsers(dest="command", required=True)
    p_verify = sub.add_parser("verify", help="compare the network with a reference file's tensors")
    p_verify.add_argument("reference", type=Path)
    p_convert = sub.add_parser("convert", help="upstream Lightning checkpoint -> safetensors (model tensors only)")
    p_convert.add_argument("ckpt", type=Path)
    p_convert.add_argument("out", type=Path)
    p_convert.add_argument("--config", type=Path, help="network sizes (.json, or a reference .pt); default: "
                                                       "the released HMR 2.0 sizes")
    args = parser.parse_args(argv)
    if args.command == "verify":
        return 0 if verify(args.reference) else 1
    config = _config_from_file(args.config) if args.config else HMR2Config()
    print(f"wrote {convert(args.ckpt, args.out, config)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
