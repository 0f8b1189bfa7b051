"""Turn per-mask score shards into summary tables, figures and one self-contained HTML report.

Every statistic is computed over *masks*: the repeats of one (model, strategy, selection, mask)
are first averaged, so a mask scored with five random points counts as much as a mask scored
once with a box. Outputs are byte-stable (sorted rows, rounded floats, fixed formats) so that a
re-run that changes nothing changes no file.

Provenance keys the HTML page knows by name (others are shown after them, as JSON):
``created``, ``git_commit``, ``seed``, ``packages``, ``dataset_sha256``, ``weight_sha256``,
``config`` and ``untrained_prompts`` (``{model: ["point", ...]}``, used for row notes).
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import json
import math
import numbers
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from cosmos_bench.atomic import write_bytes
from cosmos_bench.errors import CosmosError
from cosmos_bench.prompts import is_jittered, kinds_of
from cosmos_bench.studies import click_curves, everything_vs_box, jitter_drop, noc_table

SCORE_COLUMNS = (
    "mask_id", "uid", "dataset", "case", "modality", "object", "target",
    "model", "strategy", "repeat", "click", "selection", "dice", "iou", "area_px",
)  # fmt: skip
SORT_KEYS = ["model", "dataset", "strategy", "mask_id", "repeat", "selection"]
RUN_KEYS = ["model", "strategy", "selection"]
FLOAT_DECIMALS = 6
CSV_FLOAT_FORMAT = f"%.{FLOAT_DECIMALS}f"
MAX_POINTS_SHOWN = 30

FIGURE_CAPTIONS = {
    "dice_by_target": "Dice per mask, by target: one box per model and strategy "
    "(repeats averaged per mask).",
    "dice_by_modality": "Dice per mask, by imaging modality: one box per model and strategy "
    "(repeats averaged per mask).",
    "dice_vs_clicks": "Mean Dice over masks after each click of iterative clicking, per model "
    "and start (solid: from the box, dashed: from one point).",
}
PROVENANCE_LABELS = {
    "created": "Created",
    "git_commit": "Git commit",
    "seed": "Seed",
    "packages": "Package versions",
    "dataset_sha256": "Dataset sha256",
    "weight_sha256": "Model weight sha256",
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


def per_mask(scores: pd.DataFrame) -> pd.DataFrame:
    """Average repeats so each (model, strategy, selection, mask) is one sample."""
    keys = [*RUN_KEYS, "mask_id"]
    grouped = scores.groupby(keys, sort=True, observed=True)
    masks = grouped.agg(
        dataset=("dataset", "first"),
        case=("case", "first"),
        uid=("uid", "first"),
        modality=("modality", "first"),
        target=("target", "first"),
        dice=("dice", "mean"),
        iou=("iou", "mean"),
    ).reset_index()
    masks["case_key"] = masks["dataset"].astype(str) + "/" + masks["case"].astype(str)
    return masks


def _summarise(masks: pd.DataFrame, by: str) -> pd.DataFrame:
    """Per-group mask statistics; n_cases counts (dataset, case) pairs, not case names."""
    keys = [*RUN_KEYS, by]
    grouped = masks.groupby(keys, sort=True, observed=True)
    return grouped.agg(
        n_masks=("mask_id", "nunique"),
        n_cases=("case_key", "nunique"),
        n_images=("uid", "nunique"),
        mean_dice=("dice", "mean"),
        median_dice=("dice", "median"),
        std_dice=("dice", "std"),
        mean_iou=("iou", "mean"),
    ).reset_index()


def _overall(masks: pd.DataFrame, by_target: pd.DataFrame) -> pd.DataFrame:
    """Both weightings, because a large target otherwise hides how a model does on rare ones."""
    grouped = masks.groupby(RUN_KEYS, sort=True, observed=True)
    overall = grouped.agg(
        n_masks=("mask_id", "nunique"),
        n_targets=("target", "nunique"),
        dice_mask_weighted=("dice", "mean"),
    )
    target_weighted = by_target.groupby(RUN_KEYS, sort=True, observed=True)["mean_dice"].mean()
    overall["dice_target_weighted"] = target_weighted
    return overall.reset_index()


def aggregate(scores: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Summary tables by target, dataset, modality and overall, rounded for byte-stable CSVs.

    Iterative-click rows (click > 0) have their own study; the tables hold one-shot prompts."""
    masks = per_mask(scores[scores["click"] == 0])
    by_target = _summarise(masks, "target")
    tables = {
        "by_target": by_target,
        "by_dataset": _summarise(masks, "dataset"),
        "by_modality": _summarise(masks, "modality"),
        "overall": _overall(masks, by_target),
        "jitter_drop": jitter_drop(masks),
        "everything_vs_box": everything_vs_box(masks),
        "click_curves": click_curves(scores),
        "noc": noc_table(scores),
    }
    return {name: table.round(FLOAT_DECIMALS) for name, table in tables.items()}


