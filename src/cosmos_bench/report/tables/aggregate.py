"""Per-mask scores -> the report's tables: summaries with case-bootstrap CIs, paired comparisons,
the oracle-minus-score gap and the paper's factor analysis.

Every statistic is computed over *masks*: the repeats of one (model, strategy, selection, mask)
are first averaged, so a mask scored with five random points counts as much as a mask scored
once with a box. Confidence intervals resample cases (report.tables.stats). Comparisons pair
the same masks, and for model-vs-model the same prompts (prompts depend only on the mask, the
strategy, the repeat and the seed). A model with a single answer (`selection == "single"`)
stands in for both selection rules when compared with a multimask model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from cosmos_bench.report.tables.comparisons import (
    finetune_pairs,
    loss_table,
    model_pairs,
    oracle_gap,
    strategy_pairs,
)
from cosmos_bench.report.tables.outputs import TABLES
from cosmos_bench.report.tables.paper import paper_table
from cosmos_bench.report.tables.stats import (
    CI_LEVEL,
    N_BOOTSTRAP,
    partial_spearman,
)
from cosmos_bench.report.tables.studies import (
    click_curves,
    cvpr25_table,
    everything_vs_box,
    jitter_drop,
    noc_table,
    text_prompts,
)
from cosmos_bench.report.tables.summaries import (
    COMPLEXITY,
    FACTORS,
    RUN_KEYS,
    case_keys,
    one_shot,
    overall,
    per_mask,
    summarise,
)
from cosmos_bench.report.tables.taxonomy import failures

FACTOR_COLUMNS = ["model", "strategy", "selection", "outcome", "factor", "n_masks", "rho", "p"]
FLOAT_DECIMALS = 6


def _factor_rows(frame: pd.DataFrame, outcome: str, key: tuple[str, str, str]) -> list[dict]:
    """Partial Spearman rho of `outcome` with each factor that varies, controlling the others."""
    data = frame.dropna(subset=[outcome, *FACTORS])
    varying = [f for f in FACTORS if data[f].nunique() > 1]
    rho, p = (np.array([]), np.array([]))
    if varying:
        rho, p = partial_spearman(data[outcome].to_numpy(), data[varying].to_numpy())
    found = dict(zip(varying, zip(rho, p, strict=True), strict=True))
    model, strategy, selection = key
    return [
        {
            "model": model,
            "strategy": strategy,
            "selection": selection,
            "outcome": outcome,
            "factor": f,
            "n_masks": len(data),
            "rho": found.get(f, (np.nan,))[0],
            "p": found.get(f, (np.nan, np.nan))[1],
        }  # fmt: skip
        for f in FACTORS
    ]


def factor_analysis(masks: pd.DataFrame, complexity: str = "paper") -> pd.DataFrame:
    """The paper's Table 6 per model, strategy and selection (outcome `dice`), and the same on
    the oracle gap (outcome `oracle_gap`, per model and strategy). A factor constant in a group
    (e.g. the modality in a one-modality run) has no correlation: NaN. The boundary complexity
    `f_final` follows `complexity`'s rule (COMPLEXITY: the paper's or the corrected one)."""
    masks = one_shot(masks).assign(f_final=lambda m: m[COMPLEXITY[complexity]])
    records = []
    for key, rows in masks.groupby(RUN_KEYS, sort=True):
        records += _factor_rows(rows, "dice", key)
    for (model, strategy), rows in masks.groupby(["model", "strategy"], sort=True):
        oracle, score = rows[rows["selection"] == "oracle"], rows[rows["selection"] == "score"]
        if oracle.empty or score.empty:
            continue
        both = oracle.merge(score[["mask_id", "dice"]], on="mask_id", suffixes=("", "_score"))
        both["oracle_gap"] = both["dice"] - both["dice_score"]
        records += _factor_rows(both, "oracle_gap", (model, strategy, "oracle-score"))
    return pd.DataFrame(records, columns=FACTOR_COLUMNS)


OBJECT3D_COLUMNS = [
    "object_id", "dataset", "cohort", "case", "split", "target", "model", "protocol", "dice",
    "nsd",
    "hd95_mm", "lost_slices", "empty_prediction", "n_slices", "n_masks_2d", "dice_2d_s5",
]  # fmt: skip


PROPAGATION_COLUMNS = [
    "model", "protocol", "target", "n_objects", "n_cases", "mean_dice_3d", "median_dice_3d",
    "mean_nsd_3d", "mean_hd95_mm", "objects_lost", "objects_missed", "n_objects_2d",
    "dice_2d_s5",
]  # fmt: skip


def object_key(mask_ids: pd.Series) -> pd.Series:
    """The 3D object a 2D mask belongs to: `dataset/[part--]case[-frame]#label[@layer]`, the
    volume store's object_id (the slice dropped, a cine frame kept)."""
    split = mask_ids.str.rsplit("/", n=1, expand=True)
    head, tail = split[0], split[1]
    ends = tail.str.split("#", n=1, expand=True)
    slice_id, suffix = ends[0], ends[1]
    frame = slice_id.where(slice_id.str.contains("-"), "").str.split("-").str[0]
    parts = head.str.split("/")
    dataset = parts.str[0]
    case = parts.str[-1] + frame.map(lambda f: f"-{f}" if f else "")
    part = parts.map(lambda p: f"{p[1]}--" if len(p) == 3 else "")
    return dataset + "/" + part + case + "#" + suffix


