"""The report's sections, each from its tables: summary, per-group scores, comparisons,
factors, studies, fine-tuning, 3D, catalog, figures and provenance."""

from __future__ import annotations

import base64
import html
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from cosmos_bench.report.html.html_table import SIGNIFICANT_P, html_table, listed_names, row_notes
from cosmos_bench.report.tables.outputs import CAPTIONS
from cosmos_bench.report.tables.summaries import DISTANCES, FACTORS, RUN_KEYS

PROVENANCE_LABELS = {
    "created": "Created",
    "git_commit": "Git commit",
    "seed": "Seed",
    "packages": "Package versions",
    "dataset_sha256": "Dataset sha256",
    "dataset_verification": "How each dataset's files were verified (pin, publisher, lock)",
    "weight_sha256": "Model weight sha256",
    "stage_seconds": "Wall time per stage (seconds, summed over jobs)",
    "untrained_prompts": "Prompts a model was not trained on",
    "catalog": "Catalog counts",
    "config": "Config",
}


def coverage(tables: Mapping[str, pd.DataFrame], provenance: Mapping[str, Any]) -> dict[str, str]:
    """What this report covers, and a warning line when it is a partial run of the catalog."""
    overall = tables["overall"]
    n_masks = overall["n_masks"]
    low, high = int(n_masks.min()), int(n_masks.max())
    facts = {
        "Datasets": listed_names(tables["by_dataset"]["dataset"]),
        "Targets": listed_names(tables["by_target"]["target"]),
        "Models": listed_names(overall["model"]),
        "Strategies": listed_names(overall["strategy"]),
        "Masks": f"{high if low == high else f'{low}-{high}'} per model x strategy",
    }
    catalog = provenance.get("catalog") or {}
    run = tables["by_dataset"]["dataset"].nunique()
    full = (catalog.get("COSMOS cards") or {}).get("datasets")
    if full and run < full:
        facts["Partial run"] = (
            f"{run} of the {full} COSMOS datasets; tables and means cover only the datasets, "
            "targets, models and strategies listed here"
        )
    return facts


def collapsible(anchor: str, title: str, body: str, opened: bool = False) -> str:
    """A section that opens on a click: the tables follow the figures without burying them."""
    state = " open" if opened else ""
    return (
        f'<details class="section" id="{anchor}"{state}><summary><h2>{html.escape(title)}</h2>'
        f"</summary>{body}</details>"
    )


def partial_warning(tables: Mapping[str, pd.DataFrame], provenance: Mapping[str, Any]) -> str:
    """The line that says a report covers only part of the catalog (nothing for a full run)."""
    partial = coverage(tables, provenance).get("Partial run", "")
    return f'<p class="partial">Partial run: {html.escape(partial)}.</p>' if partial else ""


def summary_section(tables: Mapping[str, pd.DataFrame], provenance: Mapping[str, Any]) -> str:
    """Scope of the run at a glance plus the overall table with both Dice weightings."""
    facts = coverage(tables, provenance)
    facts.pop("Partial run", "")
    listing = "".join(f"<dt>{k}</dt><dd>{html.escape(v)}</dd>" for k, v in facts.items())
    columns = {
        "model": "model", "strategy": "strategy", "selection": "selection",
        "n_masks": "masks", "n_cases": "cases", "n_targets": "targets",
        "dice_mask_weighted": "mean Dice (mask-weighted)",
        "ci_low": "95% CI low", "ci_high": "95% CI high",
        "dice_target_weighted": "mean Dice (target-weighted)",
    }  # fmt: skip
    overall = tables["overall"]
    return (
        f'<h2 id="summary">Summary</h2><dl class="summary">{listing}</dl>'
        "<p>Mask-weighted: mean over all masks (its 95% CI resamples cases, i.e. patients, "
        "with replacement). Target-weighted: mean of the per-target means, so every target "
        "counts equally. Repeats of a mask are averaged first.</p>"
        + html_table(overall, columns, row_notes(overall, provenance), table_id="overall")
    )


GROUP_COLUMNS = {
    "model": "model", "strategy": "strategy", "selection": "selection",
    "n_masks": "masks", "n_cases": "cases", "mean_dice": "mean Dice",
    "ci_low": "95% CI low", "ci_high": "95% CI high", "median_dice": "median Dice",
    "std_dice": "std", "mean_iou": "mean IoU", "mean_nsd": "mean NSD", "nsd_ci": "NSD 95% CI",
    "mean_hd95_mm": "mean HD95 (mm)", "hd95_mm_ci": "HD95 95% CI", "mean_hd_px": "mean HD (px)",
    "hd_px_ci": "HD 95% CI",
}  # fmt: skip


