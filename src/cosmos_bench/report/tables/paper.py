"""The paper beside this run: each of this run's headline numbers next to the number the COSMOS
paper publishes for the same model, strategy and rule, and the difference, with the source.

The paper's numbers live in resources/paper_results.yaml, each with where it was read. Its
rule is the oracle (the best of a model's candidates by Dice against the ground truth), so
this run's rows are read under `oracle` (or `single`, a model with one answer). A row without
a comparable published number says why: a model or strategy the paper did not run, or a
number the paper only plots.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from cosmos_bench.catalog.finetune_ids import is_finetuned, parse

PAPER_COLUMNS = ["quantity", "model", "strategy", "scope", "selection", "paper", "this_run",
                 "delta", "comparable", "source", "note"]  # fmt: skip
HEADLINE = ("oracle", "single")
JITTER_RANGE = (20, 30)


def load_paper(path: Path) -> dict[str, Any]:
    """resources/paper_results.yaml as a mapping (empty when the file is absent)."""
    path = Path(path)
    return yaml.safe_load(path.read_text("utf-8")) if path.is_file() else {}


def _row(quantity: str, model: str, strategy: str, scope: str, selection: str, paper: float,
         ours: float, comparable: str, source: str, note: str) -> dict:  # fmt: skip
    delta = ours - paper if comparable != "no" and np.isfinite(paper) else np.nan
    return {
        "quantity": quantity, "model": model, "strategy": strategy, "scope": scope,
        "selection": selection, "paper": paper, "this_run": ours, "delta": delta,
        "comparable": comparable, "source": source, "note": note,
    }  # fmt: skip


def _overall_rows(overall: pd.DataFrame, paper: Mapping[str, Any]) -> list[dict]:
    """This run's mean Dice per model and strategy, each with why the paper has no number
    beside it (or the number, once one is published)."""
    models, strategies = paper.get("models") or {}, set(paper.get("strategies") or [])
    unpublished = (paper.get("unpublished") or {}).get("overall", "")
    rows = []
    for record in overall[overall["selection"].isin(HEADLINE)].itertuples(index=False):
        model, strategy = str(record.model), str(record.strategy)
        if model not in models:
            why = "the paper evaluated " + " and ".join(models.values()) + " only"
        elif strategy not in strategies:
            why = "not one of the paper's strategies"
        else:
            why = unpublished
        rows.append(_row("mean Dice", model, strategy, "all masks", str(record.selection),
                         np.nan, float(record.dice_mask_weighted), "no", "", why))  # fmt: skip
    return rows


def _finetune_rows(entry: Mapping[str, Any], finetune: pd.DataFrame) -> list[dict]:
    """A published fine-tuning gain beside each run of the same base model and arm (S5, all
    test masks, the paper's rule)."""
    runs = finetune[(finetune["target"] == "all") & (finetune["strategy"] == "S5")
                    & finetune["selection"].isin(HEADLINE)]  # fmt: skip
    matching = [
        r for r in runs.itertuples(index=False)
        if is_finetuned(str(r.model)) and parse(str(r.model)).base == entry["model"]
        and parse(str(r.model)).arm == entry["arm"]
    ]  # fmt: skip
    source, value = entry["source"], float(entry["value"])
    if not matching:
        why = f"not in this run (finetune.runs with {entry['model']}+{entry['arm']}@...)"
        return [_row(entry["quantity"], entry["model"], "S5", "all test masks", "oracle",
                     value, np.nan, "no", source, why)]  # fmt: skip
    return [
        _row(entry["quantity"], str(r.model), "S5", "all test masks", str(r.selection), value,
             float(r.mean_difference), "approximate", source,
             f"{entry['note']}; this run: its own object subset")
        for r in matching
    ]  # fmt: skip


def _jitter_rows(entry: Mapping[str, Any], jitter: pd.DataFrame, models: Mapping) -> list[dict]:
    """A published Dice drop at 20-30 px beside this run's drop for each paper model and
    perturbation mode at that range."""
    lo, hi = JITTER_RANGE
    rows = jitter[(jitter["base"] == entry["strategy"]) & (jitter["lo"] == lo)
                  & (jitter["hi"] == hi) & jitter["selection"].isin(HEADLINE)
                  & jitter["model"].isin(list(models))]  # fmt: skip
    source, value = entry["source"], float(entry["value"])
    if rows.empty:
        why = (f"not in this run (robustness.ranges [{lo}, {hi}] with {entry['strategy']} on "
               + " or ".join(models) + ")")  # fmt: skip
        return [_row(entry["quantity"], "SAM", entry["strategy"], "all masks", "oracle", value,
                     np.nan, "no", source, why)]  # fmt: skip
    return [
        _row(entry["quantity"], str(r.model), entry["strategy"], f"all masks, {r.mode}",
             str(r.selection), value, float(r.dice_drop), "approximate", source, entry["note"])
        for r in rows.itertuples(index=False)
    ]  # fmt: skip


def paper_table(tables: Mapping[str, pd.DataFrame], paper: Mapping[str, Any]) -> pd.DataFrame:
    """PAPER_COLUMNS: this run's mean Dice rows first, then every published number."""
    if not paper:
        return pd.DataFrame(columns=PAPER_COLUMNS)
    rows = _overall_rows(tables["overall"], paper)
    for entry in paper.get("published") or []:
        if entry["quantity"].startswith("fine-tuning"):
            rows += _finetune_rows(entry, tables["finetune"])
        elif entry["quantity"].startswith("Dice drop"):
            rows += _jitter_rows(entry, tables["jitter_drop"], paper.get("models") or {})
    return pd.DataFrame(rows, columns=PAPER_COLUMNS)