def propagation_objects(objects: pd.DataFrame, masks: pd.DataFrame) -> pd.DataFrame:
    """Each 3D object's scores beside the mean 2D Dice of its slices' masks under S5 for the
    same model (a box on every slice: what per-slice annotation buys over one box)."""
    if objects.empty:
        return pd.DataFrame(columns=OBJECT3D_COLUMNS)
    s5 = masks[(masks["strategy"] == "S5") & masks["selection"].isin(["single", "score"])]
    per_object = (
        s5.assign(object_id=object_key(s5["mask_id"]))
        .groupby(["model", "object_id"], sort=True)["dice"]
        .agg(n_masks_2d="count", dice_2d_s5="mean")
        .reset_index()
    )
    table = objects.merge(per_object, on=["model", "object_id"], how="left")
    table["n_masks_2d"] = table["n_masks_2d"].fillna(0).astype(int)
    return table.sort_values(["model", "protocol", "object_id"], ignore_index=True)[
        OBJECT3D_COLUMNS
    ]


def propagation(objects: pd.DataFrame) -> pd.DataFrame:
    """Per (model, protocol, target): 3D Dice/NSD/HD95, objects lost (a slice where the object
    is but the prediction is not) and missed (empty everywhere), and the 2D S5 reference over
    the objects that have 2D masks."""
    if objects.empty:
        return pd.DataFrame(columns=PROPAGATION_COLUMNS)
    objects = objects.assign(lost=objects["lost_slices"] > 0,
                             case_key=case_keys(objects))  # fmt: skip
    grouped = objects.groupby(["model", "protocol", "target"], sort=True)
    table = grouped.agg(
        n_objects=("object_id", "count"), n_cases=("case_key", "nunique"),
        mean_dice_3d=("dice", "mean"), median_dice_3d=("dice", "median"),
        mean_nsd_3d=("nsd", "mean"), mean_hd95_mm=("hd95_mm", "mean"),
        objects_lost=("lost", "sum"), objects_missed=("empty_prediction", "sum"),
        n_objects_2d=("n_masks_2d", lambda n: int((n > 0).sum())),
        dice_2d_s5=("dice_2d_s5", "mean"),
    ).reset_index()  # fmt: skip
    return table[PROPAGATION_COLUMNS]


def aggregate(
    scores: pd.DataFrame,
    seed: int = 0,
    n_boot: int = N_BOOTSTRAP,
    level: float = CI_LEVEL,
    runs: Mapping[str, dict] | None = None,
    objects3d: pd.DataFrame | None = None,
    complexity: str = "paper",
    paper: Mapping[str, Any] | None = None,
) -> dict[str, pd.DataFrame]:
    """Every table of the report, rounded so the CSVs are byte-stable.

    Iterative-click rows (click > 0) have their own study; the other tables hold one-shot
    prompts. The summaries by target, object, modality and dataset keep the jittered strategies
    out (their drop is the robustness table). `runs` maps each fine-tuning run to its
    metadata (`meta`, weights.json) and loss log (`log`); `objects3d` holds the 3D study's
    per-object scores (cosmos_bench.propagation); `paper` the paper's published numbers
    (resources/paper_results.yaml, report.tables.paper)."""
    runs = runs or {}
    masks = per_mask(scores[scores["click"] == 0])
    plain = one_shot(masks)
    objects = propagation_objects(pd.DataFrame() if objects3d is None else objects3d, plain)
    by_target = summarise(plain, "target", seed, n_boot, level)
    tables = {
        "by_target": by_target,
        "by_object": summarise(plain, "object", seed, n_boot, level),
        "by_dataset": summarise(plain, "dataset", seed, n_boot, level),
        "by_modality": summarise(plain, "modality", seed, n_boot, level),
        "overall": overall(plain, by_target, seed, n_boot, level),
        "model_pairs": model_pairs(masks, seed, n_boot, level),
        "strategy_pairs": strategy_pairs(masks, seed, n_boot, level),
        "oracle_gap": oracle_gap(masks, seed, n_boot, level),
        "factors": factor_analysis(masks, complexity),
        "jitter_drop": jitter_drop(masks),
        "everything_vs_box": everything_vs_box(masks),
        "text_prompts": text_prompts(scores),
        "click_curves": click_curves(scores),
        "noc": noc_table(scores),
        "cvpr25": cvpr25_table(scores, objects3d),
        "finetune": finetune_pairs(
            masks, {m: r["meta"]["objects"] for m, r in runs.items()}, seed, n_boot, level
        ),
        "finetune_loss": loss_table({m: r["log"] for m, r in runs.items()}),
        "propagation": propagation(objects),
        "propagation_objects": objects,
        "failures": failures(scores),
    }
    tables["paper_vs_ours"] = paper_table(tables, paper or {})
    assert tuple(tables) == TABLES
    return {name: rounded(table) for name, table in tables.items()}


def rounded(table: pd.DataFrame) -> pd.DataFrame:
    """Floats to FLOAT_DECIMALS decimals, p-values to as many significant digits (a p of 1e-9
    must not print as 0), so a re-run writes the same bytes."""
    p_values = table["p"] if "p" in table else None
    table = table.round(FLOAT_DECIMALS)
    if p_values is not None:
        table["p"] = [float(f"{v:.{FLOAT_DECIMALS}g}") for v in p_values]
    return table