def with_interval_cells(table: pd.DataFrame) -> pd.DataFrame:
    """A copy with each boundary metric's CI as one `low-high` cell (`{metric}_ci`): three more
    pairs of columns would make the group tables unreadable."""
    table = table.copy()
    for distance in DISTANCES:
        digits = 3 if distance == "nsd" else 1
        low, high = table[f"{distance}_ci_low"], table[f"{distance}_ci_high"]
        table[f"{distance}_ci"] = [
            f"{lo:.{digits}f}-{hi:.{digits}f}" for lo, hi in zip(low, high, strict=True)
        ]
    return table


def group_section(
    title: str, anchor: str, table: pd.DataFrame, by: str, provenance: Mapping[str, Any]
) -> str:
    """One table per group column value order (target, object, modality, dataset)."""
    rows = with_interval_cells(table.sort_values([by, *RUN_KEYS], kind="mergesort"))
    convention = table["nsd_convention"].iloc[0] if "nsd_convention" in table and len(table) else ""
    columns = {by: by, **GROUP_COLUMNS, "mean_nsd": f"mean NSD ({convention})".replace(" ()", "")}
    return collapsible(anchor, title, html_table(
        rows, columns, row_notes(rows, provenance), table_id=f"{anchor}-table"
    ))  # fmt: skip


_PAIR_COLUMNS = {
    "a": "a", "b": "b", "selection": "selection", "n_masks": "masks", "n_cases": "cases",
    "dice_a": "Dice a", "dice_b": "Dice b", "mean_difference": "a - b",
    "ci_low": "95% CI low", "ci_high": "95% CI high",
}  # fmt: skip


def comparison_section(tables: Mapping[str, pd.DataFrame]) -> str:
    """Paired differences on the same masks: models (same prompts), strategies, oracle gap."""
    parts = [
        "<p>Differences on the same masks (for models, the same prompts), with a 95% CI that "
        "resamples cases. A single-answer model is compared under each selection rule of a "
        "multimask one.</p>"
    ]
    models, strategies, gap = tables["model_pairs"], tables["strategy_pairs"], tables["oracle_gap"]
    if not models.empty:
        parts.append("<h3>Model vs model</h3>")
        parts.append(html_table(models, {"strategy": "strategy", **_PAIR_COLUMNS}))
    if not strategies.empty:
        parts.append("<h3>Strategy vs strategy</h3>")
        parts.append(html_table(strategies, {"model": "model", **_PAIR_COLUMNS}))
    if not gap.empty:
        parts.append(
            "<h3>Oracle minus score selection</h3><p>What the paper's rule (best candidate by "
            "Dice against the ground truth) adds over the model's own predicted IoU.</p>"
        )
        columns = {
            "model": "model", "strategy": "strategy", "n_masks": "masks", "n_cases": "cases",
            "dice_oracle": "Dice oracle", "dice_score": "Dice score", "oracle_gap": "gap",
            "ci_low": "95% CI low", "ci_high": "95% CI high",
        }  # fmt: skip
        parts.append(html_table(gap, columns))
    if len(parts) == 1:
        return ""
    return collapsible("comparisons", "Paired comparisons", "".join(parts))


def factor_section(factors: pd.DataFrame, complexity: str = "paper") -> str:
    """The paper's Table 6: partial Spearman rho per factor, strategy and model; bold p < .001."""
    if factors.empty:
        return ""
    wide = factors.pivot_table(
        index=["outcome", "model", "strategy", "selection", "n_masks"],
        columns="factor", values=["rho", "p"], dropna=False, sort=True,
    )  # fmt: skip
    parts = [
        "<p>Spearman partial correlation of Dice (and of the "
        "oracle gap) with each object factor, controlling for the others, per model, strategy "
        "and selection (the paper's Table 6). Bold: p &lt; 0.001. A dash: the factor is "
        "constant in that group. The p-values are in results/tables/factors.csv. Boundary "
        f"complexity F_final follows the {html.escape(complexity)} Fourier rule "
        "(report.complexity).</p>"
    ]
    for outcome, block in wide.groupby(level="outcome", sort=True):
        flat = block["rho"].reset_index()
        significant = (block["p"] < SIGNIFICANT_P).any(axis=1).tolist()
        columns = {"model": "model", "strategy": "strategy", "selection": "selection",
                   "n_masks": "masks", **{f: f for f in FACTORS if f in flat}}  # fmt: skip
        parts.append(f"<h3>Outcome: {html.escape(str(outcome))}</h3>")
        parts.append(html_table(flat, columns, strong=significant))
    return collapsible("factors", "Factors", "".join(parts))


