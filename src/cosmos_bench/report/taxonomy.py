"""How predictions fail, per target: the share that is empty, that leaks outside the box and
that falls apart into pieces, so a low mean Dice says *why* it is low.

- empty: no predicted pixel (the score files' `empty_prediction`);
- leaking: more than LEAK_SHARE of the predicted pixels lie outside the ground truth's tight
  box (the S5 box), so the model spilled into neighbouring structures;
- fragmented: more than one 8-connected component (a ground truth in several pieces makes its
  predictions count too: the harmonize step's `components` option splits such objects).

Empty comes from the scores; leaking and fragmented from the predictions' shapes
(report.shapes), and are missing (NaN) where predictions were not stored. Over one-shot,
unperturbed strategies and every repeat, per (model, strategy, selection, target).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cosmos_bench.infer.strategies import is_jittered

LEAK_SHARE = 0.10
FAILURE_COLUMNS = ["model", "strategy", "selection", "target", "n_predictions", "n_shapes",
                   "empty", "leaking", "fragmented"]  # fmt: skip
_KEYS = ["model", "mask_id", "strategy", "repeat", "selection"]


def failures(scores: pd.DataFrame, shapes: pd.DataFrame | None = None) -> pd.DataFrame:
    """FAILURE_COLUMNS: shares of all predictions of each group; `n_shapes` says how many of
    them had a stored prediction to measure."""
    rows = scores[(scores["click"] == 0) & ~scores["strategy"].map(is_jittered)]
    rows = rows[[*_KEYS, "target", "empty_prediction"]]
    if shapes is not None and len(shapes):
        measured = shapes[[*_KEYS, "pred_area_px", "pred_components", "pred_outside_box_px"]]
        rows = rows.merge(measured.astype({"repeat": rows["repeat"].dtype}), on=_KEYS,
                          how="left")  # fmt: skip
    else:
        rows = rows.assign(pred_area_px=np.nan, pred_components=np.nan, pred_outside_box_px=np.nan)
    known = rows["pred_area_px"].notna()
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
