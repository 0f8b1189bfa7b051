"""Inference for one (model, dataset, shard): one embedding per image, all prompts decoded.

Every mask of the shard gets a prompt per strategy the model accepts; all prompts of an image
are decoded against that image's single embedding. Output: one row per (mask, strategy,
repeat, candidate) with the candidate mask as RLE at the stored image size.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import torch

from cosmos_bench import rle
from cosmos_bench.catalog import load_models
from cosmos_bench.errors import run_cli
from cosmos_bench.index import read_index, write_table
from cosmos_bench.models import PromptableModel, build, resolve_device
from cosmos_bench.prompts import kinds_of, make_prompt
from cosmos_bench.shards import ShardReader

PREDICTION_SCHEMA = pa.schema(
    [
        ("mask_id", pa.string()),
        ("strategy", pa.string()),
        ("repeat", pa.int16()),
        ("candidate", pa.int16()),
        ("model_score", pa.float64()),  # the model's own quality estimate (NaN if none)
        ("height", pa.int32()),
        ("width", pa.int32()),
        ("rle", pa.list_(pa.int32())),
        ("seconds", pa.float64()),  # this image's encoder time + this prompt's share of decoding
    ]
)


def usable_strategies(strategies: list[str], accepts: set[str], model_id: str) -> list[str]:
    """Strategies whose prompt kinds the model takes; the others are skipped with a note."""
    usable = [s for s in strategies if kinds_of(s) <= accepts]
    skipped = sorted(set(strategies) - set(usable))
    if skipped:
        print(f"[{model_id}] skips {skipped}: it takes only {sorted(accepts)}", file=sys.stderr)
    return usable


def infer_shard(
    model: PromptableModel,
    index: pd.DataFrame,
    shard: Path,
    strategies: list[str],
) -> pd.DataFrame:
    """Run every strategy on every mask of the shard's images."""
    rows: list[dict] = []
    images = index.groupby("row", sort=True)
    start = time.perf_counter()
    with ShardReader(shard) as reader:
        for n, (row, masks) in enumerate(images, 1):
            image = reader.image(int(row))
            t0 = time.perf_counter()
            embedding = model.embed(image)
            t_embed = time.perf_counter() - t0
            prompts, keys = [], []
            for mask_id, layer, label in zip(masks.mask_id, masks.layer, masks.label, strict=True):
                gt = reader.mask(int(row), int(layer), int(label))
                for strategy in strategies:
                    prompts.append(make_prompt(strategy, gt))
                    keys.append((mask_id, strategy))
            t0 = time.perf_counter()
            answers = model.decode(embedding, prompts)
            t_prompt = (time.perf_counter() - t0) / max(1, len(prompts))
            for (mask_id, strategy), cand in zip(keys, answers, strict=True):
                for c, (mask, score) in enumerate(zip(cand.masks, cand.scores, strict=True)):
                    rows.append(
                        {
                            "mask_id": mask_id,
                            "strategy": strategy,
                            "repeat": 0,
                            "candidate": c,
                            "model_score": float(score),
                            "height": mask.shape[0],
                            "width": mask.shape[1],
                            "rle": rle.encode(mask),
                            "seconds": t_embed + t_prompt,
                        }
                    )
            if n % 25 == 0 or n == images.ngroups:
                rate = n / (time.perf_counter() - start)
                print(f"  {n}/{images.ngroups} images, {rate:.1f} images/s", file=sys.stderr)
    return pd.DataFrame(rows, columns=PREDICTION_SCHEMA.names)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--weights", type=Path, help="verified weights file (if the model has any)")
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--shard", type=Path, required=True)
    parser.add_argument("--shard-number", type=int, required=True)
    parser.add_argument("--strategies", nargs="+", required=True)
    parser.add_argument("--targets", nargs="*", default=[], help="keep only these targets")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--root", type=Path, default=Path.cwd())
    args = parser.parse_args(argv)

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    entry = load_models(args.root)[args.model]
    device = resolve_device(args.device)
    model = build(entry, args.weights, device, args.seed)
    index = read_index(args.index)
    index = index[index.shard == args.shard_number]
    if args.targets:
        index = index[index.target.isin(args.targets)]
    strategies = usable_strategies(args.strategies, set(entry["prompts"]), args.model)
    print(
        f"[{args.model}] {args.shard.name}: {index.uid.nunique()} images, {len(index)} masks, "
        f"strategies {strategies}, device {device}",
        file=sys.stderr,
    )
    predictions = infer_shard(model, index, args.shard, strategies)
    write_table(predictions, args.out, PREDICTION_SCHEMA, {"cosmos_bench.model": args.model})


if __name__ == "__main__":
    run_cli(main)
