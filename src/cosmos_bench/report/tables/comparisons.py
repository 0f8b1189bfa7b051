"""Paired comparisons on identical masks: model vs model, strategy vs strategy, oracle
vs score selection, fine-tuned vs base, each with a case-bootstrap CI."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import combinations

import pandas as pd

from cosmos_bench.catalog.finetune_ids import is_finetuned, parse
from cosmos_bench.report.tables.stats import (
    CI_LEVEL,
    N_BOOTSTRAP,
    case_bootstrap_ci,
    group_seed,
)
from cosmos_bench.report.tables.summaries import one_shot

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
