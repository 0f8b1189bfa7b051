"""Per-mask scores -> the report's tables: summaries with case-bootstrap CIs, paired comparisons,
the oracle-minus-score gap and the paper's factor analysis.

Every statistic is computed over *masks*: the repeats of one (model, strategy, selection, mask)
are first averaged, so a mask scored with five random points counts as much as a mask scored
once with a box. Confidence intervals resample cases (cosmos_bench.stats). Comparisons pair
the same masks, and for model-vs-model the same prompts (prompts depend only on the mask, the
strategy, the repeat and the seed). A model with a single answer (`selection == "single"`)
stands in for both selection rules when compared with a multimask model.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import combinations

import numpy as np
import pandas as pd

from cosmos_bench.finetuned import is_finetuned, parse
from cosmos_bench.prompts import is_jittered
from cosmos_bench.stats import (
    CI_LEVEL,
    N_BOOTSTRAP,
    case_bootstrap_ci,
    group_seed,
    partial_spearman,
)
from cosmos_bench.studies import click_curves, everything_vs_box, jitter_drop, noc_table

RUN_KEYS = ["model", "strategy", "selection"]
#: The paper's factors (Sec. 4.8), as the scoring step names them; `f_final` is the boundary
#: complexity with the corrected Fourier rule (cosmos_bench.factors).
FACTORS = ["area_px", "aspect_ratio", "intensity_difference", "f_final", "modality_code"]
FACTOR_COLUMNS = ["model", "strategy", "selection", "outcome", "factor", "n_masks", "rho", "p"]
FLOAT_DECIMALS = 6
#: every table `aggregate` returns, written as results/tables/{name}.csv and .parquet
TABLES = (
    "by_target", "by_object", "by_dataset", "by_modality", "overall", "model_pairs",
    "strategy_pairs", "oracle_gap", "factors", "jitter_drop", "everything_vs_box",
    "click_curves", "noc", "finetune", "finetune_loss", "propagation", "propagation_objects",
)  # fmt: skip


def per_mask(scores: pd.DataFrame) -> pd.DataFrame:
    """Average repeats so each (model, strategy, selection, mask) is one sample."""
    keys = [*RUN_KEYS, "mask_id"]
    grouped = scores.groupby(keys, sort=True, observed=True)
    first = ["dataset", "case", "split", "uid", "modality", "object", "target", *FACTORS]
    masks = grouped.agg(
        **{c: (c, "first") for c in first}, dice=("dice", "mean"), iou=("iou", "mean")
    ).reset_index()
    masks["case_key"] = masks["dataset"].astype(str) + "/" + masks["case"].astype(str)
    return masks


def one_shot(masks: pd.DataFrame) -> pd.DataFrame:
    """The unperturbed strategies: the jittered ones belong to the robustness study."""
    return masks[~masks["strategy"].map(is_jittered)]


def _with_ci(
    table: pd.DataFrame, groups: Iterable, column: str, seed: int, n_boot: int, level: float
) -> pd.DataFrame:
    """Add ci_low / ci_high of `column`'s mean to one row per group, in the table's order."""
    bounds = [
        case_bootstrap_ci(
            rows[column].to_numpy(),
            rows["case_key"].to_numpy(),
            group_seed(seed, (column, *key)),
            n_boot,
            level,
        )  # fmt: skip
        for key, rows in groups
    ]
    table["ci_low"] = [b[0] for b in bounds]
    table["ci_high"] = [b[1] for b in bounds]
    return table


def summarise(
    masks: pd.DataFrame, by: str, seed: int, n_boot: int = N_BOOTSTRAP, level: float = CI_LEVEL
) -> pd.DataFrame:
    """Per-group statistics; n_cases counts (dataset, case) pairs, not case names."""
    keys = [*RUN_KEYS, by]
    grouped = masks.groupby(keys, sort=True, observed=True)
    table = grouped.agg(
        n_masks=("mask_id", "nunique"),
        n_cases=("case_key", "nunique"),
        n_images=("uid", "nunique"),
        mean_dice=("dice", "mean"),
        median_dice=("dice", "median"),
        std_dice=("dice", "std"),
        mean_iou=("iou", "mean"),
    ).reset_index()
    return _with_ci(table, grouped, "dice", seed, n_boot, level)


def overall(
    masks: pd.DataFrame,
    by_target: pd.DataFrame,
    seed: int,
    n_boot: int = N_BOOTSTRAP,
    level: float = CI_LEVEL,
) -> pd.DataFrame:
    """Both weightings, because a large target otherwise hides how a model does on rare ones;
    the CI is the mask-weighted mean's."""
    grouped = masks.groupby(RUN_KEYS, sort=True, observed=True)
    table = grouped.agg(
        n_masks=("mask_id", "nunique"),
        n_cases=("case_key", "nunique"),
        n_targets=("target", "nunique"),
        dice_mask_weighted=("dice", "mean"),
    )
    target_weighted = by_target.groupby(RUN_KEYS, sort=True, observed=True)["mean_dice"].mean()
    table["dice_target_weighted"] = target_weighted
    return _with_ci(table.reset_index(), grouped, "dice", seed, n_boot, level)


