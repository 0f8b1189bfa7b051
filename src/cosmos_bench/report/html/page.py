"""The report as one HTML page: style, sortable tables, the sections.

A figure first (the overview: heatmap and model-by-strategy plot), then the summary, the case
gallery, the paper beside this run and how predictions fail; the long tables follow, each
collapsed under its heading. Everything but the gallery's pictures is inside the page (figures
as data URIs); the gallery links its files beside the page, which stay in the results folder.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from cosmos_bench.core.atomic import write_bytes
from cosmos_bench.report.html.catalog_section import catalog_section
from cosmos_bench.report.html.gallery_html import gallery_section
from cosmos_bench.report.html.overview import overview_section
from cosmos_bench.report.html.sections import (
    comparison_section,
    coverage,
    factor_section,
    failure_section,
    figure_section,
    finetune_section,
    group_section,
    paper_section,
    partial_warning,
    propagation_section,
    provenance_section,
    summary_section,
)
from cosmos_bench.report.html.study_sections import STUDY_SECTIONS, study_section
from cosmos_bench.report.tables.taxonomy import LEAK_SHARE

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
h1 { margin: 0 0 .2em; } p.scope { margin: 0 0 .6em; color: #444; }
nav.sections { font-size: .92em; margin: .4em 0 1em; } nav.sections a { margin-right: .9em; }
.overview-row { display: flex; flex-wrap: wrap; gap: 1.5em; align-items: flex-start; }
figure.overview { margin: 0; } figure.overview img { max-width: 560px; }
figure.overview figcaption { max-width: 560px; }
table.heatmap { border-collapse: separate; border-spacing: 2px; margin: 0; font-size: .85em; }
table.heatmap td { min-width: 3.2em; text-align: center; border: none; padding: .3em .4em;
                   font-variant-numeric: tabular-nums; cursor: help; }
table.heatmap th { background: none; border: none; text-align: center; padding: .1em .4em; }
table.heatmap th.target { text-align: right; font-weight: normal; white-space: nowrap; }
table.heatmap td.empty { background: #f4f4f4; color: #999; }
div.scale { font-size: .8em; color: #444; margin: .3em 0; }
div.scale .bar { display: inline-block; width: 10em; height: .8em; margin: 0 .4em;
                 vertical-align: middle; }
details.section > summary, details.gallery-target > summary { cursor: pointer; }
details.section > summary h2 { display: inline-block; margin-bottom: .3em; }
details.gallery-target > summary h3 { display: inline; }
details.gallery-target { margin: .6em 0; } details.gallery-target > summary span { color: #666; }
.case-row { display: flex; flex-wrap: wrap; gap: .6em; align-items: flex-start; margin: .5em 0; }
.case-label { width: 7.5em; font-size: .9em; font-weight: bold; padding-top: .3em; }
figure.case { margin: 0; width: 160px; }
figure.case img { width: 160px; height: 160px; object-fit: contain; background: #000;
                  border: none; display: block; }
figure.case figcaption { font-size: .8em; line-height: 1.3; }
figure.case .note { color: #666; font-style: italic; }
p.legend { font-size: .9em; } span.swatch { display: inline-block; width: .9em; height: .9em;
           margin: 0 .3em 0 .9em; vertical-align: middle; border: 1px solid #333; }
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


_NAV = {
    "summary": "Summary", "gallery": "Case gallery", "paper": "Paper vs this run",
    "failures": "How predictions fail", "per-target": "Tables", "figures": "Figures",
    "provenance": "Provenance",
}  # fmt: skip


def _scope(tables: Mapping[str, pd.DataFrame], provenance: Mapping[str, Any]) -> dict[str, Any]:
    """The overview's one line: how many datasets, targets, models, strategies and masks."""
    overall = tables["overall"]
    return {
        "datasets": tables["by_dataset"]["dataset"].nunique(),
        "targets": tables["by_target"]["target"].nunique(),
        "models": overall["model"].nunique(),
        "strategies": overall["strategy"].nunique(),
        "masks per model x strategy": coverage(tables, provenance)["Masks"].split(" ")[0],
    }


def write_html(
    tables: Mapping[str, pd.DataFrame],
    figure_paths: list[Path],
    out: Path,
    provenance: Mapping[str, Any],
    runs: Mapping[str, dict] | None = None,
    gallery: pd.DataFrame | None = None,
    gallery_dir: Path | None = None,
    level: float = 0.95,
) -> None:
    """A static page a reviewer can open anywhere, one tiny script. `figure_paths[0]` is the
    model-by-strategy plot, shown in the overview; `gallery` the gallery job's cases and
    `gallery_dir` its folder (no gallery section without it)."""
    overview_plot, *other_figures = figure_paths
    present = set(_NAV) - ({"gallery"} if gallery_dir is None else set())
    present -= {"paper"} if tables["paper_vs_ours"].empty else set()
    present -= {"failures"} if tables["failures"].empty else set()
    nav = " ".join(f'<a href="#{a}">{html.escape(t)}</a>' for a, t in _NAV.items() if a in present)
    body = "".join([
        "<h1>cosmos-bench report</h1>",
        partial_warning(tables, provenance),
        overview_section(tables, overview_plot, _scope(tables, provenance), level),
        f'<nav class="sections">{nav}</nav>',
        summary_section(tables, provenance),
        gallery_section(gallery if gallery is not None else pd.DataFrame(), gallery_dir, out),
        paper_section(tables["paper_vs_ours"]),
        failure_section(tables["failures"], LEAK_SHARE),
        catalog_section(provenance),
        group_section("Per target", "per-target", tables["by_target"], "target", provenance),
        group_section("Per modality", "per-modality", tables["by_modality"], "modality",
                       provenance),
        group_section("Per object", "per-object", tables["by_object"], "object", provenance),
        group_section("Per dataset", "per-dataset", tables["by_dataset"], "dataset", provenance),
        comparison_section(tables),
        factor_section(
            tables["factors"],
            provenance.get("config", {}).get("report", {}).get("complexity", "paper"),
        ),
        *(study_section(*STUDY_SECTIONS[name][:2], tables[name], STUDY_SECTIONS[name][2])
          for name in STUDY_SECTIONS),
        propagation_section(tables["propagation"]),
        finetune_section(tables, runs or {}),
        figure_section(other_figures, out),
        provenance_section(provenance),
    ])  # fmt: skip
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>cosmos-bench report</title><style>{_CSS}</style></head>"
        f"<body>{body}<script>{_SORT_SCRIPT}</script></body></html>\n"
    )
    write_bytes(Path(out), page.encode("utf-8"))
