"""The shape of each scored prediction, for the report's failure taxonomy: its area, its
connected components and its pixels outside the ground truth's tight box.

The score files say whether a prediction is empty but not where it went; these facts need the
prediction masks. One job per (model, dataset) reads its stored predictions, takes the
candidate each selection rule chose (score.shard.select on Dice where scoring measures it; the
shard's ground truth is read only where a prompt has several candidates) and measures it at
the stored size, where the index's tight box is. One-shot, unperturbed strategies only: those
the report's tables summarise.

`python -m cosmos_bench.report.shapes --predictions results/predictions/{model}/{dataset}
--index I --shards DIR --out O` (the folder's shard-*.parquet; none stored: an empty table)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from cosmos_bench.contracts import RESOLUTIONS
from cosmos_bench.core import rle
from cosmos_bench.core.atomic import write_bytes
from cosmos_bench.core.errors import run_cli
from cosmos_bench.core.resample import resize_nearest
from cosmos_bench.harmonize.index import read_index
from cosmos_bench.harmonize.shards import ShardReader, shard_name
from cosmos_bench.infer.strategies import is_jittered
from cosmos_bench.infer.truth import truth_of
from cosmos_bench.score.metrics import dice
from cosmos_bench.score.shard import select

SHAPE_COLUMNS = ["mask_id", "strategy", "repeat", "selection", "pred_area_px",
                 "pred_components", "pred_outside_box_px"]  # fmt: skip
_READ = ["mask_id", "strategy", "repeat", "click", "candidate", "n_candidates", "model_score",
         "height", "width", "rle"]  # fmt: skip
_BOX = ["bbox_x0", "bbox_y0", "bbox_x1", "bbox_y1"]
_WHERE = ["row", "layer", "label", "scale"]  # what infer.truth.truth_of reads


def decoded(rows: pd.DataFrame) -> list[np.ndarray]:
    """The prediction rows' masks at the stored size."""
    sizes = zip(rows["rle"], rows["height"], rows["width"], strict=True)
    return [rle.decode(np.asarray(r), (int(h), int(w))) for r, h, w in sizes]


def shape_of(pred: np.ndarray, box: tuple[int, int, int, int]) -> tuple[int, int, int]:
    """(area, 8-connected components, pixels outside the inclusive box x0, y0, x1, y1)."""
    area = int(np.count_nonzero(pred))
    if area == 0:
        return 0, 0, 0
    n_labels, _ = cv2.connectedComponents(pred.astype(np.uint8), connectivity=8)
    x0, y0, x1, y1 = (int(v) for v in box)
    inside = int(np.count_nonzero(pred[max(0, y0) : y1 + 1, max(0, x0) : x1 + 1]))
    return area, n_labels - 1, area - inside


def _one_shot(predictions: pd.DataFrame) -> pd.DataFrame:
    keep = (predictions["click"] == 0) & ~predictions["strategy"].map(is_jittered)
    order = ["mask_id", "strategy", "repeat", "candidate"]
    return predictions[keep].sort_values(order, kind="mergesort", ignore_index=True)


def shard_shapes(
    predictions: pd.DataFrame, index: pd.DataFrame, shard: Path, resolution: str = "native"
) -> pd.DataFrame:
    """SHAPE_COLUMNS for every (mask, strategy, repeat, selection) of one shard's predictions."""
    masks = index.set_index("mask_id")
    rows: list[dict] = []
    reader: ShardReader | None = None
    try:
        for (mask_id, strategy, repeat), group in _one_shot(predictions).groupby(
            ["mask_id", "strategy", "repeat"], sort=True
        ):
            group = group.reset_index(drop=True)
            preds = decoded(group)
            if int(group["n_candidates"].iloc[0]) == 1:
                picked = [("single", 0)]
            else:
                reader = reader or ShardReader(shard)
                where = SimpleNamespace(mask_id=mask_id, **masks.loc[mask_id, _WHERE])
                truth = truth_of(reader, int(where.row), where, resolution)
                scored = truth.source
                group = group.assign(
                    dice=[dice(resize_nearest(p, scored.shape), scored) for p in preds]
                )
                picked = [(rule, int(row.name)) for rule, row in select(group)]
            box = tuple(masks.loc[mask_id, _BOX])
            for rule, k in picked:
                area, parts, outside = shape_of(preds[k], box)
                rows.append({
                    "mask_id": mask_id, "strategy": strategy, "repeat": int(repeat),
                    "selection": rule, "pred_area_px": area, "pred_components": parts,
                    "pred_outside_box_px": outside,
                })  # fmt: skip
    finally:
        if reader is not None:
            reader.file.close()
    return pd.DataFrame(rows, columns=SHAPE_COLUMNS)


def dataset_shapes(
    predictions: Path, index_path: Path, shards: Path, resolution: str = "native"
) -> pd.DataFrame:
    """The shapes of every shard of the index stored in one (model, dataset)'s predictions
    folder, sorted (files of shards the index no longer has are left alone)."""
    index = read_index(index_path)
    frames = []
    for number in sorted(int(k) for k in index["shard"].unique()):
        path = Path(predictions) / f"shard-{number:05d}.parquet"
        if not path.is_file():
            continue
        stored = pq.read_table(path, columns=_READ).to_pandas()
        frames.append(shard_shapes(stored, index, shards / shard_name(number), resolution))
    frames = [f for f in frames if len(f)]
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=SHAPE_COLUMNS)
    return table.sort_values(["mask_id", "strategy", "repeat", "selection"], ignore_index=True)


def write_shapes(table: pd.DataFrame, out: Path) -> None:
    """Parquet, written atomically."""
    buffer = table.astype({"repeat": "int16", "pred_area_px": "int64", "pred_components": "int32",
                           "pred_outside_box_px": "int64"}).to_parquet(index=False)  # fmt: skip
    write_bytes(out, buffer)


def read_shapes(paths: list[Path]) -> pd.DataFrame:
    """Every (model, dataset)'s shapes with a `model` column (the folder name)."""
    paths = sorted(map(Path, paths))
    frames = [pd.read_parquet(p).assign(model=p.parent.name) for p in paths]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=[*SHAPE_COLUMNS, "model"])
    return pd.concat(frames, ignore_index=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m cosmos_bench.report.shapes",
                                     description=__doc__.split("\n\n")[0])  # fmt: skip
    parser.add_argument(
        "--predictions",
        type=Path,
        required=True,
        help="the (model, dataset)'s predictions folder (its shard-*.parquet; none: no rows)",
    )
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--shards", type=Path, required=True, help="harmonized/{dataset}/shards")
    parser.add_argument(
        "--resolution",
        choices=RESOLUTIONS,
        default="native",
        help="where scoring measured Dice (score.resolution)",
    )
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    table = dataset_shapes(args.predictions, args.index, args.shards, args.resolution)
    write_shapes(table, args.out)
    print(f"{args.out}: {len(table)} prediction shapes", file=sys.stderr)


if __name__ == "__main__":
    run_cli(main)
