"""The paper's studies summarised from per-mask scores: each one a table of paired numbers.

Every comparison pairs the same masks (and the same model and selection rule), so a difference
is never a difference of mask sets:
- `jitter_drop`: for each jittered strategy (core.strategies), the mean Dice of its base
  strategy minus its own (repeats averaged per mask first), per model, mode, range, selection.
- `everything_vs_box`: Everything mode (S1) against the tight box (S5) per target, on the same
  masks: S1 under each matching rule beside S5 under the same rule (or its single answer).
- `click_curves` and `noc_table`: iterative clicking (infer.clicks): the mean Dice after
  each click over the same masks, and the mean number of clicks to reach Dice 0.85 and 0.90
  (a mask that never does counts as the session's number of clicks).
- `cvpr25_table`: the CVPR 2025 interactive challenge's protocol (box, then five clicks): its
  DSC/NSD after the box and the last click and their AUC over the clicks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.integrate import trapezoid

from cosmos_bench.contracts import CVPR25_2D, CVPR25_3D
from cosmos_bench.core.strategies import CVPR25, TEXT_STRATEGIES, is_jittered, jitter_of
from cosmos_bench.infer.clicks import noc

JITTER_COLUMNS = [
    "model", "base", "mode", "lo", "hi", "selection",
    "n_masks", "dice_base", "dice_jittered", "dice_drop",
]  # fmt: skip


def jitter_drop(masks: pd.DataFrame) -> pd.DataFrame:
    """Paired Dice drop of every jittered strategy against its unperturbed base.

    `masks` has one row per (model, strategy, selection, mask_id) with its mean `dice`."""
    jittered = masks[masks["strategy"].map(is_jittered)]
    if jittered.empty:
        return pd.DataFrame(columns=JITTER_COLUMNS)
    spec = jittered["strategy"].map(jitter_of)
    jittered = jittered.assign(
        base=spec.map(lambda j: j.base),
        mode=spec.map(lambda j: j.mode),
        lo=spec.map(lambda j: j.lo),
        hi=spec.map(lambda j: j.hi),
    )
    base = masks[["model", "strategy", "selection", "mask_id", "dice"]].rename(
        columns={"strategy": "base", "dice": "dice_base"}
    )
    paired = jittered.merge(base, on=["model", "base", "selection", "mask_id"], how="inner")
    paired["drop"] = paired["dice_base"] - paired["dice"]
    keys = ["model", "base", "mode", "lo", "hi", "selection"]
    table = paired.groupby(keys, sort=True).agg(
        n_masks=("mask_id", "nunique"),
        dice_base=("dice_base", "mean"),
        dice_jittered=("dice", "mean"),
        dice_drop=("drop", "mean"),
    )
    return table.reset_index()[JITTER_COLUMNS]


CURVE_COLUMNS = ["model", "strategy", "click", "n_masks", "mean_dice"]
#: NoC as RITM's `compute_noc_metric` (isegm/inference/utils.py) counts it, on IoU (its metric)
#: and on Dice: the first click reaching the threshold, the session's length when none does;
#: NoF, its `over_max`, counts the masks whose NoC equals the session's length
NOC_COLUMNS = [
    "model", "strategy", "n_masks", "n_clicks", "noc85_iou", "noc90_iou", "nof85_iou",
    "nof90_iou", "noc85_dice", "noc90_dice", "iou_last", "dice_last",
]  # fmt: skip


def _clicks(scores: pd.DataFrame) -> pd.DataFrame:
    """The clicks-* sessions' rows (the CVPR 2025 protocol has its own table)."""
    return scores[(scores["click"] > 0) & (scores["strategy"] != CVPR25)]


def click_curves(scores: pd.DataFrame) -> pd.DataFrame:
    """Mean Dice after each click, per model and start (every session has every click)."""
    rows = _clicks(scores)
    if rows.empty:
        return pd.DataFrame(columns=CURVE_COLUMNS)
    table = rows.groupby(["model", "strategy", "click"], sort=True).agg(
        n_masks=("mask_id", "nunique"), mean_dice=("dice", "mean")
    )
    return table.reset_index()[CURVE_COLUMNS]


