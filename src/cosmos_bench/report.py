"""Turn per-mask score shards into tables, figures, one self-contained HTML page and a summary.

The numbers come from cosmos_bench.aggregate (summaries with case-bootstrap CIs, paired
comparisons, factor analysis) and cosmos_bench.studies; the figures from cosmos_bench.figures.
Outputs are byte-stable (sorted rows, rounded floats, fixed formats, no timestamps) so that a
re-run that changes nothing changes no file.

Provenance keys the HTML page knows by name (others are shown after them, as JSON):
``created``, ``git_commit``, ``seed``, ``packages``, ``dataset_sha256``, ``weight_sha256``,
``config``, ``stage_seconds`` and ``untrained_prompts`` (``{model: ["point", ...]}``, used for
row notes).
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import json
import math
import numbers
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from cosmos_bench import figures
from cosmos_bench.aggregate import FACTORS, aggregate, one_shot, per_mask
from cosmos_bench.atomic import write_bytes
from cosmos_bench.errors import CosmosError
from cosmos_bench.prompts import kinds_of
from cosmos_bench.provenance import stage_seconds
from cosmos_bench.stats import CI_LEVEL, N_BOOTSTRAP

SCORE_COLUMNS = (
    "mask_id", "uid", "dataset", "case", "split", "modality", "object", "target",
    "model", "strategy", "repeat", "click", "selection", "dice", "iou", *FACTORS,
)  # fmt: skip
SORT_KEYS = ["model", "dataset", "strategy", "mask_id", "repeat", "selection"]
RUN_KEYS = ["model", "strategy", "selection"]
SIGNIFICANT_P = 0.001  # the paper marks p < 0.001 in bold
PROVENANCE_LABELS = {
    "created": "Created",
    "git_commit": "Git commit",
    "seed": "Seed",
    "packages": "Package versions",
    "dataset_sha256": "Dataset sha256",
    "weight_sha256": "Model weight sha256",
    "stage_seconds": "Wall time per stage (seconds, summed over jobs)",
    "untrained_prompts": "Prompts a model was not trained on",
    "catalog": "Catalog counts",
    "config": "Config",
}


class ScoresError(CosmosError, ValueError):
    """Score files that cannot be summarised (none given, no rows, missing columns)."""


# ---------------------------------------------------------------------------------------------
# loading and aggregation


def load_scores(paths: Iterable[Path]) -> pd.DataFrame:
    """Concatenate score shards in a fixed row order, so outputs do not depend on file order."""
    paths = [Path(p) for p in paths]
    frames = [_read_shard(p) for p in paths]
    non_empty = [f for f in frames if len(f)]
    if not non_empty:
        listed = "\n".join(f"    {p}" for p in paths) or "    (none)"
        raise ScoresError(
            f"no scores were found: {len(paths)} score file(s) read, none has a row:\n{listed}",
            fix="check that the scoring step ran and wrote rows for the models and datasets "
            "in the config",
        )
    scores = pd.concat(non_empty, ignore_index=True)
    return scores.sort_values(SORT_KEYS, kind="mergesort").reset_index(drop=True)


def _read_shard(path: Path) -> pd.DataFrame:
    """Read one shard and fail early, naming the file, when it lacks a score column."""
    frame = pd.read_parquet(path)
    missing = [c for c in SCORE_COLUMNS if c not in frame.columns]
    if missing:
        raise ScoresError(
            f"score file lacks column(s) {', '.join(missing)}",
            path=str(path),
            fix="re-run the scoring step that writes this file",
        )
    return frame[list(SCORE_COLUMNS)]


# ---------------------------------------------------------------------------------------------
# files


def write_tables(tables: Mapping[str, pd.DataFrame], out_dir: Path) -> list[Path]:
    """Write each table as ``{name}.csv`` and ``{name}.parquet`` (no index). Floats are already
    rounded (aggregate.rounded), so the shortest repr pandas writes is stable."""
    written = []
    for name in sorted(tables):
        path = Path(out_dir) / f"{name}.csv"
        text = tables[name].to_csv(index=False, lineterminator="\n", na_rep="")
        write_bytes(path, text.encode("utf-8"))
        buffer = io.BytesIO()
        tables[name].to_parquet(buffer, index=False)
        write_bytes(path.with_suffix(".parquet"), buffer.getvalue())
        written += [path, path.with_suffix(".parquet")]
    return written


# ---------------------------------------------------------------------------------------------
# HTML


def untrained_note(model: str, strategy: str, provenance: Mapping[str, Any]) -> str:
    """Flag rows whose prompts the model never saw in training: their scores mean less."""
    untrained = set((provenance.get("untrained_prompts") or {}).get(model, []))
    kinds = sorted(kinds_of(strategy) & untrained)
    return f"model not trained on {' and '.join(kinds)} prompts" if kinds else ""


_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 76em; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #444; padding-bottom: .2em; }
h2 { margin-top: 2em; border-bottom: 1px solid #bbb; }
table { border-collapse: collapse; margin: .6em 0 1.2em; font-size: .92em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; }
th { background: #f0f0f0; text-align: left; }
table.sortable th { cursor: pointer; } table.sortable th:hover { background: #e2e2e2; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.note { color: #a33; font-style: italic; }
td.strong { font-weight: bold; }
pre { background: #f6f6f6; padding: .8em; overflow-x: auto; font-size: .85em; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: .92em; color: #444; }
dl.summary dt { font-weight: bold; float: left; clear: left; width: 9em; }
dl.summary dd { margin-left: 10em; }
p.partial { background: #fff4d6; border-left: 4px solid #e0a800; padding: .5em .8em; }
"""
# Click a header of a .sortable table to sort by that column (numbers numerically); again to
# reverse. The page works without it: rows are already ordered.
_SORT_SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, col) {
    th.title = "sort by this column";
    th.addEventListener("click", function () {
      var body = table.tBodies[0];
      var up = th.dataset.order !== "up";
      th.dataset.order = up ? "up" : "down";
      var key = function (row) {
        var text = row.cells[col].textContent;
        var num = parseFloat(text);
        return isNaN(num) ? text : num;
      };
      Array.from(body.rows).sort(function (a, b) {
        var x = key(a), y = key(b);
        var c = (typeof x === typeof y) ? (x < y ? -1 : x > y ? 1 : 0)
                                        : (typeof x === "number" ? -1 : 1);
        return up ? c : -c;
      }).forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


def _fmt(value: Any) -> tuple[str, bool]:
    """Escaped cell text and whether it is numeric; floats to 3 decimals, NaN as a dash."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return str(int(value)), True
    if isinstance(value, numbers.Real):
        if math.isnan(value):
            return "&ndash;", True
        return (f"{value:.3f}" if value == 0 or abs(value) >= 1e-3 else f"{value:.1e}"), True
    return html.escape(str(value)), False


def _html_table(
    frame: pd.DataFrame,
    columns: Mapping[str, str],
    notes: list[str] | None = None,
    strong: list[bool] | None = None,
    table_id: str = "",
) -> str:
    """A sortable table of ``columns`` (source name -> header), with a note column only if a
    row has a note; rows flagged in `strong` are bold."""
    notes = notes or [""] * len(frame)
    strong = strong or [False] * len(frame)
    show_notes = any(notes)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in columns.values())
    head += "<th>note</th>" if show_notes else ""
    rows = []
    records = frame[list(columns)].itertuples(index=False)
    for record, note, bold in zip(records, notes, strong, strict=True):
        cells = []
        for value in record:
            text, numeric = _fmt(value)
            classes = " ".join(c for c, on in (("num", numeric), ("strong", bold)) if on)
            cells.append(f'<td class="{classes}">{text}</td>' if classes else f"<td>{text}</td>")
        if show_notes:
            cells.append(f'<td class="note">{"† " + html.escape(note) if note else ""}</td>')
        rows.append(f"<tr>{''.join(cells)}</tr>")
    ident = f' id="{table_id}"' if table_id else ""
    return (
        f'<table class="sortable"{ident}><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _row_notes(frame: pd.DataFrame, provenance: Mapping[str, Any]) -> list[str]:
    return [
        untrained_note(str(m), str(s), provenance)
        for m, s in zip(frame["model"], frame["strategy"], strict=True)
    ]


def _names(values: Iterable[Any]) -> str:
    return ", ".join(sorted({str(v) for v in values}))


def coverage(tables: Mapping[str, pd.DataFrame], provenance: Mapping[str, Any]) -> dict[str, str]:
    """What this report covers, and a warning line when it is a partial run of the catalog."""
    overall = tables["overall"]
    n_masks = overall["n_masks"]
    low, high = int(n_masks.min()), int(n_masks.max())
    facts = {
        "Datasets": _names(tables["by_dataset"]["dataset"]),
        "Targets": _names(tables["by_target"]["target"]),
        "Models": _names(overall["model"]),
        "Strategies": _names(overall["strategy"]),
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


def _summary_section(tables: Mapping[str, pd.DataFrame], provenance: Mapping[str, Any]) -> str:
    """Scope of the run at a glance plus the overall table with both Dice weightings."""
    facts = coverage(tables, provenance)
    partial = facts.pop("Partial run", "")
    listing = "".join(f"<dt>{k}</dt><dd>{html.escape(v)}</dd>" for k, v in facts.items())
    warning = f'<p class="partial">Partial run: {html.escape(partial)}.</p>' if partial else ""
    columns = {
        "model": "model", "strategy": "strategy", "selection": "selection",
        "n_masks": "masks", "n_cases": "cases", "n_targets": "targets",
        "dice_mask_weighted": "mean Dice (mask-weighted)",
        "ci_low": "95% CI low", "ci_high": "95% CI high",
        "dice_target_weighted": "mean Dice (target-weighted)",
    }  # fmt: skip
    overall = tables["overall"]
    return (
        f'<h2 id="summary">Summary</h2>{warning}<dl class="summary">{listing}</dl>'
        "<p>Mask-weighted: mean over all masks (its 95% CI resamples cases, i.e. patients, "
        "with replacement). Target-weighted: mean of the per-target means, so every target "
        "counts equally. Repeats of a mask are averaged first.</p>"
        + _html_table(overall, columns, _row_notes(overall, provenance), table_id="overall")
    )


_GROUP_COLUMNS = {
    "model": "model", "strategy": "strategy", "selection": "selection",
    "n_masks": "masks", "n_cases": "cases", "mean_dice": "mean Dice",
    "ci_low": "95% CI low", "ci_high": "95% CI high", "median_dice": "median Dice",
    "std_dice": "std", "mean_iou": "mean IoU",
}  # fmt: skip


def _group_section(
    title: str, anchor: str, table: pd.DataFrame, by: str, provenance: Mapping[str, Any]
) -> str:
    """One table per group column value order (target, object, modality, dataset)."""
    rows = table.sort_values([by, *RUN_KEYS], kind="mergesort")
    columns = {by: by, **_GROUP_COLUMNS}
    return f'<h2 id="{anchor}">{html.escape(title)}</h2>' + _html_table(
        rows, columns, _row_notes(rows, provenance), table_id=f"{anchor}-table"
    )


_PAIR_COLUMNS = {
    "a": "a", "b": "b", "selection": "selection", "n_masks": "masks", "n_cases": "cases",
    "dice_a": "Dice a", "dice_b": "Dice b", "mean_difference": "a - b",
    "ci_low": "95% CI low", "ci_high": "95% CI high",
}  # fmt: skip


def _comparison_section(tables: Mapping[str, pd.DataFrame]) -> str:
    """Paired differences on the same masks: models (same prompts), strategies, oracle gap."""
    parts = [
        '<h2 id="comparisons">Paired comparisons</h2><p>Differences on the same masks (for '
        "models, the same prompts), with a 95% CI that resamples cases. A single-answer model "
        "is compared under each selection rule of a multimask one.</p>"
    ]
    models, strategies, gap = tables["model_pairs"], tables["strategy_pairs"], tables["oracle_gap"]
    if not models.empty:
        parts.append("<h3>Model vs model</h3>")
        parts.append(_html_table(models, {"strategy": "strategy", **_PAIR_COLUMNS}))
    if not strategies.empty:
        parts.append("<h3>Strategy vs strategy</h3>")
        parts.append(_html_table(strategies, {"model": "model", **_PAIR_COLUMNS}))
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
        parts.append(_html_table(gap, columns))
    return "".join(parts) if len(parts) > 1 else ""


def _factor_section(factors: pd.DataFrame) -> str:
    """The paper's Table 6: partial Spearman rho per factor, strategy and model; bold p < .001."""
    if factors.empty:
        return ""
    wide = factors.pivot_table(
        index=["outcome", "model", "strategy", "selection", "n_masks"],
        columns="factor", values=["rho", "p"], dropna=False, sort=True,
    )  # fmt: skip
    parts = [
        '<h2 id="factors">Factors</h2><p>Spearman partial correlation of Dice (and of the '
        "oracle gap) with each object factor, controlling for the others, per model, strategy "
        "and selection (the paper's Table 6). Bold: p &lt; 0.001. A dash: the factor is "
        "constant in that group. The p-values are in results/tables/factors.csv.</p>"
    ]
    for outcome, block in wide.groupby(level="outcome", sort=True):
        flat = block["rho"].reset_index()
        significant = (block["p"] < SIGNIFICANT_P).any(axis=1).tolist()
        columns = {"model": "model", "strategy": "strategy", "selection": "selection",
                   "n_masks": "masks", **{f: f for f in FACTORS if f in flat}}  # fmt: skip
        parts.append(f"<h3>Outcome: {html.escape(str(outcome))}</h3>")
        parts.append(_html_table(flat, columns, strong=significant))
    return "".join(parts)


def _study_section(title: str, intro: str, table: pd.DataFrame, columns: dict) -> str:
    """One study's table under its heading; nothing when the run did not include the study."""
    if table.empty:
        return ""
    return f"<h2>{html.escape(title)}</h2><p>{html.escape(intro)}</p>{_html_table(table, columns)}"


STUDY_SECTIONS = {  # table -> (heading, introduction, columns shown)
    "everything_vs_box": (
        "Everything mode (S1) vs box (S5)",
        "S1 generates masks from a point grid once per image; each ground truth is matched by "
        "the paper's oracle rule (best Dice) and by the deployable rule (the best-scoring "
        "overlapping mask). Paired on the same masks.",
        {
            "model": "model", "target": "target", "selection": "S1 matching",
            "n_masks": "masks", "dice_s1": "Dice S1", "dice_s5": "Dice S5",
            "dice_gap": "S5 - S1",
        },
    ),
    "jitter_drop": (
        "Prompt robustness",
        "Each strategy with its points or box moved at random by a length in the range "
        "(cosmos_bench.prompts gives each mode's definition); repeats are averaged per mask, "
        "and the drop is paired on the same masks.",
        {
            "model": "model", "base": "strategy", "mode": "jitter mode", "lo": "from px",
            "hi": "to px", "selection": "selection", "n_masks": "masks",
            "dice_base": "Dice unperturbed", "dice_jittered": "Dice jittered",
            "dice_drop": "Dice drop",
        },
    ),
    "noc": (
        "Iterative clicking",
        "Each next click at the centre of the largest error region (positive in a miss, "
        "negative in a false positive; cosmos_bench.clicks). NoC: clicks to reach the Dice, "
        "the session's length when never reached.",
        {
            "model": "model", "strategy": "start", "n_masks": "masks", "n_clicks": "clicks",
            "noc85": "NoC@85", "noc90": "NoC@90", "dice_last": "Dice after the last click",
        },
    ),
}  # fmt: skip


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


def _finetune_section(tables: Mapping[str, pd.DataFrame], runs: Mapping[str, dict]) -> str:
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
    return "".join([
        '<h2 id="finetune">Fine-tuning</h2><p>Each run trains on the train split of its '
        "object subset (patient-level splits), keeps the epoch with the best validation Dice, "
        "and is then scored on the test split only; the gain is paired with the zero-shot "
        "base model on the same test masks and prompts, with a 95% CI that resamples cases. "
        "Target <em>all</em> pools every test mask; <em>trained on</em> says whether the "
        "target's object was in the training subset. Under the paper's oracle rule and the "
        "model's own score rule where the model gives several candidates.</p>",
        _html_table(meta, _RUN_COLUMNS),
        _html_table(order.drop(columns="_all"), _FINETUNE_COLUMNS),
    ])  # fmt: skip


_PROPAGATION_COLUMNS = {
    "model": "model", "protocol": "protocol", "target": "target", "n_objects": "objects",
    "n_cases": "cases", "mean_dice_3d": "3D Dice", "median_dice_3d": "3D Dice median",
    "mean_nsd_3d": "3D NSD", "mean_hd95_mm": "HD95 mm", "objects_lost": "objects lost",
    "objects_missed": "objects missed", "n_objects_2d": "objects with 2D masks",
    "dice_2d_s5": "2D Dice S5 (same objects)",
}  # fmt: skip


def _propagation_section(table: pd.DataFrame) -> str:
    """The 3D study next to the 2D scores of the same objects."""
    if table.empty:
        return ""
    return (
        '<h2 id="propagation">3D propagation</h2><p>Each object of a 3D dataset is segmented '
        "through the slices of its extent from one box on its middle slice: box-chain "
        "(each next slice prompted with the previous prediction's box + 3 px) or "
        "sam2-propagate (SAM 2's video predictor). Dice and NSD in 3D at the voxel spacing, "
        "HD95 in mm. <em>Lost</em>: the prediction is empty on a slice where the object is; "
        "<em>missed</em>: empty on every slice. The 2D column is the same model's mean S5 "
        "Dice (a box on every slice) over the same objects' 2D masks.</p>"
        + _html_table(table, _PROPAGATION_COLUMNS)
    )


def _catalog_section(provenance: Mapping[str, Any]) -> str:
    """The run's catalog counts beside the COSMOS cards' and the paper's (README "The catalog"
    explains every difference)."""
    catalog = provenance.get("catalog")
    if not catalog:
        return ""
    columns = list(catalog)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ["", *columns])
    rows = "".join(
        f"<tr><td>{key}</td>"
        + "".join(f"<td>{catalog[c].get(key, '')}</td>" for c in columns)
        + "</tr>"
        for key in ("datasets", "modalities", "objects", "targets")
    )
    return (
        "<h2>Catalog</h2><p>Targets are modality/object pairs derived from the dataset cards; "
        "the paper's numbers are those of COSMOS 1050K (Huang et al. 2024).</p>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
    )


def _figure_section(paths: Iterable[Path], html_path: Path) -> str:
    """PNGs inlined as data URIs so the page stands alone when copied or mailed; each links its
    SVG (next to the PNG) for print."""
    parts = ['<h2 id="figures">Figures</h2>']
    for path in paths:
        path = Path(path)
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        caption = figures.CAPTIONS.get(path.stem, path.stem.replace("_", " "))
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


def _provenance_section(provenance: Mapping[str, Any]) -> str:
    """Known keys first in a fixed order, then any other key, so nothing given is dropped."""
    known = [k for k in PROVENANCE_LABELS if k in provenance]
    extra = sorted(k for k in provenance if k not in PROVENANCE_LABELS)
    parts = ['<h2 id="provenance">Provenance</h2>']
    if not provenance:
        parts.append("<p>No provenance was recorded.</p>")
    for key in [*known, *extra]:
        label = PROVENANCE_LABELS.get(key, key)
        parts.append(f"<h3>{html.escape(label)}</h3>")
        parts.append(_render_provenance_value(key, provenance[key]))
    return "".join(parts)


def write_html(
    tables: Mapping[str, pd.DataFrame],
    figure_paths: list[Path],
    out: Path,
    provenance: Mapping[str, Any],
    runs: Mapping[str, dict] | None = None,
) -> None:
    """A single static page a reviewer can open anywhere: no external files, one tiny script."""
    body = "".join([
        "<h1>cosmos-bench report</h1>",
        _summary_section(tables, provenance),
        _catalog_section(provenance),
        _group_section("Per target", "per-target", tables["by_target"], "target", provenance),
        _group_section("Per modality", "per-modality", tables["by_modality"], "modality",
                       provenance),
        _group_section("Per object", "per-object", tables["by_object"], "object", provenance),
        _group_section("Per dataset", "per-dataset", tables["by_dataset"], "dataset", provenance),
        _comparison_section(tables),
        _factor_section(tables["factors"]),
        *(_study_section(*STUDY_SECTIONS[name][:2], tables[name], STUDY_SECTIONS[name][2])
          for name in STUDY_SECTIONS),
        _propagation_section(tables["propagation"]),
        _finetune_section(tables, runs or {}),
        _figure_section(figure_paths, out),
        _provenance_section(provenance),
    ])  # fmt: skip
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>cosmos-bench report</title><style>{_CSS}</style></head>"
        f"<body>{body}<script>{_SORT_SCRIPT}</script></body></html>\n"
    )
    write_bytes(Path(out), page.encode("utf-8"))


def _markdown_table(frame: pd.DataFrame, columns: Mapping[str, str]) -> str:
    lines = ["| " + " | ".join(columns.values()) + " |", "|" + "---|" * len(columns)]
    for record in frame[list(columns)].itertuples(index=False):
        cells = [_fmt(v)[0].replace("&ndash;", "-") for v in record]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_summary(tables: Mapping[str, pd.DataFrame], out: Path, provenance: Mapping) -> None:
    """The overall and per-target numbers as Markdown, for a README, a paper draft or a PR."""
    facts = coverage(tables, provenance)
    lines = ["# cosmos-bench summary", ""]
    lines += [f"- **{k}**: {v}" for k, v in facts.items()]
    overall_columns = {
        "model": "model", "strategy": "strategy", "selection": "selection",
        "n_masks": "masks", "n_cases": "cases", "dice_mask_weighted": "Dice (mask-weighted)",
        "ci_low": "95% CI low", "ci_high": "95% CI high",
        "dice_target_weighted": "Dice (target-weighted)",
    }  # fmt: skip
    lines += ["", "## Overall", "", _markdown_table(tables["overall"], overall_columns)]
    by_target = tables["by_target"].sort_values(["target", *RUN_KEYS], kind="mergesort")
    lines += [
        "",
        "## Per target",
        "",
        _markdown_table(
            by_target,
            {
                "target": "target",
                **{k: v for k, v in _GROUP_COLUMNS.items() if k not in ("std_dice", "mean_iou")},
            },
        ),
    ]
    lines += ["", f"Git commit: `{provenance.get('git_commit', 'unknown')}`; seed: "
              f"{provenance.get('seed', 'unknown')}. Full report: index.html.", ""]  # fmt: skip
    write_bytes(Path(out), "\n".join(lines).encode("utf-8"))


# ---------------------------------------------------------------------------------------------
# entry points


def draw_figures(scores: pd.DataFrame, tables: Mapping[str, pd.DataFrame], out_dir: Path) -> list:
    """Every figure of figures.FIGURES, in that order, as PNG (and SVG) files in `out_dir`."""
    masks = one_shot(per_mask(scores[scores["click"] == 0]))
    out = {name: Path(out_dir) / f"{name}.png" for name in figures.FIGURES}
    return [
        figures.dice_boxes(masks, "target", "Dice per target (one sample per mask)",
                           out["dice_by_target"]),
        figures.dice_boxes(masks, "modality", "Dice per modality (one sample per mask)",
                           out["dice_by_modality"]),
        figures.target_heatmap(tables["by_target"], out["target_heatmap"]),
        figures.click_curves(tables["click_curves"], out["dice_vs_clicks"]),
        figures.jitter_curves(tables["jitter_drop"], out["jitter_drop"]),
        figures.oracle_gap_bars(tables["oracle_gap"], out["oracle_gap"]),
        figures.factor_scatter(masks, out["factors"]),
        figures.boxes_3d(tables["propagation_objects"], "dice", out["dice3d_by_target"]),
        figures.boxes_3d(tables["propagation_objects"], "nsd", out["nsd3d_by_target"]),
        figures.finetune_loss(tables["finetune_loss"], out["finetune_loss"]),
        figures.finetune_delta(tables["finetune"], out["finetune_delta"]),
    ]  # fmt: skip


def build_report(
    score_paths: list[Path],
    tables_dir: Path,
    figures_dir: Path,
    html_path: Path,
    provenance: Mapping[str, Any],
    summary: Path | None = None,
    benchmarks: Path | None = None,
    n_boot: int = N_BOOTSTRAP,
    level: float = CI_LEVEL,
    run_dirs: Iterable[Path] = (),
    propagation: Iterable[Path] = (),
) -> None:
    """Load, aggregate, write tables, figures, the HTML page and the summary, naming each."""
    scores = load_scores(score_paths)
    runs = load_runs(run_dirs)
    frames = [pd.read_parquet(p) for p in propagation]
    objects3d = pd.concat(frames, ignore_index=True) if frames else None
    print(
        f"report: {len(scores)} score rows, {scores['mask_id'].nunique()} masks, "
        f"{scores['model'].nunique()} models, {scores['strategy'].nunique()} strategies "
        f"from {len(score_paths)} files; {n_boot} case-bootstrap resamples per CI",
        flush=True,
    )
    seed = int(provenance.get("seed") or 0)
    tables = aggregate(scores, seed, n_boot, level, runs, objects3d)
    for path in write_tables(tables, Path(tables_dir)):
        print(f"report: wrote {path}", flush=True)
    paths = draw_figures(scores, tables, Path(figures_dir))
    for path in paths:
        print(f"report: wrote {path} (+ .svg)", flush=True)
    if benchmarks:
        provenance = {
            **provenance,
            "stage_seconds": stage_seconds(
                Path(benchmarks), scores["dataset"].unique(), scores["model"].unique()
            ),
        }
    write_html(tables, paths, Path(html_path), provenance, runs)
    print(f"report: wrote {html_path}", flush=True)
    if summary:
        write_summary(tables, Path(summary), provenance)
        print(f"report: wrote {summary}", flush=True)


def load_runs(run_dirs: Iterable[Path]) -> dict[str, dict]:
    """Each fine-tuning run's weights.json (`meta`) and loss.csv (`log`), by model id."""
    runs = {}
    for folder in map(Path, run_dirs):
        meta = json.loads((folder / "weights.json").read_text("utf-8"))
        runs[meta["model"]] = {"meta": meta, "log": pd.read_csv(folder / "loss.csv")}
    return runs


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m cosmos_bench.report",
        description="Summarise score shards into tables, figures, an HTML page and a summary.",
    )
    parser.add_argument("--scores", nargs="+", type=Path, required=True, help="score parquet files")
    parser.add_argument("--tables-dir", type=Path, required=True)
    parser.add_argument("--figures-dir", type=Path, required=True)
    parser.add_argument("--html", type=Path, required=True)
    parser.add_argument("--summary", type=Path, help="write the Markdown summary here")
    parser.add_argument(
        "--provenance", type=Path, help="JSON file with provenance (config, versions, sha256s, ...)"
    )
    parser.add_argument(
        "--benchmarks", type=Path,
        help="Snakemake's benchmark directory: wall time per stage goes into the provenance",
    )  # fmt: skip
    parser.add_argument("--bootstrap", type=int, default=N_BOOTSTRAP, help="resamples per CI")
    parser.add_argument("--ci-level", type=float, default=CI_LEVEL)
    parser.add_argument(
        "--finetune", nargs="*", type=Path, default=[],
        help="fine-tuning run folders (weights.json + loss.csv)",
    )  # fmt: skip
    parser.add_argument(
        "--propagation", nargs="*", type=Path, default=[],
        help="3D propagation tables (cosmos_bench.infer3d)",
    )  # fmt: skip
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point; provenance comes from a JSON file."""
    args = _parse_args(argv)
    provenance = json.loads(args.provenance.read_text("utf-8")) if args.provenance else {}
    build_report(
        args.scores, args.tables_dir, args.figures_dir, args.html, provenance,
        args.summary, args.benchmarks, args.bootstrap, args.ci_level, args.finetune,
        args.propagation,
    )  # fmt: skip


if __name__ == "__main__":
    main()
