"""The score and gather_scores jobs (`python -m cosmos_bench.score {shard,gather}`): their
arguments, one shard's predictions scored (score.shard), a dataset's shards gathered."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pyarrow.parquet as pq

from cosmos_bench.catalog.cards import load_ontology
from cosmos_bench.contracts import RESOLUTIONS, SCORE_SCHEMA, SCORES_VERSION, SCORES_VERSION_KEY
from cosmos_bench.core.tables import write_table
from cosmos_bench.score.factors import modality_codes
from cosmos_bench.score.shard import gather, load_tolerances, score_shard
from cosmos_bench.store.index import read_index


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    one = sub.add_parser("shard", help="score one shard's predictions")
    one.add_argument("--model", required=True)
    one.add_argument("--predictions", type=Path, required=True)
    one.add_argument("--index", type=Path, required=True)
    one.add_argument("--shard", type=Path, required=True)
    one.add_argument("--out", type=Path, required=True)
    one.add_argument(
        "--resolution", choices=RESOLUTIONS, default="native",
        help="score at the source's size (native) or the stored one (score.resolution)",
    )  # fmt: skip
    one.add_argument("--root", type=Path, default=Path.cwd(), help="workflow folder")
    one.add_argument(
        "--tolerances",
        type=Path,
        help="NSD tolerances per target (default: ROOT/resources/nsd_tolerances.yaml)",
    )
    many = sub.add_parser("gather", help="concatenate a dataset's score shards")
    many.add_argument("--out", type=Path, required=True)
    many.add_argument("scores", nargs="+", type=Path)
    args = parser.parse_args(argv)
    if args.command == "gather":
        scores = gather(args.scores, args.out)
        print(f"{args.out}: {len(scores)} scores from {len(args.scores)} shards", file=sys.stderr)
        return
    tolerances = load_tolerances(args.tolerances or args.root / "resources" / "nsd_tolerances.yaml")
    modalities = modality_codes(load_ontology(args.root))
    predictions = pq.read_table(args.predictions).to_pandas()
    index = read_index(args.index)
    scores = score_shard(
        predictions, index, args.shard, args.model, tolerances, modalities, args.resolution
    )
    write_table(scores, args.out, SCORE_SCHEMA, {SCORES_VERSION_KEY: SCORES_VERSION})
    mean = scores.groupby("strategy").dice.mean().round(4).to_dict()
    print(
        f"[{args.model}] {args.shard.name}: {len(scores)} scores, mean Dice {mean}", file=sys.stderr
    )
