"""The report's figures (matplotlib, no pyplot state), each written as PNG and SVG.

One colour per model in every figure (fixed by sorted model name). Files are byte-stable: no
timestamps in the metadata and a fixed SVG id salt. A figure whose study is not in the run is
still written, with a line saying which config key turns the study on, so the report's set of
files does not depend on the config.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from cosmos_bench.core.atomic import write_bytes

MAX_POINTS_SHOWN = 30
PALETTE = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
]  # fmt: skip
FACTOR_LABELS = {
    "area_px": "area (pixels, log scale)",
    "aspect_ratio": "aspect ratio (short / long box side)",
    "intensity_difference": "intensity difference (grey levels)",
    "f_final": "boundary complexity F_final",
    "modality_code": "modality code",
}
SVG_SALT = "cosmos-bench"  # fixed SVG element ids: the same figure, the same bytes


def model_colours(models: Any) -> dict[str, str]:
    """One colour per model, fixed by sorted name so every figure agrees."""
    return {m: PALETTE[i % len(PALETTE)] for i, m in enumerate(sorted(set(models)))}


def save(fig: Figure, out_png: Path) -> Path:
    """Write `out_png` and its SVG twin next to it; returns the PNG path."""
    out_png = Path(out_png)
    for fmt, path in (("png", out_png), ("svg", out_png.with_suffix(".svg"))):
        buffer = io.BytesIO()
        meta = {"Software": None} if fmt == "png" else {"Date": None, "Creator": None}
        with matplotlib.rc_context({"svg.hashsalt": SVG_SALT}):
            fig.savefig(buffer, format=fmt, dpi=150, metadata=meta)
        write_bytes(path, buffer.getvalue())
    return out_png


def _placeholder(out: Path, text: str) -> Path:
    fig = Figure(figsize=(7, 2.0), layout="constrained")
    ax = fig.subplots()
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=11)
    ax.set_axis_off()
    return save(fig, out)


def _legend(fig: Figure, colours: dict[str, str]) -> None:
    handles = [Patch(facecolor=c, alpha=0.75, edgecolor="black") for c in colours.values()]
    fig.legend(
        handles, list(colours), loc="outside lower center", ncols=min(6, len(colours)),
        title="model", fontsize=10, title_fontsize=10,
    )  # fmt: skip


def _draw_panel(
    ax: Any,
    panel: pd.DataFrame,
    runs: list[tuple[str, str]],
    colours: dict[str, str],
    show_selection: bool,
    metric: str = "dice",
) -> None:
    """Boxes of `metric` grouped by strategy (x), one per model inside a group, by colour."""
    models = sorted(colours)
    width = 0.8 / len(models)
    for i, (strategy, selection) in enumerate(runs):
        run = panel[(panel["strategy"] == strategy) & (panel["selection"] == selection)]
        for j, model in enumerate(models):
            dice = run.loc[run["model"] == model, metric].to_numpy()
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
                    [position] * len(dice), dice, s=10, color=colours[model],
                    edgecolors="black", linewidths=0.4, zorder=3,
                )  # fmt: skip
    labels = [f"{s}\n{sel}" if show_selection else s for s, sel in runs]
    ax.set_xticks(range(len(runs)))
    ax.set_xticklabels(labels)
    ax.set_xlim(-0.6, len(runs) - 0.4)
    ax.set_ylim(-0.03, 1.03)
    ax.set_ylabel(METRIC_LABELS[metric])
    ax.grid(axis="y", alpha=0.3)


METRIC_LABELS = {"dice": "Dice", "nsd": "NSD"}


def dice_boxes(
    masks: pd.DataFrame, column: str, title: str, out: Path, metric: str = "dice"
) -> Path:
    """One panel per value of `column` (target or modality), boxes per strategy and model.

    `masks` holds one-shot, unperturbed strategies, one row per mask (aggregate.per_mask)."""
    panels = sorted(masks[column].astype(str).unique())
    runs = sorted(set(zip(masks["strategy"], masks["selection"], strict=True)))
    show_selection = masks["selection"].nunique() > 1
    colours = model_colours(masks["model"])
    ncols = min(3, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    panel_width = max(3.5, 1.0 + 0.9 * len(runs))
    fig = Figure(figsize=(panel_width * ncols, 3.4 * nrows + 0.9), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, name in zip(axes, panels, strict=False):
        rows = masks[masks[column].astype(str) == name]
        _draw_panel(ax, rows, runs, colours, show_selection, metric)
        ax.set_title(name, fontsize=11)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    _legend(fig, colours)
    fig.suptitle(title, fontsize=13)
    return save(fig, out)


def target_heatmap(by_target: pd.DataFrame, out: Path) -> Path:
    """Targets x strategies of mean Dice per model: where each prompt type fails."""
    rows = by_target[by_target["selection"].isin(["oracle", "single"])]
    models = sorted(rows["model"].unique())
    targets = sorted(rows["target"].unique())
    strategies = sorted(rows["strategy"].unique())
    fig = Figure(
        figsize=(max(4.0, 1.1 + 0.75 * len(strategies)) * len(models), 1.6 + 0.38 * len(targets)),
        layout="constrained",
    )
    axes = fig.subplots(1, len(models), squeeze=False).ravel()
    image = None
    for ax, model in zip(axes, models, strict=True):
        table = rows[rows["model"] == model].pivot(
            index="target", columns="strategy", values="mean_dice"
        )
        grid = table.reindex(index=targets, columns=strategies).to_numpy(dtype=float)
        image = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis", aspect="auto")
        for (i, j), value in np.ndenumerate(grid):
            if not np.isnan(value):
                colour = "black" if value > 0.6 else "white"
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=8, color=colour)
        ax.set_xticks(range(len(strategies)), strategies, rotation=45, ha="right")
        ax.set_yticks(range(len(targets)), targets if ax is axes[0] else [""] * len(targets))
        ax.set_title(model, fontsize=11)
        ax.set_xlabel("strategy")
    fig.colorbar(image, ax=list(axes), label="mean Dice", shrink=0.9)
    fig.suptitle("Mean Dice per target and strategy", fontsize=13)
    return save(fig, out)


def strategy_points(overall: pd.DataFrame, out: Path) -> Path:
    """Mean Dice per strategy and model with CI whiskers: the run's headline at a glance."""
    rows = overall[overall["selection"].isin(["oracle", "single"])]
    if rows.empty:
        return _placeholder(out, "no one-shot strategy in this run")
    strategies = sorted(rows["strategy"].unique())
    colours = model_colours(rows["model"])
    models = sorted(colours)
    step = 0.7 / max(1, len(models))
    fig = Figure(figsize=(max(5.0, 1.3 + 1.0 * len(strategies)), 3.6), layout="constrained")
    ax = fig.subplots()
    for j, model in enumerate(models):
        line = rows[rows["model"] == model].set_index("strategy").reindex(strategies)
        at = np.arange(len(strategies)) - 0.35 + step * (j + 0.5)
        mean = line["dice_mask_weighted"].to_numpy(dtype=float)
        err = np.vstack([mean - line["ci_low"], line["ci_high"] - mean])
        ax.errorbar(at, mean, yerr=np.nan_to_num(err), fmt="o", ms=6, capsize=4, elinewidth=1.5,
                    color=colours[model], label=model)  # fmt: skip
    ax.set_xticks(range(len(strategies)), strategies)
    ax.set_xlim(-0.6, len(strategies) - 0.4)
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel("strategy")
    ax.set_ylabel("mean Dice (95% CI)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="model")
    ax.set_title("Mean Dice per model and strategy", fontsize=12)
    return save(fig, out)


def click_curves(curves: pd.DataFrame, out: Path) -> Path:
    """Mean Dice after each click, one line per model and start: where a model saturates."""
    if curves.empty:
        return _placeholder(out, "no click study in this run (config: clicks.starts)")
    fig = Figure(figsize=(7, 4.2), layout="constrained")
    ax = fig.subplots()
    colours = model_colours(curves["model"])
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
    return save(fig, out)


_MODE_STYLES = ["-", "--", ":", "-.", (0, (5, 1, 1, 1))]


def jitter_curves(drop: pd.DataFrame, out: Path) -> Path:
    """Dice drop against jitter range, one panel per base strategy, lines per model and mode."""
    if drop.empty:
        return _placeholder(out, "no robustness study in this run (config: robustness.modes)")
    rows = drop[drop["selection"].isin(["oracle", "single"])]
    bases = sorted(rows["base"].unique())
    colours = model_colours(rows["model"])
    modes = sorted(rows["mode"].unique())
    fig = Figure(figsize=(4.2 * len(bases), 3.8), layout="constrained")
    axes = fig.subplots(1, len(bases), squeeze=False).ravel()
    for ax, base in zip(axes, bases, strict=True):
        panel = rows[rows["base"] == base]
        for (model, mode), line in panel.groupby(["model", "mode"], sort=True):
            line = line.sort_values("lo")
            ax.plot(
                (line["lo"] + line["hi"]) / 2, line["dice_drop"], marker="o", ms=3,
                color=colours[model], linestyle=_MODE_STYLES[modes.index(mode) % 5],
                label=f"{model}, {mode}",
            )  # fmt: skip
        ax.axhline(0, color="black", linewidth=0.6)
        ax.set_title(base, fontsize=11)
        ax.set_xlabel("jitter range midpoint (px)")
        ax.set_ylabel("Dice drop (unperturbed - jittered)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Prompt robustness: Dice drop by jitter mode", fontsize=13)
    return save(fig, out)


def _bars_with_ci(
    frame: pd.DataFrame, x: str, groups: list, value: str, per_group: float
) -> tuple[Figure, Any]:
    """Bars of `value` per `x` group, one per model (colour), with ci_low/ci_high whiskers."""
    colours = model_colours(frame["model"])
    models = sorted(colours)
    width = 0.8 / len(models)
    fig = Figure(figsize=(max(5.0, per_group * len(groups) + 2), 3.8), layout="constrained")
    ax = fig.subplots()
    for j, model in enumerate(models):
        rows = frame[frame["model"] == model].set_index(x).reindex(groups)
        at = np.arange(len(groups)) - 0.4 + width * (j + 0.5)
        err = np.vstack([rows[value] - rows["ci_low"], rows["ci_high"] - rows[value]])
        ax.bar(at, rows[value], width * 0.9, color=colours[model], label=model,
               yerr=np.nan_to_num(err), capsize=3)  # fmt: skip
    return fig, ax


def oracle_gap_bars(gap: pd.DataFrame, out: Path) -> Path:
    """Bars of the oracle-minus-score gap per strategy, grouped by model, with CI whiskers."""
    if gap.empty:
        return _placeholder(out, "no multimask model in this run: no oracle gap to show")
    strategies = sorted(gap["strategy"].unique())
    fig, ax = _bars_with_ci(gap, "strategy", strategies, "oracle_gap", 1.2)
    ax.set_xticks(range(len(strategies)), strategies)
    ax.set_xlabel("strategy")
    ax.set_ylabel("Dice: oracle - score selection")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=9)
    ax.set_title("What the oracle rule adds over the model's own choice", fontsize=12)
    return save(fig, out)