_FINETUNE_COLUMNS = {
    "model": "model", "strategy": "strategy", "selection": "selection", "target": "target",
    "trained_on": "trained on", "n_masks": "masks", "n_cases": "cases",
    "dice_base": "Dice zero-shot", "dice_finetuned": "Dice fine-tuned",
    "mean_difference": "gain", "ci_low": "95% CI low", "ci_high": "95% CI high",
}  # fmt: skip


_RUN_COLUMNS = {
    "model": "run", "arm": "arm", "subset": "subset", "train_masks": "train masks",
    "train_cases": "train cases", "val_masks": "validation masks", "epochs": "epochs",
    "selected_epoch": "kept epoch", "val_dice": "validation Dice",
    "trainable_parameters": "trained parameters", "sha256": "weights sha256",
}  # fmt: skip


def finetune_section(tables: Mapping[str, pd.DataFrame], runs: Mapping[str, dict]) -> str:
    """The fine-tuning study: each run's training, then its paired gain on the test split."""
    if not runs:
        return ""
    meta = pd.DataFrame([
        {**r["meta"], "epochs": r["meta"]["settings"]["epochs"],
         "sha256": r["meta"]["sha256"][:16]} for _, r in sorted(runs.items())
    ])  # fmt: skip
    pairs = tables["finetune"]
    order = pairs.assign(_all=pairs["target"] != "all").sort_values(
        ["model", "strategy", "selection", "_all", "target"], kind="mergesort"
    )
    return collapsible("finetune", "Fine-tuning", "".join([
        "<p>Each run trains on the train split of its "
        "object subset (patient-level splits), keeps the epoch with the best validation Dice, "
        "and is then scored on the test split only; the gain is paired with the zero-shot "
        "base model on the same test masks and prompts, with a 95% CI that resamples cases. "
        "Target <em>all</em> pools every test mask; <em>trained on</em> says whether the "
        "target's object was in the training subset. Under the paper's oracle rule and the "
        "model's own score rule where the model gives several candidates.</p>",
        html_table(meta, _RUN_COLUMNS),
        html_table(order.drop(columns="_all"), _FINETUNE_COLUMNS),
    ]))  # fmt: skip


_PROPAGATION_COLUMNS = {
    "model": "model", "protocol": "protocol", "target": "target", "n_objects": "objects",
    "n_cases": "cases", "mean_dice_3d": "3D Dice", "median_dice_3d": "3D Dice median",
    "mean_nsd_3d": "3D NSD", "mean_hd95_mm": "HD95 mm", "objects_lost": "objects lost",
    "objects_missed": "objects missed", "n_objects_2d": "objects with 2D masks",
    "dice_2d_s5": "2D Dice S5 (same objects)",
}  # fmt: skip


def propagation_section(table: pd.DataFrame) -> str:
    """The 3D study next to the 2D scores of the same objects."""
    if table.empty:
        return ""
    return collapsible("propagation", "3D propagation", (
        "<p>Each object of a 3D dataset is segmented "
        "through the slices of its extent from one box on its middle slice: box-chain "
        "(each next slice prompted with the previous prediction's box + 3 px) or "
        "sam2-propagate (SAM 2's video predictor). Dice and NSD in 3D at the voxel spacing, "
        "HD95 in mm. <em>Lost</em>: the prediction is empty on a slice where the object is; "
        "<em>missed</em>: empty on every slice. The 2D column is the same model's mean S5 "
        "Dice (a box on every slice) over the same objects' 2D masks.</p>"
        + html_table(table, _PROPAGATION_COLUMNS)
    ))


def figure_section(paths: Iterable[Path], html_path: Path) -> str:
    """PNGs inlined as data URIs so the page stands alone when copied or mailed; each links its
    SVG (next to the PNG) for print."""
    parts = ['<h2 id="figures">Figures</h2>']
    for path in paths:
        path = Path(path)
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        caption = CAPTIONS.get(path.stem, path.stem.replace("_", " "))
        svg = Path(os.path.relpath(path.with_suffix(".svg"), Path(html_path).parent)).as_posix()
        parts.append(
            f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(caption)}">'
            f'<figcaption>{html.escape(caption)} <a href="{html.escape(svg)}">SVG</a>'
            "</figcaption></figure>"
        )
    return "".join(parts)


