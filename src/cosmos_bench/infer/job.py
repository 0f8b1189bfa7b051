"""The infer job (`python -m cosmos_bench.infer`, the infer rule): its arguments, the model
built and its GPU leased, one shard's predictions written (the engine: infer.shard)."""

from __future__ import annotations

import argparse
import sys
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch

from cosmos_bench.catalog.finetune_ids import model_entry
from cosmos_bench.catalog.zoo import load_models, models_argument
from cosmos_bench.contracts import PREDICTION_SCHEMA, RESOLUTIONS
from cosmos_bench.core.gpu import job_gpu, needs_gpu
from cosmos_bench.core.strategies import POINT_RULES, TEXT_STRATEGIES
from cosmos_bench.core.tables import write_table
from cosmos_bench.infer import everything
from cosmos_bench.infer.clicks import CLICK_RULES
from cosmos_bench.infer.image import STORE, Study, usable_strategies
from cosmos_bench.infer.phrases import load_phrases
from cosmos_bench.infer.shard import infer_shard
from cosmos_bench.models import build, resolve_device
from cosmos_bench.models.base import PRECISIONS
from cosmos_bench.store.index import read_index


@dataclass(frozen=True)
class InferJob:
    """One infer job as its rule describes it: what it reads and writes, where it runs, and the
    settings its predictions depend on. The rule passes every setting (their defaults live in
    the config schema, once); the library's own defaults (Study, everything.Settings) are the
    paper's, for scripts, and a test holds the two equal."""

    model: str
    weights: Path | None
    index: Path
    shard: Path
    shard_number: int
    out: Path
    strategies: list[str]
    targets: list[str]
    splits: list[str]
    device: str
    threads: int
    batch_size: int
    store: str
    resolution: str
    precision: str
    compile: bool
    study: Study
    root: Path
    models_files: list[Path]


def parse(argv: list[str] | None = None) -> InferJob:
    """The job from the rule's command line."""
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
    parser.add_argument("--device", required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--batch-size", type=int, required=True, help="images per encoder call")
    parser.add_argument("--store", choices=STORE, required=True, help="which candidates")
    parser.add_argument("--resolution", choices=RESOLUTIONS, required=True,
                        help="where prompts are taken (score.resolution)")  # fmt: skip
    parser.add_argument("--precision", choices=PRECISIONS, required=True)
    parser.add_argument("--compile", action="store_true", help="torch.compile the networks")
    parser.add_argument("--repeats", type=int, required=True, help="repeats of jittered strategies")
    parser.add_argument("--clicks", type=int, required=True, help="clicks per session")
    parser.add_argument("--no-feed-logits", action="store_true", help="clicks without masks")
    parser.add_argument("--click-rule", choices=sorted(CLICK_RULES), required=True,
                        help="the next-click rule of the clicks-* sessions")  # fmt: skip
    parser.add_argument("--points", choices=POINT_RULES, required=True,
                        help="S2-S4/S6 points: the paper's rule or the authors' code")  # fmt: skip
    parser.add_argument("--grid", type=int, required=True, help="S1: points per side")
    parser.add_argument("--points-per-batch", type=int, required=True, help="S1: per decode call")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--root", type=Path, default=Path.cwd())
    models_argument(parser)
    args = parser.parse_args(argv)
    text = set(args.strategies) & set(TEXT_STRATEGIES)
    study = Study(
        seed=args.seed,
        repeats=args.repeats,
        clicks=args.clicks,
        feed_logits=not args.no_feed_logits,
        everything=everything.Settings(args.grid, args.points_per_batch),
        click_rule=args.click_rule,
        points=args.points,
        phrases=load_phrases(args.root) if text else {},
    )
    return InferJob(
        args.model, args.weights, args.index, args.shard, args.shard_number, args.out,
        args.strategies, args.targets, args.splits, args.device, args.threads, args.batch_size,
        args.store, args.resolution, args.precision, args.compile, study, args.root,
        args.models_files,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    job = parse(argv)
    entry = model_entry(load_models(job.root, job.models_files), job.model)
    # a neural model leases its GPU before CUDA starts (CUDA reads CUDA_VISIBLE_DEVICES once);
    # the weight-free baselines run on the CPU and never wait for one
    with job_gpu(job.device) if needs_gpu(entry) else nullcontext():
        run(job, entry)


def run(job: InferJob, entry: dict) -> None:
    """One (model, dataset, shard) job: every strategy's prompts, one encoder pass per image."""
    torch.manual_seed(job.study.seed)
    torch.set_num_threads(job.threads)
    device = resolve_device(job.device)
    model = build(entry, job.weights, device, job.study.seed, job.precision, job.compile)
    index = read_index(job.index)
    index = index[index.shard == job.shard_number]
    index = index[index.split.isin(job.splits)]
    if job.targets:
        index = index[index.target.isin(job.targets)]
    strategies = usable_strategies(job.strategies, set(entry["prompts"]), job.model)
    if everything.STRATEGY in strategies and not model.reports_stability:
        strategies.remove(everything.STRATEGY)
        print(f"[{job.model}] skips S1: it reports no stability scores", file=sys.stderr)
    print(
        f"[{job.model}] {job.shard.name}: {index.uid.nunique()} images, {len(index)} masks, "
        f"strategies {strategies}, device {device}",
        file=sys.stderr,
    )
    predictions = infer_shard(
        model,
        index,
        job.shard,
        strategies,
        batch_size=job.batch_size,
        store=job.store,
        fixed_batch=job.compile,
        name=job.model,
        study=job.study,
        resolution=job.resolution,
    )
    meta = {"cosmos_bench.model": job.model}
    write_table(predictions, job.out, PREDICTION_SCHEMA, meta, row_groups_by="target")
