"""Scoring for one (model, dataset, shard): metrics per mask, strategy, repeat and selection.

Selection rules over a prompt's candidates: `single` when the model returned one mask;
otherwise both `oracle` (the candidate with the highest Dice against the ground truth, the
paper's rule) and `score` (the candidate the model itself rates best, what a user gets).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from cosmos_bench import metrics, rle
from cosmos_bench.errors import run_cli
from cosmos_bench.index import read_index, write_table
from cosmos_bench.shards import ShardReader

SCORE_SCHEMA = pa.schema(
    [
        ("mask_id", pa.string()),
        ("uid", pa.string()),
        ("dataset", pa.string()),
        ("case", pa.string()),
        ("modality", pa.string()),
        ("object", pa.string()),
        ("target", pa.string()),
        ("model", pa.string()),
        ("strategy", pa.string()),
        ("repeat", pa.int16()),
        ("selection", pa.string()),
        ("dice", pa.float64()),
        ("iou", pa.float64()),
        ("area_px", pa.int64()),
    ]
)
META = ["uid", "dataset", "case", "modality", "object", "target", "area_px"]


def select(group: pd.DataFrame) -> list[tuple[str, pd.Series]]:
    """The candidate rows each selection rule keeps for one (mask, strategy, repeat)."""
    if len(group) == 1:
        return [("single", group.iloc[0])]
    by_score = group.model_score.fillna(-np.inf).to_numpy().argmax()
    return [("oracle", group.loc[group.dice.idxmax()]), ("score", group.iloc[by_score])]


def score_shard(
    predictions: pd.DataFrame, index: pd.DataFrame, shard: Path, model: str
) -> pd.DataFrame:
    """Dice and IoU of every candidate, then one row per selection rule."""
    masks = index.set_index("mask_id")
    where = masks.loc[predictions.mask_id, ["row", "layer", "label"]].to_numpy()
    dice = np.zeros(len(predictions))
    iou = np.zeros(len(predictions))
    with ShardReader(shard) as reader:
        # image by image (the reader keeps one image's layers), in prediction order within it
        for i in np.argsort(where[:, 0], kind="stable"):
            row, layer, label = (int(v) for v in where[i])
            gt = reader.mask(row, layer, label)
            pred = rle.decode(np.asarray(predictions.rle.iat[i]), gt.shape)
            dice[i], iou[i] = metrics.dice(pred, gt), metrics.iou(pred, gt)
    scored = predictions.assign(dice=dice, iou=iou)
    rows = []
    for (mask_id, strategy, repeat), group in scored.groupby(
        ["mask_id", "strategy", "repeat"], sort=True
    ):
        for rule, chosen in select(group):
            rows.append(
                {
                    "mask_id": mask_id,
                    "strategy": strategy,
                    "repeat": repeat,
                    "selection": rule,
                    "dice": chosen.dice,
                    "iou": chosen.iou,
                }
            )
    out = pd.DataFrame(rows, columns=["mask_id", "strategy", "repeat", "selection", "dice", "iou"])
    out = out.join(masks[META], on="mask_id").assign(model=model)
    return out.sort_values(["mask_id", "strategy", "repeat", "selection"], ignore_index=True)


def gather(paths: list[Path], out: Path) -> pd.DataFrame:
    """One table per (model, dataset) from its shards: what the report and a user read."""
    frames = [pq.read_table(p).to_pandas() for p in sorted(paths)]
    scores = pd.concat(frames, ignore_index=True).sort_values(
        ["mask_id", "strategy", "repeat", "selection"], ignore_index=True
    )
    write_table(scores, out, SCORE_SCHEMA, {"cosmos_bench.scores": "1"})
    return scores


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    one = sub.add_parser("shard", help="score one shard's predictions")
    one.add_argument("--model", required=True)
    one.add_argument("--predictions", type=Path, required=True)
    one.add_argument("--index", type=Path, required=True)
    one.add_argument("--shard", type=Path, required=True)
    one.add_argument("--out", type=Path, required=True)
    many = sub.add_parser("gather", help="concatenate a dataset's score shards")
    many.add_argument("--out", type=Path, required=True)
    many.add_argument("scores", nargs="+", type=Path)
    args = parser.parse_args(argv)
    if args.command == "gather":
        scores = gather(args.scores, args.out)
        print(f"{args.out}: {len(scores)} scores from {len(args.scores)} shards", file=sys.stderr)
        return
    predictions = pq.read_table(args.predictions).to_pandas()
    scores = score_shard(predictions, read_index(args.index), args.shard, args.model)
    write_table(scores, args.out, SCORE_SCHEMA, {"cosmos_bench.scores": "1"})
    mean = scores.groupby("strategy").dice.mean().round(4).to_dict()
    print(
        f"[{args.model}] {args.shard.name}: {len(scores)} scores, mean Dice {mean}", file=sys.stderr
    )


if __name__ == "__main__":
    run_cli(main)
