"""Metric throughput: cosmos_bench.score.metrics vs MedPy (and MONAI when installed).

All three score the same random organ-like (prediction, ground truth) pairs at 256, 512 and
1024 px, for Dice + IoU + HD95 + NSD at 2 mm, on one thread:
- Ours: `metrics.score`. It also computes HD (px), ASD and conformity, which the others skip.
- MedPy: `dc`, `jc` and the two directed surface-distance arrays that `hd95` computes,
  computed once and shared between HD95 (pooled, as `hd95`) and NSD (boundary pixels within
  the tolerance). Sharing them is the fastest use of MedPy, faster than calling `hd95` and a
  separate NSD.
- MONAI: `compute_dice`, `compute_iou`, `compute_hausdorff_distance(percentile=95)` and
  `compute_surface_dice`, on CPU tensors.

The script prints masks/s for each, their ratio to MedPy, the mean HD95 and NSD each reports
(a sanity line: their definitions differ, see cosmos_bench.score.metrics), and the machine.

    .venv/bin/python benchmarks/bench_metrics.py [--pairs 60] [--rounds 3] [--sizes 256 512 1024]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import os
import platform
import time
import warnings
from collections.abc import Callable

import numpy as np

from cosmos_bench.score import metrics

SPACING = (0.8, 0.7)
TOLERANCE = 2.0


def organ(side: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A smooth blob of 5-20 % of the image side, as the ground truth. The prediction is the
    same organ redrawn with another wobble, shifted and scaled a little; one in five also
    has a small false blob elsewhere."""
    yy, xx = np.mgrid[:side, :side].astype(np.float64)
    radius = side * rng.uniform(0.05, 0.2)
    cy, cx = rng.uniform(radius + 4, side - radius - 4, size=2)
    harmonics = rng.normal(0, 0.08, size=(2, 5))
    phases = rng.uniform(0, 2 * np.pi, size=(2, 5))

    def blob(y0: float, x0: float, r: float, k: int) -> np.ndarray:
        angle = np.arctan2(yy - y0, xx - x0)
        wobble = sum(harmonics[k, n] * np.cos((n + 2) * angle + phases[k, n]) for n in range(5))
        return np.hypot(yy - y0, xx - x0) < r * (1 + wobble)

    gt = blob(cy, cx, radius, 0)
    dy, dx = rng.normal(0, 0.05 * radius, size=2)
    pred = blob(cy + dy, cx + dx, radius * rng.uniform(0.9, 1.1), 1)
    if rng.random() < 0.2:
        fy, fx = rng.uniform(0, side, size=2)
        pred |= np.hypot(yy - fy, xx - fx) < max(2.0, 0.1 * radius)
    return pred, gt


def ours(pred: np.ndarray, gt: np.ndarray) -> tuple[float, float]:
    s = metrics.score(pred, gt, SPACING, TOLERANCE)
    return s.hd95_mm, s.nsd


def medpy_metrics(pred: np.ndarray, gt: np.ndarray) -> tuple[float, float]:
    from medpy.metric import binary

    binary.dc(pred, gt)
    binary.jc(pred, gt)
    surface = getattr(binary, "__surface_distances")
    pred_to_gt, gt_to_pred = surface(pred, gt, SPACING), surface(gt, pred, SPACING)
    hd95 = float(np.percentile(np.hstack((pred_to_gt, gt_to_pred)), 95))
    within = np.count_nonzero(pred_to_gt <= TOLERANCE) + np.count_nonzero(gt_to_pred <= TOLERANCE)
    return hd95, within / (pred_to_gt.size + gt_to_pred.size)


def monai_metrics(pred: np.ndarray, gt: np.ndarray) -> tuple[float, float]:
    import torch
    from monai.metrics import (
        compute_dice,
        compute_hausdorff_distance,
        compute_iou,
        compute_surface_dice,
    )

    def one_hot(mask: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.stack([~mask, mask])[None].astype(np.float32))

    p, g = one_hot(pred), one_hot(gt)
    compute_dice(p, g, include_background=False)
    compute_iou(p, g, include_background=False)
    hd95 = compute_hausdorff_distance(p, g, percentile=95, spacing=SPACING).item()
    nsd = compute_surface_dice(p, g, [TOLERANCE], spacing=SPACING).item()
    return hd95, nsd


def measure(
    methods: dict[str, Callable], pairs: list[tuple[np.ndarray, np.ndarray]], rounds: int
) -> dict[str, tuple[float, float, float]]:
    """masks/s, mean HD95 and mean NSD per method. Each round runs every method over all
    pairs in turn; a method's best round counts (as timeit does). A load spike on a shared
    machine then costs a round, not the result."""
    best = dict.fromkeys(methods, np.inf)
    values: dict[str, list] = {}
    for _ in range(rounds):
        for name, method in methods.items():
            method(*pairs[0])  # warm-up: imports, first-call caches
            start = time.perf_counter()
            values[name] = [method(pred, gt) for pred, gt in pairs]
            best[name] = min(best[name], time.perf_counter() - start)
    return {
        name: (len(pairs) / best[name], *np.mean(values[name], axis=0).tolist()) for name in methods
    }


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=60, help="pairs per image size")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument("--rounds", type=int, default=3, help="timed passes; the best counts")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    methods: dict[str, Callable] = {"ours": ours}
    if importlib.util.find_spec("medpy"):
        methods["MedPy"] = medpy_metrics
    if importlib.util.find_spec("monai"):
        import torch

        torch.set_num_threads(1)
        methods["MONAI"] = monai_metrics
    warnings.simplefilter("ignore")  # MONAI deprecation notes on every call
    print(
        f"machine: {cpu_model()}, {os.cpu_count()} CPUs, {platform.machine()}, "
        f"Python {platform.python_version()}; one thread per method"
    )
    print(
        "versions: "
        + ", ".join(f"{p} {version(p)}" for p in ("numpy", "scipy", "medpy", "monai", "torch"))
    )
    print(
        f"input: {args.pairs} random organ-like pairs per size, spacing {SPACING} mm, "
        f"NSD at {TOLERANCE} mm; metrics: Dice + IoU + HD95 + NSD; best of {args.rounds} rounds"
    )
    for side in args.sizes:
        rng = np.random.default_rng(args.seed + side)
        pairs = [organ(side, rng) for _ in range(args.pairs)]
        results = measure(methods, pairs, args.rounds)
        base = results.get("MedPy", (float("nan"),))[0]
        for name, (rate, hd95, nsd) in results.items():
            ratio = f"{rate / base:6.1f}x MedPy" if name != "MedPy" else "     1.0x"
            print(
                f"{side:5d} px  {name:6s} {rate:9.1f} masks/s  {ratio}  "
                f"(mean HD95 {hd95:6.2f} mm, NSD {nsd:.3f})"
            )


if __name__ == "__main__":
    main()
