"""The report's first screen: what the run covers in one line, a target x (model, strategy)
heatmap of mean Dice with each cell's CI on hover, and the model-by-strategy plot with CIs.

The heatmap is an HTML table, not an image, so each cell carries its interval and mask count
as a tooltip (title) and stays sharp at any zoom; colours are matplotlib's viridis, the same
scale as the figures.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd

from cosmos_bench.report.tables.outputs import CAPTIONS

HEADLINE = ("oracle", "single")


def _colour(value: float) -> tuple[str, str]:
    """(background, text) colours of a Dice value on the viridis scale."""
    if not np.isfinite(value):
        return "#ffffff", "#222222"
    background = matplotlib.colors.to_hex(matplotlib.colormaps["viridis"](float(value)))
    return background, ("#000000" if value > 0.6 else "#ffffff")


def heatmap(by_target: pd.DataFrame, level: float = 0.95) -> str:
    """Targets (rows) x (model, strategy) (columns) of mean Dice under the paper's rule."""
    rows = by_target[by_target["selection"].isin(HEADLINE)]
    if rows.empty:
        return ""
    columns = sorted(set(zip(rows["model"], rows["strategy"], strict=True)))
    targets = sorted(rows["target"].unique())
    cells = rows.set_index(["target", "model", "strategy"])
    models = sorted({m for m, _ in columns})
    head_models = "".join(
        f'<th colspan="{sum(m == model for m, _ in columns)}">{html.escape(model)}</th>'
        for model in models
    )
    head_strategies = "".join(f"<th>{html.escape(s)}</th>" for _, s in columns)
    body = []
    for target in targets:
        tds = []
        for model, strategy in columns:
            key = (target, model, strategy)
            if key not in cells.index:
                tds.append('<td class="empty" title="not run">&ndash;</td>')
                continue
            cell = cells.loc[key]
            mean = float(cell["mean_dice"])
            tip = (f"{target}, {model} {strategy} ({cell['selection']}): mean Dice {mean:.3f}, "
                   f"{level:.0%} CI {cell['ci_low']:.3f}-{cell['ci_high']:.3f}, "
                   f"{int(cell['n_masks'])} masks, {int(cell['n_cases'])} cases")  # fmt: skip
            background, text = _colour(mean)
            tds.append(f'<td style="background:{background};color:{text}" '
                       f'title="{html.escape(tip)}">{mean:.2f}</td>')  # fmt: skip
        body.append(f'<tr><th class="target">{html.escape(target)}</th>{"".join(tds)}</tr>')
    return (
        '<table class="heatmap" id="heatmap"><thead>'
        f'<tr><th rowspan="2">target</th>{head_models}</tr><tr>{head_strategies}</tr>'
        f"</thead><tbody>{''.join(body)}</tbody></table>"
    )


def _scale_bar() -> str:
    stops = ", ".join(
        matplotlib.colors.to_hex(matplotlib.colormaps["viridis"](v)) for v in np.linspace(0, 1, 6)
    )
    return (f'<div class="scale"><span>0</span><span class="bar" '
            f'style="background:linear-gradient(to right, {stops})"></span><span>1</span> '
            "mean Dice</div>")  # fmt: skip


def overview_section(
    tables: Mapping[str, pd.DataFrame], plot: Path | None, facts: Mapping[str, Any],
    level: float = 0.95,
) -> str:  # fmt: skip
    """The first screen: one line of scope, the heatmap and the model-by-strategy plot."""
    scope = " &middot; ".join(html.escape(f"{v} {k}") for k, v in facts.items())
    parts = [f'<p class="scope">{scope}</p>']
    heat = heatmap(tables["by_target"], level)
    if heat:
        parts.append(
            '<figure class="overview" id="overview-heatmap">' + heat + _scale_bar() +
            "<figcaption>Mean Dice per target (rows) for each model and strategy (columns), "
            "the oracle rule where a model gives several candidates; hover a cell for its "
            f"{level:.0%} case-bootstrap CI and mask count.</figcaption></figure>"
        )  # fmt: skip
    if plot is not None:
        data = base64.b64encode(Path(plot).read_bytes()).decode("ascii")
        caption = CAPTIONS.get(Path(plot).stem, "")
        parts.append(
            f'<figure class="overview" id="overview-strategies"><img src="data:image/png;base64,'
            f'{data}" alt="{html.escape(caption)}"><figcaption>{html.escape(caption)}'
            "</figcaption></figure>"
        )
    row = "".join(parts[1:])
    return f'<section id="overview">{parts[0]}<div class="overview-row">{row}</div></section>'