PAIR_COLUMNS = [
    "a", "b", "fixed", "strategy", "selection", "n_masks", "n_cases",
    "dice_a", "dice_b", "mean_difference", "ci_low", "ci_high",
]  # fmt: skip


def _under_rule(masks: pd.DataFrame, rule: str) -> pd.DataFrame:
    """Rows read under selection `rule`: the rule's own rows, or a single-answer model's."""
    return masks[masks["selection"].isin([rule, "single"])]


def _paired(
    left: pd.DataFrame, right: pd.DataFrame, key: tuple, seed: int, n_boot: int, level: float
) -> dict | None:
    """Mean of left - right over the masks both have, with its case-bootstrap CI."""
    both = left.merge(right[["mask_id", "dice"]], on="mask_id", suffixes=("_a", "_b"))
    if both.empty:
        return None
    diff = (both["dice_a"] - both["dice_b"]).to_numpy()
    low, high = case_bootstrap_ci(
        diff, both["case_key"].to_numpy(), group_seed(seed, ("pair", *key)), n_boot, level
    )
    return {
        "n_masks": len(both), "n_cases": both["case_key"].nunique(),
        "dice_a": both["dice_a"].mean(), "dice_b": both["dice_b"].mean(),
        "mean_difference": float(diff.mean()), "ci_low": low, "ci_high": high,
    }  # fmt: skip


def _rules(masks: pd.DataFrame) -> list[str]:
    rules = sorted(set(masks["selection"]) - {"single"})
    return rules or ["single"]


def _pair_records(
    rows: pd.DataFrame,
    column: str,
    group: str,
    selection: str,
    seed: int,
    n_boot: int,
    level: float,
) -> list[dict]:
    """a - b for every pair of values a < b of `column` in `rows`, all else held fixed."""
    fixed = "strategy" if column == "model" else "model"
    records = []
    for a, b in combinations(sorted(rows[column].unique()), 2):
        key = (column, group, a, b, selection)
        stats = _paired(rows[rows[column] == a], rows[rows[column] == b], key, seed, n_boot, level)
        if stats:
            records.append({"a": a, "b": b, "fixed": fixed, "strategy": group,
                            "selection": selection, **stats})  # fmt: skip
    return records


def model_pairs(
    masks: pd.DataFrame, seed: int, n_boot: int = N_BOOTSTRAP, level: float = CI_LEVEL
) -> pd.DataFrame:
    """Model a minus model b on identical prompts, per strategy and selection rule."""
    records = []
    for strategy, rows in one_shot(masks).groupby("strategy", sort=True):
        for rule in _rules(rows):
            ruled = _under_rule(rows, rule)
            records += _pair_records(ruled, "model", strategy, rule, seed, n_boot, level)
    return pd.DataFrame(records, columns=PAIR_COLUMNS)


def strategy_pairs(
    masks: pd.DataFrame, seed: int, n_boot: int = N_BOOTSTRAP, level: float = CI_LEVEL
) -> pd.DataFrame:
    """Strategy a minus strategy b for one model on the same masks, per selection rule."""
    records = []
    for (model, selection), rows in one_shot(masks).groupby(["model", "selection"], sort=True):
        records += _pair_records(rows, "strategy", model, selection, seed, n_boot, level)
    table = pd.DataFrame(records, columns=PAIR_COLUMNS)
    return table.rename(columns={"strategy": "model"})


GAP_COLUMNS = [
    "model", "strategy", "n_masks", "n_cases", "dice_oracle", "dice_score", "oracle_gap",
    "ci_low", "ci_high",
]  # fmt: skip


def oracle_gap(
    masks: pd.DataFrame, seed: int, n_boot: int = N_BOOTSTRAP, level: float = CI_LEVEL
) -> pd.DataFrame:
    """Oracle minus score selection per model and strategy: what the paper's rule adds over
    what a user gets from the model's own predicted IoU (multimask models only)."""
    masks = one_shot(masks)
    records = []
    for (model, strategy), rows in masks.groupby(["model", "strategy"], sort=True):
        oracle, score = rows[rows["selection"] == "oracle"], rows[rows["selection"] == "score"]
        stats = _paired(oracle, score, ("gap", model, strategy), seed, n_boot, level)
        if stats:
            stats["dice_oracle"], stats["dice_score"] = stats.pop("dice_a"), stats.pop("dice_b")
            stats["oracle_gap"] = stats.pop("mean_difference")
            records.append({"model": model, "strategy": strategy, **stats})
    return pd.DataFrame(records, columns=GAP_COLUMNS)


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