def factor_scatter(masks: pd.DataFrame, out: Path) -> Path:
    """Dice against each object factor for one strategy, points coloured by model."""
    strategies = sorted(masks["strategy"].unique())
    if not strategies:
        return _placeholder(out, "no one-shot strategy in this run")
    strategy = "S5" if "S5" in strategies else strategies[0]
    rows = masks[(masks["strategy"] == strategy) & masks["selection"].isin(["oracle", "single"])]
    colours = model_colours(rows["model"])
    fig = Figure(figsize=(12, 7.6), layout="constrained")
    axes = fig.subplots(2, 3).ravel()
    axes[-1].set_visible(False)
    for ax, (factor, label) in zip(axes, FACTOR_LABELS.items(), strict=False):
        for model, points in rows.groupby("model", sort=True):
            ax.scatter(points[factor], points["dice"], s=6, alpha=0.6, color=colours[model])
        if factor == "area_px" and (rows[factor] > 0).all() and len(rows):
            ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("Dice")
        ax.set_ylim(-0.03, 1.03)
        ax.grid(alpha=0.3)
    _legend(fig, colours)
    fig.suptitle(f"Dice against object factors ({strategy})", fontsize=13)
    return save(fig, out)


def finetune_loss(log: pd.DataFrame, out: Path) -> Path:
    """Training (per-epoch mean) and validation loss per run: did the loss fall."""
    if log.empty:
        return _placeholder(out, "no fine-tuning in this run (config: finetune.runs)")
    colours = model_colours(log["model"])
    fig = Figure(figsize=(7, 4.0), layout="constrained")
    ax = fig.subplots()
    for model, rows in log.groupby("model", sort=True):
        train = rows[rows["phase"] == "train"].groupby("epoch")["loss"].mean()
        ax.plot(train.index, train.to_numpy(), "-", marker="o", ms=3, color=colours[model],
                label=f"{model}, train")  # fmt: skip
        val = rows[rows["phase"] == "val"]
        if len(val):
            ax.plot(val["epoch"], val["loss"], "--", marker="s", ms=3, color=colours[model],
                    label=f"{model}, validation")  # fmt: skip
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("Dice + CE loss")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9)
    ax.set_title("Fine-tuning loss", fontsize=12)
    return save(fig, out)


