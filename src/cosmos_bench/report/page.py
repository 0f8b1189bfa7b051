"""The report as one self-contained HTML page: style, sortable tables, the sections."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from cosmos_bench.core.atomic import write_bytes
from cosmos_bench.report.sections import (
    STUDY_SECTIONS,
    _catalog_section,
    _comparison_section,
    _factor_section,
    _figure_section,
    _finetune_section,
    _group_section,
    _propagation_section,
    _provenance_section,
    _study_section,
    _summary_section,
)

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
        _factor_section(
            tables["factors"],
            provenance.get("config", {}).get("report", {}).get("complexity", "paper"),
        ),
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
