"""Per-crop latency of the HMR 2.0 network (random weights, released sizes unless overridden).

    python scripts/bench_hmr2.py                      # fp32 and bf16 autocast, batch 1 and 8, CPU (+ CUDA)
    python scripts/bench_hmr2.py --depth 4 --batch 1  # a quick run with a shallower ViT
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere without installing
from pose_service.models.hmr2.network import HMR2Config  # noqa: E402
from pose_service.models.hmr2.testing import random_model  # noqa: E402


def time_forward(model: torch.nn.Module, batch: int, device: str, bf16: bool, repeats: int) -> float:
    """Median seconds per crop over ``repeats`` runs, after one warm-up."""
    x = torch.randn(batch, 3, 256, 256, device=device)
    times = []
    with torch.inference_mode(), torch.autocast(device, dtype=torch.bfloat16, enabled=bf16):
        for i in range(repeats + 1):
            start = time.perf_counter()
            model(x)
            if device == "cuda":
                torch.cuda.synchronize()
            if i:
                times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2] / batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--depth", type=int, default=HMR2Config.depth, help="ViT depth (released: 32)")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = dataclasses.replace(HMR2Config(), depth=args.depth)
    model = random_model(config)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"torch {torch.__version__}, ViT depth {config.depth}, {args.threads} CPU threads, "
          f"median of {args.repeats}")
    print(f"{'device':<6} {'dtype':<6} {'batch':>5} {'ms/crop':>9}")
    for device in devices:
        model.to(device)
        for bf16 in (False, True):
            for batch in args.batch:
                ms = 1000 * time_forward(model, batch, device, bf16, args.repeats)
                print(f"{device:<6} {'bf16' if bf16 else 'fp32':<6} {batch:>5} {ms:>9.1f}", flush=True)


if __name__ == "__main__":
    main()
