"""The fine-tuning jobs (`python -m cosmos_bench.finetune {embed,train}`, the embed_cache and
train rules): their arguments, the base model built and its GPU leased, then the embedding
cache (finetune.trainset) or the training (finetune.train). The recipe's defaults are
Settings' (finetune.train), which the config schema's equal (tests/test_finetune.py)."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

import torch

from cosmos_bench.catalog.finetune_ids import model_entry, parse
from cosmos_bench.catalog.zoo import load_models, models_argument
from cosmos_bench.core.atomic import write_bytes
from cosmos_bench.core.errors import CosmosError
from cosmos_bench.core.gpu import job_gpu
from cosmos_bench.core.hashing import sha256_file
from cosmos_bench.finetune.train import (
    SELECTIONS,
    VALIDATIONS,
    Examples,
    Outputs,
    Settings,
    train,
)
from cosmos_bench.finetune.trainset import (
    LOSS_RESOLUTIONS,
    Embeddings,
    ShardCache,
    cache_embeddings,
    n_patients,
    shard_paths,
    training_masks,
)
from cosmos_bench.models import build, resolve_device
from cosmos_bench.models.base import PromptableModel


def _load_model(args: argparse.Namespace) -> tuple[PromptableModel, dict]:
    run = parse(args.model)
    base = model_entry(load_models(args.root, args.models_files), run.base)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    model = build(base, args.weights, resolve_device(args.device), args.seed, args.precision)
    return model, base


def embed_main(args: argparse.Namespace) -> None:
    model, _ = _load_model(args)
    masks = training_masks([args.index], args.objects, ["train", "val"])
    masks = masks[masks["shard"] == args.shard_number]
    n = cache_embeddings(model, masks, args.shard, args.out, args.batch_size)
    print(f"[{args.model}] {args.shard.name}: cached {n} training images", file=sys.stderr)


def train_main(args: argparse.Namespace) -> None:
    run = parse(args.model)
    model, _ = _load_model(args)
    settings = Settings(
        arm=run.arm, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        weight_decay=args.weight_decay, box_jitter=args.box_jitter,
        loss_resolution=args.loss_resolution, lora_rank=args.lora_rank,
        lora_alpha=args.lora_alpha, select=args.select, validation=args.validation,
        checkpoint_every=args.checkpoint_every, seed=args.seed,
    )  # fmt: skip
    train_masks = training_masks(args.indexes, args.objects, ["train"])
    val_masks = training_masks(args.indexes, args.objects, ["val"])
    if train_masks.empty:
        raise CosmosError(
            f"{args.model}: no training mask of {args.objects} in the train split",
            fix="choose a subset with objects of the selected datasets, or more datasets",
        )
    cache = Embeddings.load(args.caches) if run.arm == "decoder" else None
    examples = Examples(
        model, ShardCache(shard_paths(args.shards)), cache, settings.box_jitter,
        settings.loss_resolution,
    )  # fmt: skip
    print(
        f"[{args.model}] {len(train_masks)} training masks ({n_patients(train_masks)} cases), "
        f"{len(val_masks)} validation masks, {settings.epochs} epochs of "
        f"{-(-len(train_masks) // settings.batch_size)} steps, device {model.device}",
        file=sys.stderr,
    )
    base_sha = sha256_file(args.weights) if args.weights else "random-init"
    out = Outputs(args.out, args.meta, args.log, args.state)
    key = settings.key(args.objects, base_sha)
    result = train(model, settings, train_masks, val_masks, examples, out, key)
    meta = {
        "model": args.model, "base": run.base, "base_sha256": base_sha, "arm": run.arm,
        "subset": run.subset, "objects": args.objects, "settings": asdict(settings),
        "train_masks": len(train_masks), "train_cases": n_patients(train_masks),
        "val_masks": len(val_masks), **result,
    }  # fmt: skip
    write_bytes(args.meta, (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode())
    print(f"[{args.model}] wrote {args.out} (sha256 {result['sha256'][:12]}...)", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("embed", "train"):
        p = sub.add_parser(name)
        p.add_argument("--model", required=True, help="the run id, base+arm@subset")
        p.add_argument("--weights", type=Path, help="the base model's verified weights")
        p.add_argument("--objects", nargs="+", required=True, help="the subset's objects")
        p.add_argument("--device", default="auto")
        p.add_argument("--precision", default="fp32", help="autocast: fp32 or bf16")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--threads", type=int, default=1)
        p.add_argument("--batch-size", type=int, default=2)
        p.add_argument("--root", type=Path, default=Path.cwd())
        models_argument(p)
    embed = sub.choices["embed"]
    embed.add_argument("--index", type=Path, required=True)
    embed.add_argument("--shard", type=Path, required=True)
    embed.add_argument("--shard-number", type=int, required=True)
    embed.add_argument("--out", type=Path, required=True)
    tr = sub.choices["train"]
    tr.add_argument("--indexes", type=Path, nargs="+", required=True)
    tr.add_argument("--shards", type=Path, nargs="+", required=True)
    tr.add_argument("--caches", type=Path, nargs="*", default=[], help="decoder arm: embeddings")
    recipe = Settings()
    tr.add_argument("--epochs", type=int, default=recipe.epochs)
    tr.add_argument("--lr", type=float, default=recipe.lr)
    tr.add_argument("--weight-decay", type=float, default=recipe.weight_decay)
    tr.add_argument("--box-jitter", type=int, default=recipe.box_jitter,
                    help="px at 1024; 0 = tight boxes")  # fmt: skip
    tr.add_argument("--loss-resolution", choices=LOSS_RESOLUTIONS,
                    default=recipe.loss_resolution)  # fmt: skip
    tr.add_argument("--lora-rank", type=int, default=recipe.lora_rank)
    tr.add_argument("--lora-alpha", type=float, default=recipe.lora_alpha)
    tr.add_argument("--select", choices=SELECTIONS, default=recipe.select)
    tr.add_argument("--validation", choices=VALIDATIONS, default=recipe.validation,
                    help="validation Dice: the single output's, or the best of three")  # fmt: skip
    tr.add_argument("--checkpoint-every", type=int, default=recipe.checkpoint_every,
                    help="steps between states")  # fmt: skip
    tr.add_argument("--state", type=Path, required=True, help="the resume state file")
    tr.add_argument("--out", type=Path, required=True, help="the fine-tuned weights")
    tr.add_argument("--meta", type=Path, required=True, help="their sha256 and recipe (JSON)")
    tr.add_argument("--log", type=Path, required=True, help="the loss log (CSV)")
    args = parser.parse_args(argv)
    with job_gpu(args.device):
        (embed_main if args.command == "embed" else train_main)(args)