def _render_provenance_value(key: str, value: Any) -> str:
    """Flat mappings as two-column tables, config and nested values as preformatted text."""
    if key == "config":
        text = value if isinstance(value, str) else yaml.safe_dump(value, sort_keys=False)
        return f"<pre>{html.escape(text)}</pre>"
    if isinstance(value, Mapping) and not any(
        isinstance(v, Mapping | list) for v in value.values()
    ):
        rows = "".join(
            f"<tr><td>{html.escape(str(k))}</td><td><code>{html.escape(str(v))}</code></td></tr>"
            for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))
        )
        return f"<table><tbody>{rows}</tbody></table>"
    if isinstance(value, Mapping | list):
        return f"<pre>{html.escape(json.dumps(value, indent=2, sort_keys=True, default=str))}</pre>"
    return f"<p><code>{html.escape(str(value))}</code></p>"


def provenance_section(provenance: Mapping[str, Any]) -> str:
    """Known keys first in a fixed order, then any other key, so nothing given is dropped."""
    known = [k for k in PROVENANCE_LABELS if k in provenance]
    extra = sorted(k for k in provenance if k not in PROVENANCE_LABELS)
    parts = []
    if not provenance:
        parts.append("<p>No provenance was recorded.</p>")
    for key in [*known, *extra]:
        label = PROVENANCE_LABELS.get(key, key)
        parts.append(f"<h3>{html.escape(label)}</h3>")
        parts.append(_render_provenance_value(key, provenance[key]))
    return collapsible("provenance", "Provenance", "".join(parts))


_PAPER_COLUMNS = {
    "quantity": "quantity", "model": "model", "strategy": "strategy", "scope": "masks",
    "selection": "selection", "paper": "paper", "this_run": "this run",
    "delta": "this run - paper", "comparable": "comparable", "source": "paper's source",
    "note": "why / caveat",
}  # fmt: skip


def paper_section(table: pd.DataFrame) -> str:
    """This run beside the paper's published numbers, saying which rows compare and why not."""
    if table.empty:
        return ""
    comparable = int((table["comparable"] != "no").sum())
    return (
        '<h2 id="paper">The paper beside this run</h2><p>The COSMOS paper\'s published numbers '
        "(resources/paper_results.yaml, each with where it was read) beside this run's. The "
        "paper picks one of a model's candidates by Dice against the ground truth (its oracle "
        "rule, Sec. 3.5), so this run's rows are read under the same rule: <em>oracle</em>, "
        "or <em>single</em> for a model with one answer. The paper's mean Dice per model and "
        "strategy (Fig. 6), per modality (Fig. 10) and per target (Tables 2-3) are only "
        "plotted or tabled in text no public copy reproduces, so those rows have no number "
        "beside them. <em>Approximate</em>: the same quantity, measured on other objects or "
        f"with a perturbation the paper does not define. <strong>{comparable} of "
        f"{len(table)} rows have a comparable published number.</strong></p>"
        + html_table(table, _PAPER_COLUMNS, table_id="paper-table")
    )


#: the failure table is shown open up to this many rows, collapsed beyond (a full run's is long)
FAILURES_OPEN = 60


def _share(value: float) -> str:
    return "–" if pd.isna(value) else f"{100 * value:.1f}%"


def failure_section(table: pd.DataFrame, leak_share: float) -> str:
    """Per target: how often a prediction is empty, leaks outside the box or is in pieces."""
    if table.empty:
        return ""
    shown = table.assign(**{c: table[c].map(_share) for c in ("empty", "leaking", "fragmented")})
    columns = {
        "target": "target", "model": "model", "strategy": "strategy", "selection": "selection",
        "n_predictions": "predictions", "empty": "empty", "leaking": "leaking outside the box",
        "fragmented": "fragmented",
    }  # fmt: skip
    shown = shown.sort_values(["target", "model", "strategy", "selection"], kind="mergesort")
    body = (
        "<p>Per target, the share of predictions that are <em>empty</em> (no pixel), that "
        f"<em>leak</em> (more than {leak_share:.0%} of the predicted pixels outside the ground "
        "truth's tight box, the S5 box) and that are <em>fragmented</em> (more than one "
        "8-connected component). One-shot, unperturbed strategies, every repeat; scoring "
        "measures each chosen prediction where it scores it (score.shape).</p>"
        + html_table(shown, columns, table_id="failures-table")
    )
    return collapsible("failures", "How predictions fail", body, len(shown) <= FAILURES_OPEN)
