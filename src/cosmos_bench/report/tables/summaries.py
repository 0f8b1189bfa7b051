"""Per-mask rows and the summary tables with case-bootstrap CIs (per target, object,
dataset, modality and overall)."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from cosmos_bench.core.strategies import is_jittered
from cosmos_bench.report.tables.stats import (
    CI_LEVEL,
    N_BOOTSTRAP,
    case_bootstrap_ci,
    group_seed,
)

RUN_KEYS = ["model", "strategy", "selection"]
#: The paper's factors (Sec. 4.8), as the scoring step names them; `f_final` is the boundary
#: complexity with the corrected Fourier rule (cosmos_bench.score.factors).
FACTORS = ["area_px", "aspect_ratio", "intensity_difference", "f_final", "modality_code"]
#: the boundary metrics each summary reports beside Dice and IoU, each with its own CI: NSD at
#: the target's tolerance, HD95 in mm (px where the spacing is unknown) and the paper's HD in px
DISTANCES = ["nsd", "hd95_mm", "hd_px"]
#: the NSD conventions a report can summarize (report.nsd) and the score column of each:
#: the 2D contour's at the target's tolerance in mm, or MedSAM's (score.medsam)
NSD_CONVENTIONS = {"contour": "nsd", "medsam": "nsd_medsam"}
#: the boundary-complexity rules (report.complexity) and their score columns: the paper's
#: stopping rule, or the corrected search for the first order reaching Dice > 0.97
COMPLEXITY = {"paper": "f_final_paper", "corrected": "f_final"}
#: the columns of each per-group summary (by_target, by_object, by_dataset, by_modality) after
#: its run keys and group: counts, Dice, IoU and the distances, then each one's case-bootstrap CI
STAT_COLUMNS = [
    "n_masks", "n_cases", "n_images", "mean_dice", "median_dice", "std_dice", "mean_iou",
    *(f"mean_{d}" for d in DISTANCES), "ci_low", "ci_high",
    *(f"{d}_ci_{end}" for d in DISTANCES for end in ("low", "high")),
]  # fmt: skip
#: the overall table's columns: both weightings, the CI of the mask-weighted mean
OVERALL_COLUMNS = [*RUN_KEYS, "n_masks", "n_cases", "n_targets", "dice_mask_weighted",
                   "dice_target_weighted", "ci_low", "ci_high"]  # fmt: skip


def per_mask(scores: pd.DataFrame) -> pd.DataFrame:
    """Average repeats so each (model, strategy, selection, mask) is one sample."""
    keys = [*RUN_KEYS, "mask_id"]
    grouped = scores.groupby(keys, sort=True, observed=True)
    first = ["dataset", "cohort", "case", "split", "uid", "modality", "object", "target",
             *FACTORS]  # fmt: skip
    first += [c for c in COMPLEXITY.values() if c not in first and c in scores]
    means = {c: (c, "mean") for c in ["dice", "iou", *DISTANCES]}
    masks = grouped.agg(**{c: (c, "first") for c in first}, **means).reset_index()
    masks["case_key"] = case_keys(masks)
    return masks


def case_keys(rows: pd.DataFrame) -> pd.Series:
    """Each row's patient, (dataset, cohort, case) as one string (harmonize.splits.patient):
    what `n_cases` counts and the case bootstrap resamples."""
    cohort = rows["cohort"].astype(str)
    return (rows["dataset"].astype(str) + "/" + cohort.where(cohort == "", cohort + "/")
            + rows["case"].astype(str))  # fmt: skip


def one_shot(masks: pd.DataFrame) -> pd.DataFrame:
    """The unperturbed strategies: the jittered ones belong to the robustness study."""
    return masks[~masks["strategy"].map(is_jittered)]


def _with_ci(
    table: pd.DataFrame,
    groups: Iterable,
    column: str,
    seed: int,
    n_boot: int,
    level: float,
    prefix: str = "",
) -> pd.DataFrame:
    """Add {prefix}ci_low / {prefix}ci_high of `column`'s mean to one row per group, in the
    table's order."""
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
    table[f"{prefix}ci_low"] = [b[0] for b in bounds]
    table[f"{prefix}ci_high"] = [b[1] for b in bounds]
    return table


def summarise(
    masks: pd.DataFrame, by: str, seed: int, n_boot: int = N_BOOTSTRAP, level: float = CI_LEVEL
) -> pd.DataFrame:
    """Per-group statistics; n_cases counts patients, (dataset, cohort, case), not case names."""
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
        **{f"mean_{d}": (d, "mean") for d in DISTANCES},
    ).reset_index()
    table = _with_ci(table, grouped, "dice", seed, n_boot, level)
    for distance in DISTANCES:
        table = _with_ci(table, grouped, distance, seed, n_boot, level, f"{distance}_")
    return table[[*keys, *STAT_COLUMNS]]


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
    return _with_ci(table.reset_index(), grouped, "dice", seed, n_boot, level)[OVERALL_COLUMNS]
