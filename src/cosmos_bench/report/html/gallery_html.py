"""The gallery's section of the HTML page: per target, one row per (model, strategy) with its
worst, median and best case and its largest oracle - score gap, thumbnails linking the whole
image.

The pictures are files beside the page (the gallery job's folder), linked, not inlined: they
show patient images, and a page mailed on its own then carries none of them.
"""

from __future__ import annotations

import html
import os
import re
from pathlib import Path

import pandas as pd

from cosmos_bench.report.gallery.cases import GAP_ROLES
from cosmos_bench.report.gallery.overlay import LEGEND


def anchor(target: str) -> str:
    """The element id of a target's gallery: `gallery-ct-liver`."""
    return "gallery-" + re.sub(r"[^a-z0-9]+", "-", target.lower()).strip("-")


def _legend() -> str:
    items = "".join(
        f'<span class="swatch" style="background:rgb{colour}"></span>{html.escape(name)}'
        for name, colour in LEGEND.items()
    )
    return f'<p class="legend">{items}</p>'


def _figure(case: pd.Series, folder: str) -> str:
    """One thumbnail with its caption; a click opens the whole image."""
    slice_id = str(case["uid"]).rsplit("/", 1)[-1]
    role = str(case["role"])
    alt = f"{case['target']}, {case['model']} {case['strategy']}, {role}: Dice {case['dice']:.3f}"
    note = f'<br><span class="note">{html.escape(case["note"])}</span>' if case["note"] else ""
    rule = f" ({html.escape(str(case['selection']))})" if role in GAP_ROLES else ""
    return (
        f'<figure class="case"><a href="{html.escape(folder)}/{case["file"]}.png" '
        f'title="{html.escape(str(case["mask_id"]))}: the whole image">'
        f'<img src="{html.escape(folder)}/{case["file"]}-thumb.png" alt="{html.escape(alt)}" '
        'loading="lazy"></a>'
        f"<figcaption><b>{html.escape(role)}</b>{rule} Dice {case['dice']:.3f}<br>"
        f"{html.escape(str(case['case']))} &middot; {html.escape(slice_id)}{note}</figcaption>"
        "</figure>"
    )


def gallery_section(cases: pd.DataFrame, folder: Path | None, html_path: Path) -> str:
    """The section, or nothing when the run has no gallery."""
    if folder is None:
        return ""
    parts = [
        '<h2 id="gallery">Case gallery</h2>',
        "<p>For every target, each model and strategy's worst, median and best mask by Dice "
        "(the oracle rule where a model gives several candidates; one-shot strategies at "
        "their prompt, click strategies after their last click; ties broken by mask id), and "
        "where the model's own choice loses most against the oracle, that mask under both "
        "rules. Thumbnails are zoomed on the object and its prompt; click one for the whole "
        "image. The pictures are files in the results folder beside this page, not part of "
        "it.</p>",
        _legend(),
    ]
    if cases.empty:
        parts.append("<p>No case to show: the run has no one-shot or click scores.</p>")
        return "".join(parts)
    link = Path(os.path.relpath(Path(folder), Path(html_path).parent)).as_posix()
    for i, (target, rows) in enumerate(cases.groupby("target", sort=True)):
        lines = []
        for (model, strategy), row in rows.groupby(["model", "strategy"], sort=True):
            figures = "".join(_figure(case, link) for _, case in row.iterrows())
            label = f"{html.escape(model)}<br>{html.escape(strategy)}"
            lines.append(f'<div class="case-row"><div class="case-label">{label}</div>'
                         f"{figures}</div>")  # fmt: skip
        n = rows.groupby(["model", "strategy"]).ngroups
        opened = " open" if i == 0 else ""
        parts.append(
            f'<details class="gallery-target" id="{anchor(target)}"{opened}><summary>'
            f"<h3>{html.escape(target)}</h3> <span>{n} model x strategy row"
            f"{'s' * (n != 1)}</span></summary>{''.join(lines)}</details>"
        )
    return "".join(parts)
