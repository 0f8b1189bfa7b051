"""Two runs on the masks both scored: per model pair, strategy, selection rule and target (and
all targets pooled), the mean Dice and NSD of each and their paired difference with a
case-bootstrap CI, the report's statistics (report.tables.stats). Runs whose benchmark-defining
settings differ (record.SETTINGS, the cards) are refused unless the caller allows it."""

from __future__ import annotations

import pandas as pd

from cosmos_bench.core.errors import CosmosError
from cosmos_bench.report.tables.stats import CI_LEVEL, N_BOOTSTRAP, case_bootstrap_ci, group_seed
from cosmos_bench.report.tables.summaries import NSD_CONVENTIONS, one_shot, per_mask
from cosmos_bench.runs.record import Run, differences

COLUMNS = [
    "model_a", "model_b", "strategy", "selection", "target", "n_masks", "n_cases",
    "dice_a", "dice_b", "dice_difference", "dice_ci_low", "dice_ci_high",
    "nsd_a", "nsd_b", "nsd_difference", "nsd_ci_low", "nsd_ci_high", "nsd_convention",
]  # fmt: skip
ALL = "all"


def check_settings(a: Run, b: Run, allow: bool) -> list[str]:
    """The differing settings; an error unless `allow`."""
    lines = differences(a, b)
    if lines and not allow:
        raise CosmosError(
            f"{a.name} and {b.name} are not the same benchmark: "
            + "; ".join(lines),
            fix="compare runs made with the same settings, or pass --allow-different-settings "
            "to compare them anyway (the differences are then printed with the table)",
        )
    return lines


def run_masks(run: Run) -> pd.DataFrame:
    """One row per (model, strategy, selection, mask), NSD under the run's own convention."""
    scores = run.scores[run.scores["click"] == 0]
    convention = run.record.get("config", {}).get("report", {}).get("nsd", "contour")
    scores = scores.assign(nsd=scores[NSD_CONVENTIONS[convention]])
    return one_shot(per_mask(scores)).assign(nsd_convention=convention)


def _rules(left: pd.DataFrame, right: pd.DataFrame) -> list[str]:
    rules = sorted((set(left["selection"]) | set(right["selection"])) - {"single"})
    return rules or ["single"]


def compare(
    a: Run,
    b: Run,
    models: tuple[str, str] | None = None,
    seed: int = 0,
    n_boot: int = N_BOOTSTRAP,
    level: float = CI_LEVEL,
) -> pd.DataFrame:
    """The paired table of run a minus run b: the models both have (each against itself), or
    `models` = (a's, b's)."""
    ma, mb = run_masks(a), run_masks(b)
    pairs = [models] if models else [(m, m) for m in sorted(set(ma.model) & set(mb.model))]
    records = []
    for model_a, model_b in pairs:
        for name, model, masks in ((a.name, model_a, ma), (b.name, model_b, mb)):
            if model not in set(masks.model):
                raise CosmosError(f"{name} has no scores of model {model!r}",
                                  fix=f"it has {', '.join(sorted(set(masks.model)))}")  # fmt: skip
        left, right = ma[ma.model == model_a], mb[mb.model == model_b]
        for strategy in sorted(set(left.strategy) & set(right.strategy)):
            ls, rs = left[left.strategy == strategy], right[right.strategy == strategy]
            for rule in _rules(ls, rs):
                both = ls[ls.selection.isin([rule, "single"])].merge(
                    rs[rs.selection.isin([rule, "single"])][["mask_id", "dice", "nsd"]],
                    on="mask_id", suffixes=("_a", "_b"),
                )  # fmt: skip
                groups = [(ALL, both), *both.groupby("target", sort=True)]
                for target, rows in groups:
                    if rows.empty:
                        continue
                    key = (model_a, model_b, strategy, rule, target)
                    records.append({"model_a": model_a, "model_b": model_b,
                                    "strategy": strategy, "selection": rule, "target": target,
                                    **_paired(rows, key, seed, n_boot, level),
                                    "nsd_convention": rows["nsd_convention"].iloc[0]})  # fmt: skip
    return pd.DataFrame(records, columns=COLUMNS)


def _paired(rows: pd.DataFrame, key: tuple, seed: int, n_boot: int, level: float) -> dict:
    out = {"n_masks": len(rows), "n_cases": rows["case_key"].nunique()}
    for metric in ("dice", "nsd"):
        a, b = rows[f"{metric}_a"], rows[f"{metric}_b"]
        diff = (a - b).to_numpy()
        rng = group_seed(seed, ("compare", metric, *key))
        low, high = case_bootstrap_ci(diff, rows["case_key"].to_numpy(), rng, n_boot, level)
        out |= {f"{metric}_a": a.mean(), f"{metric}_b": b.mean(),
                f"{metric}_difference": float(diff.mean()), f"{metric}_ci_low": low,
                f"{metric}_ci_high": high}  # fmt: skip
    return out