def factor_analysis(masks: pd.DataFrame) -> pd.DataFrame:
    """The paper's Table 6 per model, strategy and selection (outcome `dice`), and the same on
    the oracle gap (outcome `oracle_gap`, per model and strategy). A factor constant in a group
    (e.g. the modality in a one-modality run) has no correlation: NaN."""
    masks = one_shot(masks)
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


FINETUNE_COLUMNS = [
    "model", "base", "arm", "subset", "strategy", "selection", "target", "trained_on",
    "n_masks", "n_cases", "dice_base", "dice_finetuned", "mean_difference", "ci_low", "ci_high",
]  # fmt: skip
LOSS_COLUMNS = ["model", "epoch", "step", "phase", "loss", "dice", "masks"]


def finetune_pairs(
    masks: pd.DataFrame,
    objects: Mapping[str, Iterable[str]],
    seed: int,
    n_boot: int = N_BOOTSTRAP,
    level: float = CI_LEVEL,
) -> pd.DataFrame:
    """Each fine-tuned model minus its base on the test split, on identical prompts, overall
    (`target` "all") and per target, per strategy and selection rule. `objects` maps a run to
    the objects it trained on, so `trained_on` tells seen targets from transfer."""
    records = []
    runs = sorted(m for m in masks["model"].unique() if is_finetuned(m))
    test = one_shot(masks[masks["split"] == "test"]) if runs else masks
    for model in runs:
        run = parse(model)
        seen = set(objects.get(model, ()))
        pair = test[test["model"].isin([model, run.base])]
        for strategy, rows in pair.groupby("strategy", sort=True):
            for rule in _rules(rows):
                ruled = _under_rule(rows, rule)
                tuned, base = ruled[ruled["model"] == model], ruled[ruled["model"] == run.base]
                groups = [("all", tuned), *tuned.groupby("target", sort=True)]
                for target, part in groups:
                    key = ("finetune", model, strategy, rule, target)
                    stats = _paired(part, base, key, seed, n_boot, level)
                    if stats is None:
                        continue
                    trained = "all" if target == "all" else str(target.split("/")[1] in seen)
                    records.append({
                        "model": model, "base": run.base, "arm": run.arm, "subset": run.subset,
                        "strategy": strategy, "selection": rule, "target": target,
                        "trained_on": trained.lower(), "dice_finetuned": stats.pop("dice_a"),
                        "dice_base": stats.pop("dice_b"), **stats,
                    })  # fmt: skip
    return pd.DataFrame(records, columns=FINETUNE_COLUMNS)


def loss_table(logs: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Every run's loss log (cosmos_bench.finetune.LOG_COLUMNS) with its model id."""
    frames = [log.assign(model=model) for model, log in sorted(logs.items())]
    if not frames:
        return pd.DataFrame(columns=LOSS_COLUMNS)
    return pd.concat(frames, ignore_index=True)[LOSS_COLUMNS]


OBJECT3D_COLUMNS = [
    "object_id", "dataset", "case", "split", "target", "model", "protocol", "dice", "nsd",
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
                             case_key=objects["dataset"] + "/" + objects["case"])  # fmt: skip
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
) -> dict[str, pd.DataFrame]:
    """Every table of the report, rounded so the CSVs are byte-stable.

    Iterative-click rows (click > 0) have their own study; the other tables hold one-shot
    prompts. The summaries by target, object, modality and dataset keep the jittered strategies
    out (their drop is the robustness table). `runs` maps each fine-tuning run to its
    metadata (`meta`, weights.json) and loss log (`log`); `objects3d` holds the 3D study's
    per-object scores (cosmos_bench.infer3d)."""
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
        "factors": factor_analysis(masks),
        "jitter_drop": jitter_drop(masks),
        "everything_vs_box": everything_vs_box(masks),
        "click_curves": click_curves(scores),
        "noc": noc_table(scores),
        "finetune": finetune_pairs(
            masks, {m: r["meta"]["objects"] for m, r in runs.items()}, seed, n_boot, level
        ),
        "finetune_loss": loss_table({m: r["log"] for m, r in runs.items()}),
        "propagation": propagation(objects),
        "propagation_objects": objects,
    }
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