def noc_table(scores: pd.DataFrame) -> pd.DataFrame:
    """NoC@85 and NoC@90 (and NoF) averaged over masks, per model and start, on IoU (RITM's
    metric, the one interactive-segmentation papers report) and on Dice."""
    rows = _clicks(scores)
    if rows.empty:
        return pd.DataFrame(columns=NOC_COLUMNS)
    records = []
    for (model, strategy), group in rows.groupby(["model", "strategy"], sort=True):
        n_clicks = int(group["click"].max())
        ordered = group.sort_values("click").groupby("mask_id", sort=True)
        record = {"model": model, "strategy": strategy, "n_clicks": n_clicks}
        for metric in ("iou", "dice"):
            sessions = ordered[metric].apply(list).tolist()
            record["n_masks"] = len(sessions)
            record[f"{metric}_last"] = sum(s[-1] for s in sessions) / len(sessions)
            for threshold in (85, 90):
                counts = [noc(s, threshold / 100, n_clicks) for s in sessions]
                record[f"noc{threshold}_{metric}"] = sum(counts) / len(counts)
                record[f"nof{threshold}_{metric}"] = sum(c == n_clicks for c in counts)
        records.append(record)
    return pd.DataFrame(records)[NOC_COLUMNS]


#: the CVPR 2025 interactive challenge's metrics (CVPR25_iter_eval.py), per model
CVPR25_COLUMNS = [
    "model", "dimension", "n_cases", "n_masks", "dsc_box", "dsc_final", "nsd_final", "dsc_auc",
    "nsd_auc",
]  # fmt: skip


#: the 3D protocols of the table: a 2D model through the box chain, a volume model natively
DIMENSIONS = {CVPR25_2D: "3d", CVPR25_3D: "3d-native"}


def cvpr25_table(scores: pd.DataFrame, objects3d: pd.DataFrame | None = None) -> pd.DataFrame:
    """The CVPR 2025 protocol as its script scores it: DSC and NSD after the box (step 1) and
    after each of five clicks (steps 2-6); per case the mean over its classes; the AUC is the
    trapezoid over the five click steps at unit spacing (the box step is not in it), final =
    after the fifth click; then the mean over cases. In 2D a case is an image, its classes its
    masks, the NSD MedSAM's (`nsd_medsam`: the slab, tolerance 2, 0 below Dice 0.2), the 2D
    form of its own; in 3D (the propagation study's `cvpr25` runs, dimension `3d`, and
    `cvpr25-3d` runs of volume models, `3d-native`) a case is a volume, its classes its objects,
    the NSD the script's own at 2 mm (propagation.cvpr25)."""
    rows = scores[(scores["strategy"] == CVPR25) & (scores["click"] > 0)]
    steps = rows[["model", "uid", "click", "dice", "nsd_medsam", "mask_id"]].assign(dimension="2d")
    if objects3d is not None and not objects3d.empty:
        runs = objects3d[objects3d["protocol"].isin(DIMENSIONS)]
        flat = pd.DataFrame({
            "model": runs["model"], "uid": runs["dataset"] + "/" + runs["case"].astype(str),
            "click": [list(range(1, len(s) + 1)) for s in runs["dice_steps"]],
            "dice": runs["dice_steps"], "nsd_medsam": runs["nsd_steps"],
            "mask_id": runs["object_id"], "dimension": runs["protocol"].map(DIMENSIONS),
        }).explode(["click", "dice", "nsd_medsam"])  # fmt: skip
        steps = pd.concat([steps, flat], ignore_index=True)
    if steps.empty:
        return pd.DataFrame(columns=CVPR25_COLUMNS)
    steps = steps.astype({"click": int, "dice": float, "nsd_medsam": float})
    per_case = steps.groupby(["model", "dimension", "uid", "click"], sort=True).agg(
        dsc=("dice", "mean"), nsd=("nsd_medsam", "mean"), n_masks=("mask_id", "nunique")
    )
    records = []
    for (model, dimension), of_model in per_case.groupby(level=["model", "dimension"]):
        images = [image.droplevel(["model", "dimension", "uid"]).sort_index()
                  for _, image in of_model.groupby(level="uid", sort=True)]  # fmt: skip
        clicks = [image.iloc[1:] for image in images]  # the five click steps
        records.append({
            "model": model, "dimension": dimension, "n_cases": len(images),
            "n_masks": int(sum(image["n_masks"].iloc[0] for image in images)),
            "dsc_box": np.mean([image["dsc"].iloc[0] for image in images]),
            "dsc_final": np.mean([image["dsc"].iloc[-1] for image in images]),
            "nsd_final": np.mean([image["nsd"].iloc[-1] for image in images]),
            "dsc_auc": np.mean([trapezoid(c["dsc"].to_numpy()) for c in clicks]),
            "nsd_auc": np.mean([trapezoid(c["nsd"].to_numpy()) for c in clicks]),
        })  # fmt: skip
    return pd.DataFrame(records, columns=CVPR25_COLUMNS)


