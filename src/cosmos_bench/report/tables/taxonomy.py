"""How predictions fail, per target: the share that is empty, that leaks outside the box and
that falls apart into pieces, so a low mean Dice says *why* it is low.

- empty: no predicted pixel (the score files' `empty_prediction`);
- leaking: more than LEAK_SHARE of the predicted pixels lie outside the ground truth's tight
  box (the S5 box), so the model spilled into neighbouring structures;
- fragmented: more than one 8-connected component (a ground truth in several pieces makes its
  predictions count too: the harmonize step's `components` option splits such objects).

All three come from the score files: scoring measures every chosen prediction's shape where it
scores it (score.shape), whether or not predictions are stored. Over one-shot, unperturbed
strategies and every repeat, per (model, strategy, selection, target).
"""

from __future__ import annotations

import pandas as pd

from cosmos_bench.core.strategies import is_jittered

LEAK_SHARE = 0.10
FAILURE_COLUMNS = ["model", "strategy", "selection", "target", "n_predictions", "n_shapes",
                   "empty", "leaking", "fragmented"]  # fmt: skip
_KEYS = ["model", "mask_id", "strategy", "repeat", "selection"]
SHAPE = ["pred_area_px", "pred_components", "pred_outside_box_px"]


def failures(scores: pd.DataFrame) -> pd.DataFrame:
    """FAILURE_COLUMNS: shares of all predictions of each group; `n_shapes` says how many of
    them have a measured shape (every one that scoring measured)."""
    rows = scores[(scores["click"] == 0) & ~scores["strategy"].map(is_jittered)]
    rows = rows[[*_KEYS, "target", "empty_prediction", *SHAPE]]
    known = rows["pred_components"].notna()
    area = rows["pred_area_px"].astype(float)
    rows = rows.assign(
        known=known,
        empty=rows["empty_prediction"].astype(float),
        leaking=((rows["pred_outside_box_px"] > LEAK_SHARE * area) & (area > 0)).astype(float)
        .where(known),
        fragmented=(rows["pred_components"] > 1).astype(float).where(known),
    )  # fmt: skip
    grouped = rows.groupby(["model", "strategy", "selection", "target"], sort=True)
    table = grouped.agg(
        n_predictions=("mask_id", "size"), n_shapes=("known", "sum"), empty=("empty", "mean"),
        leaking=("leaking", "mean"), fragmented=("fragmented", "mean"),
    ).reset_index()  # fmt: skip
    return table.astype({"n_shapes": "int64"})[FAILURE_COLUMNS]
