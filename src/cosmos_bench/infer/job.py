"""The infer job (`python -m cosmos_bench.infer`, the infer rule): its arguments, the model
built and its GPU leased, one shard's predictions written (the engine: infer.shard)."""

from __future__ import annotations

import argparse
import sys
from contextlib import nullcontext
from pathlib import Path

import torch

from cosmos_bench.catalog.finetune_ids import model_entry
from cosmos_bench.catalog.zoo import load_models, models_argument
from cosmos_bench.contracts import PREDICTION_SCHEMA, RESOLUTIONS
from cosmos_bench.core.gpu import job_gpu, needs_gpu
from cosmos_bench.core.tables import write_table
from cosmos_bench.harmonize.index import read_index
from cosmos_bench.infer import everything
from cosmos_bench.infer.clicks import CLICK_RULES, N_CLICKS
from cosmos_bench.infer.phrases import load_phrases
from cosmos_bench.infer.shard import STORE, Study, infer_shard, usable_strategies
from cosmos_bench.infer.strategies import POINT_RULES, TEXT_STRATEGIES
from cosmos_bench.models import build, resolve_device
from cosmos_bench.models.base import PRECISIONS


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--weights", type=Path, help="verified weights file (if the model has any)")
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--shard", type=Path, required=True)
    parser.add_argument("--shard-number", type=int, required=True)
    parser.add_argument("--strategies", nargs="+", required=True)
    parser.add_argument("--targets", nargs="*", default=[], help="keep only these targets")
    parser.add_argument(
        "--splits", nargs="+", default=["train", "val", "test"],
        help="keep only cases of these splits (fine-tuned models: test)",
    )  # fmt: skip
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=1, help="images per encoder call")
    parser.add_argument("--store", choices=STORE, default="selected", help="which candidates")
    parser.add_argument(
        "--resolution", choices=RESOLUTIONS, default="native",
        help="where prompts are taken (score.resolution)",
    )  # fmt: skip
    parser.add_argument("--precision", choices=PRECISIONS, default="auto")
    parser.add_argument("--compile", action="store_true", help="torch.compile the networks")
    parser.add_argument("--repeats", type=int, default=1, help="repeats of jittered strategies")
    parser.add_argument("--clicks", type=int, default=N_CLICKS, help="clicks per session")
    parser.add_argument("--no-feed-logits", action="store_true", help="clicks without masks")
    parser.add_argument("--click-rule", choices=sorted(CLICK_RULES), default="ritm",
                        help="the next-click rule of the clicks-* sessions")  # fmt: skip
    parser.add_argument("--points", choices=POINT_RULES, default="paper",
                        help="S2-S4/S6 points: the paper's rule or the authors' code")  # fmt: skip
    parser.add_argument("--grid", type=int, default=32, help="S1: points per side")
    parser.add_argument("--points-per-batch", type=int, default=64, help="S1: per decode call")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--root", type=Path, default=Path.cwd())
    models_argument(parser)
    args = parser.parse_args(argv)
    entry = model_entry(load_models(args.root, args.models_files), args.model)
    # a neural model leases its GPU before CUDA starts (CUDA reads CUDA_VISIBLE_DEVICES once);
    # the weight-free baselines run on the CPU and never wait for one
    with job_gpu(args.device) if needs_gpu(entry) else nullcontext():
        run(args, entry)


def run(args: argparse.Namespace, entry: dict) -> None:
    """One (model, dataset, shard) job: every strategy's prompts, one encoder pass per image."""
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    model = build(entry, args.weights, device, args.seed, args.precision, args.compile)
    index = read_index(args.index)
    index = index[index.shard == args.shard_number]
    index = index[index.split.isin(args.splits)]
    if args.targets:
        index = index[index.target.isin(args.targets)]
    strategies = usable_strategies(args.strategies, set(entry["prompts"]), args.model)
    if everything.STRATEGY in strategies and not model.reports_stability:
        strategies.remove(everything.STRATEGY)
        print(f"[{args.model}] skips S1: it reports no stability scores", file=sys.stderr)
    print(
        f"[{args.model}] {args.shard.name}: {index.uid.nunique()} images, {len(index)} masks, "
        f"strategies {strategies}, device {device}",
        file=sys.stderr,
    )
    predictions = infer_shard(
        model,
        index,
        args.shard,
        strategies,
        batch_size=args.batch_size,
        store=args.store,
        fixed_batch=args.compile,
        name=args.model,
        study=Study(
            args.seed,
            args.repeats,
            args.clicks,
            not args.no_feed_logits,
            everything.Settings(args.grid, args.points_per_batch),
            args.click_rule,
            args.points,
            load_phrases(args.root) if set(strategies) & set(TEXT_STRATEGIES) else {},
        ),
        resolution=args.resolution,
    )
    meta = {"cosmos_bench.model": args.model}
    write_table(predictions, args.out, PREDICTION_SCHEMA, meta, row_groups_by="target")