S1_COLUMNS = ["model", "target", "selection", "n_masks", "dice_s1", "dice_s5", "dice_gap"]


def everything_vs_box(masks: pd.DataFrame) -> pd.DataFrame:
    """Per model, target and S1 matching rule: mean Dice of S1 and of S5 on the same masks."""
    s1 = masks[masks["strategy"] == "S1"]
    s5 = masks[masks["strategy"] == "S5"][["model", "selection", "mask_id", "dice"]]
    if s1.empty or s5.empty:
        return pd.DataFrame(columns=S1_COLUMNS)
    same_rule = s1.merge(s5, on=["model", "selection", "mask_id"], suffixes=("", "_s5"))
    single = s5[s5["selection"] == "single"].drop(columns="selection")
    by_single = s1.merge(single, on=["model", "mask_id"], suffixes=("", "_s5"))
    paired = pd.concat([same_rule, by_single], ignore_index=True)
    paired["gap"] = paired["dice_s5"] - paired["dice"]
    table = paired.groupby(["model", "target", "selection"], sort=True).agg(
        n_masks=("mask_id", "nunique"),
        dice_s1=("dice", "mean"),
        dice_s5=("dice_s5", "mean"),
        dice_gap=("gap", "mean"),
    )
    return table.reset_index()[S1_COLUMNS]


TEXT_COLUMNS = ["model", "target", "strategy", "selection", "n_masks", "empty_answers",
                "dice", "dice_answered", "dice_s5"]  # fmt: skip


def text_prompts(scores: pd.DataFrame) -> pd.DataFrame:
    """Per model, target, text strategy and selection rule: the share of masks the model
    answered with nothing that overlaps them (`empty_answers`; Dice 0 there), the mean Dice
    over all masks and over the answered ones, and S5's mean Dice on the same masks where the
    run has S5 (under the same rule, or its single answer). One row per mask and rule: neither
    strategy is jittered or clicked."""
    masks = scores[scores["click"] == 0]
    text = masks[masks["strategy"].isin(TEXT_STRATEGIES)]
    if text.empty:
        return pd.DataFrame(columns=TEXT_COLUMNS)
    s5 = masks[masks["strategy"] == "S5"]
    same_rule = s5[["model", "selection", "mask_id", "dice"]].rename(columns={"dice": "dice_s5"})
    single = same_rule[same_rule["selection"] == "single"].drop(columns="selection")
    paired = text.merge(same_rule, on=["model", "selection", "mask_id"], how="left")
    paired = paired.merge(single, on=["model", "mask_id"], how="left", suffixes=("", "_single"))
    paired["dice_s5"] = paired["dice_s5"].fillna(paired["dice_s5_single"])
    paired["answered"] = paired["dice"].where(~paired["empty_prediction"].astype(bool))
    table = paired.groupby(["model", "target", "strategy", "selection"], sort=True).agg(
        n_masks=("mask_id", "nunique"),
        empty_answers=("empty_prediction", "mean"),
        dice=("dice", "mean"),
        dice_answered=("answered", "mean"),
        dice_s5=("dice_s5", "mean"),
    )
    return table.reset_index()[TEXT_COLUMNS]