# ---------------------------------------------------------------------------------------------
# files


def write_tables(tables: Mapping[str, pd.DataFrame], out_dir: Path) -> list[Path]:
    """Write each table as ``{name}.csv`` with a fixed float format and no index."""
    written = []
    for name in sorted(tables):
        path = Path(out_dir) / f"{name}.csv"
        text = tables[name].to_csv(
            index=False, float_format=CSV_FLOAT_FORMAT, lineterminator="\n", na_rep=""
        )
        write_bytes(path, text.encode("utf-8"))
        written.append(path)
    return written


# ---------------------------------------------------------------------------------------------
# figures


def _model_colours(models: Iterable[str]) -> dict[str, str]:
    """One colour per model, fixed by sorted name so every figure agrees."""
    palette = [
        "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
        "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    ]  # fmt: skip
    return {m: palette[i % len(palette)] for i, m in enumerate(sorted(set(models)))}


def _run_label(strategy: str, selection: str, show_selection: bool) -> str:
    return f"{strategy}\n{selection}" if show_selection else strategy


def _draw_panel(
    ax: Any,
    panel: pd.DataFrame,
    runs: list[tuple[str, str]],
    colours: dict[str, str],
    show_selection: bool,
) -> None:
    """Boxes grouped by strategy (x), one per model inside a group, coloured by model."""
    models = sorted(colours)
    width = 0.8 / len(models)
    for i, (strategy, selection) in enumerate(runs):
        run = panel[(panel["strategy"] == strategy) & (panel["selection"] == selection)]
        for j, model in enumerate(models):
            dice = run.loc[run["model"] == model, "dice"].to_numpy()
            if not len(dice):
                continue
            position = i - 0.4 + width * (j + 0.5)
            show_points = len(dice) <= MAX_POINTS_SHOWN  # a box of one mask hides its colour
            box = ax.boxplot(
                dice, positions=[position], widths=width * 0.85, patch_artist=True,
                showfliers=not show_points, flierprops={"markersize": 3},
                medianprops={"color": "black"},
            )  # fmt: skip
            for patch in box["boxes"]:
                patch.set_facecolor(colours[model])
                patch.set_alpha(0.75)
            if show_points:
                ax.scatter(
                    [position] * len(dice),
                    dice,
                    s=10,
                    color=colours[model],
                    edgecolors="black",
                    linewidths=0.4,
                    zorder=3,
                )
    ax.set_xticks(range(len(runs)))
    ax.set_xticklabels([_run_label(s, sel, show_selection) for s, sel in runs])
    ax.set_xlim(-0.6, len(runs) - 0.4)
    ax.set_ylim(-0.03, 1.03)
    ax.set_ylabel("Dice")
    ax.grid(axis="y", alpha=0.3)


def _plot_dice_by(scores: pd.DataFrame, column: str, title: str, out: Path) -> Path:
    """One panel per value of ``column``; shared layout for the target and modality figures.

    The studies (jittered prompts, click sessions) have their own tables and figures."""
    one_shot = (scores["click"] == 0) & ~scores["strategy"].map(is_jittered)
    masks = per_mask(scores[one_shot])
    panels = sorted(masks[column].astype(str).unique())
    runs = sorted(set(zip(masks["strategy"], masks["selection"], strict=True)))
    show_selection = masks["selection"].nunique() > 1
    colours = _model_colours(masks["model"])
    ncols = min(3, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    panel_width = max(3.5, 1.0 + 0.9 * len(runs))
    fig = Figure(figsize=(panel_width * ncols, 3.4 * nrows + 0.9), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, name in zip(axes, panels, strict=False):
        _draw_panel(ax, masks[masks[column].astype(str) == name], runs, colours, show_selection)
        ax.set_title(name, fontsize=11)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    handles = [Patch(facecolor=c, alpha=0.75, edgecolor="black") for c in colours.values()]
    fig.legend(
        handles,
        list(colours),
        loc="outside lower center",
        ncols=min(6, len(colours)),
        title="model",
        fontsize=10,
        title_fontsize=10,
    )
    fig.suptitle(title, fontsize=13)
    return _save(fig, out)


def plot_dice_by_target(scores: pd.DataFrame, out: Path) -> Path:
    """Per-target Dice distributions, the view that shows where a model fails."""
    return _plot_dice_by(scores, "target", "Dice per target (one sample per mask)", out)


def plot_dice_by_modality(scores: pd.DataFrame, out: Path) -> Path:
    """Per-modality Dice distributions, a compact view when there are many targets."""
    return _plot_dice_by(scores, "modality", "Dice per modality (one sample per mask)", out)


def _save(fig: Figure, out: Path) -> Path:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=150, metadata={"Software": None})
    write_bytes(Path(out), buffer.getvalue())
    return Path(out)


def plot_click_curves(curves: pd.DataFrame, out: Path) -> Path:
    """Mean Dice after each click, one line per model and start: where a model saturates."""
    fig = Figure(figsize=(7, 4.2), layout="constrained")
    ax = fig.subplots()
    if curves.empty:
        ax.text(0.5, 0.5, "no click study in this run (config: clicks.starts)", ha="center")
        ax.set_axis_off()
        return _save(fig, out)
    colours = _model_colours(curves["model"])
    for (model, strategy), line in curves.groupby(["model", "strategy"], sort=True):
        style = "-" if strategy.endswith("S5") else "--"
        ax.plot(line["click"], line["mean_dice"], style, marker="o", ms=3,
                color=colours[model], label=f"{model}, {strategy}")  # fmt: skip
    ax.set_xlabel("clicks")
    ax.set_ylabel("mean Dice over masks")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9)
    ax.set_title("Dice after each click (iterative clicking)", fontsize=12)
    return _save(fig, out)


# ---------------------------------------------------------------------------------------------
# HTML


def untrained_note(model: str, strategy: str, provenance: Mapping[str, Any]) -> str:
    """Flag rows whose prompts the model never saw in training: their scores mean less."""
    untrained = set((provenance.get("untrained_prompts") or {}).get(model, []))
    kinds = sorted(kinds_of(strategy) & untrained)
    return f"model not trained on {' and '.join(kinds)} prompts" if kinds else ""


_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 72em; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #444; padding-bottom: .2em; }
h2 { margin-top: 2em; border-bottom: 1px solid #bbb; }
table { border-collapse: collapse; margin: .6em 0 1.2em; font-size: .92em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; }
th { background: #f0f0f0; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.note { color: #a33; font-style: italic; }
pre { background: #f6f6f6; padding: .8em; overflow-x: auto; font-size: .85em; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: .92em; color: #444; }
dl.summary dt { font-weight: bold; float: left; clear: left; width: 9em; }
dl.summary dd { margin-left: 10em; }
"""


def _fmt(value: Any) -> tuple[str, bool]:
    """Escaped cell text and whether it is numeric; floats to 3 decimals, NaN as a dash."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return str(int(value)), True
    if isinstance(value, numbers.Real):
        return ("&ndash;" if math.isnan(value) else f"{value:.3f}"), True
    return html.escape(str(value)), False


def _html_table(frame: pd.DataFrame, columns: Mapping[str, str], notes: list[str]) -> str:
    """A table of ``columns`` (source name -> header), with a note column only if needed."""
    show_notes = any(notes)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in columns.values())
    head += "<th>note</th>" if show_notes else ""
    rows = []
    for record, note in zip(frame[list(columns)].itertuples(index=False), notes, strict=True):
        cells = []
        for value in record:
            text, numeric = _fmt(value)
            cells.append(f'<td class="num">{text}</td>' if numeric else f"<td>{text}</td>")
        if show_notes:
            cells.append(f'<td class="note">{"† " + html.escape(note) if note else ""}</td>')
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _row_notes(frame: pd.DataFrame, provenance: Mapping[str, Any]) -> list[str]:
    return [
        untrained_note(str(m), str(s), provenance)
        for m, s in zip(frame["model"], frame["strategy"], strict=True)
    ]


def _names(values: Iterable[Any]) -> str:
    return html.escape(", ".join(sorted({str(v) for v in values})))


def _summary_section(tables: Mapping[str, pd.DataFrame], provenance: Mapping[str, Any]) -> str:
    """Scope of the run at a glance plus the overall table with both Dice weightings."""
    overall = tables["overall"]
    n_masks = overall["n_masks"]
    low, high = int(n_masks.min()), int(n_masks.max())
    masks = str(high) if low == high else f"{low}&ndash;{high}"
    facts = {
        "Datasets": _names(tables["by_dataset"]["dataset"]),
        "Targets": _names(tables["by_target"]["target"]),
        "Models": _names(overall["model"]),
        "Strategies": _names(overall["strategy"]),
        "Masks": f"{masks} per model &times; strategy",
    }
    listing = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts.items())
    columns = {
        "model": "model", "strategy": "strategy", "selection": "selection",
        "n_masks": "masks", "n_targets": "targets",
        "dice_mask_weighted": "mean Dice (mask-weighted)",
        "dice_target_weighted": "mean Dice (target-weighted)",
    }  # fmt: skip
    return (
        f'<h2>Summary</h2><dl class="summary">{listing}</dl>'
        "<p>Mask-weighted: mean over all masks. Target-weighted: mean of the per-target means, "
        "so every target counts equally. Repeats of a mask are averaged first.</p>"
        + _html_table(overall, columns, _row_notes(overall, provenance))
    )


def _target_sections(by_target: pd.DataFrame, provenance: Mapping[str, Any]) -> str:
    columns = {
        "model": "model", "strategy": "strategy", "selection": "selection",
        "n_masks": "masks", "n_cases": "cases", "mean_dice": "mean Dice",
        "median_dice": "median Dice", "mean_iou": "mean IoU",
    }  # fmt: skip
    parts = ["<h2>Per target</h2>"]
    for target, rows in by_target.groupby("target", sort=True, observed=True):
        parts.append(f"<h3>{html.escape(str(target))}</h3>")
        parts.append(_html_table(rows, columns, _row_notes(rows, provenance)))
    return "".join(parts)


def _dataset_section(by_dataset: pd.DataFrame, provenance: Mapping[str, Any]) -> str:
    columns = {
        "dataset": "dataset", "model": "model", "strategy": "strategy",
        "selection": "selection", "n_masks": "masks", "n_cases": "cases",
        "mean_dice": "mean Dice", "median_dice": "median Dice", "mean_iou": "mean IoU",
    }  # fmt: skip
    rows = by_dataset.sort_values(["dataset", *RUN_KEYS], kind="mergesort")
    return "<h2>Per dataset</h2>" + _html_table(rows, columns, _row_notes(rows, provenance))


def _study_section(title: str, intro: str, table: pd.DataFrame, columns: dict) -> str:
    """One study's table under its heading; nothing when the run did not include the study."""
    if table.empty:
        return ""
    body = _html_table(table, columns, [""] * len(table))
    return f"<h2>{html.escape(title)}</h2><p>{html.escape(intro)}</p>{body}"


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


def _figure_section(figures: Iterable[Path]) -> str:
    """Figures inlined as data URIs so the page stands alone when copied or mailed."""
    parts = ["<h2>Figures</h2>"]
    for path in figures:
        path = Path(path)
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        caption = FIGURE_CAPTIONS.get(path.stem, path.stem.replace("_", " "))
        parts.append(
            f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(caption)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
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
    parts = ["<h2>Provenance</h2>"]
    if not provenance:
        parts.append("<p>No provenance was recorded.</p>")
    for key in [*known, *extra]:
        label = PROVENANCE_LABELS.get(key, key)
        parts.append(f"<h3>{html.escape(label)}</h3>")
        parts.append(_render_provenance_value(key, provenance[key]))
    return "".join(parts)


def write_html(
    tables: Mapping[str, pd.DataFrame],
    figures: list[Path],
    out: Path,
    provenance: Mapping[str, Any],
) -> None:
    """A single static page a reviewer can open anywhere: no scripts, no external files."""
    body = "".join([
        "<h1>cosmos-bench report</h1>",
        _summary_section(tables, provenance),
        _catalog_section(provenance),
        _target_sections(tables["by_target"], provenance),
        _dataset_section(tables["by_dataset"], provenance),
        *(_study_section(*STUDY_SECTIONS[name][:2], tables[name], STUDY_SECTIONS[name][2])
          for name in STUDY_SECTIONS),
        _figure_section(figures),
        _provenance_section(provenance),
    ])  # fmt: skip
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>cosmos-bench report</title><style>{_CSS}</style></head>"
        f"<body>{body}</body></html>\n"
    )
    write_bytes(Path(out), page.encode("utf-8"))


# ---------------------------------------------------------------------------------------------
# entry points


def build_report(
    score_paths: list[Path],
    tables_dir: Path,
    figures_dir: Path,
    html: Path,
    provenance: Mapping[str, Any],
) -> None:
    """Load, aggregate, write tables, figures and the HTML page, reporting each output."""
    scores = load_scores(score_paths)
    print(
        f"report: {len(scores)} score rows, {scores['mask_id'].nunique()} masks, "
        f"{scores['model'].nunique()} models, {scores['strategy'].nunique()} strategies "
        f"from {len(score_paths)} files",
        flush=True,
    )
    tables = aggregate(scores)
    for path in write_tables(tables, Path(tables_dir)):
        print(f"report: wrote {path}", flush=True)
    figures = [
        plot_dice_by_target(scores, Path(figures_dir) / "dice_by_target.png"),
        plot_dice_by_modality(scores, Path(figures_dir) / "dice_by_modality.png"),
        plot_click_curves(tables["click_curves"], Path(figures_dir) / "dice_vs_clicks.png"),
    ]
    for path in figures:
        print(f"report: wrote {path}", flush=True)
    write_html(tables, figures, Path(html), provenance)
    print(f"report: wrote {html}", flush=True)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m cosmos_bench.report",
        description="Summarise score shards into CSV tables, figures and an HTML report.",
    )
    parser.add_argument("--scores", nargs="+", type=Path, required=True, help="score parquet files")
    parser.add_argument("--tables-dir", type=Path, required=True)
    parser.add_argument("--figures-dir", type=Path, required=True)
    parser.add_argument("--html", type=Path, required=True)
    parser.add_argument(
        "--provenance", type=Path, help="JSON file with provenance (config, versions, sha256s, ...)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point; provenance comes from a JSON file."""
    args = _parse_args(argv)
    provenance = json.loads(args.provenance.read_text("utf-8")) if args.provenance else {}
    build_report(args.scores, args.tables_dir, args.figures_dir, args.html, provenance)


if __name__ == "__main__":
    main()