def finetune_delta(pairs: pd.DataFrame, out: Path) -> Path:
    """Per-target bars of fine-tuned minus zero-shot Dice with CI whiskers, one bar per run."""
    rows = pairs[(pairs["target"] != "all") & pairs["selection"].isin(["oracle", "single"])]
    if rows.empty:
        return _placeholder(out, "no fine-tuned model scored on a test split (finetune.runs)")
    strategies = set(rows["strategy"])
    rows = rows[rows["strategy"] == ("S5" if "S5" in strategies else min(strategies))]
    targets = sorted(rows["target"].unique())
    fig, ax = _bars_with_ci(rows, "target", targets, "mean_difference", 1.0)
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_xticks(range(len(targets)), targets, rotation=30, ha="right")
    ax.set_ylabel("Dice: fine-tuned - zero-shot")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=9)
    ax.set_title(f"Fine-tuning gain on the test split ({rows['strategy'].iloc[0]})", fontsize=12)
    return save(fig, out)


def boxes_3d(objects: pd.DataFrame, metric: str, out: Path) -> Path:
    """3D Dice or NSD per target, boxes per model and protocol (the protocol as strategy)."""
    if objects.empty:
        return _placeholder(out, "no 3D propagation in this run (config: propagation.runs)")
    frame = objects.assign(strategy=objects["protocol"], selection="3d")
    label = METRIC_LABELS[metric]
    return dice_boxes(frame, "target", f"3D {label} per target (one sample per object)", out,
                      metric)  # fmt: skip
